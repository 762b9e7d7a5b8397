//! Frequency caps shared through the real Redis: one replica's impressions count against
//! the cap on another once it loads the user.

use chrono::Utc;
use endcap_auction::CapCounter;
use endcap_core::{CapPeriod, LineItemId};
use endcap_redis::RedisHandle;
use endcap_serving::SharedCaps;
use std::time::Duration;

async fn conn() -> RedisHandle {
    let url = std::env::var("ENDCAP_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into());
    let h = RedisHandle::connect(&url).unwrap();
    assert!(h.ready(Duration::from_secs(5)).await, "is redis running?");
    h
}

#[tokio::test]
async fn impressions_on_one_replica_count_on_another() {
    let (a, b) = (
        SharedCaps::new(1000, Duration::from_secs(60)),
        SharedCaps::new(1000, Duration::from_secs(60)),
    );
    let c = conn().await;
    let user = format!(
        "{:064x}",
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    let li = LineItemId::generate();
    let now = Utc::now();
    a.record(&user, li, now);
    a.record(&user, li, now);
    assert_eq!(
        a.count(&user, li, CapPeriod::Day, now),
        2,
        "its own impressions count at once"
    );
    assert_eq!(
        a.flush(&c).await.unwrap(),
        3,
        "one increment per period, the impressions summed"
    );
    b.prefetch(&c, &user, Duration::from_millis(500)).await;
    assert_eq!(b.count(&user, li, CapPeriod::Day, now), 2);
    assert_eq!(b.count(&user, li, CapPeriod::Hour, now), 2);
    assert_eq!(
        b.count(&user, LineItemId::generate(), CapPeriod::Day, now),
        0
    );
}

#[tokio::test]
async fn without_redis_caps_are_the_replicas_own() {
    let caps = SharedCaps::new(1000, Duration::from_secs(60));
    let li = LineItemId::generate();
    let now = Utc::now();
    caps.prefetch(&RedisHandle::default(), "u", Duration::from_millis(5))
        .await;
    caps.record("u", li, now);
    assert_eq!(caps.count("u", li, CapPeriod::Week, now), 1);
}

#[tokio::test]
async fn a_local_impression_before_the_load_is_kept_and_the_load_still_happens() {
    let (a, b) = (
        SharedCaps::new(1000, Duration::from_secs(60)),
        SharedCaps::new(1000, Duration::from_secs(60)),
    );
    let c = conn().await;
    let user = format!(
        "{:064x}",
        Utc::now().timestamp_nanos_opt().unwrap_or_default() ^ 0x5eed
    );
    let li = LineItemId::generate();
    let now = Utc::now();
    for _ in 0..3 {
        a.record(&user, li, now);
    }
    a.flush(&c).await.unwrap();
    // b served the user once itself before it ever loaded the user from Redis.
    b.record(&user, li, now);
    b.prefetch(&c, &user, Duration::from_millis(500)).await;
    assert_eq!(
        b.count(&user, li, CapPeriod::Day, now),
        3,
        "merged as the larger of Redis's and the local count, and the entry is now loaded"
    );
}
