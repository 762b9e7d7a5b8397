//! Endcap's audience segments.
//!
//! A user's segments are one Redis SET (`seg:u:{user_key}`), read in one round trip; each
//! segment also keeps the set of its members (`seg:m:{segment}`) so it can be emptied. Uploads
//! are pipelined in chunks. Lookups go through a moka cache (with shorter-lived negative
//! entries) and are bounded by a timeout: a miss, a slow Redis or a Redis fault degrades to
//! "no segments", never to an error, because ads must keep flowing. Without Redis (the
//! embedded default) an in-process map stands in, visible to this process only.
#![warn(missing_docs)]

use moka::sync::Cache;
use redis::aio::ConnectionManager;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::OnceCell;

/// Errors of segment writes (lookups never fail).
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    /// Redis refused or is unreachable.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis is configured but not connected (yet).
    #[error("redis is not connected")]
    NotConnected,
}

/// How lookups are cached and bounded.
#[derive(Debug, Clone)]
pub struct SegmentsConfig {
    /// How long a user's segments are cached.
    pub ttl: Duration,
    /// How long "no segments" is cached (shorter: new uploads show sooner).
    pub negative_ttl: Duration,
    /// Longest a lookup may wait for Redis.
    pub timeout: Duration,
    /// Most users cached.
    pub capacity: u64,
    /// Keys written per pipeline on upload.
    pub chunk: usize,
}

impl Default for SegmentsConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(10),
            timeout: Duration::from_millis(5),
            capacity: 1_000_000,
            chunk: 1_000,
        }
    }
}

/// Where a lookup's answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The in-process cache.
    Cache,
    /// Redis or the in-process store.
    Store,
    /// Redis was slow, down or not connected: answered "no segments".
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

#[derive(Default)]
struct Memory {
    users: HashMap<String, BTreeSet<String>>,
    members: HashMap<String, BTreeSet<String>>,
}

enum Backend {
    Redis(Arc<OnceCell<ConnectionManager>>),
    Memory(RwLock<Memory>),
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

    /// The embedded default: an in-process store.
    pub fn in_memory(config: SegmentsConfig) -> Self {
        Self::with_backend(Backend::Memory(RwLock::new(Memory::default())), config)
    }

