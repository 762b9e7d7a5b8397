//! Building and running the ad server.

use crate::config::Settings;
use crate::index::Index;
use crate::routes;
use actix_web::{dev::Server, web, App, HttpServer};
use anyhow::Context;
use endcap_auction::{
    CapCounter, CtrModel, MemoryCaps, MemorySpend, PriorCtr, SharedCaps, SharedSpend, SpendTracker,
};
use endcap_events::{open_sink, Sink, SinkConfig};
use endcap_segments::{Segments, SegmentsConfig};
use endcap_store::CampaignStore;
use endcap_tracking::KeyRing;
use endcap_web::{HttpMetrics, Observe};
use redis::aio::ConnectionManager;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;
use uuid::Uuid;

/// Counters of the tracking endpoints.
#[derive(Default)]
pub struct TrackingMetrics {
    logged: Mutex<BTreeMap<&'static str, u64>>,
    /// Impressions/clicks seen again inside the dedup horizon (not logged again).
    pub duplicates: AtomicU64,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
}

impl TrackingMetrics {
    pub(crate) fn logged(&self, kind: &'static str) {
        *self
            .logged
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(kind)
            .or_default() += 1;
    }

    pub(crate) fn rejected(&self, reason: &'static str) {
        *self
            .rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(reason)
            .or_default() += 1;
    }

    /// Renders the counters for Prometheus.
    pub fn render(&self) -> String {
        let mut out = String::from("# TYPE endcap_tracking_events_total counter\n");
        for (k, v) in self.logged.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "endcap_tracking_events_total{{kind=\"{k}\"}} {v}");
        }
        out.push_str("# TYPE endcap_tracking_duplicates_total counter\n");
        let _ = writeln!(
            out,
            "endcap_tracking_duplicates_total {}",
            self.duplicates.load(Relaxed)
        );
        out.push_str("# TYPE endcap_tracking_rejected_total counter\n");
        for (k, v) in self
            .rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(out, "endcap_tracking_rejected_total{{reason=\"{k}\"}} {v}");
        }
        out
    }
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// Campaign store (API keys for the conversion endpoint; the index, later).
    pub store: CampaignStore,
    /// Where events go.
    pub sink: Sink,
    /// Tracking token keys.
    pub keys: KeyRing,
    /// Oldest token accepted, ms.
    pub token_max_age_ms: i64,
    /// Event ids seen recently, per kind (1 impression, 2 click).
    pub seen: moka::sync::Cache<(u8, Uuid), ()>,
    /// HTTP metrics.
    pub http: Arc<HttpMetrics>,
    /// Tracking metrics.
    pub tracking: Arc<TrackingMetrics>,
    /// The eligibility index.
    pub index: Arc<Index>,
    /// Audience segments (Redis with a moka cache, or in-process).
    pub segments: Arc<Segments>,
    /// Spend per campaign: shared through Redis when configured, else this replica's own.
    pub spend: Arc<dyn SpendTracker>,
    /// Frequency cap counters: shared through Redis when configured, else this replica's.
    pub caps: Arc<dyn CapCounter>,
    /// Loads a user's shared cap counters next to the segment lookup (with Redis).
    pub caps_loader: Option<(Arc<SharedCaps>, Arc<OnceCell<ConnectionManager>>)>,
    /// pCTR model.
    pub model: Arc<dyn CtrModel>,
    /// Base URL of tracking links.
    pub public_url: String,
    /// First-price auctions.
    pub first_price: bool,
    /// Upper bound on OpenRTB tmax, ms.
    pub max_tmax_ms: u64,
    /// The retailer's currency.
    pub currency: String,
    /// Reserve eCPM of onsite placements, micros.
    pub onsite_floor_cpm_micros: i64,
    /// Placements allowing an advertiser more than once per request.
    pub repeat_placements: Vec<String>,
}

