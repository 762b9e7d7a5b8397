//! Building and running the HTTP server.

use crate::config::Settings;
use crate::routes;
use actix_web::{dev::Server, web, App, HttpServer};
use anyhow::Context;
use endcap_core::{AdvertiserInput, Role};
use endcap_events::{open_sink, EventTarget, Sink, SinkConfig};
use endcap_segments::{Segments, SegmentsConfig};
use endcap_store::{ApiKeySecret, CampaignStore, ListQuery};
use endcap_web::{HttpMetrics, Observe};
use std::net::TcpListener;
use std::sync::Arc;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The campaign store.
    pub store: CampaignStore,
    /// HTTP metrics, rendered at `/metrics`.
    pub metrics: Arc<HttpMetrics>,
    /// Where receipts and identity links go.
    pub sink: Sink,
    /// Audience segment members.
    pub segments: Arc<Segments>,
    /// The event log's ClickHouse, when it is one (data-subject deletions reach into it).
    pub clickhouse: Option<endcap_events::ClickHouseConfig>,
    /// The file event log's directory, when that is the event log (deletions rewrite it).
    pub event_dir: Option<std::path::PathBuf>,
    /// Salt for hashing raw loyalty ids (ENDCAP_CUSTOMER_KEY_SALT).
    pub customer_key_salt: Option<endcap_core::Secret>,
    /// The ad server's user-key salt, for the identity map's external ids.
    pub user_key_salt: endcap_core::Secret,
    /// The marketplace currency.
    pub currency: endcap_core::Currency,
    /// The retailer's time zone (date-only receipts, report days).
    pub time_zone: chrono_tz::Tz,
    /// Finance reports (they read ClickHouse; `None` without it).
    pub finance: Option<Arc<endcap_reports::Finance>>,
}

/// A built, bound, not yet running campaign API.
pub struct Application {
    port: u16,
    server: Server,
    metrics: Option<Server>,
    metrics_port: Option<u16>,
}

const DEMO_ADVERTISER: &str = "Demo Brand";

