//! The bid a candidate competes with in a slot: the matched keyword's bid (else the line
//! item's) times the line item's multiplier for the slot's placement. It ranks (eCPM), caps
//! the price, enters the reserve and minimum-CPC rules, sizes the budget reservation, and
//! is what the decision log records as the bid.

use crate::Slot;
use endcap_core::{BidMultiplier, Creative, KeywordMatch, LineItem};

/// A candidate's bid in one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EffectiveBid {
    /// The bid before the multiplier, micros: the matched keyword's, else the line item's.
    pub base_micros: i64,
    /// The multiplier of the slot's placement (x1 when the line item sets none for it).
    pub multiplier: BidMultiplier,
    /// `base x multiplier`, rounded down to the micro, from one micro to `Micros::MAX`.
    pub micros: i64,
}

impl EffectiveBid {
    /// The bid of `li` in `slot`, showing `creative`, when `keyword` matched the search.
    pub fn of(
        li: &LineItem,
        keyword: Option<KeywordMatch>,
        slot: &Slot,
        creative: &Creative,
    ) -> Self {
        let base_micros = keyword.map_or(li.pricing.bid_micros.get(), |k| k.bid_micros);
        let multiplier = multiplier(li, slot, creative);
        Self {
            base_micros,
            multiplier,
            micros: multiplier.apply(base_micros),
        }
    }
}

/// The line item's multiplier for the slot: that of the most specific placement name the
/// slot answers to (`offsite:banner:300x250` or `offsite:native` before `offsite`; of a
/// banner slot's sizes, only the shown creative's), x1 when none is set.
fn multiplier(li: &LineItem, slot: &Slot, creative: &Creative) -> BidMultiplier {
    let m = &li.placement_multipliers;
    if m.is_empty() {
        return BidMultiplier::ONE;
    }
    slot.names
        .iter()
        .rev()
        .filter(|n| shows(n, creative))
        .find_map(|n| m.get(n.as_str()).copied())
        .unwrap_or(BidMultiplier::ONE)
}

/// Whether a slot name applies to the creative: a banner size name only to a creative of
/// that size (parsed, not formatted: this runs per candidate).
fn shows(name: &str, creative: &Creative) -> bool {
    match name
        .strip_prefix("offsite:banner:")
        .and_then(|wh| wh.split_once('x'))
    {
        Some((w, h)) => {
            w.parse::<u32>().ok() == creative.width && h.parse::<u32>().ok() == creative.height
        }
        None => true,
    }
}
