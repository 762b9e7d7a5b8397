//! Which events were already seen: shared across replicas and restarts for each token's
//! lifetime, so a replayed token is never logged or charged twice.
//!
//! With Redis, the first sighting is a `SET endcap:seen:{kind}:{id} 1 NX EX {lifetime}`;
//! every replica agrees on it. Without Redis (one process on embedded defaults) an
//! in-process cache holds the keys, re-filled at start from the event log. A Redis fault
//! falls back to the local cache, which also remembers every sighting made here.

use endcap_redis::{CallError, RedisHandle};
use endcap_tracking::TokenKind;
use moka::sync::Cache;
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Clone, Copy)]
struct Expires(Instant);

struct ByDeadline;

impl moka::Expiry<(TokenKind, Uuid), Expires> for ByDeadline {
    fn expire_after_create(
        &self,
        _: &(TokenKind, Uuid),
        v: &Expires,
        now: Instant,
    ) -> Option<Duration> {
        Some(v.0.saturating_duration_since(now))
    }
}

/// Events seen recently, by token kind.
pub struct Seen {
    local: Cache<(TokenKind, Uuid), Expires>,
    redis: Option<RedisHandle>,
    timeout: Duration,
}

fn key(kind: TokenKind, id: Uuid) -> String {
    format!("endcap:seen:{}:{id}", kind.as_str())
}

impl Seen {
    /// A dedup set holding up to `capacity` keys locally, shared through `redis` when given.
    pub fn new(capacity: u64, redis: Option<RedisHandle>, timeout: Duration) -> Self {
        Self {
            local: Cache::builder()
                .max_capacity(capacity)
                .expire_after(ByDeadline)
                .build(),
            redis,
            timeout,
        }
    }

    /// Remembers a sighting made before a restart (from the event log), until `until`.
    pub fn preload(&self, kind: TokenKind, id: Uuid, until: Instant) {
        if until > Instant::now() {
            self.local.insert((kind, id), Expires(until));
        }
    }

    /// True the first time `id` is seen for `kind` before `until_ms` (ms since the epoch:
    /// the token's own deadline, so the key outlives every copy of the token).
    pub async fn first(&self, kind: TokenKind, id: Uuid, until_ms: i64) -> bool {
        let left = (until_ms - chrono::Utc::now().timestamp_millis()).max(1_000);
        let fresh_here = self
            .local
            .entry((kind, id))
            .or_insert(Expires(Instant::now() + Duration::from_millis(left as u64)))
            .is_fresh();
        if let Some(redis) = &self.redis {
            let mut cmd = redis::cmd("SET");
            cmd.arg(key(kind, id)).arg(1).arg("NX").arg("PX").arg(left);
            let set = redis
                .call(self.timeout, |mut conn| async move {
                    cmd.query_async::<Option<String>>(&mut conn).await
                })
                .await;
            match set {
                Ok(reply) => return reply.is_some() && fresh_here,
                Err(CallError::Unavailable) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "dedup through redis failed; deciding locally")
                }
            }
        }
        fresh_here
    }

    /// Whether `id` was seen for `kind` (a click's impression), here or on any replica.
    pub async fn was_seen(&self, kind: TokenKind, id: Uuid) -> bool {
        if self.local.contains_key(&(kind, id)) {
            return true;
        }
        if let Some(redis) = &self.redis {
            let mut cmd = redis::cmd("EXISTS");
            cmd.arg(key(kind, id));
            let exists = redis
                .call(self.timeout, |mut conn| async move {
                    cmd.query_async::<u32>(&mut conn).await
                })
                .await;
            if let Ok(n) = exists {
                return n > 0;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sighting_counts_once_per_kind() {
        let s = Seen::new(100, None, Duration::from_millis(5));
        let id = Uuid::now_v7();
        let ttl = chrono::Utc::now().timestamp_millis() + 60_000;
        assert!(s.first(TokenKind::Impression, id, ttl).await);
        assert!(!s.first(TokenKind::Impression, id, ttl).await);
        assert!(s.first(TokenKind::Click, id, ttl).await, "kinds are apart");
        assert!(s.was_seen(TokenKind::Impression, id).await);
    }

    #[tokio::test]
    async fn preloaded_sightings_survive_a_restart_until_they_expire() {
        let s = Seen::new(100, None, Duration::from_millis(5));
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        s.preload(
            TokenKind::Click,
            a,
            Instant::now() + Duration::from_secs(60),
        );
        s.preload(TokenKind::Click, b, Instant::now() - Duration::from_secs(1));
        let later = chrono::Utc::now().timestamp_millis() + 60_000;
        assert!(!s.first(TokenKind::Click, a, later).await);
        assert!(s.first(TokenKind::Click, b, later).await);
    }
}
