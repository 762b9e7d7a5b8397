//! Black-box tests of the ad server's tracking endpoints: the service on a random port, its
//! events in a temporary file log or in a fresh database on the real ClickHouse.

use ad_server::config::{Cli, Settings};
use ad_server::Application;
use endcap_core::{
    AdChannel, AdvertiserId, CampaignId, CreativeId, DecisionId, Exposure, LineItemId,
    PricingModel, Role,
};
use endcap_events::{ChargeReason, ChargeRecord, Event, Sink, Table};
use endcap_store::{ApiKeySecret, CampaignStore};
use endcap_tracking::{Claims, KeyRing, TokenKind};
use serde_json::{json, Value};
use std::collections::HashMap;
use uuid::Uuid;

const KEYS: &str = "k2:second-secret-0123456789,k1:first-secret-0123456789";
const ADMIN: &str = "adserver-test-admin-key";

mod bids;
mod decisions;
mod model;

struct TestApp {
    base: String,
    db: String,
    index: std::sync::Arc<endcap_serving::Index>,
    sink: Sink,
    events: std::sync::Arc<tempfile::TempDir>,
    port: u16,
    clickhouse_db: Option<String>,
    client: awc::Client,
    /// The metrics listener's port, when ENDCAP_METRICS_LISTEN is set.
    metrics_port: Option<u16>,
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
    spawn_on(
        clickhouse,
        redis,
        extra_env,
        std::sync::Arc::new(tempfile::tempdir().unwrap()),
        endcap_store::testing::fresh_sqlite_url(),
    )
    .await
}

/// An ad server on an existing event directory and database (a restart).
/// A user agent a browser sends (a request without one is invalid traffic).
const BROWSER_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

/// An HTTP client that calls like a browser: a browser's user agent, no redirects followed.
fn browser() -> awc::Client {
    awc::Client::builder()
        .add_default_header(("User-Agent", BROWSER_UA))
        .disable_redirects()
        .finish()
}