impl Application {
    /// Connects the store (applying migrations), bootstraps configured keys, binds the
    /// listener and prepares the server.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let store = CampaignStore::connect(&settings.common.database)
            .await
            .with_context(|| {
                format!(
                    "failed to open the campaign store at {}",
                    redact(&settings.common.database)
                )
            })?;
        if let Some(key) = &settings.admin_key {
            const LABEL: &str = "bootstrap admin (ENDCAP_ADMIN_KEY)";
            let admin = store
                .ensure_api_key(
                    Role::Admin,
                    None,
                    &ApiKeySecret::from_config(key.expose()),
                    LABEL,
                )
                .await
                .context("failed to register ENDCAP_ADMIN_KEY")?;
            // A changed ENDCAP_ADMIN_KEY retires the one before: a rotated key must stop
            // working, not live on beside the new one.
            let retired = store
                .retire_other_keys("system", LABEL, admin.key_id)
                .await
                .context("failed to retire the previous ENDCAP_ADMIN_KEY")?;
            if retired > 0 {
                tracing::info!(retired, "previous bootstrap admin keys revoked");
            }
        }
        if let Some(key) = &settings.demo_advertiser_key {
            seed_demo(&store, key.expose())
                .await
                .context("failed to seed the demo advertiser")?;
        }
        let listener = TcpListener::bind(settings.common.listen)
            .with_context(|| format!("failed to listen on {}", settings.common.listen))?;
        let addr = listener.local_addr()?;
        let c = &settings.common;
        let target = EventTarget::choose(c.clickhouse.as_deref(), c.event_dir.as_deref());
        let spool_dir = c
            .spool_dir
            .clone()
            .unwrap_or_else(|| target.default_spool_dir("campaign-api"));
        let sink = open_sink(&target, &spool_dir, SinkConfig::default())
            .await
            .context("failed to open the event log")?;
        let segments = match &c.redis {
            Some(url) => Segments::redis(url, SegmentsConfig::default())
                .await
                .context("bad redis url")?,
            None => Segments::in_store(store.clone(), SegmentsConfig::default()),
        };
        tokio::spawn(keep_retention(store.clone()));
        let state = AppState {
            store,
            metrics: Arc::new(HttpMetrics::default()),
            sink,
            segments: Arc::new(segments),
            customer_key_salt: settings.customer_key_salt.clone(),
            user_key_salt: settings.user_key_salt.clone(),
            currency: settings.currency,
            time_zone: settings.common.time_zone,
            clickhouse: match &target {
                EventTarget::ClickHouse(url) => Some(
                    endcap_events::ClickHouseConfig::from_url(url).context("bad ClickHouse url")?,
                ),
                EventTarget::Files(_) => None,
            },
            event_dir: match &target {
                EventTarget::Files(dir) => Some(dir.clone()),
                EventTarget::ClickHouse(_) => None,
            },
            finance: match &target {
                EventTarget::ClickHouse(url) => Some(Arc::new(endcap_reports::Finance::new(
                    endcap_events::ClickHouseConfig::from_url(url).context("bad ClickHouse url")?,
                    settings.common.time_zone,
                ))),
                EventTarget::Files(_) => None,
            },
        };
        // The `Caller` extractor reads the store as app data of its own.
        let store = web::Data::new(state.store.clone());
        let data = web::Data::new(state);
        let separate_metrics = settings.common.metrics_listen;
        let main_data = data.clone();
        let server = HttpServer::new(move || {
            let app = App::new()
                .wrap(endcap_web::error_envelope())
                .wrap(Observe::new(main_data.metrics.clone()))
                .app_data(main_data.clone())
                .app_data(store.clone())
                .configure(routes::configure);
            if separate_metrics.is_none() {
                app.configure(routes::configure_metrics)
            } else {
                app
            }
        })
        .workers(settings.common.workers)
        .listen(listener)?
        .run();
        tracing::info!("listening on {addr}");
        let (metrics, metrics_port) = match separate_metrics {
            Some(at) => {
                let (srv, port) =
                    endcap_web::metrics_server(at, data, routes::configure_metrics)
                        .with_context(|| format!("failed to listen on {at} for metrics"))?;
                (Some(srv), port)
            }
            None => (None, None),
        };
        Ok(Self {
            port: addr.port(),
            server,
            metrics,
            metrics_port,
        })
    }

    /// The bound port (useful when listening on port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The metrics listener's port, when `/metrics` has a listener of its own.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    /// Serves until the process is told to stop (SIGINT/SIGTERM stop it gracefully).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        if let Some(m) = self.metrics {
            let handle = m.handle();
            actix_web::rt::spawn(m);
            let res = self.server.await;
            handle.stop(true).await;
            return res;
        }
        self.server.await
    }
}

/// Every hour: the campaign store's aging tables lose what is past its retention.
async fn keep_retention(store: CampaignStore) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3_600));
    loop {
        tick.tick().await;
        match store
            .enforce_retention(endcap_store::StoreRetention::default(), chrono::Utc::now())
            .await
        {
            Ok(run) if run != endcap_store::RetentionRun::default() => {
                tracing::info!(?run, "store retention applied")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "store retention failed; will retry"),
        }
    }
}

/// Creates the demo advertiser and its key once; later runs find the key and do nothing.
async fn seed_demo(store: &CampaignStore, key: &str) -> anyhow::Result<()> {
    let secret = ApiKeySecret::from_config(key);
    if store.authenticate(key).await?.is_some() {
        return Ok(());
    }
    let existing = store
        .list::<endcap_core::Advertiser>(&ListQuery {
            limit: 200,
            ..Default::default()
        })
        .await?
        .items
        .into_iter()
        .find(|a| a.name == DEMO_ADVERTISER);
    let adv = match existing {
        Some(a) => a,
        None => {
            let new = AdvertiserInput {
                name: DEMO_ADVERTISER.into(),
                currency: "USD".into(),
                frequency_cap: None,
                domains: vec![],
            }
            .validate()?;
            store
                .create_advertiser("system:seed-demo", new, None)
                .await?
                .value
        }
    };
    store
        .ensure_api_key(
            Role::Advertiser,
            Some(adv.id),
            &secret,
            "demo advertiser key",
        )
        .await?;
    tracing::info!(advertiser_id = %adv.id, "seeded demo advertiser {DEMO_ADVERTISER:?}");
    Ok(())
}

/// Hides a password in a database URL before it is logged.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact("sqlite://x.db"), "sqlite://x.db");
    }
}
