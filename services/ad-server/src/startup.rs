//! Building and running the ad server: wiring only.

use crate::config::Settings;
use crate::routes;
use actix_web::{dev::Server as HttpRunning, web, App, HttpServer};
use anyhow::Context;
use endcap_auction::{CapCounter, MemoryCaps};
use endcap_billing::Budgets;
use endcap_events::{open_sink, read_table, Event, EventTarget, Sink, SinkConfig, Spool, Table};
use endcap_openrtb::{ClearPrice, ConsentPolicy, Exchange};
use endcap_redis::RedisHandle;
use endcap_segments::{Segments, SegmentsConfig};
use endcap_serving::{Index, LedgerReplay, Seen, ServeConfig, Server, SharedCaps, TrackingMetrics};
use endcap_store::CampaignStore;
use endcap_tracking::TokenKind;
use endcap_web::{HttpMetrics, Observe};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// Shared state of every handler.
pub struct AppState {
    /// The serving pipeline.
    pub server: Server,
    /// Campaign store (readiness; `Caller` reads the same store, registered as app data).
    pub store: CampaignStore,
    /// HTTP metrics.
    pub http: Arc<HttpMetrics>,
    /// The CTR model artifact directory (the admin reload call reads it).
    pub model_dir: Option<std::path::PathBuf>,
}

/// A built, bound ad server.
pub struct Application {
    port: u16,
    http: HttpRunning,
    metrics_http: Option<HttpRunning>,
    metrics_port: Option<u16>,
    state: web::Data<AppState>,
    tasks: JoinSet<()>,
}

/// Without Redis, spend and dedup live in this process: they are rebuilt from the charge
/// ledger at start (the spool first, then the file log), so a restart neither hands out a
/// spent budget again nor charges a replayed token twice.
fn replay_files(settings: &Settings, replay: &mut LedgerReplay<'_>) -> anyhow::Result<()> {
    let EventTarget::Files(dir) = &settings.events else {
        return Ok(());
    };
    // Spooled batches are not in the log yet; the sink replays them as soon as it opens.
    // (Rows in both places count once: the replay keys rows.)
    for path in Spool::pending_in(&settings.spool_dir)? {
        for e in Spool::read_file(&path).unwrap_or_default() {
            if let Event::Charge(c) = e {
                replay.row(&c);
            }
        }
    }
    for e in read_table(dir, Table::Charges)? {
        if let Event::Charge(c) = e {
            replay.row(&c);
        }
    }
    for table in [Table::Impressions, Table::Clicks, Table::CustomEvents] {
        for e in read_table(dir, table)? {
            match e {
                Event::Impression(a) => replay.seen(a.event_id(), TokenKind::Impression, a.ts_ms),
                Event::Click(a) => replay.seen(a.event_id(), TokenKind::Click, a.ts_ms),
                Event::Custom(c) => replay.seen(c.event_id, TokenKind::Event, c.ts_ms),
                _ => {}
            }
        }
    }
    Ok(())
}

