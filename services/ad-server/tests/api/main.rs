//! Black-box tests of the ad server's tracking endpoints: the service on a random port, its
//! events in a temporary file log or in a fresh database on the real ClickHouse.

use ad_server::config::{Cli, Settings};
use ad_server::Application;
use endcap_core::{PricingModel, Role};
use endcap_events::{Event, Sink, Table};
use endcap_store::{ApiKeySecret, CampaignStore};
use endcap_tracking::{Claims, KeyRing};
use serde_json::{json, Value};
use std::collections::HashMap;
use uuid::Uuid;

const KEYS: &str = "k2:second-secret-0123456789,k1:first-secret-0123456789";
const ADMIN: &str = "adserver-test-admin-key";

mod decisions;

struct TestApp {
    base: String,
    db: String,
    index: std::sync::Arc<ad_server::index::Index>,
    sink: Sink,
    events: tempfile::TempDir,
    clickhouse_db: Option<String>,
    client: awc::Client,
}

struct Resp {
    status: u16,
    body: Value,
    headers: HashMap<String, String>,
}

async fn spawn(clickhouse: bool) -> TestApp {
    spawn_with(clickhouse, None, &[]).await
}

async fn spawn_with(
    clickhouse: bool,
    redis: Option<String>,
    extra_env: &[(&str, &str)],
) -> TestApp {
    let events = tempfile::tempdir().unwrap();
    let db = endcap_store::testing::fresh_sqlite_url();
    let store = CampaignStore::connect(&db).await.unwrap();
    store
        .ensure_api_key(Role::Admin, None, &ApiKeySecret::from_config(ADMIN), "test")
        .await
        .unwrap();
    let clickhouse_db = clickhouse.then(|| format!("endcap_t_{}", Uuid::now_v7().simple()));
    let mut env: HashMap<String, String> = [("ENDCAP_SIGNING_KEYS", KEYS), ("ENDCAP_WORKERS", "1")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Some(name) = &clickhouse_db {
        let base = std::env::var("ENDCAP_TEST_CLICKHOUSE_URL")
            .unwrap_or_else(|_| "http://127.0.0.1:8123".into());
        env.insert(
            "ENDCAP_CLICKHOUSE".into(),
            format!("{base}?database={name}"),
        );
    }
    for (k, v) in extra_env {
        env.insert(k.to_string(), v.to_string());
    }
    env.insert(
        "ENDCAP_SPOOL_DIR".into(),
        events.path().join("spool").display().to_string(),
    );
    let cli = Cli {
        common: endcap_web::config::CommonArgs {
            listen: Some("127.0.0.1:0".into()),
            database: Some(db.clone()),
            event_dir: Some(events.path().to_path_buf()),
            redis,
            ..Default::default()
        },
        ..Default::default()
    };
    let settings = Settings::resolve(&cli, &env, None).unwrap();
    let app = Application::build(&settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let sink = app.sink();
    let index = app.index();
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        base,
        db,
        index,
        sink,
        events,
        clickhouse_db,
        client: awc::Client::builder().disable_redirects().finish(),
    }
}

impl TestApp {
    async fn send(&self, method: &str, path: &str, key: Option<&str>, body: Option<Value>) -> Resp {
        let m = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client.request(m, format!("{}{}", self.base, path));
        if let Some(k) = key {
            req = req.insert_header(("Authorization", format!("Bearer {k}")));
        }
        let mut res = match body {
            Some(b) => req.send_json(&b).await.unwrap(),
            None => req.send().await.unwrap(),
        };
        let bytes = res.body().await.unwrap();
        Resp {
            status: res.status().as_u16(),
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            headers: res
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                .collect(),
        }
    }

    async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, None, None).await
    }

    /// Every event of a table in the file log, after flushing the sink.
    async fn logged(&self, table: Table) -> Vec<Event> {
        self.sink.flush().await;
        let path = self.events.path().join(format!("{}.ndjson", table.name()));
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    async fn metrics(&self) -> String {
        let mut res = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap();
        String::from_utf8(res.body().await.unwrap().to_vec()).unwrap()
    }
}

