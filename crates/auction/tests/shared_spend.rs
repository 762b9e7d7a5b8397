//! Spend shared through the real Redis (`ENDCAP_TEST_REDIS_URL`): two replicas see each
//! other's charges after a sync, and a budget spent between them stops both.

use chrono::Utc;
use endcap_auction::{SharedSpend, SpendTracker};
use endcap_core::CampaignId;

async fn conn() -> redis::aio::ConnectionManager {
    let url = std::env::var("ENDCAP_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into());
    redis::aio::ConnectionManager::new(redis::Client::open(url).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn replicas_see_each_others_spend_after_a_sync() {
    let (a, b) = (SharedSpend::default(), SharedSpend::default());
    let (mut ca, mut cb) = (conn().await, conn().await);
    let c = CampaignId::generate();
    let now = Utc::now();
    a.record(c, 600, now);
    b.record(c, 500, now);
    assert_eq!(a.spent(c, now), (600, 600), "its own charges count at once");
    a.sync(&mut ca, now).await.unwrap();
    b.sync(&mut cb, now).await.unwrap();
    a.sync(&mut ca, now).await.unwrap();
    assert_eq!(a.spent(c, now), (1_100, 1_100));
    assert_eq!(b.spent(c, now), (1_100, 1_100));
    a.sync(&mut ca, now).await.unwrap();
    assert_eq!(
        a.spent(c, now),
        (1_100, 1_100),
        "a sync without charges changes nothing"
    );
}

#[tokio::test]
async fn charges_made_while_redis_is_unreachable_are_kept_and_sent_later() {
    let s = SharedSpend::default();
    let c = CampaignId::generate();
    let now = Utc::now();
    s.record(c, 250, now);
    // No sync possible (we simply do not call it): the local view still paces.
    assert_eq!(s.spent(c, now), (250, 250));
    let mut good = conn().await;
    s.sync(&mut good, now).await.unwrap();
    assert_eq!(s.spent(c, now), (250, 250), "sent once, not double counted");
}
