//! Endcap's audience segments.
//!
//! A user's segments are one Redis SET (`seg:u:{user_key}`), read in one round trip; each
//! segment also keeps the set of its members (`seg:m:{segment}`) so it can be emptied. Uploads
//! are pipelined in chunks. Without Redis (the embedded default) members live in the shared
//! campaign store (SQLite or PostgreSQL, indexed both ways), so every process on the same
//! database sees them. Lookups go through a moka cache (with shorter-lived negative entries)
//! and are bounded by a timeout: a miss, a slow backend or a fault degrades to "no segments",
//! never to an error, because ads must keep flowing.
#![warn(missing_docs)]

use endcap_redis::{CallError, RedisHandle};
use endcap_store::{CampaignStore, StoreError};
use moka::sync::Cache;
use std::sync::Arc;
use std::time::Duration;

/// Errors of segment writes (lookups never fail).
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    /// Redis refused, is unreachable, or is known down.
    #[error("{0}")]
    Redis(#[from] CallError),
    /// The shared store refused (for instance a segment over its size limit).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How lookups are cached and bounded.
#[derive(Debug, Clone)]
pub struct SegmentsConfig {
    /// How long a user's segments are cached.
    pub ttl: Duration,
    /// How long "no segments" is cached (shorter: new uploads show sooner).
    pub negative_ttl: Duration,
    /// Longest a lookup may wait for the backend.
    pub timeout: Duration,
    /// Most users cached.
    pub capacity: u64,
    /// Keys written per pipeline on upload.
    pub chunk: usize,
    /// Most members one segment may hold in the shared store.
    pub max_members: u64,
}

impl Default for SegmentsConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(10),
            timeout: Duration::from_millis(5),
            capacity: 1_000_000,
            chunk: 1_000,
            max_members: 10_000_000,
        }
    }
}

/// Bound on a write's Redis round trip (uploads run off the decision path).
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a lookup's answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The in-process cache.
    Cache,
    /// Redis or the shared store.
    Store,
    /// The backend was slow, down or not connected: answered "no segments".
    Degraded,
}

/// A user's segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// Segment ids, sorted.
    pub segments: Arc<[String]>,
    /// Where they came from.
    pub source: Source,
}

enum Backend {
    Redis(RedisHandle),
    Store(CampaignStore),
}

#[derive(Clone)]
struct Entry(Arc<[String]>);

/// The segment store with its cache.
pub struct Segments {
    backend: Backend,
    cache: Cache<String, Entry>,
    config: SegmentsConfig,
}

fn user_key(u: &str) -> String {
    format!("seg:u:{u}")
}

fn members_key(s: &str) -> String {
    format!("seg:m:{s}")
}

impl Segments {
    fn with_backend(backend: Backend, config: SegmentsConfig) -> Self {
        let (ttl, neg) = (config.ttl, config.negative_ttl);
        let cache = Cache::builder()
            .max_capacity(config.capacity)
            .expire_after(Expiry { ttl, neg })
            .build();
        Self {
            backend,
            cache,
            config,
        }
    }

    /// The embedded default: members in the shared campaign store.
    pub fn in_store(store: CampaignStore, config: SegmentsConfig) -> Self {
        Self::with_backend(Backend::Store(store), config)
    }

    /// Redis at `url`, waiting up to three seconds for the first connection. If Redis cannot
    /// be reached, the handle keeps trying and lookups answer "no segments" meanwhile.
    pub async fn redis(url: &str, config: SegmentsConfig) -> Result<Self, SegmentError> {
        let handle = RedisHandle::connect(url).map_err(CallError::from)?;
        if !handle.ready(Duration::from_secs(3)).await {
            tracing::warn!("redis unreachable; serving without segments until it is back");
        }
        Ok(Self::redis_shared(handle, config))
    }

    /// Redis through the connection the rest of the process shares.
    pub fn redis_shared(handle: RedisHandle, config: SegmentsConfig) -> Self {
        Self::with_backend(Backend::Redis(handle), config)
    }