async fn spawn_on(
    clickhouse: bool,
    redis: Option<String>,
    extra_env: &[(&str, &str)],
    events: std::sync::Arc<tempfile::TempDir>,
    db: String,
) -> TestApp {
    let store = CampaignStore::connect(&db).await.unwrap();
    store
        .ensure_api_key(Role::Admin, None, &ApiKeySecret::from_config(ADMIN), "test")
        .await
        .unwrap();
    let clickhouse_db = clickhouse.then(|| format!("endcap_t_{}", Uuid::now_v7().simple()));
    let mut env: HashMap<String, String> = [
        ("ENDCAP_SIGNING_KEYS", KEYS),
        ("ENDCAP_WORKERS", "1"),
        ("ENDCAP_OPEN_ENDPOINTS", "true"),
        // A loaded test machine can take longer than the 5 ms default for a first SQLite
        // identity look-up, and a campaign with a holdout then sits the request out.
        ("ENDCAP_IDENTITY_TIMEOUT_MS", "2000"),
        // Exploration slots would change winners at random; the tests that want it say so.
        ("ENDCAP_EXPLORE_BPS", "0"),
        // Tests click at once; the invalid-traffic test sets its own minimum.
        ("ENDCAP_MIN_CLICK_MS", "0"),
    ]
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
    // A spool directory has one owning process; a "restarted" server in these tests runs
    // beside the first one (which cannot be stopped from here), so each gets its own.
    env.insert(
        "ENDCAP_SPOOL_DIR".into(),
        events
            .path()
            .join(format!("spool-{}", Uuid::now_v7().simple()))
            .display()
            .to_string(),
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
    let app_port = app.port();
    let metrics_port = app.metrics_port();
    let base = format!("http://127.0.0.1:{app_port}");
    let sink = app.sink();
    let index = app.index();
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        metrics_port,
        port: app_port,
        base,
        db,
        index,
        sink,
        events,
        clickhouse_db,
        client: browser(),
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

#[actix_web::test]
async fn admin_calls_share_the_caller_check_and_other_methods_answer_405() {
    let app = spawn(false).await;
    const FINANCE: &str = "adserver-test-finance-key";
    CampaignStore::connect(&app.db)
        .await
        .unwrap()
        .ensure_api_key(
            Role::Finance,
            None,
            &ApiKeySecret::from_config(FINANCE),
            "finance",
        )
        .await
        .unwrap();
    let conversion = json!({"order_id": "o-1", "user_key": "cd".repeat(32), "skus": ["sku-1"], "amount_micros": 1, "currency": "USD"});
    for (path, body) in [
        ("/v1/admin/model/reload", None),
        ("/v1/events/conversion", Some(conversion)),
    ] {
        let r = app.send("POST", path, Some(FINANCE), body).await;
        assert_eq!(
            (r.status, r.body["error"].as_str()),
            (403, Some("forbidden")),
            "{path}: {:?}",
            r.body
        );
    }
    let r = app
        .send(
            "POST",
            "/v1/decisions?debug=1",
            Some(FINANCE),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (403, Some("forbidden"))
    );
    for (method, path, allow) in [
        ("GET", "/v1/admin/model/reload", "POST"),
        ("DELETE", "/v1/decisions", "POST"),
        ("POST", "/v1/events/click", "GET"),
    ] {
        let r = app.send(method, path, Some(ADMIN), None).await;
        assert_eq!(
            (r.status, r.body["error"].as_str()),
            (405, Some("method_not_allowed")),
            "{method} {path}: {:?}",
            r.body
        );
        assert_eq!(r.headers.get("allow").map(String::as_str), Some(allow));
    }
    let r = app.send("GET", "/v1/nowhere", None, None).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (404, Some("not_found"))
    );
}

/// The advertiser every seeded campaign belongs to.
async fn acme(store: &CampaignStore) -> endcap_core::Advertiser {
    let new = endcap_core::AdvertiserInput {
        name: "Acme".into(),
        currency: "USD".into(),
        frequency_cap: None,
        domains: vec![],
    }
    .validate()
    .unwrap();
    store.create_advertiser("t", new, None).await.unwrap().value
}

fn path_of(url: &str) -> String {
    let rest = url.split("://").nth(1).unwrap();
    rest[rest.find('/').unwrap()..].to_string()
}

/// An exposure of a made-up ad (no campaign in the store: charges for it are never billable).
fn exposure(pricing: PricingModel, price: i64) -> Exposure {
    Exposure {
        decision_id: DecisionId::generate(),
        decided_at_ms: chrono::Utc::now().timestamp_millis(),
        user_key: "ab".repeat(32),
        advertiser_id: AdvertiserId::generate(),
        campaign_id: CampaignId::generate(),
        line_item_id: LineItemId::generate(),
        creative_id: CreativeId::generate(),
        channel: AdChannel::Onsite,
        placement: "search-top".into(),
        position: 0,
        sku: Some("sku-1".into()),
        pricing,
        price_micros: price,
        bid_cpm_micros: 0,
    }
}

const LANDING: &str = "https://shop.example/p/sku-1?utm=endcap";

fn token(kind: TokenKind, x: &Exposure) -> String {
    KeyRing::parse(KEYS)
        .unwrap()
        .sign(&Claims::new(kind, x, LANDING))
}

fn ad(e: &Event) -> &endcap_events::AdEvent {
    match e {
        Event::Impression(a) | Event::Click(a) | Event::HoldoutExposure(a) => a,
        other => panic!("not an ad event: {other:?}"),
    }
}

fn charges(events: &[Event]) -> Vec<&ChargeRecord> {
    events
        .iter()
        .map(|e| match e {
            Event::Charge(c) => c,
            other => panic!("not a charge: {other:?}"),
        })
        .collect()
}

fn billable_nanos(events: &[Event]) -> i64 {
    charges(events)
        .iter()
        .filter(|c| c.billable())
        .map(|c| c.charge_nanos)
        .sum()
}

#[actix_web::test]
async fn an_impression_is_logged_once_with_its_decision() {
    let app = spawn(false).await;
    let x = exposure(PricingModel::Cpm, 4_000_000);
    let t = token(TokenKind::Impression, &x);
    assert_eq!(
        app.get(&format!("/v1/events/impression?t={t}&cb=8812"))
            .await
            .status,
        204,
        "cache busters are ignored"
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
    assert_eq!(e.exposure, x);
    assert_eq!(e.event_id(), x.decision_id.as_uuid());
    assert!(app
        .metrics()
        .await
        .contains("endcap_tracking_duplicates_total 1"));
    // Its campaign is unknown, so its charge was recorded and never billed.
    let ledger = app.logged(Table::Charges).await;
    let rows = charges(&ledger);
    assert!(rows.iter().all(|c| !c.billable()), "{rows:?}");
    assert!(rows
        .iter()
        .any(|c| c.reason == ChargeReason::Duplicate && c.charge_nanos == 4_000_000));
}

#[actix_web::test]
async fn a_click_redirects_to_the_signed_landing_page_only() {
    let app = spawn(false).await;
    let x = exposure(PricingModel::Cpc, 750_000);
    let t = token(TokenKind::Click, &x);
    let r = app.get(&format!("/v1/events/click?t={t}")).await;
    assert_eq!(r.status, 302);
    assert_eq!(r.headers.get("location").map(String::as_str), Some(LANDING));
    let r = app
        .get(&format!(
            "/v1/events/click?t={t}&redirect=https://evil.example"
        ))
        .await;
    assert_eq!(
        (r.status, r.headers.get("location").map(String::as_str)),
        (302, Some(LANDING)),
        "a double click still lands, and only where the token says"
    );
    let clicks = app.logged(Table::Clicks).await;
    assert_eq!(clicks.len(), 1);
    assert_eq!(ad(&clicks[0]).exposure.price_micros, 750_000);
    assert!(app
        .metrics()
        .await
        .contains("endcap_tracking_clicks_without_impression_total 1"));
}

#[actix_web::test]
async fn bad_tokens_are_refused_counted_and_never_logged() {
    let app = spawn(false).await;
    let x = exposure(PricingModel::Cpc, 1_000_000);
    let good = token(TokenKind::Click, &x);
    let mut tampered = good.clone().into_bytes();
    let mid = good.find('.').unwrap() + 5;
    tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    // Older than a click's 7 days.
    let old = Exposure {
        decided_at_ms: chrono::Utc::now().timestamp_millis() - 8 * 24 * 3_600_000,
        ..x.clone()
    };
    let claims = Claims::new(TokenKind::Click, &x, LANDING);
    let foreign = KeyRing::parse("k9:someone-elses-secret-00")
        .unwrap()
        .sign(&claims);
    let forged = KeyRing::parse("k2:not-the-real-secret-000")
        .unwrap()
        .sign(&claims);
    for (t, status, code, reason) in [
        ("".to_string(), 400, "malformed_token", "missing"),
        ("garbage".to_string(), 400, "malformed_token", "malformed"),
        (tampered, 403, "invalid_token", "bad_signature"),
        (
            token(TokenKind::Click, &old),
            403,
            "invalid_token",
            "expired",
        ),
        (foreign, 403, "invalid_token", "unknown_key"),
        (forged, 403, "invalid_token", "bad_signature"),
    ] {
        let r = app.get(&format!("/v1/events/click?t={t}")).await;
        assert_eq!(
            (r.status, r.body["error"].as_str(), r.body["field"].as_str()),
            (status, Some(code), Some("t")),
            "{reason}"
        );
        assert!(
            app.metrics().await.contains(&format!(
                "endcap_tracking_rejected_total{{reason=\"{reason}\"}}"
            )),
            "{reason}"
        );
    }
    assert!(app.logged(Table::Impressions).await.is_empty());
    assert!(app.logged(Table::Clicks).await.is_empty());
}

#[actix_web::test]
async fn a_token_works_only_on_its_own_endpoint_and_within_its_own_lifetime() {
    let app = spawn(false).await;
    let x = exposure(PricingModel::Cpc, 500_000);
    let imp = token(TokenKind::Impression, &x);
    let clk = token(TokenKind::Click, &x);
    let r = app.get(&format!("/v1/events/click?t={imp}")).await;
    assert_eq!(r.status, 403, "an impression token is not a click");
    let r = app.get(&format!("/v1/events/impression?t={clk}")).await;
    assert_eq!(r.status, 403, "a click token is not an impression");
    assert!(app
        .metrics()
        .await
        .contains("endcap_tracking_rejected_total{reason=\"wrong_kind\"}"));
    // Two hours old: too old for an impression (1 hour), fine for a click (7 days).
    let aged = Exposure {
        decided_at_ms: chrono::Utc::now().timestamp_millis() - 2 * 3_600_000,
        ..x
    };
    let r = app
        .get(&format!(
            "/v1/events/impression?t={}",
            token(TokenKind::Impression, &aged)
        ))
        .await;
    assert_eq!(
        (r.status, r.body["message"].as_str()),
        (403, Some("token expired"))
    );
    let r = app
        .get(&format!(
            "/v1/events/click?t={}",
            token(TokenKind::Click, &aged)
        ))
        .await;
    assert_eq!(r.status, 302);
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
async fn decisions_impressions_clicks_and_charges_reach_clickhouse_exactly_once() {
    let app = spawn(true).await;
    let s = decisions::seed(&app, 0, 100_000_000).await;
    let user = "ef".repeat(32);
    let r = app
        .send("POST", "/v1/decisions", None, Some(json!({"user_key": user,
            "placements": [{"id": "search-top"}], "context": {"keywords": ["milk"], "page_type": "search"}})))
        .await;
    let ad0 = &r.body["placements"][0]["ads"][0];
    let (imp, clk) = (
        path_of(ad0["impression_url"].as_str().unwrap()),
        path_of(ad0["click_url"].as_str().unwrap()),
    );
    for _ in 0..3 {
        assert_eq!(app.get(&imp).await.status, 204);
        assert_eq!(app.get(&clk).await.status, 302);
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
    let decision = ad0["decision_id"].as_str().unwrap().to_string();
    for table in ["impressions", "clicks", "decisions"] {
        let n: u64 = client
            .query(&format!(
                "SELECT count() FROM {table} FINAL WHERE decision_id = toUUID(?)"
            ))
            .bind(&decision)
            .fetch_one()
            .await
            .unwrap();
        assert_eq!(n, 1, "{table}");
    }
    let (line_item, keywords, page_type): (String, String, String) = client
        .query("SELECT toString(line_item_id), arrayStringConcat(keywords, ','), page_type FROM decisions FINAL")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(
        (line_item, keywords, page_type.as_str()),
        (s.search.to_string(), "milk".to_string(), "search")
    );
    // One billable click row and two duplicate rows (which collapse to one).
    let rows: Vec<(String, u8, i64)> = client
        .query("SELECT reason, billable, charge_nanos FROM charges FINAL ORDER BY reason")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!((rows[0].0.as_str(), rows[0].1), ("billable", 1));
    assert_eq!((rows[1].0.as_str(), rows[1].1), ("duplicate", 0));
    assert!(rows[0].2 > 0 && rows[0].2 <= 1_000_000_000);
}

mod events;
mod money;
mod offsite;
mod replicas;
mod rtb_blocks;
mod stock_and_caps;
mod sync;
