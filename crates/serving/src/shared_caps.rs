//! Frequency caps shared between replicas through Redis, read without I/O on the hot path.
//!
//! Each user's counters live in one Redis hash (`endcap:cap:{user}`, field
//! `{line item}:{period}:{bucket}`). A replica loads a user's hash once (`prefetch`, run
//! alongside the segment lookup and bounded by the same timeout), keeps it in a moka cache
//! for a short TTL, counts its own impressions locally at once, and sends them in batched
//! `HINCRBY`s. Another replica's impressions show up when the entry is reloaded, so a cap can
//! be exceeded by what other replicas served within one TTL; with Redis down, caps are this
//! replica's own counts.

use chrono::{DateTime, Utc};
use endcap_auction::{cap_bucket as bucket, cap_tag as tag, CapCounter, CAP_PERIODS as PERIODS};
use endcap_billing::RedisHandle;
use endcap_core::{CapPeriod, LineItemId};
use moka::sync::Cache;
use redis::aio::ConnectionManager;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One user's counters, and whether Redis's copy has been merged in yet.
#[derive(Default)]
struct UserCounts {
    loaded: bool,
    counts: HashMap<String, u32>,
}

type Counters = Arc<Mutex<UserCounts>>;

fn field(li: LineItemId, per: CapPeriod, now: DateTime<Utc>) -> String {
    format!("{li}:{}:{}", tag(per), bucket(per, now))
}

fn key(user: &str) -> String {
    format!("endcap:cap:{user}")
}

/// A [`CapCounter`] backed by Redis hashes with an in-process cache.
pub struct SharedCaps {
    users: Cache<String, Counters>,
    pending: Mutex<Vec<(String, String)>>,
}

impl SharedCaps {
    /// Caches up to `capacity` users for `ttl`.
    pub fn new(capacity: u64, ttl: Duration) -> Self {
        Self {
            users: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
            pending: Mutex::new(Vec::new()),
        }
    }

    /// Loads the user's counters from Redis unless cached; gives up after `timeout`
    /// (counts are then this replica's own until the next try).
    pub async fn prefetch(&self, conn: Option<&ConnectionManager>, user: &str, timeout: Duration) {
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
        let Some(conn) = conn else { return };
        let mut conn = conn.clone();
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(key(user));
        let read = cmd.query_async::<HashMap<String, u32>>(&mut conn);
        if let Ok(Ok(stored)) = tokio::time::timeout(timeout, read).await {
            // Local impressions recorded meanwhile may not be in Redis yet: keep the larger
            // of the two counts rather than overwrite them.
            let entry = self.users.get_with(user.to_string(), Counters::default);
            let mut e = entry.lock().unwrap_or_else(|p| p.into_inner());
            for (f, n) in stored {
                let c = e.counts.entry(f).or_insert(0);
                *c = (*c).max(n);
            }
            e.loaded = true;
        }
    }

    /// Sends this replica's pending impressions; on failure they stay pending.
    pub async fn flush(&self, conn: &mut ConnectionManager) -> Result<usize, redis::RedisError> {
        let batch = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        if batch.is_empty() {
            return Ok(0);
        }
        let mut p = redis::pipe();
        for (user, f) in &batch {
            p.cmd("HINCRBY").arg(key(user)).arg(f).arg(1).ignore();
            p.cmd("EXPIRE").arg(key(user)).arg(8 * 86_400).ignore();
        }
        match p.query_async::<()>(conn).await {
            Ok(()) => Ok(batch.len()),
            Err(e) => {
                self.pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(batch);
                Err(e)
            }
        }
    }

    /// Flushes every `every` while the process runs.
    pub async fn run(self: Arc<Self>, redis: RedisHandle, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            if let Some(mut c) = redis.get() {
                if let Err(e) = self.flush(&mut c).await {
                    tracing::warn!(error = %e, "frequency cap flush failed; will retry");
                }
            }
        }
    }
}

impl CapCounter for SharedCaps {
    fn count(&self, user: &str, line_item: LineItemId, per: CapPeriod, now: DateTime<Utc>) -> u32 {
        self.users
            .get(user)
            .and_then(|c| {
                c.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .counts
                    .get(&field(line_item, per, now))
                    .copied()
            })
            .unwrap_or(0)
    }

    fn record(&self, user: &str, line_item: LineItemId, now: DateTime<Utc>) {
        let counters = self.users.get_with(user.to_string(), Counters::default);
        let mut c = counters.lock().unwrap_or_else(|p| p.into_inner());
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        for per in PERIODS {
            let f = field(line_item, per, now);
            *c.counts.entry(f.clone()).or_insert(0) += 1;
            pending.push((user.to_string(), f));
        }
    }
}
