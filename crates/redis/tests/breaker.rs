//! The circuit breaker against a real Redis server that this test starts, kills and starts
//! again on the same port.

use endcap_redis::testing::free_port;
use endcap_redis::{CallError, RedisHandle, TRIP_AFTER, TRIP_AFTER_TIMEOUTS};
use std::process::{Child, Command};
use std::time::Duration;

fn start_redis(port: u16) -> Child {
    endcap_redis::testing::start_redis(port)
        .expect("redis-server on PATH (scripts/test.sh installs it)")
}

async fn ping(h: &RedisHandle) -> Result<String, CallError> {
    h.call(Duration::from_millis(200), |mut c| async move {
        redis::cmd("PING").query_async::<String>(&mut c).await
    })
    .await
}

#[tokio::test]
async fn opens_when_redis_dies_fails_fast_and_closes_when_it_is_back() {
    let port = free_port();
    let mut server = start_redis(port);
    let h = RedisHandle::connect(&format!("redis://127.0.0.1:{port}/0")).unwrap();
    assert!(h.ready(Duration::from_secs(10)).await, "first connection");
    assert_eq!(ping(&h).await.unwrap(), "PONG");
    assert!(!h.is_open());

    server.kill().unwrap();
    server.wait().unwrap();
    let mut failed = 0;
    while !h.is_open() && failed < 2 * TRIP_AFTER_TIMEOUTS {
        assert!(ping(&h).await.is_err(), "a dead server cannot answer");
        failed += 1;
    }
    assert!(h.is_open(), "open after {failed} failures");
    assert_eq!(h.trips(), 1);
    assert!(
        matches!(ping(&h).await, Err(CallError::Unavailable)),
        "while open nothing is sent"
    );
    assert!(h.get().is_none());

    let mut server = start_redis(port);
    let mut waited = 0;
    while h.is_open() && waited < 200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    assert!(
        !h.is_open(),
        "a probe closed the breaker once redis was back"
    );
    assert_eq!(ping(&h).await.unwrap(), "PONG");
    server.kill().unwrap();
    server.wait().unwrap();
}

#[tokio::test]
async fn a_reply_error_does_not_count_as_redis_down() {
    let url = std::env::var("ENDCAP_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into());
    let h = RedisHandle::connect(&url).unwrap();
    assert!(h.ready(Duration::from_secs(5)).await, "is redis running?");
    for _ in 0..3 * TRIP_AFTER {
        let wrong = h
            .call(Duration::from_secs(1), |mut c| async move {
                redis::cmd("NOSUCHCOMMAND")
                    .query_async::<String>(&mut c)
                    .await
            })
            .await;
        assert!(matches!(wrong, Err(CallError::Redis(_))));
    }
    assert!(!h.is_open());
    assert_eq!(ping(&h).await.unwrap(), "PONG");
}

#[tokio::test]
async fn a_handle_never_connected_is_unavailable() {
    let h = RedisHandle::default();
    assert!(matches!(ping(&h).await, Err(CallError::Unavailable)));
}

#[tokio::test]
async fn a_redis_that_stops_answering_opens_after_a_run_of_timeouts_not_one() {
    // A real server to connect to, then paused (SIGSTOP): it keeps the connection and
    // answers nothing, like a Redis stuck on a slow command.
    let port = free_port();
    let mut server = start_redis(port);
    let h = RedisHandle::connect(&format!("redis://127.0.0.1:{port}/0")).unwrap();
    assert!(h.ready(Duration::from_secs(10)).await, "first connection");
    let pid = server.id().to_string();
    assert!(Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap()
        .success());
    let quick = |h: &RedisHandle| {
        let h = h.clone();
        async move {
            h.call(Duration::from_millis(20), |mut c| async move {
                redis::cmd("PING").query_async::<String>(&mut c).await
            })
            .await
        }
    };
    for _ in 1..TRIP_AFTER_TIMEOUTS {
        assert!(matches!(quick(&h).await, Err(CallError::TimedOut)));
    }
    assert!(!h.is_open(), "a few slow answers are not an outage");
    assert!(matches!(quick(&h).await, Err(CallError::TimedOut)));
    assert!(h.is_open(), "a run of them is");
    assert!(matches!(quick(&h).await, Err(CallError::Unavailable)));
    assert!(Command::new("kill")
        .args(["-CONT", &pid])
        .status()
        .unwrap()
        .success());
    server.kill().unwrap();
    server.wait().unwrap();
}
