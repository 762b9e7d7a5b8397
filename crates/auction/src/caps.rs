//! Frequency caps: impressions per user per line item, campaign or advertiser, per hour, day
//! or week of the retailer's calendar.
//!
//! The windows are calendar buckets in the retailer's time zone (`ENDCAP_TIME_ZONE`), not
//! rolling windows: an hour cap counts from the top of the local hour, a day cap from local
//! midnight, a week cap from Monday 00:00 local. A user capped at 3 a day may see 3 ads
//! before midnight and 3 more after it. (A rolling window would keep a timestamp per
//! impression; buckets keep one counter per user, owner and period.) On the night the
//! clocks go back, the repeated local hour shares one hour bucket.

use endcap_billing::LocalTime;
use endcap_core::{AdvertiserId, CampaignId, CapPeriod, LineItemId};
use moka::sync::Cache;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

/// Whose impressions a cap counts: an impression counts toward its line item, its
/// campaign and its advertiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CapOwner {
    /// A line item's cap.
    LineItem(LineItemId),
    /// A campaign's cap (all its line items).
    Campaign(CampaignId),
    /// An advertiser's cap (all its campaigns).
    Advertiser(AdvertiserId),
}

impl CapOwner {
    /// The three owners an impression of this line item counts toward.
    pub fn all(li: LineItemId, campaign: CampaignId, advertiser: AdvertiserId) -> [CapOwner; 3] {
        [
            CapOwner::LineItem(li),
            CapOwner::Campaign(campaign),
            CapOwner::Advertiser(advertiser),
        ]
    }

    /// `line_item`, `campaign` or `advertiser` (the loss reason's detail).
    pub fn level(self) -> &'static str {
        match self {
            CapOwner::LineItem(_) => "line_item",
            CapOwner::Campaign(_) => "campaign",
            CapOwner::Advertiser(_) => "advertiser",
        }
    }

    /// The owner's id.
    pub fn uuid(self) -> Uuid {
        match self {
            CapOwner::LineItem(id) => id.as_uuid(),
            CapOwner::Campaign(id) => id.as_uuid(),
            CapOwner::Advertiser(id) => id.as_uuid(),
        }
    }

    /// Its prefix in counter keys (empty for line items, whose keys predate the others).
    pub fn prefix(self) -> &'static str {
        match self {
            CapOwner::LineItem(_) => "",
            CapOwner::Campaign(_) => "c",
            CapOwner::Advertiser(_) => "a",
        }
    }
}

/// The current bucket of each cap period in the retailer's calendar: local hours, local
/// days and local Monday-to-Sunday weeks, numbered from 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapBuckets {
    hour: i64,
    day: i64,
    week: i64,
}

impl CapBuckets {
    /// The buckets `local` falls in.
    pub fn of(local: &LocalTime) -> Self {
        let day = i64::from(local.day);
        Self {
            hour: day * 24 + i64::from(local.hour),
            day,
            // The Monday starting the week, divided by 7 (Mondays are 7 apart, so each week
            // gets its own number).
            week: (day - i64::from(local.weekday)).div_euclid(7),
        }
    }

    /// The bucket of one period.
    pub fn get(self, per: CapPeriod) -> i64 {
        match per {
            CapPeriod::Hour => self.hour,
            CapPeriod::Day => self.day,
            CapPeriod::Week => self.week,
        }
    }
}

/// Counts impressions for frequency caps.
pub trait CapCounter: Send + Sync {
    /// Impressions toward `owner` the user saw in the current `per` bucket.
    fn count(&self, user: &str, owner: CapOwner, per: CapPeriod, at: CapBuckets) -> u32 {
        self.of_user(user, at).count(owner, per)
    }
    /// Every count of the user in the current buckets, read once per request (one lookup
    /// of the user, not one per candidate and cap).
    fn of_user(&self, user: &str, at: CapBuckets) -> UserCaps;
    /// Records one impression toward each owner, in every period.
    fn record(&self, user: &str, owners: [CapOwner; 3], at: CapBuckets);
}

/// A counter's key within one user: the owner, the period's tag and its bucket.
pub type CapKey = (CapOwner, u8, i64);

/// One user's counts in the current buckets (empty for no user or a user with none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserCaps {
    counts: Vec<(CapOwner, u8, u32)>,
}

