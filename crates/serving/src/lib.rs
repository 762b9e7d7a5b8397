//! Endcap's serving pipeline, as the ad server runs it.
//!
//! A [`Server`] holds what serving reads and writes: the eligibility [`Index`], segments,
//! budgets ([`endcap_billing::Budgets`]), frequency caps, the CTR model, the event sink and
//! the token keys. [`Server::decide_onsite`] and [`Server::bid`] parse nothing and answer
//! nothing over HTTP: they take validated requests, run `endcap_auction::decide`, sign the
//! tracking URLs, write the decision log (every filled slot and every ghost) and return what
//! the handler serializes. [`Server::impression`], [`Server::click`], [`Server::bill`] and
//! [`Server::loss`] verify tokens, de-duplicate across replicas, charge the advertiser
//! (clamped to the budget) and write the charge ledger; [`Server::custom_event`] logs a placed
//! ad's custom events (add to cart, ...), once per decision and name, and never charges. Nothing on the request path waits
//! on the event log: events are queued.
#![warn(missing_docs)]

mod conversion;
mod custom;
mod dedup;
mod identity;
mod index;
mod log;
mod metrics;
mod offsite;
mod onsite;
mod restart;
mod shared_caps;
mod sync;
mod track;
mod traffic;

pub use conversion::ConversionInput;
pub use custom::custom_event_id;
pub use dedup::Seen;
pub use identity::Identities;
pub use index::{Index, Known};
pub use metrics::TrackingMetrics;
pub use offsite::BidAnswer;
pub use onsite::{DecisionRequest, DecisionResponse, PageContext, PlacementRequest};
pub use restart::{kind_of, LedgerReplay};
pub use shared_caps::SharedCaps;
pub use sync::{
    exchange_uid_key, ExchangeIds, SyncAnswer, SyncQuery, UID_COOKIE, UID_COOKIE_MAX_AGE_SECS,
};
pub use track::Tracked;
pub use traffic::{
    keep_traffic_fresh, learn_traffic, refresh_traffic, MIN_TRAFFIC_DECISIONS,
    TRAFFIC_LOOKBACK_DAYS, TRAFFIC_REFRESH,
};

use endcap_auction::CapCounter;
use endcap_billing::{Budgets, RetailerClock, TakeRate};
use endcap_events::Sink;
use endcap_openrtb::{Exchange, Rates};
use endcap_redis::RedisHandle;
use endcap_segments::Segments;
use endcap_tracking::{KeyRing, TokenKind};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Why serving refused a request or a tracking call.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A field of the request is wrong (named).
    #[error(transparent)]
    Invalid(#[from] endcap_core::ValidationError),
    /// The tracking token is missing, forged, expired or for another endpoint.
    #[error("tracking token: {0}")]
    Token(#[from] endcap_tracking::TokenError),
    /// The exchange's clearing price is missing, malformed, forged or above our bid.
    #[error("price: {0}")]
    Price(#[from] endcap_openrtb::PriceError),
    /// The bid request breaks the specification (the field is named).
    #[error("bid request: {0}")]
    BidRequest(#[from] endcap_openrtb::RequestError),
    /// The campaign store did not answer: nothing was counted, the caller may retry.
    #[error("the campaign store is unavailable")]
    Unavailable(#[from] endcap_store::StoreError),
    /// A query parameter outside what it accepts (named): a 400.
    #[error("{0}")]
    Parameter(endcap_core::ValidationError),
}

/// How long each kind of tracking token is accepted (and its dedup key kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// Impression pixels (default 1 hour).
    pub impression: Duration,
    /// Click redirects (default 7 days).
    pub click: Duration,
    /// Billing and loss notices (default 1 day).
    pub bill: Duration,
    /// Custom events of placed ads (default 7 days, as clicks: an add to cart may come late).
    pub event: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            impression: Duration::from_secs(3_600),
            click: Duration::from_secs(7 * 86_400),
            bill: Duration::from_secs(86_400),
            event: Duration::from_secs(7 * 86_400),
        }
    }
}

impl Lifetimes {
    /// The lifetime of a token kind.
    pub fn of(&self, kind: TokenKind) -> Duration {
        match kind {
            TokenKind::Impression => self.impression,
            TokenKind::Click => self.click,
            TokenKind::Bill | TokenKind::Loss => self.bill,
            TokenKind::Event => self.event,
        }
    }
}

/// Serving rules and settings.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Base URL of tracking links (the bound address when none is configured).
    pub public_url: String,
    /// Declared onsite placements and the creatives each accepts (`ENDCAP_PLACEMENTS`); an
    /// undeclared placement takes any creative.
    pub placements: HashMap<String, endcap_auction::Accepts>,
    /// Key of the HMAC that turns a decision request's raw user key (not SHA-256 hex) into
    /// the key used everywhere (`ENDCAP_USER_KEY_SALT`; empty when unset).
    pub user_key_salt: endcap_core::Secret,
    /// The retailer's calendar: accounting days for budgets, pacing and the ledger.
    pub clock: RetailerClock,
    /// The marketplace currency and conversion rates for the OpenRTB edge.
    pub rates: Rates,
    /// First-price auctions onsite instead of second price.
    pub first_price: bool,
    /// Reserve eCPM of onsite placements without a floor of their own, micros.
    pub onsite_floor_cpm_micros: i64,
    /// Reserve eCPM per placement, micros (`offsite` sets a minimum for every imp).
    pub placement_floors: HashMap<String, i64>,
    /// Least a CPC winner pays per click, micros.
    pub min_cpc_micros: i64,
    /// Placements that may show one advertiser more than once per request.
    pub repeat_placements: Vec<String>,
    /// The retailer's share of offsite advertiser charges.
    pub take_rate: TakeRate,
    /// First-price shading, basis points of the surplus over the floor.
    pub shade_bps: u32,
    /// Token lifetimes.
    pub lifetimes: Lifetimes,
    /// Clicks with no impression seen are not billed (they are counted either way).
    pub clicks_need_impression: bool,
    /// Upper bound on OpenRTB `tmax`, ms.
    pub max_tmax_ms: u64,
    /// Which IAB vendor the bidder is, to read TCF consent in bid requests (none: requests
    /// under GDPR are served contextually).
    pub consent: endcap_openrtb::ConsentPolicy,
    /// The exchanges we bid on, by caller key.
    pub exchanges: HashMap<String, Exchange>,
    /// Settings for exchanges that call without a key (open endpoints only).
    pub default_exchange: Exchange,
    /// Keys the retailer's site calls `/v1/decisions` with.
    pub site_keys: Vec<String>,
    /// Whether `/v1/decisions` and `/openrtb2/bid` answer callers without a key (the demo).
    pub open_endpoints: bool,
    /// Timeout of the request path's segment and cap lookups.
    pub lookup_timeout: Duration,
    /// The invalid-traffic filter impressions and clicks pass before they are billed.
    pub traffic: endcap_tracking::TrafficFilter,
    /// Names of the custom events each placed ad gets a signed URL for
    /// (`ENDCAP_CUSTOM_EVENTS`; each passes [`endcap_tracking::valid_event_name`]).
    pub custom_events: Vec<String>,
    /// User-sync URLs by exchange name (`ENDCAP_EXCHANGE_SYNC_URLS`), our id in `${UID}`.
    pub sync_urls: HashMap<String, String>,
}