fn claims(pricing: PricingModel, price: i64) -> Claims {
    Claims {
        event_id: Uuid::now_v7(),
        advertiser_id: Uuid::now_v7(),
        campaign_id: Uuid::now_v7(),
        line_item_id: Uuid::now_v7(),
        creative_id: Uuid::now_v7(),
        user_key: "ab".repeat(32),
        price_micros: price,
        pricing,
        placement: "search-top".into(),
        promoted_skus: vec!["sku-1".into()],
        issued_at_ms: chrono::Utc::now().timestamp_millis(),
        click_url: "https://shop.example/p/sku-1?utm=endcap".into(),
        features: String::new(),
    }
}

fn token(c: &Claims) -> String {
    KeyRing::parse(KEYS).unwrap().sign(c)
}

fn ad(e: &Event) -> &endcap_events::AdEvent {
    match e {
        Event::Impression(a) | Event::Click(a) | Event::HoldoutExposure(a) => a,
        other => panic!("not an ad event: {other:?}"),
    }
}

#[actix_web::test]
async fn an_impression_is_logged_once_at_the_signed_price() {
    let app = spawn(false).await;
    let c = claims(PricingModel::Cpm, 4_000_000);
    let t = token(&c);
    assert_eq!(
        app.get(&format!("/v1/events/impression?t={t}"))
            .await
            .status,
        204
    );
    let again = app.get(&format!("/v1/events/impression?t={t}&f=gif")).await;
    assert_eq!(
        (
            again.status,
            again.headers.get("content-type").map(String::as_str)
        ),
        (200, Some("image/gif"))
    );
    let logged = app.logged(Table::Impressions).await;
    assert_eq!(logged.len(), 1, "the replayed pixel counts once");
    let e = ad(&logged[0]);
    assert_eq!(
        (e.event_id, e.line_item_id, e.price_micros),
        (c.event_id, c.line_item_id, 4_000)
    );
    assert_eq!(e.promoted_skus, c.promoted_skus);
    assert!(app
        .metrics()
        .await
        .contains("endcap_tracking_duplicates_total 1"));
}

#[actix_web::test]
async fn a_click_redirects_to_the_signed_landing_page_and_charges_cpc() {
    let app = spawn(false).await;
    let c = claims(PricingModel::Cpc, 750_000);
    let r = app.get(&format!("/v1/events/click?t={}", token(&c))).await;
    assert_eq!(r.status, 302);
    assert_eq!(r.headers.get("location"), Some(&c.click_url));
    let r = app.get(&format!("/v1/events/click?t={}", token(&c))).await;
    assert_eq!(r.status, 302, "a double click still lands");
    let clicks = app.logged(Table::Clicks).await;
    assert_eq!(clicks.len(), 1);
    assert_eq!(ad(&clicks[0]).price_micros, 750_000);
}

