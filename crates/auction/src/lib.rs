//! Endcap's ad decision logic, free of I/O.
//!
//! A [`Snapshot`] indexes the serving line items (active, with an active campaign) by
//! placement. [`decide`] is the serving pipeline: given its [`Deps`] and a request's
//! [`Context`], it filters candidates by flight, targeting, budget and pacing (read through
//! a [`BudgetView`]) and frequency caps, scores them with a [`CtrModel`] in one batch, runs
//! a per-placement auction (second price / GSP with a reserve and a minimum CPC, or first
//! price; one ad per advertiser unless allowed; ties broken at random), takes holdout users
//! out of the campaigns they would have seen (recording ghosts), reserves each placed ad's
//! expected cost, and explains every loser. Redis-backed counters live elsewhere; the only
//! shared state it touches is through the traits it is given.
#![warn(missing_docs)]

mod auction;
mod bid;
mod blocks;
mod caps;
mod context;
mod decide;
mod holdout;
mod index;
mod pacing;
mod stock;
mod traffic;

pub use auction::{run_auction, AuctionRules, Bidder, Loss, Win};
pub use bid::EffectiveBid;
pub use blocks::{domain_blocked, DealOffer, RequestBlocks, SlotTerms};
pub use caps::{
    cap_reached, cap_tag, CapBuckets, CapCounter, CapKey, CapOwner, MemoryCaps, RequestCaps,
    UserCaps, CAP_PERIODS,
};
pub use context::{uniform_draw, Accepts, Context, Slot, SlotKind};
pub use decide::{decide, Decision, Deps, Explanation, Outcome, Placed, SlotRequest};
pub use endcap_ctr::{CtrModel, Features, PriorCtr};
pub use holdout::{holdout_bucket, in_holdout};
pub use index::{category_and_ancestors, category_path, Candidate, Snapshot, TargetSets};
pub use pacing::{daily_allowance, pacing_allows, BudgetView, Flight, RESERVATION_TTL};
pub use stock::{AtStore, Stock, MAX_STOCK_OUTS};
pub use traffic::{TrafficCurve, HOURS_OF_WEEK};