/// A tracking URL: `{base}{path}?t={token}{suffix}`, the token signed in place.
pub(crate) fn tracking_url(
    base: &str,
    path: &str,
    signer: &mut endcap_tracking::Signer<'_>,
    head: &endcap_tracking::ClaimsHead<'_>,
    suffix: &str,
) -> String {
    let mut u = String::with_capacity(base.len() + path.len() + suffix.len() + 768);
    u.push_str(base);
    u.push_str(path);
    u.push_str("?t=");
    signer.sign_into(head, &mut u);
    u.push_str(suffix);
    u
}

/// Most segments of one user a decision reads.
pub const MAX_USER_SEGMENTS: usize = 500;

/// Everything serving reads and writes.
pub struct Server {
    /// Rules and settings.
    pub config: ServeConfig,
    /// The eligibility index.
    pub index: Arc<Index>,
    /// Audience segments.
    pub segments: Arc<Segments>,
    /// The identity map (the holdout unit is the shopper).
    pub identities: Identities,
    /// Exchanges' user ids synced to ours (user sync).
    pub exchange_ids: ExchangeIds,
    /// Spend and reservations.
    pub budgets: Arc<Budgets>,
    /// Frequency cap counters.
    pub caps: Arc<dyn CapCounter>,
    /// Shared caps and the Redis connection they load through (with Redis).
    pub shared_caps: Option<(Arc<SharedCaps>, RedisHandle)>,
    /// The pCTR model in use (swapped whole by [`keep_model_fresh`]); its version goes
    /// into the decision log.
    pub model: Arc<endcap_ctr::ModelSlot>,
    /// Where events go.
    pub sink: Sink,
    /// Tracking token keys.
    pub keys: KeyRing,
    /// Events seen, for dedup.
    pub seen: Seen,
    /// Tracking counters.
    pub metrics: TrackingMetrics,
}

/// Why a caller was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CallerError {
    /// No key, and the endpoint is not open.
    #[error("a caller key is required")]
    Missing,
    /// A key nobody was given.
    #[error("unknown caller key")]
    Unknown,
}

