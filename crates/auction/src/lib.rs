//! Endcap's ad decision logic, free of I/O.
//!
//! A [`Snapshot`] indexes the serving line items (active, with an active campaign) by
//! placement. [`decide`] takes a request's [`Context`], finds the eligible candidates,
//! filters them by targeting, flight, budget and pacing, frequency caps, scores them with a
//! [`CtrModel`], runs a per-placement auction (second price / GSP with a reserve, or first
//! price; one ad per advertiser unless allowed), takes holdout users out of the ads they
//! would have won (recording ghost exposures), and explains every loser.
#![warn(missing_docs)]

mod auction;
mod caps;
mod context;
mod ctr;
mod decide;
mod holdout;
mod index;
mod pacing;
mod shared_caps;
mod shared_spend;

pub use auction::{run_auction, AuctionRules, Bidder, Loss, Win};
pub use caps::{CapCounter, MemoryCaps};
pub use context::{Context, Slot, SlotKind};
pub use ctr::{CtrModel, Features, PriorCtr};
pub use decide::{decide, Decision, Explanation, Outcome, Placed, SlotRequest};
pub use holdout::{holdout_bucket, in_holdout};
pub use index::{Candidate, Snapshot};
pub use pacing::{pacing_allows, MemorySpend, SpendTracker};
pub use shared_caps::SharedCaps;
pub use shared_spend::SharedSpend;
