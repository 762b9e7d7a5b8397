//! Frequency caps shared between replicas through Redis, read without I/O on the hot path.
//!
//! Each user's counters live in one Redis hash (`endcap:cap:{user}`, field
//! `{owner}:{period}:{bucket}`, the owner a line item id, or `c` and a campaign id, or `a`
//! and an advertiser id; buckets are the retailer's local hours, days and weeks). A replica loads a user's hash once (`prefetch`, run
//! alongside the segment lookup and bounded by the same timeout), keeps it in a moka cache
//! for a short TTL, counts its own impressions locally at once, and sends them in batched
//! `HINCRBY`s, summed per user and field while they wait (so an outage's backlog is one
//! entry per counter, bounded by [`MAX_PENDING`]). Another replica's impressions show up when the entry is reloaded, so a cap can
//! be exceeded by what other replicas served within one TTL; with Redis down, caps are this
//! replica's own counts.

use endcap_auction::{
    cap_tag as tag, CapBuckets, CapCounter, CapKey, CapOwner, UserCaps, CAP_PERIODS as PERIODS,
};
use endcap_core::CapPeriod;
use endcap_redis::{CallError, RedisHandle};
use moka::sync::Cache;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Most distinct (user, counter) pairs waiting to be sent; beyond it new ones are counted
/// only locally (and in `dropped`), so a long Redis outage cannot grow memory without end.
pub const MAX_PENDING: usize = 200_000;
/// Bound on one flush round trip.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(1);

/// One user's counters, and whether Redis's copy has been merged in yet.
#[derive(Default)]
struct UserCounts {
    loaded: bool,
    counts: HashMap<CapKey, u32>,
}

type Counters = Arc<Mutex<UserCounts>>;

fn field(owner: CapOwner, per: CapPeriod, at: CapBuckets) -> String {
    format!(
        "{}{}:{}:{}",
        owner.prefix(),
        owner.uuid(),
        tag(per),
        at.get(per)
    )
}

/// A Redis field as a counter key (`None`: not one of ours). Old UTC-week fields (tag 2)
/// parse, and are never read: no period has that tag.
fn parse_field(f: &str) -> Option<CapKey> {
    let mut parts = f.split(':');
    let (owner, tag, bucket) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    // A bare line item id is 36 characters; campaigns and advertisers carry a 1-letter prefix.
    let owner = match (owner.len(), owner.as_bytes().first()) {
        (36, _) => CapOwner::LineItem(endcap_core::LineItemId::parse(owner)?),
        (37, Some(b'c')) => CapOwner::Campaign(endcap_core::CampaignId::parse(&owner[1..])?),
        (37, Some(b'a')) => CapOwner::Advertiser(endcap_core::AdvertiserId::parse(&owner[1..])?),
        _ => return None,
    };
    Some((owner, tag.parse().ok()?, bucket.parse().ok()?))
}

fn key(user: &str) -> String {
    format!("endcap:cap:{user}")
}

/// A [`CapCounter`] backed by Redis hashes with an in-process cache.
pub struct SharedCaps {
    users: Cache<String, Counters>,
    pending: Mutex<HashMap<(String, String), u32>>,
    dropped: AtomicU64,
}

impl SharedCaps {
    /// Caches up to `capacity` users for `ttl`.
    pub fn new(capacity: u64, ttl: Duration) -> Self {
        Self {
            users: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
            pending: Mutex::new(HashMap::new()),
            dropped: AtomicU64::new(0),
        }
    }

    /// Loads the user's counters from Redis unless cached; gives up after `timeout`
    /// (counts are then this replica's own until the next try).
    pub async fn prefetch(&self, redis: &RedisHandle, user: &str, timeout: Duration) {
        if user.is_empty() {
            return;
        }
        let known = self.users.get(user);
        if known
            .as_ref()
            .is_some_and(|c| c.lock().unwrap_or_else(|p| p.into_inner()).loaded)
        {
            return;
        }
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(key(user));
        let read = redis
            .call(timeout, |mut conn| async move {
                cmd.query_async::<HashMap<String, u32>>(&mut conn).await
            })
            .await;
        if let Ok(stored) = read {
            // Local impressions recorded meanwhile may not be in Redis yet: keep the larger
            // of the two counts rather than overwrite them.
            let entry = self.users.get_with(user.to_string(), Counters::default);
            let mut e = entry.lock().unwrap_or_else(|p| p.into_inner());
            for (k, n) in stored
                .iter()
                .filter_map(|(f, n)| Some((parse_field(f)?, *n)))
            {
                let c = e.counts.entry(k).or_insert(0);
                *c = (*c).max(n);
            }
            e.loaded = true;
        }
    }

