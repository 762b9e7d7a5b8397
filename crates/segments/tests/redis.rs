//! Segments against the real Redis (`ENDCAP_TEST_REDIS_URL`, started by scripts/test.sh),
//! and against a Redis that is down or never answers.

use endcap_segments::{Segments, SegmentsConfig, Source};
use std::time::{Duration, Instant};

fn redis_url() -> String {
    std::env::var("ENDCAP_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos() ^ rand_ish()
    )
}

fn rand_ish() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

fn config() -> SegmentsConfig {
    SegmentsConfig {
        timeout: Duration::from_millis(200),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_hundred_thousand_members_upload_and_are_found() {
    let s = Segments::redis(&redis_url(), config()).await.unwrap();
    let seg = unique("seg-big");
    let users: Vec<String> = (0..100_000).map(|i| format!("{seg}-u{i}")).collect();
    assert_eq!(s.add_members(&seg, &users).await.unwrap(), 100_000);
    assert_eq!(s.size(&seg).await.unwrap(), 100_000);
    for i in [0usize, 1, 4_242, 99_999] {
        let l = s.lookup(&users[i]).await;
        assert_eq!(
            (&*l.segments, l.source),
            (&[seg.clone()][..], Source::Store)
        );
    }
    assert_eq!(s.lookup(&users[1]).await.source, Source::Cache);
    assert!(s.lookup(&format!("{seg}-nobody")).await.segments.is_empty());

    let other = unique("seg-small");
    s.add_members(&other, &users[..10]).await.unwrap();
    let l = s.lookup(&users[3]).await;
    let mut want = [seg.clone(), other.clone()];
    want.sort();
    assert_eq!(&*l.segments, &want[..], "one user, two segments, one read");

    s.remove_members(&other, &users[..5]).await.unwrap();
    assert_eq!(&*s.lookup(&users[3]).await.segments, &[seg.clone()][..]);
    assert_eq!(s.clear(&seg).await.unwrap(), 100_000);
    assert_eq!(s.clear(&other).await.unwrap(), 5);
    assert!(s.lookup(&users[42]).await.segments.is_empty());
    assert_eq!(s.size(&seg).await.unwrap(), 0);
}

#[tokio::test]
async fn redis_down_serves_lookups_without_segments() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = Segments::redis(&format!("redis://127.0.0.1:{port}/0"), config())
        .await
        .unwrap();
    let started = Instant::now();
    let l = s.lookup("someone").await;
    assert_eq!((l.segments.len(), l.source), (0, Source::Degraded));
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(
        s.add_members("x", &["u".to_string()]).await.is_err(),
        "writes report the fault"
    );
}

#[tokio::test]
async fn a_redis_that_never_answers_is_cut_off_by_the_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock); // accept, then say nothing
        }
    });
    let s = Segments::redis(&format!("redis://127.0.0.1:{port}/0"), config())
        .await
        .unwrap();
    let started = Instant::now();
    let l = s.lookup("someone").await;
    assert_eq!(l.source, Source::Degraded);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "bounded by the lookup timeout"
    );
}