#[actix_web::test]
async fn bad_tokens_are_refused_counted_and_never_logged() {
    let app = spawn(false).await;
    let c = claims(PricingModel::Cpc, 1_000_000);
    let good = token(&c);
    let mut tampered = good.clone().into_bytes();
    let mid = good.find('.').unwrap() + 5;
    tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let old = Claims {
        issued_at_ms: chrono::Utc::now().timestamp_millis() - 8 * 24 * 3_600_000,
        ..c.clone()
    };
    let foreign = KeyRing::parse("k9:someone-elses-secret-00")
        .unwrap()
        .sign(&c);
    let forged = KeyRing::parse("k2:not-the-real-secret-000")
        .unwrap()
        .sign(&c);
    for (t, status, reason) in [
        ("".to_string(), 400, "missing"),
        ("garbage".to_string(), 400, "malformed"),
        (tampered, 403, "bad_signature"),
        (token(&old), 403, "expired"),
        (foreign, 403, "unknown_key"),
        (forged, 403, "bad_signature"),
    ] {
        for path in ["impression", "click"] {
            let r = app.get(&format!("/v1/events/{path}?t={t}")).await;
            assert_eq!(
                (r.status, r.body["error"].as_str(), r.body["field"].as_str()),
                (status, Some("invalid_token"), Some("t")),
                "{reason} {path}"
            );
        }
        assert!(
            app.metrics().await.contains(&format!(
                "endcap_tracking_rejected_total{{reason=\"{reason}\"}}"
            )),
            "{reason}"
        );
    }
    assert!(app.logged(Table::Impressions).await.is_empty());
    assert!(app.logged(Table::Clicks).await.is_empty());
    let r = app
        .get("/v1/events/click?t=x&redirect=https://evil.example")
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (400, Some("redirect")),
        "no open redirect parameter"
    );
}

#[actix_web::test]
async fn conversions_need_the_admin_key_and_count_once_per_order() {
    let app = spawn(false).await;
    let body = json!({"order_id": "o-1001", "user_key": "cd".repeat(32), "skus": ["sku-1"], "amount_micros": 12_990_000, "currency": "USD"});
    assert_eq!(
        app.send("POST", "/v1/events/conversion", None, Some(body.clone()))
            .await
            .status,
        401
    );
    assert_eq!(
        app.send(
            "POST",
            "/v1/events/conversion",
            Some("nope"),
            Some(body.clone())
        )
        .await
        .status,
        401
    );
    let a = app
        .send(
            "POST",
            "/v1/events/conversion",
            Some(ADMIN),
            Some(body.clone()),
        )
        .await;
    let b = app
        .send(
            "POST",
            "/v1/events/conversion",
            Some(ADMIN),
            Some(body.clone()),
        )
        .await;
    assert_eq!((a.status, b.status), (202, 202));
    assert_eq!(
        a.body["event_id"], b.body["event_id"],
        "a retried order keeps its id"
    );
    for (field, v, status) in [
        ("user_key", json!("raw-email@example.com"), 422),
        ("amount_micros", json!(-1), 422),
        ("currency", json!("usd"), 422),
        ("amount_micros", json!("12.99"), 400),
    ] {
        let mut bad = body.clone();
        bad[field] = v;
        let r = app
            .send("POST", "/v1/events/conversion", Some(ADMIN), Some(bad))
            .await;
        assert_eq!((r.status, r.body["field"].as_str()), (status, Some(field)));
    }
    let logged = app.logged(Table::Conversions).await;
    assert_eq!(
        logged.len(),
        2,
        "both reports are logged; the id makes ClickHouse keep one"
    );
}

#[actix_web::test]
async fn tracked_events_reach_clickhouse_exactly_once() {
    let app = spawn(true).await;
    let c = claims(PricingModel::Cpc, 900_000);
    let t = token(&c);
    for _ in 0..3 {
        assert_eq!(
            app.get(&format!("/v1/events/impression?t={t}"))
                .await
                .status,
            204
        );
        assert_eq!(
            app.get(&format!("/v1/events/click?t={t}")).await.status,
            302
        );
    }
    app.sink.flush().await;
    let base = std::env::var("ENDCAP_TEST_CLICKHOUSE_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:8123".into());
    let cfg = endcap_events::ClickHouseConfig::from_url(&format!(
        "{base}?database={}",
        app.clickhouse_db.as_ref().unwrap()
    ))
    .unwrap();
    let client = cfg.client();
    for (table, price) in [("impressions", 0i64), ("clicks", 900_000)] {
        let rows: Vec<(u64, i64)> = client
            .query(&format!(
                "SELECT count(), sum(price_micros) FROM {table} FINAL"
            ))
            .fetch_all()
            .await
            .unwrap();
        assert_eq!(rows, vec![(1, price)], "{table}");
    }
}
