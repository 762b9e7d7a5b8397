//! Segment lookup latency, p50/p99: served from the moka cache, and read from Redis.
//!
//!     cargo bench -p endcap-segments --bench lookup_latency
//!
//! Needs the Redis that scripts/test.sh starts (ENDCAP_TEST_REDIS_URL).

use endcap_segments::{Segments, SegmentsConfig, Source};
use std::time::{Duration, Instant};

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(name: &str, mut d: Vec<Duration>) {
    d.sort();
    println!(
        "{name:<22} n={:<7} p50 {:>8.1} us  p99 {:>8.1} us  max {:>8.1} us",
        d.len(),
        pct(&d, 0.50).as_secs_f64() * 1e6,
        pct(&d, 0.99).as_secs_f64() * 1e6,
        d[d.len() - 1].as_secs_f64() * 1e6
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let url = std::env::var("ENDCAP_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into());
    let config = SegmentsConfig {
        timeout: Duration::from_millis(50),
        ..Default::default()
    };
    let s = Segments::redis(&url, config).await.unwrap();
    let users: Vec<String> = (0..20_000).map(|i| format!("bench-user-{i:064}")).collect();
    for seg in ["bench-dairy", "bench-pets", "bench-snacks"] {
        s.add_members(seg, &users).await.unwrap();
    }

    let mut redis = Vec::with_capacity(users.len());
    for u in &users {
        let t = Instant::now();
        let l = s.lookup(u).await;
        redis.push(t.elapsed());
        assert_eq!((l.source, l.segments.len()), (Source::Store, 3));
    }
    let mut cached = Vec::with_capacity(200_000);
    for i in 0..200_000 {
        let t = Instant::now();
        let l = s.lookup(&users[i % users.len()]).await;
        cached.push(t.elapsed());
        assert_eq!(l.source, Source::Cache);
    }
    report("redis (cache miss)", redis);
    report("moka (cache hit)", cached);
    for seg in ["bench-dairy", "bench-pets", "bench-snacks"] {
        s.clear(seg).await.unwrap();
    }
}