    /// Redis at `url`. If Redis cannot be reached now, a background task keeps trying and
    /// lookups answer "no segments" meanwhile.
    pub async fn redis(url: &str, config: SegmentsConfig) -> Result<Self, SegmentError> {
        let client = redis::Client::open(url)?;
        let cell = Arc::new(OnceCell::new());
        match connect(&client).await {
            Ok(m) => {
                let _ = cell.set(m);
            }
            Err(e) => {
                tracing::warn!(error = %e, "redis unreachable; serving without segments until it is back");
                let cell = cell.clone();
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        if let Ok(m) = connect(&client).await {
                            let _ = cell.set(m);
                            tracing::info!("redis connected");
                            return;
                        }
                    }
                });
            }
        }
        Ok(Self::with_backend(Backend::Redis(cell), config))
    }

    /// Redis through a connection shared with the rest of the process (filled once Redis
    /// answers; lookups answer "no segments" until then).
    pub fn redis_shared(conn: Arc<OnceCell<ConnectionManager>>, config: SegmentsConfig) -> Self {
        Self::with_backend(Backend::Redis(conn), config)
    }

    /// The user's segments: cache, then the store within the timeout, else none.
    pub async fn lookup(&self, user: &str) -> Lookup {
        if let Some(Entry(segments)) = self.cache.get(user) {
            return Lookup {
                segments,
                source: Source::Cache,
            };
        }
        let found: Option<Vec<String>> = match &self.backend {
            Backend::Memory(m) => Some(
                m.read()
                    .unwrap_or_else(|p| p.into_inner())
                    .users
                    .get(user)
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default(),
            ),
            Backend::Redis(cell) => match cell.get() {
                None => None,
                Some(conn) => {
                    let mut conn = conn.clone();
                    let mut cmd = redis::cmd("SMEMBERS");
                    cmd.arg(user_key(user));
                    let read = cmd.query_async::<Vec<String>>(&mut conn);
                    match tokio::time::timeout(self.config.timeout, read).await {
                        Ok(Ok(v)) => Some(v),
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "segment lookup failed");
                            None
                        }
                        Err(_) => None,
                    }
                }
            },
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
            Backend::Memory(m) => {
                let mut m = m.write().unwrap_or_else(|p| p.into_inner());
                for u in users {
                    let user_set = m.users.entry(u.clone()).or_default();
                    if add {
                        user_set.insert(segment.to_string());
                    } else {
                        user_set.remove(segment);
                    }
                    let member_set = m.members.entry(segment.to_string()).or_default();
                    if add {
                        member_set.insert(u.clone());
                    } else {
                        member_set.remove(u);
                    }
                }
            }
            Backend::Redis(cell) => {
                let mut conn = cell.get().ok_or(SegmentError::NotConnected)?.clone();
                let cmd = if add { "SADD" } else { "SREM" };
                for chunk in users.chunks(self.config.chunk.max(1)) {
                    let mut p = redis::pipe();
                    for u in chunk {
                        p.cmd(cmd).arg(user_key(u)).arg(segment).ignore();
                    }
                    p.cmd(cmd).arg(members_key(segment)).arg(chunk).ignore();
                    p.query_async::<()>(&mut conn).await?;
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
            Backend::Memory(m) => m
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .members
                .get(segment)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default(),
            Backend::Redis(cell) => {
                let mut conn = cell.get().ok_or(SegmentError::NotConnected)?.clone();
                redis::cmd("SMEMBERS")
                    .arg(members_key(segment))
                    .query_async(&mut conn)
                    .await?
            }
        };
        self.remove_members(segment, &members).await?;
        Ok(members.len())
    }

    /// Number of members of a segment.
    pub async fn size(&self, segment: &str) -> Result<usize, SegmentError> {
        match &self.backend {
            Backend::Memory(m) => Ok(m
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .members
                .get(segment)
                .map_or(0, BTreeSet::len)),
            Backend::Redis(cell) => {
                let mut conn = cell.get().ok_or(SegmentError::NotConnected)?.clone();
                Ok(redis::cmd("SCARD")
                    .arg(members_key(segment))
                    .query_async(&mut conn)
                    .await?)
            }
        }
    }
}

/// One bounded attempt to connect; the manager reconnects by itself once it has connected.
async fn connect(client: &redis::Client) -> Result<ConnectionManager, SegmentError> {
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Duration::from_secs(1))
        .set_response_timeout(Duration::from_secs(2))
        .set_number_of_retries(1)
        .set_max_delay(500);
    match tokio::time::timeout(
        Duration::from_secs(3),
        ConnectionManager::new_with_config(client.clone(), config),
    )
    .await
    {
        Ok(res) => Ok(res?),
        Err(_) => Err(SegmentError::NotConnected),
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
    async fn the_in_memory_store_adds_removes_and_clears() {
        let s = Segments::in_memory(SegmentsConfig::default());
        let users: Vec<String> = (0..3).map(|i| format!("u{i}")).collect();
        s.add_members("dairy", &users).await.unwrap();
        s.add_members("pets", &users[..1]).await.unwrap();
        let l = s.lookup("u0").await;
        assert_eq!(
            (&*l.segments, l.source),
            (
                &["dairy".to_string(), "pets".to_string()][..],
                Source::Store
            )
        );
        assert_eq!(s.lookup("u0").await.source, Source::Cache);
        s.remove_members("pets", &users[..1]).await.unwrap();
        assert_eq!(
            &*s.lookup("u0").await.segments,
            &["dairy".to_string()][..],
            "writes invalidate the cache"
        );
        assert_eq!(s.clear("dairy").await.unwrap(), 3);
        assert!(s.lookup("u1").await.segments.is_empty());
        assert_eq!(s.size("dairy").await.unwrap(), 0);
    }
}
