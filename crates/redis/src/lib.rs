//! The one Redis connection a process shares (segments, caps, spend, dedup), and the one way
//! to call it: [`RedisHandle::call`] bounds every call by a timeout and feeds a circuit
//! breaker. After [`TRIP_AFTER`] consecutive connection failures (refused, reset, dropped),
//! or [`TRIP_AFTER_TIMEOUTS`] consecutive timeouts (a Redis that accepts and never answers;
//! a busy moment can time out a few 5 ms lookups in a row without Redis being down), the
//! breaker opens and every caller is told "unavailable" at once, without
//! touching the network, so the hot path answers at its normal speed and degrades (no
//! segments, local caps, the replica's share of budget) instead of waiting out a timeout per
//! request. A background probe pings Redis every [`PROBE_EVERY`] while open and closes the
//! breaker when Redis answers again.

pub mod testing;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::RedisError;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

/// Consecutive connection failures that open the breaker.
pub const TRIP_AFTER: u32 = 3;
/// Consecutive timeouts that open the breaker.
pub const TRIP_AFTER_TIMEOUTS: u32 = 20;
/// How often an open breaker probes Redis.
pub const PROBE_EVERY: Duration = Duration::from_millis(250);
/// Longest a probe waits for `PING`.
const PROBE_TIMEOUT: Duration = Duration::from_millis(200);
/// The connection's own bound on any reply, behind the callers' (usually shorter) timeouts:
/// nothing waits on Redis forever.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Inner {
    conn: OnceLock<ConnectionManager>,
    failures: AtomicU32,
    timeouts: AtomicU32,
    open: AtomicBool,
    /// Times the breaker opened since start (for `/metrics`).
    trips: AtomicU64,
}

/// Why a call did not run or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Not connected yet, or the breaker is open: nothing was sent.
    #[error("redis unavailable (not connected, or circuit open)")]
    Unavailable,
    /// No answer within the caller's timeout.
    #[error("redis did not answer in time")]
    TimedOut,
    /// Redis answered with an error, or the connection failed.
    #[error("redis: {0}")]
    Redis(RedisError),
}

impl From<RedisError> for CallError {
    fn from(e: RedisError) -> Self {
        Self::Redis(e)
    }
}

/// One reconnecting Redis connection shared by every user in a process, with a circuit
/// breaker; empty until Redis first answers (users degrade meanwhile).
#[derive(Clone, Default)]
pub struct RedisHandle(Arc<Inner>);

impl RedisHandle {
    /// Starts connecting to `url` in the background, retrying every two seconds; once
    /// connected, a probe task watches the breaker. Fails only on a malformed URL.
    pub fn connect(url: &str) -> Result<Self, RedisError> {
        let client = redis::Client::open(url)?;
        let handle = Self::default();
        let weak = Arc::downgrade(&handle.0);
        tokio::spawn(async move {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Duration::from_secs(1))
                .set_response_timeout(RESPONSE_TIMEOUT)
                .set_number_of_retries(1)
                .set_max_delay(500);
            loop {
                let attempt = tokio::time::timeout(
                    Duration::from_secs(3),
                    ConnectionManager::new_with_config(client.clone(), config.clone()),
                )
                .await;
                let Some(inner) = weak.upgrade() else { return };
                if let Ok(Ok(conn)) = attempt {
                    let _ = inner.conn.set(conn);
                    tracing::info!("redis connected");
                    drop(inner);
                    probe(weak).await;
                    return;
                }
                drop(inner);
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        });
        Ok(handle)
    }

    /// A connection to use now: `None` before the first connection and while the breaker is
    /// open. Prefer [`RedisHandle::call`], which also reports the outcome to the breaker.
    pub fn get(&self) -> Option<ConnectionManager> {
        if self.0.open.load(Ordering::Acquire) {
            return None;
        }
        self.0.conn.get().cloned()
    }

    /// Runs `f` on the connection within `timeout`, recording the outcome in the breaker.
    /// Answers [`CallError::Unavailable`] at once, sending nothing, while the breaker is open.
    pub async fn call<T, F, Fut>(&self, timeout: Duration, f: F) -> Result<T, CallError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let conn = self.get().ok_or(CallError::Unavailable)?;
        match tokio::time::timeout(timeout, f(conn)).await {
            Ok(Ok(v)) => {
                self.succeeded();
                Ok(v)
            }
            Ok(Err(e)) => {
                // A reply error (wrong type, script error) says Redis is up.
                if e.is_io_error()
                    || e.is_timeout()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                {
                    self.failed(false);
                } else {
                    self.succeeded();
                }
                Err(CallError::Redis(e))
            }
            Err(_) => {
                self.failed(true);
                Err(CallError::TimedOut)
            }
        }
    }

    /// Whether the breaker is open (Redis known down).
    pub fn is_open(&self) -> bool {
        self.0.open.load(Ordering::Acquire)
    }

    /// Times the breaker has opened since start.
    pub fn trips(&self) -> u64 {
        self.0.trips.load(Ordering::Relaxed)
    }

    /// The breaker's state in Prometheus text format.
    pub fn render(&self) -> String {
        format!(
            "# TYPE endcap_redis_circuit_open gauge\nendcap_redis_circuit_open {}\n\
             # TYPE endcap_redis_circuit_trips_total counter\nendcap_redis_circuit_trips_total {}\n",
            u8::from(self.is_open()),
            self.trips()
        )
    }

    /// Waits up to `timeout` for the first connection.
    pub async fn ready(&self, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.0.conn.get().is_some() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.0.conn.get().is_some()
    }

    fn succeeded(&self) {
        self.0.failures.store(0, Ordering::Relaxed);
        self.0.timeouts.store(0, Ordering::Relaxed);
    }

    fn failed(&self, timed_out: bool) {
        let (counter, limit) = if timed_out {
            (&self.0.timeouts, TRIP_AFTER_TIMEOUTS)
        } else {
            (&self.0.failures, TRIP_AFTER)
        };
        let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= limit && !self.0.open.swap(true, Ordering::AcqRel) {
            self.0.trips.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                failures = n,
                "redis failing; circuit open, serving without it until a probe answers"
            );
        }
    }
}

/// While the handle lives: when the breaker is open, pings Redis and closes the breaker on
/// the first answer.
async fn probe(weak: Weak<Inner>) {
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        let Some(inner) = weak.upgrade() else { return };
        if !inner.open.load(Ordering::Acquire) {
            continue;
        }
        let Some(mut conn) = inner.conn.get().cloned() else {
            continue;
        };
        let cmd = redis::cmd("PING");
        let ping = cmd.query_async::<String>(&mut conn);
        if let Ok(Ok(_)) = tokio::time::timeout(PROBE_TIMEOUT, ping).await {
            inner.failures.store(0, Ordering::Relaxed);
            inner.timeouts.store(0, Ordering::Relaxed);
            inner.open.store(false, Ordering::Release);
            tracing::info!("redis answered a probe; circuit closed");
        }
    }
}
