//! New-to-brand: a credited sale is new to its brand when the customer bought nothing of
//! that brand in the 52 weeks (364 days) before it. Histories shorter than that are
//! reported with the lookback they actually had, never padded.

use crate::{FastMap, DAY_SECS};

/// The lookback of the new-to-brand test: 52 weeks.
pub const NTB_LOOKBACK_DAYS: i64 = 364;

/// Each customer's purchase times per brand, over the history a run could read. Customer
/// keys and brands are interned: a run adds every purchase line of 52 weeks, and a copied
/// pair of strings per line was most of the cost.
#[derive(Debug, Default)]
pub struct BrandHistory {
    since_ms: i64,
    customers: FastMap<String, u32>,
    brands: FastMap<String, u32>,
    /// (customer, brand, time), sorted by `seal`: a push per purchase, no map per pair.
    times: Vec<(u32, u32, i64)>,
}

fn intern(map: &mut FastMap<String, u32>, key: &str) -> u32 {
    if let Some(&id) = map.get(key) {
        return id;
    }
    let id = map.len() as u32;
    map.insert(key.to_string(), id);
    id
}

impl BrandHistory {
    /// An empty history that starts at `since_ms` (what the run could read back to).
    pub fn new(since_ms: i64) -> Self {
        Self {
            since_ms,
            ..Self::default()
        }
    }

    /// Moves the start of the history (once the run knows how far back its data goes).
    pub fn set_since(&mut self, since_ms: i64) {
        self.since_ms = since_ms;
    }

    /// Records a purchase (returns and unbranded lines are not purchases of a brand).
    pub fn add(&mut self, customer_key: &str, brand: &str, quantity: i32, ts_ms: i64) {
        if quantity > 0 && !brand.trim().is_empty() {
            let c = intern(&mut self.customers, customer_key);
            let b = intern(&mut self.brands, brand);
            self.times.push((c, b, ts_ms));
        }
    }

    /// Sorts the histories; call once after the last `add`.
    pub fn seal(&mut self) {
        self.times.sort_unstable();
    }

    /// Whether a purchase of `brand` at `ts_ms` is new to the brand: no purchase of it in
    /// `[ts - 364 days, ts)` (the same receipt's other lines share its time and do not count).
    /// An unbranded line is never new to a brand.
    pub fn is_new(&self, customer_key: &str, brand: &str, ts_ms: i64) -> bool {
        if brand.trim().is_empty() {
            return false;
        }
        let from = ts_ms - NTB_LOOKBACK_DAYS * DAY_SECS * 1_000;
        let (Some(&c), Some(&b)) = (self.customers.get(customer_key), self.brands.get(brand))
        else {
            return true;
        };
        // The first purchase of the pair at or after `from`: new unless it is before `ts`.
        let i = self
            .times
            .partition_point(|&(pc, pb, t)| (pc, pb, t) < (c, b, from));
        !self
            .times
            .get(i)
            .is_some_and(|&(pc, pb, t)| pc == c && pb == b && t < ts_ms)
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
