//! Shared budgets against a real redis-server this test starts, kills and starts again: what
//! a replica billed while Redis was away counts in the first charge after it is back.

use endcap_billing::{Budgets, Limits};
use endcap_core::CampaignId;
use endcap_redis::testing::free_port;
use endcap_redis::RedisHandle;
use std::process::Child;
use std::time::Duration;

fn start_redis(port: u16) -> Child {
    endcap_redis::testing::start_redis(port)
        .expect("redis-server on PATH (scripts/test.sh installs it)")
}

#[tokio::test]
async fn the_offline_backlog_is_counted_by_the_first_shared_charge_after_an_outage() {
    let port = free_port();
    let mut server = start_redis(port);
    let redis = RedisHandle::connect(&format!("redis://127.0.0.1:{port}/0")).unwrap();
    assert!(redis.ready(Duration::from_secs(10)).await);
    let b = Budgets::shared(redis.clone(), "r1".into(), Duration::from_millis(100));
    let c = CampaignId::generate();
    let limits = Limits {
        daily_nanos: 1_000,
        total_nanos: 10_000,
    };
    b.sync(&[c], 1).await.unwrap();
    // Redis goes away: the one replica bills its share (all that is left) offline.
    server.kill().unwrap();
    server.wait().unwrap();
    let mut offline = 0;
    for _ in 0..30 {
        offline += b.charge(c, limits, 1, 100).await.billable;
    }
    assert_eq!(offline, 1_000, "the replica's share of the day");
    // Redis is back (empty: it kept nothing); the breaker closes on its own.
    let mut server = start_redis(port);
    for _ in 0..200 {
        if !redis.is_open() && redis.get().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut after = 0;
    for _ in 0..10 {
        after += b.charge(c, limits, 1, 100).await.billable;
    }
    assert_eq!(
        after, 0,
        "the day's budget was spent offline: nothing more is billed"
    );
    assert_eq!(b.spent(c, 1).map(|s| s.today), Some(1_000));
    server.kill().unwrap();
    server.wait().unwrap();
}
