//! Frequency caps shared through the real Redis: one replica's impressions count against
//! the cap on another once it loads the user.

use chrono::Utc;
use endcap_auction::{CapBuckets, CapCounter, CapOwner};
use endcap_core::{AdvertiserId, CampaignId, CapPeriod, LineItemId};
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

/// A line item's three cap owners (line item, campaign, advertiser).
fn owners(li: LineItemId) -> [CapOwner; 3] {
    CapOwner::all(li, CampaignId::generate(), AdvertiserId::generate())
}

fn at_now() -> CapBuckets {
    CapBuckets::of(&endcap_billing::RetailerClock::default().local(Utc::now()))
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
    let now = at_now();
    let o = owners(li);
    a.record(&user, o, now);
    a.record(&user, o, now);
    assert_eq!(
        a.count(&user, CapOwner::LineItem(li), CapPeriod::Day, now),
        2,
        "its own impressions count at once"
    );
    assert_eq!(
        a.flush(&c).await.unwrap(),
        9,
        "one increment per owner and period, the impressions summed"
    );
    assert_eq!(
        b.count(&user, o[1], CapPeriod::Day, now),
        0,
        "not loaded yet"
    );
    b.prefetch(&c, &user, Duration::from_millis(500)).await;
    assert_eq!(
        b.count(&user, CapOwner::LineItem(li), CapPeriod::Day, now),
        2
    );
    assert_eq!(
        b.count(&user, CapOwner::LineItem(li), CapPeriod::Hour, now),
        2
    );
    assert_eq!(
        b.count(&user, o[1], CapPeriod::Week, now),
        2,
        "the campaign's"
    );
    assert_eq!(
        b.count(&user, o[2], CapPeriod::Day, now),
        2,
        "the advertiser's"
    );
    assert_eq!(
        b.count(
            &user,
            CapOwner::LineItem(LineItemId::generate()),
            CapPeriod::Day,
            now
        ),
        0
    );
}

#[tokio::test]
async fn without_redis_caps_are_the_replicas_own() {
    let caps = SharedCaps::new(1000, Duration::from_secs(60));
    let li = LineItemId::generate();
    let now = at_now();
    let o = owners(li);
    caps.prefetch(&RedisHandle::default(), "u", Duration::from_millis(5))
        .await;
    caps.record("u", o, now);
    assert_eq!(
        caps.count("u", CapOwner::LineItem(li), CapPeriod::Week, now),
        1
    );
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
    let now = at_now();
    let o = owners(li);
    for _ in 0..3 {
        a.record(&user, o, now);
    }
    a.flush(&c).await.unwrap();
    // b served the user once itself before it ever loaded the user from Redis.
    b.record(&user, o, now);
    b.prefetch(&c, &user, Duration::from_millis(500)).await;
    assert_eq!(
        b.count(&user, CapOwner::LineItem(li), CapPeriod::Day, now),
        3,
        "merged as the larger of Redis's and the local count, and the entry is now loaded"
    );
}
