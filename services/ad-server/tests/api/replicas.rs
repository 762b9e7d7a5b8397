//! Two ad-server processes sharing Redis under a burst of parallel clicks: the billable sum
//! never passes the budget.

use super::money::{seed_one, served};
use super::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Replica {
    child: Child,
    base: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(db: &str, events: &std::path::Path, redis: &str) -> Replica {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ad-server"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--database",
            db,
            "--redis",
            redis,
        ])
        .arg("--event-dir")
        .arg(events)
        .env("ENDCAP_SIGNING_KEYS", KEYS)
        .env("ENDCAP_WORKERS", "1")
        .env("ENDCAP_OPEN_ENDPOINTS", "true")
        .env("ENDCAP_MIN_CLICK_MS", "0")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("the ad-server binary starts");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the ad server logs its address")
            .unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.trim().to_string();
        }
    };
    // Keep draining the log so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Replica {
        child,
        base: format!("http://{addr}"),
    }
}

#[actix_web::test]
async fn two_replicas_sharing_redis_never_bill_past_the_budget_under_a_burst_of_clicks() {
    let redis = std::env::var("ENDCAP_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into());
    let db = endcap_store::testing::fresh_sqlite_url();
    // $1.00 a day, clicks at $0.05: twenty clicks' worth, against 160 clicks.
    let one = seed_one(
        &db,
        json!({"model": "cpc", "bid_micros": 50_000}),
        1_000_000,
        10_000_000,
    )
    .await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start(&db, dir_a.path(), &redis);
    let b = start(&db, dir_b.path(), &redis);
    let client = awc::Client::builder()
        .add_default_header(("User-Agent", crate::BROWSER_UA))
        .disable_redirects()
        .timeout(std::time::Duration::from_secs(30))
        .finish();
    let urls: Vec<String> = (0..160)
        .map(|i| {
            let base = if i % 2 == 0 { &a.base } else { &b.base };
            format!(
                "{base}/v1/events/click?t={}",
                token(TokenKind::Click, &served(&one, 50_000))
            )
        })
        .collect();
    let burst = urls.iter().map(|u| {
        let req = client.get(u.as_str());
        async move { req.send().await.map(|r| r.status().as_u16()) }
    });
    let statuses = futures_util::future::join_all(burst).await;
    assert!(
        statuses.iter().all(|s| matches!(s, Ok(302))),
        "{statuses:?}"
    );
    // The sinks write every 500 ms; on a loaded machine a batch can take longer, so wait
    // for every row (bounded) instead of a fixed time.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let (rows, billable) = loop {
        let mut billable = 0;
        let mut rows = 0;
        for dir in [dir_a.path(), dir_b.path()] {
            let ledger = endcap_events::read_table(dir, Table::Charges).unwrap();
            rows += ledger.len();
            billable += billable_nanos(&ledger);
        }
        if rows >= 160 || std::time::Instant::now() > deadline {
            break (rows, billable);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert!(rows >= 160, "every click has a ledger row ({rows})");
    assert!(
        billable <= 1_000_000_000,
        "billed {billable} nanos against a 1,000,000,000 budget"
    );
    assert!(
        billable >= 900_000_000,
        "the budget is spent, not starved by the race ({billable})"
    );
    // Each replica reads every indexed campaign's shared spend, not only what it charged:
    // a decision on either one now finds the budget spent.
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    for base in [&a.base, &b.base] {
        let mut r = client
            .post(format!("{base}/v1/decisions"))
            .send_json(&json!({"placements": [{"id": "money"}]}))
            .await
            .unwrap();
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["placements"][0]["ads"], json!([]), "{base}: {body}");
    }
}