    /// Sends this replica's pending impressions (one `HINCRBY` per counter); on failure they
    /// stay pending, merged with any recorded meanwhile.
    pub async fn flush(&self, redis: &RedisHandle) -> Result<usize, CallError> {
        let batch = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        if batch.is_empty() {
            return Ok(0);
        }
        let mut p = redis::pipe();
        for ((user, f), n) in &batch {
            p.cmd("HINCRBY").arg(key(user)).arg(f).arg(*n).ignore();
            p.cmd("EXPIRE").arg(key(user)).arg(8 * 86_400).ignore();
        }
        let sent = redis
            .call(FLUSH_TIMEOUT, |mut conn| async move {
                p.query_async::<()>(&mut conn).await
            })
            .await;
        match sent {
            Ok(()) => Ok(batch.len()),
            Err(e) => {
                let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                for (k, n) in batch {
                    self.add_pending(&mut pending, k, n);
                }
                Err(e)
            }
        }
    }

    /// Counter increments dropped from the backlog because it was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Counters waiting to be sent.
    pub fn pending(&self) -> usize {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The backlog's size and losses in Prometheus text format.
    pub fn render(&self) -> String {
        format!(
            "# TYPE endcap_cap_backlog gauge\nendcap_cap_backlog {}\n\
             # TYPE endcap_cap_backlog_dropped_total counter\nendcap_cap_backlog_dropped_total {}\n",
            self.pending(),
            self.dropped()
        )
    }

    fn add_pending(
        &self,
        pending: &mut HashMap<(String, String), u32>,
        k: (String, String),
        n: u32,
    ) {
        if let Some(c) = pending.get_mut(&k) {
            *c = c.saturating_add(n);
        } else if pending.len() < MAX_PENDING {
            pending.insert(k, n);
        } else if self.dropped.fetch_add(u64::from(n), Ordering::Relaxed) == 0 {
            tracing::warn!(
                max = MAX_PENDING,
                "frequency cap backlog full; new counters stay local until redis is back"
            );
        }
    }

    /// Flushes every `every` while the process runs.
    pub async fn run(self: Arc<Self>, redis: RedisHandle, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            match self.flush(&redis).await {
                Ok(_) | Err(CallError::Unavailable) => {}
                Err(e) => tracing::warn!(error = %e, "frequency cap flush failed; will retry"),
            }
        }
    }
}

impl CapCounter for SharedCaps {
    fn of_user(&self, user: &str, at: CapBuckets) -> UserCaps {
        match self.users.get(user) {
            Some(c) => UserCaps::current(
                c.lock().unwrap_or_else(|p| p.into_inner()).counts.iter(),
                at,
            ),
            None => UserCaps::default(),
        }
    }

    fn record(&self, user: &str, owners: [CapOwner; 3], at: CapBuckets) {
        let counters = self.users.get_with(user.to_string(), Counters::default);
        let mut c = counters.lock().unwrap_or_else(|p| p.into_inner());
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        for owner in owners {
            for per in PERIODS {
                *c.counts.entry((owner, tag(per), at.get(per))).or_insert(0) += 1;
                self.add_pending(&mut pending, (user.to_string(), field(owner, per, at)), 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backlog_is_one_sum_per_counter_and_bounded() {
        let caps = SharedCaps::new(1_000, Duration::from_secs(60));
        let owners = CapOwner::all(
            endcap_core::LineItemId::generate(),
            endcap_core::CampaignId::generate(),
            endcap_core::AdvertiserId::generate(),
        );
        let now =
            CapBuckets::of(&endcap_billing::RetailerClock::default().local(chrono::Utc::now()));
        for _ in 0..5 {
            caps.record("u", owners, now);
        }
        assert_eq!(
            caps.pending(),
            PERIODS.len() * 3,
            "five impressions, one entry per owner and period"
        );
        let users = MAX_PENDING / (PERIODS.len() * 3) + 10;
        for i in 0..users {
            caps.record(&format!("user-{i}"), owners, now);
        }
        assert_eq!(caps.pending(), MAX_PENDING);
        assert!(caps.dropped() > 0);
        // Existing counters still add up when the backlog is full.
        caps.record("u", owners, now);
        let pending = caps.pending.lock().unwrap_or_else(|p| p.into_inner());
        assert_eq!(
            pending[&("u".to_string(), field(owners[1], CapPeriod::Day, now))],
            6
        );
    }

    #[test]
    fn a_redis_field_reads_back_as_the_counter_it_names() {
        let at =
            CapBuckets::of(&endcap_billing::RetailerClock::default().local(chrono::Utc::now()));
        let owners = CapOwner::all(
            endcap_core::LineItemId::generate(),
            endcap_core::CampaignId::generate(),
            endcap_core::AdvertiserId::generate(),
        );
        for owner in owners {
            for per in PERIODS {
                assert_eq!(
                    parse_field(&field(owner, per, at)),
                    Some((owner, tag(per), at.get(per)))
                );
            }
        }
        for bad in [
            "",
            "x:1:2",
            "c:1:2",
            "not-a-uuid-at-all-not-a-uuid-at-all:1:2",
            "a:b:c:d",
        ] {
            assert_eq!(parse_field(bad), None, "{bad}");
        }
    }
}