impl UserCaps {
    /// The counts among `all` (a user's counters) that fall in the buckets of `at`.
    pub fn current<'a>(
        all: impl IntoIterator<Item = (&'a CapKey, &'a u32)>,
        at: CapBuckets,
    ) -> Self {
        let counts = all
            .into_iter()
            .filter(|((_, tag, bucket), _)| {
                CAP_PERIODS
                    .iter()
                    .any(|p| cap_tag(*p) == *tag && at.get(*p) == *bucket)
            })
            .map(|((owner, tag, _), n)| (*owner, *tag, *n))
            .collect();
        Self { counts }
    }

    /// Impressions toward `owner` in the current `per` bucket.
    pub fn count(&self, owner: CapOwner, per: CapPeriod) -> u32 {
        let tag = cap_tag(per);
        self.counts
            .iter()
            .find(|(o, t, _)| *t == tag && *o == owner)
            .map_or(0, |(_, _, n)| *n)
    }
}

/// The first of `caps` (each with its owner) the user has reached, if any, counting
/// `already` more impressions toward an owner than its counter holds: the ads this request
/// has placed so far, which the counters see only once their impressions arrive.
pub fn cap_reached(
    seen: Option<&UserCaps>,
    caps: [(CapOwner, Option<endcap_core::FrequencyCap>); 3],
    already: impl Fn(CapOwner) -> u32,
) -> Option<CapOwner> {
    let counts = seen?;
    caps.into_iter().find_map(|(owner, cap)| {
        let cap = cap?;
        let seen = counts.count(owner, cap.per).saturating_add(already(owner));
        (seen >= cap.max).then_some(owner)
    })
}

/// Ads one request has placed (or ghosted) toward each cap owner so far.
#[derive(Debug, Default)]
pub struct RequestCaps {
    placed: Vec<(CapOwner, u32)>,
}

impl RequestCaps {
    /// Ads placed toward `owner` in this request.
    pub fn already(&self, owner: CapOwner) -> u32 {
        self.placed
            .iter()
            .find(|(o, _)| *o == owner)
            .map_or(0, |(_, n)| *n)
    }

    /// Counts one more ad toward each of `owners`.
    pub fn add(&mut self, owners: [CapOwner; 3]) {
        for owner in owners {
            match self.placed.iter_mut().find(|(o, _)| *o == owner) {
                Some((_, n)) => *n += 1,
                None => self.placed.push((owner, 1)),
            }
        }
    }
}

/// Every cap period, in the order counters are kept.
pub const CAP_PERIODS: [CapPeriod; 3] = [CapPeriod::Hour, CapPeriod::Day, CapPeriod::Week];

/// A period's short tag in counter keys. Weeks are tagged 3: the UTC weeks counted before
/// caps followed the retailer's calendar were tagged 2 and began on Thursdays, so their
/// counters are never read as local weeks.
pub fn cap_tag(per: CapPeriod) -> u8 {
    match per {
        CapPeriod::Hour => 0,
        CapPeriod::Day => 1,
        CapPeriod::Week => 3,
    }
}

/// In-process counters (one replica's view); a user unseen for eight days is forgotten.
pub struct MemoryCaps {
    users: Cache<String, Arc<Mutex<HashMap<CapKey, u32>>>>,
}

impl MemoryCaps {
    /// Counters for up to `capacity` users.
    pub fn new(capacity: u64) -> Self {
        Self {
            // Idle, not live, time: an active user's entry is one map for all its buckets,
            // so a fixed lifetime would drop this week's counts with last week's.
            users: Cache::builder()
                .max_capacity(capacity)
                .time_to_idle(Duration::from_secs(8 * 86_400))
                .build(),
        }
    }
}

impl CapCounter for MemoryCaps {
    fn of_user(&self, user: &str, at: CapBuckets) -> UserCaps {
        match self.users.get(user) {
            Some(c) => UserCaps::current(c.lock().unwrap_or_else(|p| p.into_inner()).iter(), at),
            None => UserCaps::default(),
        }
    }