/// A Redis connection that appears once Redis answers; until then users of it degrade.
fn connect_in_background(client: redis::Client) -> Arc<OnceCell<ConnectionManager>> {
    let cell = Arc::new(OnceCell::new());
    let out = cell.clone();
    tokio::spawn(async move {
        loop {
            let attempt = tokio::time::timeout(
                Duration::from_secs(2),
                ConnectionManager::new(client.clone()),
            )
            .await;
            if let Ok(Ok(conn)) = attempt {
                let _ = cell.set(conn);
                return;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
    out
}

/// A built, bound ad server.
pub struct Application {
    port: u16,
    server: Server,
    sink: Sink,
    index: Arc<Index>,
}

impl Application {
    /// Connects the store and the event log, binds the listener, prepares the server.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let store = CampaignStore::connect(&settings.common.database)
            .await
            .context("failed to open the campaign store")?;
        let sink = open_sink(&settings.events, &settings.spool_dir, SinkConfig::default())
            .await
            .context("failed to open the event log")?;
        let index = Arc::new(Index::new(store.clone()));
        match index.refresh().await {
            Ok(n) => tracing::info!(line_items = n, "index built"),
            Err(e) => {
                tracing::warn!(error = %e, "first index build failed; retrying in the background")
            }
        }
        tokio::spawn(index.clone().keep_fresh(settings.index_refresh));
        let seg_config = SegmentsConfig {
            ttl: settings.segment_cache.0,
            capacity: settings.segment_cache.1,
            ..SegmentsConfig::default()
        };
        let segments = match &settings.common.redis {
            Some(url) => Segments::redis(url, seg_config)
                .await
                .context("bad redis url")?,
            None => Segments::in_memory(seg_config),
        };
        let spend: Arc<dyn SpendTracker> = match &settings.common.redis {
            Some(url) => {
                let shared = Arc::new(SharedSpend::default());
                let client = redis::Client::open(url.as_str()).context("bad redis url")?;
                tokio::spawn(shared.clone().run(client, Duration::from_secs(1)));
                shared
            }
            None => Arc::new(MemorySpend::default()),
        };
        let (caps, caps_loader): (Arc<dyn CapCounter>, _) = match &settings.common.redis {
            Some(url) => {
                let client = redis::Client::open(url.as_str()).context("bad redis url")?;
                let conn = connect_in_background(client);
                let shared = Arc::new(SharedCaps::new(1_000_000, Duration::from_secs(30)));
                tokio::spawn(shared.clone().run(conn.clone(), Duration::from_secs(1)));
                (shared.clone(), Some((shared, conn)))
            }
            None => (Arc::new(MemoryCaps::new(10_000_000)), None),
        };
        let state = AppState {
            caps,
            caps_loader,
            spend,
            index,
            segments: Arc::new(segments),
            model: Arc::new(PriorCtr),
            public_url: settings.public_url.clone(),
            first_price: settings.first_price,
            max_tmax_ms: settings.max_tmax_ms,
            currency: settings.currency.clone(),
            onsite_floor_cpm_micros: settings.onsite_floor_cpm_micros,
            repeat_placements: settings.repeat_placements.clone(),
            store,
            sink: sink.clone(),
            keys: settings.signing_keys.clone(),
            token_max_age_ms: settings.token_max_age.as_millis() as i64,
            seen: moka::sync::Cache::builder()
                .max_capacity(10_000_000)
                .time_to_live(settings.dedup_horizon)
                .build(),
            http: Arc::new(HttpMetrics::default()),
            tracking: Arc::new(TrackingMetrics::default()),
        };
        let listener = TcpListener::bind(settings.common.listen)
            .with_context(|| format!("failed to listen on {}", settings.common.listen))?;
        let addr = listener.local_addr()?;
        let index = state.index.clone();
        let data = web::Data::new(state);
        let server = HttpServer::new(move || {
            App::new()
                .wrap(Observe::new(data.http.clone()))
                .app_data(data.clone())
                .configure(routes::configure)
        })
        .workers(settings.common.workers)
        .shutdown_timeout(10)
        .listen(listener)?
        .run();
        tracing::info!("listening on {addr}");
        Ok(Self {
            port: addr.port(),
            server,
            sink,
            index,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The event sink (tests flush it).
    pub fn sink(&self) -> Sink {
        self.sink.clone()
    }

    /// The eligibility index (tests refresh it).
    pub fn index(&self) -> Arc<Index> {
        self.index.clone()
    }

    /// Serves until stopped, then writes (or spools) every queued event.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let res = self.server.await;
        if tokio::time::timeout(Duration::from_secs(30), self.sink.flush())
            .await
            .is_err()
        {
            tracing::error!("event flush at shutdown timed out; unsent events stay queued");
        }
        res
    }
}
