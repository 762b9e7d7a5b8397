//! Frequency caps: impressions per user per line item per hour, day or week.

use chrono::{DateTime, Utc};
use endcap_core::{CapPeriod, LineItemId};
use moka::sync::Cache;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Counts impressions for frequency caps.
pub trait CapCounter: Send + Sync {
    /// Impressions of the line item the user saw in the current period.
    fn count(&self, user: &str, line_item: LineItemId, per: CapPeriod, now: DateTime<Utc>) -> u32;
    /// Records one impression.
    fn record(&self, user: &str, line_item: LineItemId, now: DateTime<Utc>);
}

/// The period's bucket number: hours, days or weeks since the epoch (UTC).
pub fn cap_bucket(per: CapPeriod, now: DateTime<Utc>) -> i64 {
    let secs = now.timestamp();
    match per {
        CapPeriod::Hour => secs / 3_600,
        CapPeriod::Day => secs / 86_400,
        CapPeriod::Week => secs / (7 * 86_400),
    }
}

/// Every cap period, in the order counters are kept.
pub const CAP_PERIODS: [CapPeriod; 3] = [CapPeriod::Hour, CapPeriod::Day, CapPeriod::Week];

/// A period's short tag in counter keys.
pub fn cap_tag(per: CapPeriod) -> u8 {
    match per {
        CapPeriod::Hour => 0,
        CapPeriod::Day => 1,
        CapPeriod::Week => 2,
    }
}

/// In-process counters (one replica's view), expiring after a week.
pub struct MemoryCaps {
    counts: Cache<(String, LineItemId, u8, i64), Arc<AtomicU32>>,
}

impl MemoryCaps {
    /// Counters for up to `capacity` (user, line item, period) keys.
    pub fn new(capacity: u64) -> Self {
        Self {
            counts: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(Duration::from_secs(8 * 86_400))
                .build(),
        }
    }
}

impl CapCounter for MemoryCaps {
    fn count(&self, user: &str, line_item: LineItemId, per: CapPeriod, now: DateTime<Utc>) -> u32 {
        self.counts
            .get(&(
                user.to_string(),
                line_item,
                cap_tag(per),
                cap_bucket(per, now),
            ))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    fn record(&self, user: &str, line_item: LineItemId, now: DateTime<Utc>) {
        for per in CAP_PERIODS {
            let key = (
                user.to_string(),
                line_item,
                cap_tag(per),
                cap_bucket(per, now),
            );
            self.counts
                .get_with(key, || Arc::new(AtomicU32::new(0)))
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn counts_reset_with_the_period() {
        let caps = MemoryCaps::new(1000);
        let li = LineItemId::generate();
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 10, 15, 0).unwrap();
        caps.record("u", li, t);
        caps.record("u", li, t + chrono::Duration::minutes(30));
        assert_eq!(caps.count("u", li, CapPeriod::Hour, t), 2);
        assert_eq!(
            caps.count("u", li, CapPeriod::Hour, t + chrono::Duration::hours(1)),
            0
        );
        assert_eq!(
            caps.count("u", li, CapPeriod::Day, t + chrono::Duration::hours(1)),
            2
        );
        assert_eq!(caps.count("v", li, CapPeriod::Day, t), 0);
    }
}
