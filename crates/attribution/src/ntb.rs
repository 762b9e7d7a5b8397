//! New-to-brand: a credited sale is new to its brand when the customer bought nothing of
//! that brand in the 52 weeks (364 days) before it. Histories shorter than that are
//! reported with the lookback they actually had, never padded.

use crate::{FastMap, DAY_SECS};

/// The lookback of the new-to-brand test: 52 weeks.
pub const NTB_LOOKBACK_DAYS: i64 = 364;

/// Each customer's purchase times per brand, over the history a run could read.
#[derive(Debug, Default)]
pub struct BrandHistory {
    since_ms: i64,
    times: FastMap<(String, String), Vec<i64>>,
}

impl BrandHistory {
    /// An empty history that starts at `since_ms` (what the run could read back to).
    pub fn new(since_ms: i64) -> Self {
        Self {
            since_ms,
            times: FastMap::default(),
        }
    }

    /// Records a purchase (returns and unbranded lines are not purchases of a brand).
    pub fn add(&mut self, customer_key: &str, brand: &str, quantity: i32, ts_ms: i64) {
        if quantity > 0 && !brand.trim().is_empty() {
            self.times
                .entry((customer_key.to_string(), brand.to_string()))
                .or_default()
                .push(ts_ms);
        }
    }

    /// Sorts the histories; call once after the last `add`.
    pub fn seal(&mut self) {
        for v in self.times.values_mut() {
            v.sort_unstable();
        }
    }

    /// Whether a purchase of `brand` at `ts_ms` is new to the brand: no purchase of it in
    /// `[ts - 364 days, ts)` (the same receipt's other lines share its time and do not count).
    /// An unbranded line is never new to a brand.
    pub fn is_new(&self, customer_key: &str, brand: &str, ts_ms: i64) -> bool {
        if brand.trim().is_empty() {
            return false;
        }
        let from = ts_ms - NTB_LOOKBACK_DAYS * DAY_SECS * 1_000;
        match self
            .times
            .get(&(customer_key.to_string(), brand.to_string()))
        {
            None => true,
            Some(v) => {
                let i = v.partition_point(|&t| t < from);
                v.get(i).is_none_or(|&t| t >= ts_ms)
            }
        }
    }

    /// Whole days of history the test could see before `ts_ms` (at most 364).
    pub fn lookback_days(&self, ts_ms: i64) -> u16 {
        ((ts_ms - self.since_ms).max(0) / (DAY_SECS * 1_000)).min(NTB_LOOKBACK_DAYS) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = DAY_SECS * 1_000;

    #[test]
    fn a_purchase_inside_the_52_weeks_makes_the_next_one_repeat() {
        let mut h = BrandHistory::new(0);
        h.add("c", "Acme", 1, 400 * DAY);
        h.seal();
        assert!(
            !h.is_new("c", "Acme", 400 * DAY + 364 * DAY),
            "exactly 364 days later"
        );
        assert!(
            h.is_new("c", "Acme", 400 * DAY + 364 * DAY + 1),
            "one ms past the lookback"
        );
        assert!(
            h.is_new("c", "Acme", 400 * DAY),
            "the same instant is the same receipt"
        );
        assert!(h.is_new("c", "Other", 401 * DAY));
        assert!(h.is_new("d", "Acme", 401 * DAY), "another customer");
        assert!(!h.is_new("c", "", 401 * DAY), "no brand, never new to one");
    }

    #[test]
    fn returns_are_not_purchases_and_the_lookback_is_what_exists() {
        let mut h = BrandHistory::new(10 * DAY);
        h.add("c", "Acme", -1, 20 * DAY);
        h.seal();
        assert!(h.is_new("c", "Acme", 30 * DAY));
        assert_eq!(h.lookback_days(30 * DAY), 20);
        assert_eq!(h.lookback_days(1_000 * DAY), 364);
        assert_eq!(h.lookback_days(0), 0);
    }
}
