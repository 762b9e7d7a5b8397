//! Spend shared between ad-server replicas through Redis.
//!
//! Each replica adds its charges locally at once (so it never waits on Redis to see its own
//! spend) and, every sync interval, sends them as batched `INCRBY`s and reads back every
//! replica's totals. A replica can thus overspend by at most what the others charged within
//! one interval; with Redis down it keeps pacing on its local estimate.

use crate::SpendTracker;
use chrono::{DateTime, Utc};
use endcap_core::CampaignId;
use redis::aio::ConnectionManager;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Charges not yet sent to Redis, per campaign: (UTC day, micros).
type Pending = HashMap<CampaignId, Vec<(i64, i64)>>;

#[derive(Default)]
struct State {
    /// UTC day the `synced` daily figures belong to.
    day: i64,
    /// Every replica's spend as last read from Redis: (today, total).
    synced: HashMap<CampaignId, (i64, i64)>,
    /// This replica's charges not yet sent: (day, micros).
    pending: Pending,
}

/// A [`SpendTracker`] whose counters live in Redis.
#[derive(Default)]
pub struct SharedSpend {
    state: Mutex<State>,
}

fn day(now: DateTime<Utc>) -> i64 {
    now.timestamp() / 86_400
}

fn key_day(c: CampaignId, d: i64) -> String {
    format!("endcap:spend:{c}:{d}")
}

fn key_total(c: CampaignId) -> String {
    format!("endcap:spend:{c}:total")
}

impl SpendTracker for SharedSpend {
    fn spent(&self, campaign: CampaignId, now: DateTime<Utc>) -> (i64, i64) {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let today = day(now);
        let (mut d, mut t) = match s.synced.get(&campaign) {
            Some((d, t)) if s.day == today => (*d, *t),
            Some((_, t)) => (0, *t),
            None => (0, 0),
        };
        for (pd, m) in s.pending.get(&campaign).into_iter().flatten() {
            t += m;
            if *pd == today {
                d += m;
            }
        }
        (d, t)
    }

    fn record(&self, campaign: CampaignId, micros: i64, now: DateTime<Utc>) {
        if micros == 0 {
            return;
        }
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.pending
            .entry(campaign)
            .or_default()
            .push((day(now), micros));
    }
}

impl SharedSpend {
    /// Sends pending charges and reads back every replica's totals. On failure the charges
    /// stay pending (sent again next time) and the local view keeps counting them.
    pub async fn sync(
        &self,
        conn: &mut ConnectionManager,
        now: DateTime<Utc>,
    ) -> Result<(), redis::RedisError> {
        let today = day(now);
        let (pending, campaigns): (Pending, Vec<CampaignId>) = {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let pending = std::mem::take(&mut s.pending);
            let mut campaigns: Vec<CampaignId> = s.synced.keys().copied().collect();
            campaigns.extend(pending.keys().copied());
            campaigns.sort();
            campaigns.dedup();
            (pending, campaigns)
        };
        let mut p = redis::pipe();
        for (c, charges) in &pending {
            for (d, m) in charges {
                p.cmd("INCRBY").arg(key_day(*c, *d)).arg(*m).ignore();
                p.cmd("EXPIRE")
                    .arg(key_day(*c, *d))
                    .arg(3 * 86_400)
                    .ignore();
                p.cmd("INCRBY").arg(key_total(*c)).arg(*m).ignore();
            }
        }
        for c in &campaigns {
            p.cmd("GET").arg(key_day(*c, today));
            p.cmd("GET").arg(key_total(*c));
        }
        match p.query_async::<Vec<Option<i64>>>(conn).await {
            Ok(values) => {
                let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
                s.day = today;
                for (i, c) in campaigns.iter().enumerate() {
                    let d = values.get(2 * i).copied().flatten().unwrap_or(0);
                    let t = values.get(2 * i + 1).copied().flatten().unwrap_or(0);
                    s.synced.insert(*c, (d, t));
                }
                Ok(())
            }
            Err(e) => {
                // Nothing is known to have been applied: keep every charge pending. (Redis
                // pipelines are not atomic; a partial apply would be re-sent, overcounting
                // spend, which errs on the side of not overspending.)
                let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
                for (c, mut charges) in pending {
                    s.pending.entry(c).or_default().append(&mut charges);
                }
                Err(e)
            }
        }
    }

    /// Syncs every `every` for as long as the process runs.
    pub async fn run(self: std::sync::Arc<Self>, client: redis::Client, every: Duration) {
        let mut conn: Option<ConnectionManager> = None;
        loop {
            tokio::time::sleep(every).await;
            if conn.is_none() {
                conn = tokio::time::timeout(
                    Duration::from_secs(2),
                    ConnectionManager::new(client.clone()),
                )
                .await
                .ok()
                .and_then(Result::ok);
            }
            if let Some(c) = conn.as_mut() {
                if let Err(e) = self.sync(c, Utc::now()).await {
                    tracing::warn!(error = %e, "spend sync failed; pacing on local estimates");
                }
            }
        }
    }
}
