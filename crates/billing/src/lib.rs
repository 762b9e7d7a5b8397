//! Endcap's money rules.
//!
//! Charges are integer nano-units (10^-9 of the currency's major unit), so 1,000
//! impressions at a CPM of X sum to exactly X; they are rounded once, to micros, where an
//! invoice is made ([`nanos_to_micros`]). Budgets are hard caps on the advertiser charge:
//! [`clamp`] splits a charge into the part that fits what is left of the daily and total
//! budget and the rest, which is recorded as non-billable. [`Budgets`] keeps each campaign's
//! spend and the reservations decisions make, in process or shared between replicas
//! through Redis. [`RetailerClock`] says which accounting day an instant belongs to in the
//! retailer's time zone.
#![warn(missing_docs)]

mod budgets;
mod clock;
mod rules;

pub use budgets::{Budgets, SYNC_PREFIX};
pub use clock::{LocalTime, RetailerClock};
pub use rules::{
    clamp, click_charge_nanos, impression_charge_nanos, nanos_to_micros, offsite_cpm_charge_nanos,
    ChargeSplit, Limits, Spent, TakeRate, NANOS_PER_MICRO,
};
