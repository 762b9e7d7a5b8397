//! The real `campaign-api` binary, started the way the README starts it.

use crate::helpers::*;
use serde_json::json;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_campaign-api");

#[actix_web::test]
async fn the_binary_seeds_the_demo_and_a_readme_style_request_creates_a_campaign() {
    let db = database_url(Backend::Sqlite).await;
    let events = tempfile::tempdir().expect("temp dir");
    let event_dir = events.path().display().to_string();
    let mut child = Command::new(BIN)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--database",
            &db,
            "--seed-demo",
            "--demo",
            "--event-dir",
            &event_dir,
        ])
        .env("ENDCAP_ADMIN_KEY", ADMIN_KEY)
        .env("RUST_LOG", "info")
        .env_remove("ENDCAP_LOG_FORMAT")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let addr = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("read log") {
            if let Some((_, rest)) = line.split_once("listening on ") {
                return rest.trim().to_string();
            }
        }
        panic!("the binary exited without logging its address");
    })
    .await
    .expect("address logged in time");

    let client = awc::Client::default();
    let mut res = client
        .post(format!("http://{addr}/v1/campaigns"))
        .insert_header(("Authorization", "Bearer demo-advertiser-key-0001"))
        .send_json(&json!({
            "name": "Spring launch",
            "budget": {"total_micros": 5_000_000_000i64, "daily_micros": 250_000_000},
            "start_at": "2026-12-01T00:00:00Z",
            "end_at": "2026-12-31T00:00:00Z",
            "attribution": {"click_window_days": 14, "view_window_days": 7, "scope": "sku"}
        }))
        .await
        .expect("request");
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(res.status().as_u16(), 201, "{body}");
    assert_eq!(body["currency"], "USD");
    child.kill().await.expect("stop");
}

#[actix_web::test]
async fn a_bad_configuration_exits_naming_every_problem() {
    let out = Command::new(BIN)
        .args(["--listen", "nowhere", "--database", "mysql://db"])
        .env("ENDCAP_ADMIN_KEY", "short")
        .output()
        .await
        .expect("binary runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in ["--listen", "--database", "ENDCAP_ADMIN_KEY"] {
        assert!(err.contains(needle), "{needle} not named in: {err}");
    }
}