    fn record(&self, user: &str, owners: [CapOwner; 3], at: CapBuckets) {
        let counters = self.users.get_with_by_ref(user, Arc::default);
        let mut c = counters.lock().unwrap_or_else(|p| p.into_inner());
        // Buckets past are never read again: dropped here so a user's map stays small.
        c.retain(|(_, tag, bucket), _| {
            CAP_PERIODS
                .iter()
                .any(|p| cap_tag(*p) == *tag && at.get(*p) <= *bucket)
        });
        for owner in owners {
            for per in CAP_PERIODS {
                *c.entry((owner, cap_tag(per), at.get(per))).or_insert(0) += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use endcap_billing::RetailerClock;

    fn owners() -> [CapOwner; 3] {
        CapOwner::all(
            LineItemId::generate(),
            CampaignId::generate(),
            AdvertiserId::generate(),
        )
    }

    #[test]
    fn counts_reset_with_the_period() {
        let caps = MemoryCaps::new(1000);
        let o = owners();
        let utc = RetailerClock::default();
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 10, 15, 0).unwrap();
        let at = |t| CapBuckets::of(&utc.local(t));
        caps.record("u", o, at(t));
        caps.record("u", o, at(t + chrono::Duration::minutes(30)));
        for owner in o {
            assert_eq!(caps.count("u", owner, CapPeriod::Hour, at(t)), 2);
        }
        let next_hour = at(t + chrono::Duration::hours(1));
        assert_eq!(caps.count("u", o[0], CapPeriod::Hour, next_hour), 0);
        assert_eq!(caps.count("u", o[1], CapPeriod::Day, next_hour), 2);
        assert_eq!(caps.count("v", o[2], CapPeriod::Day, at(t)), 0);
        let other = CapOwner::Campaign(CampaignId::generate());
        assert_eq!(caps.count("u", other, CapPeriod::Day, at(t)), 0);
    }

    #[test]
    fn the_day_and_week_are_the_retailers() {
        let ny = RetailerClock::parse("America/New_York").unwrap();
        // 23:30 and 00:30 in New York on Sunday night into Monday (04:30 and 05:30 UTC):
        // one UTC day, two local days and two local weeks.
        let sun = Utc.with_ymd_and_hms(2026, 11, 30, 4, 30, 0).unwrap();
        let mon = Utc.with_ymd_and_hms(2026, 11, 30, 5, 30, 0).unwrap();
        let (a, b) = (
            CapBuckets::of(&ny.local(sun)),
            CapBuckets::of(&ny.local(mon)),
        );
        assert_ne!(a.get(CapPeriod::Day), b.get(CapPeriod::Day));
        assert_ne!(
            a.get(CapPeriod::Week),
            b.get(CapPeriod::Week),
            "weeks start on Monday"
        );
        // Monday 00:30 and the following Sunday 23:30 local share a week.
        let next_sun = Utc.with_ymd_and_hms(2026, 12, 7, 4, 30, 0).unwrap();
        assert_eq!(
            b.get(CapPeriod::Week),
            CapBuckets::of(&ny.local(next_sun)).get(CapPeriod::Week)
        );
        let caps = MemoryCaps::new(100);
        let o = owners();
        caps.record("u", o, a);
        assert_eq!(caps.count("u", o[0], CapPeriod::Day, a), 1);
        assert_eq!(
            caps.count("u", o[0], CapPeriod::Day, b),
            0,
            "a new local day"
        );
    }

    #[test]
    fn the_first_cap_reached_is_named() {
        let caps = MemoryCaps::new(100);
        let o = owners();
        let at = CapBuckets::of(&RetailerClock::default().local(Utc::now()));
        let cap = |max| {
            Some(endcap_core::FrequencyCap {
                max,
                per: CapPeriod::Day,
            })
        };
        let set = [(o[0], cap(5)), (o[1], cap(2)), (o[2], None)];
        let none = |_| 0;
        caps.record("u", o, at);
        assert_eq!(cap_reached(Some(&caps.of_user("u", at)), set, none), None);
        caps.record("u", o, at);
        assert_eq!(
            cap_reached(Some(&caps.of_user("u", at)), set, none),
            Some(o[1])
        );
        assert_eq!(o[1].level(), "campaign");
        assert_eq!(cap_reached(None, set, none), None, "no user, no caps");
    }

    #[test]
    fn ads_already_placed_in_the_request_count_toward_the_cap() {
        let caps = MemoryCaps::new(100);
        let o = owners();
        let at = CapBuckets::of(&RetailerClock::default().local(Utc::now()));
        let day = |max| {
            Some(endcap_core::FrequencyCap {
                max,
                per: CapPeriod::Day,
            })
        };
        let set = [(o[0], None), (o[1], day(2)), (o[2], None)];
        let mut request = RequestCaps::default();
        caps.record("u", o, at);
        assert_eq!(
            cap_reached(Some(&caps.of_user("u", at)), set, |w| request.already(w)),
            None
        );
        // One more ad of the campaign placed earlier in this request: 1 seen + 1 placed.
        request.add(o);
        assert_eq!(request.already(o[1]), 1);
        assert_eq!(
            cap_reached(Some(&caps.of_user("u", at)), set, |w| request.already(w)),
            Some(o[1])
        );
    }
}
