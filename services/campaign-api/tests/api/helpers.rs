//! Spawning the service and talking to it.

use campaign_api::config::{Cli, Settings};
use campaign_api::Application;
use serde_json::{json, Value};
use std::collections::HashMap;

pub const ADMIN_KEY: &str = "test-admin-key-0123456789";
pub const TEST_SALT: &str = "test-salt-0123456789";
/// The ad server's user-key salt the tests configure (keys the identity map's external ids).
pub const TEST_USER_SALT: &str = "test-user-salt-0123456789";

/// Which campaign store backs the app under test.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn pg_admin_url() -> String {
    std::env::var("ENDCAP_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

pub async fn database_url(backend: Backend) -> String {
    match backend {
        Backend::Sqlite => endcap_store::testing::fresh_sqlite_url(),
        Backend::Postgres => endcap_store::testing::fresh_postgres_url(&pg_admin_url())
            .await
            .expect("fresh PostgreSQL database (scripts/test.sh starts the server)"),
    }
}

/// A running campaign API and a client for it.
pub struct TestApp {
    pub base: String,
    client: awc::Client,
    /// Where the file event log writes (when ClickHouse is not used).
    pub events: tempfile::TempDir,
    /// The ClickHouse database events go to, when used.
    pub clickhouse: Option<endcap_events::ClickHouseConfig>,
    /// The campaign store's URL.
    pub db: String,
}

/// Real backing services beyond the campaign store.
#[derive(Clone, Copy, Debug, Default)]
pub struct Extras {
    pub clickhouse: bool,
    pub redis: bool,
}

pub fn clickhouse_base() -> String {
    std::env::var("ENDCAP_TEST_CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into())
}

pub fn redis_url() -> String {
    std::env::var("ENDCAP_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
}

/// A response: status, JSON body (Null when not JSON) and headers.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub headers: HashMap<String, String>,
    pub text: String,
}

impl Resp {
    pub fn field(&self) -> Option<&str> {
        self.body["field"].as_str()
    }
    pub fn error(&self) -> Option<&str> {
        self.body["error"].as_str()
    }
    pub fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .expect("an id in the body")
            .to_string()
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, Extras::default()).await
}

pub async fn spawn_app_with(backend: Backend, extras: Extras) -> TestApp {
    let events = tempfile::tempdir().expect("temp dir");
    let clickhouse = extras.clickhouse.then(|| {
        let url = format!(
            "{}?database=endcap_t_{}",
            clickhouse_base(),
            uuid::Uuid::now_v7().simple()
        );
        endcap_events::ClickHouseConfig::from_url(&url).expect("clickhouse url")
    });
    let db = database_url(backend).await;
    let cli = Cli {
        common: endcap_web::config::CommonArgs {
            listen: Some("127.0.0.1:0".into()),
            database: Some(db.clone()),
            event_dir: Some(events.path().to_path_buf()),
            clickhouse: clickhouse
                .as_ref()
                .map(|c| format!("{}?database={}", c.url, c.database)),
            redis: extras.redis.then(redis_url),
            spool_dir: Some(events.path().join("spool")),
            ..Default::default()
        },
        ..Default::default()
    };
    let env: HashMap<String, String> = [
        ("ENDCAP_ADMIN_KEY", ADMIN_KEY),
        ("ENDCAP_WORKERS", "1"),
        ("ENDCAP_CUSTOMER_KEY_SALT", TEST_SALT),
        ("ENDCAP_USER_KEY_SALT", TEST_USER_SALT),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let settings = Settings::resolve(&cli, &env, None).expect("test settings");
    let app = Application::build(&settings).await.expect("app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        base,
        client: awc::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .finish(),
        events,
        clickhouse,
        db,
    }
}

impl TestApp {
    /// Sends a request; `body` is sent as-is with `content_type` when given.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<(&str, &str)>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let method = awc::http::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(k) = key {
            req = req.insert_header(("Authorization", format!("Bearer {k}")));
        }
        for (h, v) in headers {
            req = req.insert_header((*h, *v));
        }
        let mut res = match body {
            Some((ct, b)) => req
                .insert_header(("Content-Type", ct))
                .send_body(b.to_string())
                .await
                .expect("request sent"),
            None => req.send().await.expect("request sent"),
        };
        let bytes = res.body().limit(16 * 1024 * 1024).await.expect("body");
        let text = String::from_utf8_lossy(&bytes).to_string();
        Resp {
            status: res.status().as_u16(),
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            headers: res
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                .collect(),
            text,
        }
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Resp {
        let text = body.map(|b| b.to_string());
        self.raw(
            method,
            path,
            key,
            text.as_deref().map(|t| ("application/json", t)),
            &[],
        )
        .await
    }

    pub async fn get(&self, path: &str, key: &str) -> Resp {
        self.send("GET", path, Some(key), None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> Resp {
        self.send("POST", path, Some(key), Some(&body)).await
    }

    pub async fn patch(&self, path: &str, key: &str, body: Value) -> Resp {
        self.send("PATCH", path, Some(key), Some(&body)).await
    }

    /// Creates an advertiser and an advertiser key for it: (advertiser id, key).
    pub async fn advertiser(&self, name: &str) -> (String, String) {
        let a = self
            .post(
                "/v1/advertisers",
                ADMIN_KEY,
                json!({"name": name, "currency": "USD"}),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.text);
        let id = a.id();
        let k = self
            .post(
                &format!("/v1/advertisers/{id}/api-keys"),
                ADMIN_KEY,
                json!({"label": "tests"}),
            )
            .await;
        assert_eq!(k.status, 201, "{}", k.text);
        (id, k.body["key"].as_str().expect("key").to_string())
    }

    /// A key of a staff role (`admin` or `finance`).
    pub async fn staff_key(&self, role: &str) -> String {
        let k = self
            .post(
                "/v1/api-keys",
                ADMIN_KEY,
                json!({"role": role, "label": "tests"}),
            )
            .await;
        assert_eq!(k.status, 201, "{}", k.text);
        k.body["key"].as_str().expect("key").to_string()
    }

    pub async fn campaign(&self, key: &str, advertiser_id: &str) -> String {
        let r = self
            .post("/v1/campaigns", key, campaign_body(advertiser_id))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.id()
    }

    pub async fn line_item(&self, key: &str, campaign_id: &str) -> String {
        let r = self
            .post(
                &format!("/v1/campaigns/{campaign_id}/line-items"),
                key,
                line_item_body(),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.id()
    }

    pub async fn creative(&self, key: &str, line_item_id: &str) -> String {
        let r = self
            .post(
                &format!("/v1/line-items/{line_item_id}/creatives"),
                key,
                creative_body(),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.id()
    }

    /// Number of audit log entries (a cheap "did anything get written" probe).
    pub async fn audit_count(&self) -> usize {
        let r = self.get("/v1/audit-log?limit=500", ADMIN_KEY).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["items"].as_array().map_or(0, Vec::len)
    }
}

pub fn campaign_body(advertiser_id: &str) -> Value {
    json!({
        "advertiser_id": advertiser_id,
        "name": "Holiday dairy",
        "budget": {"total_micros": 10_000_000_000i64, "daily_micros": 500_000_000},
        "start_at": "2026-12-01T00:00:00Z",
        "end_at": "2027-01-01T00:00:00Z",
        "attribution": {"click_window_days": 14, "view_window_days": 7, "scope": "brand"},
        "holdout_percent": 10
    })
}

pub fn line_item_body() -> Value {
    json!({
        "name": "Search: milk",
        "pricing": {"model": "cpc", "bid_micros": 1_500_000},
        "targeting": {"placements": ["search-top"], "keywords": ["Milk"], "devices": ["mobile"]},
        "frequency_cap": {"max": 3, "per": "day"},
        "promoted_skus": ["sku-123"]
    })
}

pub fn creative_body() -> Value {
    json!({"kind": "sponsored_product", "sku": "sku-123", "click_url": "https://shop.example/p/sku-123"})
}

/// Runs each listed async test fn against both backends.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[actix_web::test] async fn $name() { super::$name(crate::helpers::Backend::Sqlite).await; })*
        }
        mod postgres {
            $(#[actix_web::test] async fn $name() { super::$name(crate::helpers::Backend::Postgres).await; })*
        }
    };
}
pub(crate) use both_backends;