    /// The user's segments: cache, then the backend within the timeout, else none.
    pub async fn lookup(&self, user: &str) -> Lookup {
        if let Some(Entry(segments)) = self.cache.get(user) {
            return Lookup {
                segments,
                source: Source::Cache,
            };
        }
        let found: Option<Vec<String>> = match &self.backend {
            Backend::Store(store) => {
                match tokio::time::timeout(self.config.timeout, store.segments_of_user(user)).await
                {
                    Ok(Ok(v)) => Some(v),
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "segment lookup failed");
                        None
                    }
                    Err(_) => None,
                }
            }
            Backend::Redis(redis) => {
                let mut cmd = redis::cmd("SMEMBERS");
                cmd.arg(user_key(user));
                let read = redis
                    .call(self.config.timeout, |mut conn| async move {
                        cmd.query_async::<Vec<String>>(&mut conn).await
                    })
                    .await;
                match read {
                    Ok(v) => Some(v),
                    Err(e) => {
                        tracing::debug!(error = %e, "segment lookup failed");
                        None
                    }
                }
            }
        };
        match found {
            Some(mut v) => {
                v.sort();
                let segments: Arc<[String]> = v.into();
                self.cache.insert(user.to_string(), Entry(segments.clone()));
                Lookup {
                    segments,
                    source: Source::Store,
                }
            }
            // Not cached: the next request tries the store again.
            None => Lookup {
                segments: Arc::from(Vec::new()),
                source: Source::Degraded,
            },
        }
    }

    /// A user's segments read from the backend itself: no cache, no lookup timeout, faults
    /// reported (for data-subject deletion, which must not miss a membership because the
    /// backend was slow for a moment).
    pub async fn segments_of(&self, user: &str) -> Result<Vec<String>, SegmentError> {
        match &self.backend {
            Backend::Store(store) => Ok(store.segments_of_user(user).await?),
            Backend::Redis(redis) => {
                let key = user_key(user);
                Ok(redis
                    .call(WRITE_TIMEOUT, |mut conn| async move {
                        redis::cmd("SMEMBERS").arg(key).query_async(&mut conn).await
                    })
                    .await?)
            }
        }
    }

    /// Adds users to a segment; returns how many were written.
    pub async fn add_members(
        &self,
        segment: &str,
        users: &[String],
    ) -> Result<usize, SegmentError> {
        self.change_members(segment, users, true).await
    }

    /// Removes users from a segment; returns how many were asked for.
    pub async fn remove_members(
        &self,
        segment: &str,
        users: &[String],
    ) -> Result<usize, SegmentError> {
        self.change_members(segment, users, false).await
    }

    /// Adds (`add`) or removes users, keeping the per-user and per-segment sets in step.
    async fn change_members(
        &self,
        segment: &str,
        users: &[String],
        add: bool,
    ) -> Result<usize, SegmentError> {
        match &self.backend {
            Backend::Store(store) => {
                if add {
                    store
                        .add_segment_members(segment, users, self.config.max_members)
                        .await?;
                } else {
                    store.remove_segment_members(segment, users).await?;
                }
            }
            Backend::Redis(redis) => {
                let cmd = if add { "SADD" } else { "SREM" };
                for chunk in users.chunks(self.config.chunk.max(1)) {
                    let mut p = redis::pipe();
                    for u in chunk {
                        p.cmd(cmd).arg(user_key(u)).arg(segment).ignore();
                    }
                    p.cmd(cmd).arg(members_key(segment)).arg(chunk).ignore();
                    redis
                        .call(WRITE_TIMEOUT, |mut conn| async move {
                            p.query_async::<()>(&mut conn).await
                        })
                        .await?;
                }
            }
        }
        for u in users {
            self.cache.invalidate(u);
        }
        Ok(users.len())
    }

    /// Empties a segment; returns how many members it had.
    pub async fn clear(&self, segment: &str) -> Result<usize, SegmentError> {
        let members: Vec<String> = match &self.backend {
            Backend::Store(store) => store.segment_members(segment).await?,
            Backend::Redis(redis) => {
                let key = members_key(segment);
                redis
                    .call(WRITE_TIMEOUT, |mut conn| async move {
                        redis::cmd("SMEMBERS").arg(key).query_async(&mut conn).await
                    })
                    .await?
            }
        };
        self.remove_members(segment, &members).await?;
        Ok(members.len())
    }

    /// Number of members of a segment.
    pub async fn size(&self, segment: &str) -> Result<usize, SegmentError> {
        match &self.backend {
            Backend::Store(store) => {
                Ok(usize::try_from(store.segment_size(segment).await?).unwrap_or(usize::MAX))
            }
            Backend::Redis(redis) => {
                let key = members_key(segment);
                Ok(redis
                    .call(WRITE_TIMEOUT, |mut conn| async move {
                        redis::cmd("SCARD").arg(key).query_async(&mut conn).await
                    })
                    .await?)
            }
        }
    }
}

struct Expiry {
    ttl: Duration,
    neg: Duration,
}

impl moka::Expiry<String, Entry> for Expiry {
    fn expire_after_create(
        &self,
        _: &String,
        v: &Entry,
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(if v.0.is_empty() { self.neg } else { self.ttl })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_shared_store_adds_removes_clears_and_bounds() {
        let store = endcap_store::testing::fresh_store(None).await.unwrap();
        let config = SegmentsConfig {
            max_members: 4,
            ..SegmentsConfig::default()
        };
        let s = Segments::in_store(store.clone(), config.clone());
        // A second process on the same database (the ad server) sees what this one wrote.
        let other = Segments::in_store(store, config);
        let users: Vec<String> = (0..3).map(|i| format!("u{i}")).collect();
        s.add_members("dairy", &users).await.unwrap();
        s.add_members("pets", &users[..1]).await.unwrap();
        assert_eq!(
            other.segments_of("u0").await.unwrap(),
            vec!["dairy".to_string(), "pets".to_string()],
            "read from the store itself, for deletions"
        );
        let l = other.lookup("u0").await;
        assert_eq!(
            (&*l.segments, l.source),
            (
                &["dairy".to_string(), "pets".to_string()][..],
                Source::Store
            )
        );
        assert_eq!(s.lookup("u0").await.source, Source::Store);
        assert_eq!(s.lookup("u0").await.source, Source::Cache);
        s.remove_members("pets", &users[..1]).await.unwrap();
        assert_eq!(
            &*s.lookup("u0").await.segments,
            &["dairy".to_string()][..],
            "writes invalidate the writer's cache"
        );
        // Past the bound nothing of the upload is written.
        let more: Vec<String> = (3..6).map(|i| format!("u{i}")).collect();
        let refused = s.add_members("dairy", &more).await.unwrap_err();
        assert!(
            matches!(&refused, SegmentError::Store(StoreError::Invalid(v)) if v.field == "members"),
            "{refused}"
        );
        assert_eq!(s.size("dairy").await.unwrap(), 3);
        assert_eq!(s.clear("dairy").await.unwrap(), 3);
        assert!(s.lookup("u1").await.segments.is_empty());
        assert_eq!(s.size("dairy").await.unwrap(), 0);
    }
}