/// The ClickHouse half of the rebuild: billable spend per campaign and day (read once the
/// spool has drained into ClickHouse, so nothing is counted from both), and the charges,
/// impressions and clicks still inside a token lifetime. Retried for 10 s; without it the
/// server does not start, since it could not tell what is left of any budget.
async fn replay_clickhouse(
    url: &str,
    settings: &Settings,
    replay: &mut LedgerReplay<'_>,
) -> anyhow::Result<()> {
    let cfg = endcap_events::ClickHouseConfig::from_url(url)?;
    let l = settings.lifetimes;
    let longest = l.impression.max(l.click).max(l.bill).max(l.event);
    let since = chrono::Utc::now().timestamp_millis() - longest.as_millis() as i64 - 120_000;
    let mut last = None;
    for _ in 0..20 {
        if !Spool::pending_in(&settings.spool_dir)?.is_empty() {
            last = Some("events are still spooled".to_string());
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        let read = async {
            Ok::<_, endcap_events::EventError>((
                endcap_events::billable_spend(&cfg).await?,
                endcap_events::recent_charges(&cfg, since).await?,
                endcap_events::recent_ad_events(&cfg, Table::Impressions, since).await?,
                endcap_events::recent_ad_events(&cfg, Table::Clicks, since).await?,
                endcap_events::recent_custom_events(&cfg, since).await?,
            ))
        };
        match read.await {
            Ok((spend, seen, impressions, clicks, custom)) => {
                for (event, ts_ms) in custom {
                    replay.seen(event, TokenKind::Event, ts_ms);
                }
                for (decision, ts_ms) in impressions {
                    replay.seen(decision, TokenKind::Impression, ts_ms);
                }
                for (decision, ts_ms) in clicks {
                    replay.seen(decision, TokenKind::Click, ts_ms);
                }
                for (campaign, day, nanos) in spend {
                    replay.spend(campaign, day, nanos);
                }
                for (decision, source, ts_ms) in seen {
                    replay.seen(decision, endcap_serving::kind_of(source), ts_ms);
                }
                return Ok(());
            }
            Err(e) => last = Some(e.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(anyhow::anyhow!(
        "cannot read the charge ledger from ClickHouse ({}); without Redis the ad server needs it to know what is left of each budget",
        last.unwrap_or_default()
    ))
}

impl Application {
    /// Connects the store, the event log and Redis, binds the listener, prepares the server
    /// and its background tasks.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let store = CampaignStore::connect(&settings.common.database)
            .await
            .context("failed to open the campaign store")?;
        let index = Arc::new(Index::new(store.clone()).with_clock(settings.clock));
        // Pacing's traffic curve from the decision log before the first request (the flat
        // line if it cannot be read), then hourly.
        endcap_serving::refresh_traffic(&index, &settings.events).await;
        match index.refresh().await {
            Ok(n) => tracing::info!(line_items = n, "index built"),
            Err(e) => {
                tracing::warn!(error = %e, "first index build failed; retrying in the background")
            }
        }
        let redis = match &settings.common.redis {
            Some(url) => Some(RedisHandle::connect(url).context("bad redis url")?),
            None => None,
        };
        let seg_config = SegmentsConfig {
            ttl: settings.segment_cache.0,
            capacity: settings.segment_cache.1,
            ..SegmentsConfig::default()
        };
        let segments = match &redis {
            Some(r) => Segments::redis_shared(r.clone(), seg_config),
            None => Segments::in_store(store.clone(), seg_config),
        };
        let replica = format!("{}-{}", std::process::id(), uuid::Uuid::now_v7().simple());
        let budgets = Arc::new(match &redis {
            Some(r) => Budgets::shared(r.clone(), replica, settings.redis_timeout),
            None => Budgets::local(),
        });
        let seen = Seen::new(10_000_000, redis.clone(), settings.redis_timeout);
        let today = settings.clock.local(chrono::Utc::now()).day;
        let mut replay = redis
            .is_none()
            .then(|| LedgerReplay::new(&budgets, &seen, settings.lifetimes, today));
        if let Some(r) = replay.as_mut() {
            replay_files(settings, r).context("failed to rebuild spend from the charge ledger")?;
        }
        let sink_config = SinkConfig {
            max_delay: settings.event_flush,
            ..SinkConfig::default()
        };
        let sink: Sink = open_sink(&settings.events, &settings.spool_dir, sink_config)
            .await
            .context("failed to open the event log")?;
        if let (Some(r), EventTarget::ClickHouse(url)) = (replay.as_mut(), &settings.events) {
            replay_clickhouse(url, settings, r).await?;
        }
        if let Some(r) = replay {
            // Not inside the log macro: its fields are only evaluated when logging is on.
            let entries = r.finish();
            tracing::info!(entries, "spend rebuilt from the charge ledger");
        }
        let (caps, shared_caps): (Arc<dyn CapCounter>, _) = match &redis {
            Some(r) => {
                let shared = Arc::new(SharedCaps::new(1_000_000, Duration::from_secs(30)));
                (shared.clone(), Some((shared, r.clone())))
            }
            // A user's counters are one entry (9 counters per owner seen): 1M users.
            None => (Arc::new(MemoryCaps::new(1_000_000)), None),
        };
        let model = Arc::new(first_model(
            settings.model_dir.as_deref(),
            settings.explore_share,
        ));
        let mut tasks = JoinSet::new();
        tasks.spawn(endcap_serving::keep_model_fresh(
            model.clone(),
            settings.model_dir.clone(),
            settings.model_reload,
        ));
        tasks.spawn(index.clone().keep_fresh(settings.index_refresh));
        tasks.spawn(endcap_serving::keep_traffic_fresh(
            index.clone(),
            settings.events.clone(),
        ));
        if let Some((shared, r)) = &shared_caps {
            tasks.spawn(shared.clone().run(r.clone(), Duration::from_secs(1)));
        }
        if let Some(r) = &redis {
            // Serve nothing unknown: read the shared counters once before the first request.
            if r.ready(Duration::from_secs(2)).await {
                sync_once(&budgets, &index, settings.clock).await;
            }
        }
        tasks.spawn(keep_budgets(budgets.clone(), index.clone(), settings.clock));
        tasks.spawn(keep_retention(
            settings.events.clone(),
            settings.decision_retention_days,
        ));
        let listener = TcpListener::bind(settings.common.listen)
            .with_context(|| format!("failed to listen on {}", settings.common.listen))?;
        let addr = listener.local_addr()?;
        let public_url = settings
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        let config = ServeConfig {
            public_url,
            user_key_salt: settings.user_key_salt.clone(),
            clock: settings.clock,
            rates: settings.rates.clone(),
            first_price: settings.first_price,
            onsite_floor_cpm_micros: settings.onsite_floor_cpm_micros,
            placement_floors: settings.placement_floors.clone(),
            placements: settings.placements.clone(),
            min_cpc_micros: settings.min_cpc_micros,
            repeat_placements: settings.repeat_placements.clone(),
            take_rate: settings.take_rate,
            shade_bps: settings.shade_bps,
            lifetimes: settings.lifetimes,
            clicks_need_impression: settings.clicks_need_impression,
            max_tmax_ms: settings.max_tmax_ms,
            consent: ConsentPolicy {
                vendor_id: settings.tcf_vendor_id,
            },
            exchanges: settings.exchanges.clone(),
            default_exchange: Exchange {
                name: "default".into(),
                billing: settings.default_billing,
                price: Arc::new(ClearPrice),
            },
            site_keys: settings.site_keys.clone(),
            open_endpoints: settings.open_endpoints,
            lookup_timeout: Duration::from_millis(5),
            custom_events: settings.custom_events.clone(),
            sync_urls: settings.sync_urls.clone(),
            traffic: endcap_tracking::TrafficFilter::bundled(Duration::from_millis(
                settings.min_click_ms,
            ))
            .context("the bundled bot list")?
            .allowing(settings.app_user_agents.clone())
            .with_click_rates(endcap_tracking::ClickRates::new(
                settings.click_rates,
                1_000_000,
            )),
        };
        let state = web::Data::new(AppState {
            server: Server {
                config,
                index,
                segments: Arc::new(segments),
                identities: endcap_serving::Identities::new(
                    store.clone(),
                    settings.segment_cache.1,
                    settings.segment_cache.0,
                    settings.identity_timeout,
                ),
                exchange_ids: endcap_serving::ExchangeIds::new(
                    store.clone(),
                    settings.segment_cache.1,
                    settings.segment_cache.0,
                    settings.identity_timeout,
                ),
                budgets,
                caps,
                shared_caps,
                model: model.clone(),
                sink,
                keys: settings.signing_keys.clone(),
                seen,
                metrics: TrackingMetrics::default(),
            },
            store,
            http: Arc::new(HttpMetrics::default()),
            model_dir: settings.model_dir.clone(),
        });
        // The `Caller` extractor (admin checks) reads the store as app data of its own.
        let store = web::Data::new(state.store.clone());
        let data = state.clone();
        let separate_metrics = settings.common.metrics_listen;
        let main_data = data.clone();
        let http = HttpServer::new(move || {
            let app = App::new()
                .wrap(endcap_web::error_envelope())
                .wrap(Observe::new(main_data.http.clone()))
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
        .shutdown_timeout(10)
        .listen(listener)?
        .run();
        tracing::info!("listening on {addr}");
        let (metrics_http, metrics_port) = match separate_metrics {
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
            http,
            metrics_http,
            metrics_port,
            state,
            tasks,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The metrics listener's port, when `/metrics` has a listener of its own.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    /// The event sink (tests flush it).
    pub fn sink(&self) -> Sink {
        self.state.server.sink.clone()
    }

    /// The eligibility index (tests refresh it).
    pub fn index(&self) -> Arc<Index> {
        self.state.server.index.clone()
    }

    /// Serves until stopped, then stops the background tasks and writes (or spools) every
    /// queued event.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Self {
            http,
            metrics_http,
            state,
            mut tasks,
            ..
        } = self;
        let metrics = metrics_http.map(|m| {
            let handle = m.handle();
            actix_web::rt::spawn(m);
            handle
        });
        let res = http.await;
        if let Some(h) = metrics {
            h.stop(true).await;
        }
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        // Charges billed while Redis was unreachable reach it now, or they would be lost.
        let s = &state.server;
        sync_once(&s.budgets, &s.index, s.config.clock).await;
        if tokio::time::timeout(Duration::from_secs(30), state.server.sink.flush())
            .await
            .is_err()
        {
            tracing::error!("event flush at shutdown timed out; unsent events stay queued");
        }
        res
    }
}

/// Every second: expired reservations go, and shared spend is read for every campaign in
/// the index (not only those this replica charged).
async fn keep_budgets(
    budgets: Arc<Budgets>,
    index: Arc<Index>,
    clock: endcap_billing::RetailerClock,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        budgets.expire_reservations();
        sync_once(&budgets, &index, clock).await;
    }
}

/// One bounded spend sync: a Redis that accepts connections but never answers must not
/// hold up reservation expiry or the next sync.
async fn sync_once(budgets: &Budgets, index: &Index, clock: endcap_billing::RetailerClock) {
    let day = clock.local(chrono::Utc::now()).day;
    let serving = index.serving_campaigns();
    let sync = budgets.sync(&serving, day);
    match tokio::time::timeout(Duration::from_millis(900), sync).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "spend sync failed; billing against this replica's share")
        }
        Err(_) => tracing::warn!("spend sync timed out; billing against this replica's share"),
    }
}

/// Every hour: every event table loses what is past its retention (docs/ARCHITECTURE.md,
/// "Retention"), in ClickHouse or in the file log.
async fn keep_retention(target: EventTarget, decision_days: u32) {
    let policy = endcap_events::retention_policy(decision_days);
    let mut tick = tokio::time::interval(Duration::from_secs(3_600));
    loop {
        tick.tick().await;
        let now = chrono::Utc::now();
        let done = match &target {
            EventTarget::ClickHouse(url) => match endcap_events::ClickHouseConfig::from_url(url) {
                Ok(cfg) => endcap_events::enforce_clickhouse(&cfg, &policy, now).await,
                Err(e) => Err(e),
            },
            EventTarget::Files(dir) => {
                let (dir, policy) = (dir.clone(), policy.clone());
                tokio::task::spawn_blocking(move || {
                    endcap_events::enforce_files(&dir, &policy, now)
                })
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e).into()))
            }
        };
        match done {
            Ok(done) => {
                for d in done
                    .iter()
                    .filter(|d| !d.partitions.is_empty() || d.mutation || d.lines > 0)
                {
                    tracing::info!(table = d.table, partitions = ?d.partitions, mutation = d.mutation,
                        lines = d.lines, "retention applied");
                }
            }
            Err(e) => tracing::warn!(error = %e, "retention failed; will retry"),
        }
    }
}

/// The model to start with: the artifact in the model directory if there is one and it
/// loads, else the cold start (a broken artifact is logged and counted, never fatal).
fn first_model(dir: Option<&std::path::Path>, explore_share: f64) -> endcap_ctr::ModelSlot {
    let slot = endcap_ctr::ModelSlot::serving(explore_share);
    let Some(dir) = dir.filter(|d| endcap_ctr::artifact_stamp(d).is_some()) else {
        return slot;
    };
    match endcap_ctr::load_artifact(dir) {
        Ok(artifact) => {
            let version = artifact.model.version().to_string();
            slot.install(artifact);
            tracing::info!(%version, dir = %dir.display(), "ctr model loaded");
        }
        Err(e) => {
            tracing::error!(error = %e, dir = %dir.display(), "ctr model refused; serving the cold start");
            slot.refused();
        }
    }
    slot
}