impl Server {
    /// Whether a `/v1/decisions` caller may call.
    pub fn site_allowed(&self, key: Option<&str>) -> Result<(), CallerError> {
        match key {
            Some(k) if self.config.site_keys.iter().any(|s| s == k) => Ok(()),
            Some(_) if !self.config.open_endpoints => Err(CallerError::Unknown),
            None if !self.config.open_endpoints => Err(CallerError::Missing),
            _ => Ok(()),
        }
    }

    /// The exchange an `/openrtb2/bid` caller is.
    pub fn exchange_for(&self, key: Option<&str>) -> Result<&Exchange, CallerError> {
        match key.and_then(|k| self.config.exchanges.get(k)) {
            Some(x) => Ok(x),
            None if self.config.open_endpoints => Ok(&self.config.default_exchange),
            None if key.is_some() => Err(CallerError::Unknown),
            None => Err(CallerError::Missing),
        }
    }

    /// The exchange a billing token names (settings for an exchange since removed fall
    /// back to the default's).
    fn exchange_named(&self, name: &str) -> &Exchange {
        self.config
            .exchanges
            .values()
            .find(|x| x.name == name)
            .unwrap_or(&self.config.default_exchange)
    }

    /// What `decide` reads, over `snapshot`; `first_price` adds to the configured auction.
    fn deps<'a>(
        &'a self,
        snapshot: &'a endcap_auction::Snapshot,
        model: &'a endcap_ctr::ActiveModel,
        first_price: bool,
    ) -> endcap_auction::Deps<'a> {
        endcap_auction::Deps {
            snapshot,
            model: model.model.as_ref(),
            history: self.model.as_ref(),
            budgets: self.budgets.as_ref(),
            caps: self.caps.as_ref(),
            first_price: self.config.first_price || first_price,
            min_cpc_micros: self.config.min_cpc_micros,
            deadline: None,
            explain: false,
        }
    }

    /// The user's segments and holdout unit, with the shared frequency-cap counters loaded
    /// alongside: the request path's only I/O, one bounded round trip each, concurrently.
    async fn user_lookup(&self, user_key: &str) -> (Vec<String>, Option<String>) {
        if user_key.is_empty() {
            return (Vec::new(), Some(String::new()));
        }
        let caps = async {
            if let Some((caps, redis)) = &self.shared_caps {
                caps.prefetch(redis, user_key, self.config.lookup_timeout)
                    .await;
            }
        };
        let (lookup, holdout_key, ()) = tokio::join!(
            self.segments.lookup(user_key),
            self.identities.holdout_key(user_key),
            caps
        );
        // A user's segments are capped: advertisers can create many, and each is matched
        // against every candidate of every slot.
        let cap = lookup.segments.len().min(MAX_USER_SEGMENTS);
        (lookup.segments[..cap].to_vec(), holdout_key)
    }
}

/// Every `every`: refits the cold start's placement priors, and, given a model artifact
/// directory, swaps in each new artifact, read and checked off the request path; a broken one
/// is logged and counted, and the model in use keeps serving.
pub async fn keep_model_fresh(
    slot: Arc<endcap_ctr::ModelSlot>,
    dir: Option<std::path::PathBuf>,
    every: std::time::Duration,
) {
    let mut seen = dir.as_deref().and_then(endcap_ctr::artifact_stamp);
    loop {
        tokio::time::sleep(every).await;
        let cold = slot.cold().clone();
        // Off the async workers: the refit walks every line item x placement.
        let _ = tokio::task::spawn_blocking(move || cold.refit()).await;
        let Some(dir) = dir.as_ref() else {
            continue;
        };
        let stamp = endcap_ctr::artifact_stamp(dir);
        if stamp.is_none() || stamp == seen {
            continue;
        }
        seen = stamp;
        // Logged and counted inside; a refusal leaves the model in use serving.
        let _ = reload_model(&slot, dir).await;
    }
}

/// Loads the artifact in `dir` on a blocking thread and puts it in use; the version now
/// serving, or why the artifact was refused (logged and counted; the model in use keeps
/// serving). The one way a model is loaded while serving: the directory watch and the
/// admin reload call both come here.
pub async fn reload_model(
    slot: &Arc<endcap_ctr::ModelSlot>,
    dir: &std::path::Path,
) -> Result<String, String> {
    let d = dir.to_path_buf();
    let loaded = tokio::task::spawn_blocking(move || endcap_ctr::load_artifact(&d))
        .await
        .map_err(|e| format!("the load panicked: {e}"))
        .and_then(|r| r.map_err(|e| e.to_string()));
    match loaded {
        Ok(artifact) => {
            let version = artifact.model.version().to_string();
            slot.install(artifact);
            tracing::info!(%version, dir = %dir.display(), "ctr model loaded");
            Ok(version)
        }
        Err(e) => {
            slot.refused();
            tracing::error!(error = %e, dir = %dir.display(), "ctr model refused; the model in use keeps serving");
            Err(e)
        }
    }
}
