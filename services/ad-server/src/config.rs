//! `ad-server` settings: the shared layers plus signing keys, money rules, exchanges and
//! tracking lifetimes.

use clap::Parser;
use endcap_billing::{RetailerClock, TakeRate};
use endcap_events::EventTarget;
use endcap_openrtb::{BillingNotice, ClearPrice, Exchange, HmacSha1Price, PriceDecoder, Rates};
use endcap_serving::Lifetimes;
use endcap_tracking::KeyRing;
use endcap_web::config::{Common, CommonArgs, Layers};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Command line of `ad-server`.
#[derive(Debug, Clone, Default, Parser)]
#[command(name = "ad-server", about = "Endcap's ad server")]
pub struct Cli {
    /// Flags every service shares.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Directory of the CTR model artifact (ENDCAP_MODEL_DIR: model.txt + model.json), watched
    /// for new ones; without it the cold start scores.
    #[arg(long)]
    pub model_dir: Option<PathBuf>,
}

/// The resolved settings. Their `Debug` shows only where the server listens: they hold site
/// keys, exchange keys and URLs that may carry passwords, which must never reach a log.
#[derive(Clone)]
pub struct Settings {
    /// Shared settings.
    pub common: Common,
    /// Tracking token keys (ENDCAP_SIGNING_KEYS, `kid:secret[,kid:secret]`).
    pub signing_keys: KeyRing,
    /// Token lifetimes: ENDCAP_IMPRESSION_TOKEN_SECS (default 3,600), ENDCAP_CLICK_TOKEN_SECS
    /// (604,800), ENDCAP_BILL_TOKEN_SECS (86,400), ENDCAP_EVENT_TOKEN_SECS (604,800). A
    /// token's dedup key lives as long.
    pub lifetimes: Lifetimes,
    /// Event destination.
    pub events: EventTarget,
    /// Spool directory.
    pub spool_dir: PathBuf,
    /// CTR model directory.
    pub model_dir: Option<PathBuf>,
    /// How often the model directory is checked for a new artifact
    /// (ENDCAP_MODEL_RELOAD_SECS, default 10); also how often the cold start refits.
    pub model_reload: Duration,
    /// Least time from a decision to its click, ms, for the click to be billable
    /// (ENDCAP_MIN_CLICK_MS, default 500): faster is not a person.
    pub min_click_ms: u64,
    /// User-agent substrings of the retailer's own apps, never taken for bots
    /// (ENDCAP_APP_USER_AGENTS, comma-separated).
    pub app_user_agents: Vec<String>,
    /// Clicks per hour a user, an IP prefix and a placement may always make before their
    /// rate is judged against their own history (ENDCAP_CLICK_RATE_FLOORS, `user,ip,placement`,
    /// default `20,300,5000`); past five times its usual rate a click is invalid traffic.
    pub click_rates: endcap_tracking::ClickRateConfig,
    /// Share of slots the cold start explores (ENDCAP_EXPLORE_BPS, basis points, default
    /// 300 = 3%, at most 500).
    pub explore_share: f64,
    /// Base URL browsers reach this server at (ENDCAP_PUBLIC_URL; default: the address
    /// actually bound).
    pub public_url: Option<String>,
    /// Seconds between index rebuilds (ENDCAP_INDEX_REFRESH_SECS, default 5).
    pub index_refresh: Duration,
    /// Upper bound on OpenRTB `tmax`, ms (ENDCAP_MAX_TMAX_MS, default 100).
    pub max_tmax_ms: u64,
    /// Endcap's IAB TCF global vendor list id (ENDCAP_TCF_VENDOR_ID, 1-65535, default none):
    /// bid requests under GDPR are personalised only with consent for it; without it they
    /// are served contextually.
    pub tcf_vendor_id: Option<u16>,
    /// Key of the HMAC that hashes decision requests' raw user keys (ENDCAP_USER_KEY_SALT,
    /// at least 16 characters; unset: an empty key, so `HMAC-SHA256("", id)`).
    pub user_key_salt: endcap_core::Secret,
    /// First-price auctions onsite instead of second price (ENDCAP_AUCTION=first|second).
    pub first_price: bool,
    /// The marketplace currency (ENDCAP_CURRENCY, default USD) and rates for the OpenRTB
    /// edge (ENDCAP_FX_RATES, `EUR:1.08,GBP:1.27`: marketplace units per unit).
    pub rates: Rates,
    /// Reserve eCPM of onsite placements without their own, micros per mille
    /// (ENDCAP_ONSITE_FLOOR_CPM_MICROS, default 100,000).
    pub onsite_floor_cpm_micros: i64,
    /// Reserve eCPM per placement (ENDCAP_PLACEMENT_FLOORS, `search-top:500000,offsite:200000`;
    /// `offsite` is the least floor of every OpenRTB imp).
    pub placement_floors: HashMap<String, i64>,
    /// Declared onsite placements and what each accepts (ENDCAP_PLACEMENTS,
    /// `name=kind|kind:WxH,...`, kinds `sponsored_product`, `native`, `banner`); a slot is
    /// filled only by a creative that fits it. Undeclared placements take any creative.
    pub placements: HashMap<String, endcap_auction::Accepts>,
    /// Least a CPC winner pays per click (ENDCAP_MIN_CPC_MICROS, default 10,000).
    pub min_cpc_micros: i64,
    /// The retailer's share of offsite advertiser charges (ENDCAP_TAKE_RATE_BPS, default 2,000).
    pub take_rate: TakeRate,
    /// First-price shading (ENDCAP_FIRST_PRICE_SHADE_BPS, default 2,000 of the surplus).
    pub shade_bps: u32,
    /// The retailer's time zone, an IANA name (ENDCAP_TIME_ZONE, default UTC).
    pub clock: RetailerClock,
    /// How long a user's segments stay cached (ENDCAP_SEGMENT_CACHE_TTL_SECS, default 60)
    /// and how many users are cached (ENDCAP_SEGMENT_CACHE_USERS, default 1,000,000).
    pub segment_cache: (Duration, u64),
    /// Placements that may show one advertiser more than once per request
    /// (ENDCAP_REPEAT_ADVERTISER_PLACEMENTS, comma separated; default none).
    pub repeat_placements: Vec<String>,
    /// Clicks with no impression seen are not billed (ENDCAP_CLICKS_NEED_IMPRESSION,
    /// default false: counted and flagged only).
    pub clicks_need_impression: bool,
    /// Exchanges by caller key (ENDCAP_EXCHANGES, `name:key:billing:price[,...]`, billing
    /// `burl|nurl|adm`, price `clear` or `hmac-sha1/EKEY/IKEY` with websafe-base64 keys).
    pub exchanges: HashMap<String, Exchange>,
    /// Billing notice of callers without a key (ENDCAP_DEFAULT_BILLING, default burl).
    pub default_billing: BillingNotice,
    /// Keys the retailer's site calls `/v1/decisions` with (ENDCAP_SITE_KEYS, comma separated).
    pub site_keys: Vec<String>,
    /// Let callers without a key decide and bid (ENDCAP_OPEN_ENDPOINTS, default false; the
    /// demo turns it on).
    pub open_endpoints: bool,
    /// Days the decision log is kept (ENDCAP_DECISION_RETENTION_DAYS, default 90).
    pub decision_retention_days: u32,
    /// Longest a charge or dedup call waits for Redis before deciding locally
    /// (ENDCAP_REDIS_TIMEOUT_MS, default 50).
    pub redis_timeout: Duration,
    /// How long a decision waits for a shopper's identity link before campaigns with a
    /// holdout sit the request out (ENDCAP_IDENTITY_TIMEOUT_MS, default 5).
    pub identity_timeout: Duration,
    /// Longest an event waits in a partial batch (ENDCAP_EVENT_FLUSH_MS; default 10 for the
    /// file log, 500 for ClickHouse, which wants few large inserts). Small batches on files
    /// halved the decision p99 at 4 connections: a 10,000-row batch serialized in one
    /// burst took a core from the worker (BENCHMARKS.md, issue 12, round 4).
    pub event_flush: Duration,
    /// Custom events each placed ad gets a signed URL for (ENDCAP_CUSTOM_EVENTS, comma
    /// separated names of 1-32 `a-z0-9_`, default `add_to_cart,view_through`; `none`: none).
    pub custom_events: Vec<String>,
    /// User-sync URLs by exchange name (ENDCAP_EXCHANGE_SYNC_URLS, `name=URL` entries
    /// separated by spaces; our id goes into the URL's `${UID}`): `GET /v1/usersync`
    /// redirects there. Each name must be an exchange of ENDCAP_EXCHANGES.
    pub sync_urls: HashMap<String, String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.common.listen)
            .finish_non_exhaustive()
    }
}

fn pairs(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(',').map(str::trim).filter(|p| !p.is_empty())
}

fn exchange(raw: &str) -> Result<(String, Exchange), String> {
    // Errors name the exchange, never the entry: it holds the caller key and price keys.
    let entry = format!(
        "the exchange {:?}",
        raw.split(':').next().unwrap_or_default()
    );
    let parts: Vec<&str> = raw.split(':').collect();
    let [name, key, billing, price] = parts.as_slice() else {
        return Err(format!("{entry} is not name:key:billing:price"));
    };
    if name.is_empty() || key.len() < 16 {
        return Err(format!(
            "{entry}: a name and a key of 16+ characters are needed"
        ));
    }
    let billing = BillingNotice::parse(billing)
        .ok_or_else(|| format!("{entry}: billing must be burl, nurl or adm"))?;
    let price: Arc<dyn PriceDecoder> = match price.split('/').collect::<Vec<_>>().as_slice() {
        // The adm pixel sits in the page: with a clear price anyone could bill it first.
        ["clear"] if billing == BillingNotice::Adm => {
            return Err(format!(
                "{entry}: adm billing puts the notice in the page; it needs hmac-sha1 prices"
            ))
        }
        ["clear"] => Arc::new(ClearPrice),
        ["hmac-sha1", e, i] => Arc::new(
            HmacSha1Price::from_base64(e, i)
                .ok_or_else(|| format!("{entry}: keys must be websafe base64"))?,
        ),
        _ => {
            return Err(format!(
                "{entry}: price must be clear or hmac-sha1/EKEY/IKEY"
            ))
        }
    };
    Ok((
        key.to_string(),
        Exchange {
            name: name.to_string(),
            billing,
            price,
        },
    ))
}

impl Settings {
    /// Resolves settings, returning every problem found.
    pub fn resolve(
        cli: &Cli,
        env: &HashMap<String, String>,
        file_text: Option<&str>,
    ) -> Result<Settings, Vec<String>> {
        let mut layers = Layers::new(env, file_text);
        let common = layers.common(&cli.common);
        let keys = layers.text(None, "ENDCAP_SIGNING_KEYS", "signing_keys");
        if let Some(k) = &keys {
            layers.refuse_published("ENDCAP_SIGNING_KEYS", k, common.demo);
        }
        let format = match layers.text(None, "ENDCAP_TOKEN_FORMAT", "token_format") {
            None => endcap_tracking::TokenFormat::default(),
            Some(f) => endcap_tracking::TokenFormat::parse(&f).unwrap_or_else(|| {
                layers.error(format!(
                    "ENDCAP_TOKEN_FORMAT / token_format: {f:?} is not compact or json"
                ));
                endcap_tracking::TokenFormat::default()
            }),
        };
        let signing_keys = match keys.as_deref().map(KeyRing::parse) {
            Some(Ok(k)) => Some(k.with_format(format)),
            Some(Err(e)) => {
                layers.error(format!("ENDCAP_SIGNING_KEYS: {e}"));
                None
            }
            None => {
                layers.error("ENDCAP_SIGNING_KEYS is required: kid:secret[,kid:secret], secrets of 16+ bytes");
                None
            }
        };
        let secs = |l: &mut Layers, var: &str, key: &str, default: u64| {
            Duration::from_secs(l.count(var, key).unwrap_or(default))
        };
        let lifetimes = Lifetimes {
            impression: secs(
                &mut layers,
                "ENDCAP_IMPRESSION_TOKEN_SECS",
                "impression_token_secs",
                3_600,
            ),
            click: secs(
                &mut layers,
                "ENDCAP_CLICK_TOKEN_SECS",
                "click_token_secs",
                7 * 86_400,
            ),
            bill: secs(
                &mut layers,
                "ENDCAP_BILL_TOKEN_SECS",
                "bill_token_secs",
                86_400,
            ),
            event: secs(
                &mut layers,
                "ENDCAP_EVENT_TOKEN_SECS",
                "event_token_secs",
                7 * 86_400,
            ),
        };
        let model_dir = layers
            .text(
                cli.model_dir.as_ref().and_then(|p| p.to_str()),
                "ENDCAP_MODEL_DIR",
                "model_dir",
            )
            .map(PathBuf::from);
        let model_reload = secs(
            &mut layers,
            "ENDCAP_MODEL_RELOAD_SECS",
            "model_reload_secs",
            10,
        );
        let explore_bps = layers
            .amount("ENDCAP_EXPLORE_BPS", "explore_bps")
            .unwrap_or(300);
        if explore_bps > 500 {
            layers.error(format!(
                "ENDCAP_EXPLORE_BPS / explore_bps: {explore_bps} is above 500 (5% of slots)"
            ));
        }
        let explore_share = explore_bps.min(500) as f64 / 10_000.0;
        let min_click_ms = layers
            .amount("ENDCAP_MIN_CLICK_MS", "min_click_ms")
            .unwrap_or(500);
        let app_user_agents: Vec<String> = layers
            .text(None, "ENDCAP_APP_USER_AGENTS", "app_user_agents")
            .map(|v| {
                v.split(',')
                    .map(|a| a.trim().to_string())
                    .filter(|a| !a.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let mut click_rates = endcap_tracking::ClickRateConfig::default();
        if let Some(v) = layers.text(None, "ENDCAP_CLICK_RATE_FLOORS", "click_rate_floors") {
            let floors: Vec<Option<u32>> = v
                .split(',')
                .map(|f| f.trim().parse().ok().filter(|n| *n > 0))
                .collect();
            match floors.as_slice() {
                [Some(u), Some(i), Some(p)] => {
                    (click_rates.user_floor, click_rates.ip_floor, click_rates.placement_floor) =
                        (*u, *i, *p)
                }
                _ => layers.error(format!(
                    "ENDCAP_CLICK_RATE_FLOORS / click_rate_floors: {v:?} is not three positive whole numbers `user,ip,placement`"
                )),
            }
        }
        let events = EventTarget::choose(common.clickhouse.as_deref(), common.event_dir.as_deref());
        let spool_dir = common
            .spool_dir
            .clone()
            .unwrap_or_else(|| events.default_spool_dir("ad-server"));
        let public_url = layers
            .text(None, "ENDCAP_PUBLIC_URL", "public_url")
            .map(|u| u.trim_end_matches('/').to_string());
        let index_refresh = secs(
            &mut layers,
            "ENDCAP_INDEX_REFRESH_SECS",
            "index_refresh_secs",
            5,
        );
        let max_tmax_ms = layers
            .count("ENDCAP_MAX_TMAX_MS", "max_tmax_ms")
            .unwrap_or(100);
        let user_key_salt = layers
            .secret("ENDCAP_USER_KEY_SALT", 16, common.demo)
            .unwrap_or_else(|| endcap_core::Secret::new(String::new()));
        let tcf_vendor_id = layers
            .count("ENDCAP_TCF_VENDOR_ID", "tcf_vendor_id")
            .and_then(|id| {
                let fits = u16::try_from(id).ok();
                if fits.is_none() {
                    layers.error(format!(
                        "ENDCAP_TCF_VENDOR_ID / tcf_vendor_id: {id} is not an IAB vendor id (1-65535)"
                    ));
                }
                fits
            });
        let first_price = match layers.text(None, "ENDCAP_AUCTION", "auction").as_deref() {
            None | Some("second") => false,
            Some("first") => true,
            Some(other) => {
                layers.error(format!(
                    "ENDCAP_AUCTION / auction: {other:?} must be first or second"
                ));
                false
            }
        };
        let currency = layers
            .text(None, "ENDCAP_CURRENCY", "currency")
            .unwrap_or_else(|| "USD".to_string());
        if endcap_core::Currency::parse(&currency, "currency").is_err() {
            layers.error(format!(
                "ENDCAP_CURRENCY / currency: {currency:?} is not an ISO 4217 code"
            ));
        }
        let fx = layers
            .text(None, "ENDCAP_FX_RATES", "fx_rates")
            .unwrap_or_default();
        let rates = Rates::parse(&currency, &fx).unwrap_or_else(|bad| {
            layers.error(format!(
                "ENDCAP_FX_RATES / fx_rates: {bad:?} is not CUR:rate with a rate > 0"
            ));
            Rates::none(&currency)
        });
        let onsite_floor_cpm_micros = layers
            .amount("ENDCAP_ONSITE_FLOOR_CPM_MICROS", "onsite_floor_cpm_micros")
            .unwrap_or(100_000) as i64;
        let mut placement_floors = HashMap::new();
        if let Some(raw) = layers.text(None, "ENDCAP_PLACEMENT_FLOORS", "placement_floors") {
            for p in pairs(&raw) {
                match p.rsplit_once(':').map(|(n, v)| (n, v.parse::<i64>())) {
                    Some((name, Ok(v))) if v >= 0 && !name.is_empty() => {
                        placement_floors.insert(name.to_string(), v);
                    }
                    _ => layers.error(format!(
                        "ENDCAP_PLACEMENT_FLOORS / placement_floors: {p:?} is not placement:micros"
                    )),
                }
            }
        }
        let mut placements = HashMap::new();
        if let Some(raw) = layers.text(None, "ENDCAP_PLACEMENTS", "placements") {
            for p in pairs(&raw) {
                match p
                    .split_once('=')
                    .and_then(|(n, a)| Some((n.trim().to_ascii_lowercase(), endcap_auction::Accepts::parse(a)?)))
                {
                    Some((name, accepts)) if !name.is_empty() => {
                        placements.insert(name, accepts);
                    }
                    _ => layers.error(format!(
                        "ENDCAP_PLACEMENTS / placements: {p:?} is not name=kind|kind:WxH (sponsored_product, native, banner)"
                    )),
                }
            }
        }
        let min_cpc_micros = layers
            .amount("ENDCAP_MIN_CPC_MICROS", "min_cpc_micros")
            .unwrap_or(10_000) as i64;
        let take_bps = layers
            .amount("ENDCAP_TAKE_RATE_BPS", "take_rate_bps")
            .unwrap_or(2_000);
        let take_rate = u32::try_from(take_bps)
            .ok()
            .and_then(TakeRate::from_bps)
            .unwrap_or_else(|| {
                layers.error(format!(
                    "ENDCAP_TAKE_RATE_BPS / take_rate_bps: {take_bps} must be below 10000"
                ));
                TakeRate::from_bps(0).unwrap_or_else(|| unreachable!())
            });
        let shade_bps = layers
            .amount("ENDCAP_FIRST_PRICE_SHADE_BPS", "first_price_shade_bps")
            .unwrap_or(2_000);
        if shade_bps > 10_000 {
            layers.error("ENDCAP_FIRST_PRICE_SHADE_BPS / first_price_shade_bps: at most 10000");
        }
        let clock = RetailerClock::new(common.time_zone);
        let segment_cache = (
            secs(
                &mut layers,
                "ENDCAP_SEGMENT_CACHE_TTL_SECS",
                "segment_cache_ttl_secs",
                60,
            ),
            layers
                .count("ENDCAP_SEGMENT_CACHE_USERS", "segment_cache_users")
                .unwrap_or(1_000_000),
        );
        let repeat_placements = layers
            .text(
                None,
                "ENDCAP_REPEAT_ADVERTISER_PLACEMENTS",
                "repeat_advertiser_placements",
            )
            .map(|v| pairs(&v).map(str::to_string).collect())
            .unwrap_or_default();
        let clicks_need_impression = layers
            .switch("ENDCAP_CLICKS_NEED_IMPRESSION", "clicks_need_impression")
            .unwrap_or(false);
        let mut exchanges = HashMap::new();
        if let Some(raw) = layers.text(None, "ENDCAP_EXCHANGES", "exchanges") {
            for entry in pairs(&raw) {
                match exchange(entry) {
                    Ok((k, x)) => {
                        exchanges.insert(k, x);
                    }
                    Err(e) => layers.error(format!("ENDCAP_EXCHANGES / exchanges: {e}")),
                }
            }
        }
        let default_billing = match layers.text(None, "ENDCAP_DEFAULT_BILLING", "default_billing") {
            None => BillingNotice::Burl,
            Some(b) => match BillingNotice::parse(&b) {
                Some(BillingNotice::Adm) | None => {
                    layers.error(format!(
                        "ENDCAP_DEFAULT_BILLING / default_billing: {b:?} must be burl or nurl (keyless callers send clear prices)"
                    ));
                    BillingNotice::Burl
                }
                Some(n) => n,
            },
        };
        let site_keys: Vec<String> = layers
            .text(None, "ENDCAP_SITE_KEYS", "site_keys")
            .map(|v| pairs(&v).map(str::to_string).collect())
            .unwrap_or_default();
        if site_keys.iter().any(|k| k.len() < 16) {
            layers.error("ENDCAP_SITE_KEYS / site_keys: every key needs 16+ characters");
        }
        let open_endpoints = layers
            .switch("ENDCAP_OPEN_ENDPOINTS", "open_endpoints")
            .unwrap_or(false);
        let decision_retention_days = layers
            .count("ENDCAP_DECISION_RETENTION_DAYS", "decision_retention_days")
            .unwrap_or(90)
            .min(3_650) as u32;
        let redis_timeout = Duration::from_millis(
            layers
                .count("ENDCAP_REDIS_TIMEOUT_MS", "redis_timeout_ms")
                .unwrap_or(50),
        );
        let identity_timeout = Duration::from_millis(
            layers
                .count("ENDCAP_IDENTITY_TIMEOUT_MS", "identity_timeout_ms")
                .unwrap_or(5),
        );
        let event_flush = Duration::from_millis(
            layers
                .count("ENDCAP_EVENT_FLUSH_MS", "event_flush_ms")
                .unwrap_or(match events {
                    EventTarget::Files(_) => 10,
                    EventTarget::ClickHouse(_) => 500,
                }),
        );
        let mut sync_urls = HashMap::new();
        if let Some(raw) = layers.text(None, "ENDCAP_EXCHANGE_SYNC_URLS", "exchange_sync_urls") {
            for entry in raw.split_whitespace() {
                match entry.split_once('=') {
                    Some((name, url))
                        if exchanges.values().any(|x: &Exchange| x.name == name)
                            && (url.starts_with("https://") || url.starts_with("http://"))
                            && url.contains("${UID}") =>
                    {
                        sync_urls.insert(name.to_string(), url.to_string());
                    }
                    _ => layers.error(format!(
                        "ENDCAP_EXCHANGE_SYNC_URLS / exchange_sync_urls: {:?} is not name=URL with an exchange of ENDCAP_EXCHANGES and an http(s) URL holding ${{UID}}",
                        entry.split('=').next().unwrap_or_default()
                    )),
                }
            }
        }
        let raw_events = layers.text(None, "ENDCAP_CUSTOM_EVENTS", "custom_events");
        let custom_events = custom_events(&mut layers, raw_events.as_deref());
        layers.finish()?;
        let Some(signing_keys) = signing_keys else {
            return Err(vec!["ENDCAP_SIGNING_KEYS is required".into()]);
        };
        Ok(Settings {
            common,
            signing_keys,
            lifetimes,
            events,
            spool_dir,
            model_dir,
            model_reload,
            explore_share,
            min_click_ms,
            app_user_agents,
            click_rates,
            public_url,
            index_refresh,
            max_tmax_ms,
            tcf_vendor_id,
            user_key_salt,
            first_price,
            rates,
            onsite_floor_cpm_micros,
            placement_floors,
            placements,
            min_cpc_micros,
            take_rate,
            shade_bps: shade_bps.min(10_000) as u32,
            clock,
            segment_cache,
            repeat_placements,
            clicks_need_impression,
            exchanges,
            default_billing,
            site_keys,
            open_endpoints,
            decision_retention_days,
            redis_timeout,
            identity_timeout,
            event_flush,
            custom_events,
            sync_urls,
        })
    }
}

/// The custom event names of ENDCAP_CUSTOM_EVENTS (default `add_to_cart,view_through`),
/// each checked and listed once.
fn custom_events(layers: &mut Layers, raw: Option<&str>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let raw = match raw {
        Some("none") => "",
        Some(r) => r,
        None => "add_to_cart,view_through",
    };
    for name in pairs(raw) {
        if !endcap_tracking::valid_event_name(name) {
            layers.error(format!(
                "ENDCAP_CUSTOM_EVENTS / custom_events: {name:?} is not 1-32 of a-z, 0-9 and _ (impression and click are built in)"
            ));
        } else if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const KEYS: (&str, &str) = ("ENDCAP_SIGNING_KEYS", "k1:0123456789abcdef");

    #[test]
    fn signing_keys_are_required_and_checked() {
        let errs = Settings::resolve(&Cli::default(), &env(&[]), None).unwrap_err();
        assert!(errs[0].contains("ENDCAP_SIGNING_KEYS"));
        let errs = Settings::resolve(
            &Cli::default(),
            &env(&[("ENDCAP_SIGNING_KEYS", "k1:short")]),
            None,
        )
        .unwrap_err();
        assert!(errs[0].contains("at least 16"), "{errs:?}");
    }

    #[test]
    fn tokens_are_compact_unless_json_is_asked_for() {
        use endcap_tracking::TokenFormat;
        let s = Settings::resolve(&Cli::default(), &env(&[KEYS]), None).unwrap();
        assert_eq!(s.signing_keys.format(), TokenFormat::Compact);
        let json = ("ENDCAP_TOKEN_FORMAT", "json");
        let s = Settings::resolve(&Cli::default(), &env(&[KEYS, json]), None).unwrap();
        assert_eq!(s.signing_keys.format(), TokenFormat::Json);
        let bad = ("ENDCAP_TOKEN_FORMAT", "binary");
        let errs = Settings::resolve(&Cli::default(), &env(&[KEYS, bad]), None).unwrap_err();
        assert!(
            errs.iter()
                .any(|e| e.contains("ENDCAP_TOKEN_FORMAT") && e.contains("binary")),
            "{errs:?}"
        );
    }

    #[test]
    fn events_flush_often_to_files_and_in_large_inserts_to_clickhouse() {
        let s = Settings::resolve(&Cli::default(), &env(&[KEYS]), None).unwrap();
        assert_eq!(s.event_flush, Duration::from_millis(10));
        let ch = ("ENDCAP_CLICKHOUSE", "http://127.0.0.1:8123");
        let s = Settings::resolve(&Cli::default(), &env(&[KEYS, ch]), None).unwrap();
        assert_eq!(s.event_flush, Duration::from_millis(500));
        let set = ("ENDCAP_EVENT_FLUSH_MS", "250");
        let s = Settings::resolve(&Cli::default(), &env(&[KEYS, set]), None).unwrap();
        assert_eq!(s.event_flush, Duration::from_millis(250));
    }

    #[test]
    fn clickhouse_wins_over_files_and_files_are_the_default() {
        let s = Settings::resolve(&Cli::default(), &env(&[KEYS]), None).unwrap();
        assert_eq!(s.events, EventTarget::Files(PathBuf::from("endcap-events")));
        let s = Settings::resolve(
            &Cli::default(),
            &env(&[
                KEYS,
                ("ENDCAP_CLICKHOUSE", "http://127.0.0.1:8123"),
                ("ENDCAP_EVENT_DIR", "/tmp/x"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(
            s.events,
            EventTarget::ClickHouse("http://127.0.0.1:8123".into())
        );
    }

    #[test]
    fn the_demos_signing_secret_needs_demo() {
        let demo_keys = ("ENDCAP_SIGNING_KEYS", "demo1:demo-signing-secret-change-me");
        let errs = Settings::resolve(&Cli::default(), &env(&[demo_keys]), None).unwrap_err();
        assert!(errs.iter().any(|e| e.contains("--demo")), "{errs:?}");
        let mut cli = Cli::default();
        cli.common.demo = true;
        assert!(Settings::resolve(&cli, &env(&[demo_keys]), None).is_ok());
    }

    #[test]
    fn the_tcf_vendor_id_is_optional_and_checked() {
        let s = Settings::resolve(&Cli::default(), &env(&[KEYS]), None).unwrap();
        assert_eq!(
            s.tcf_vendor_id, None,
            "no vendor id: GDPR requests stay contextual"
        );
        let s = Settings::resolve(
            &Cli::default(),
            &env(&[KEYS, ("ENDCAP_TCF_VENDOR_ID", "755")]),
            None,
        )
        .unwrap();
        assert_eq!(s.tcf_vendor_id, Some(755));
        for bad in ["0", "65536", "ours"] {
            let errs = Settings::resolve(
                &Cli::default(),
                &env(&[KEYS, ("ENDCAP_TCF_VENDOR_ID", bad)]),
                None,
            )
            .unwrap_err();
            assert!(
                errs.iter().any(|e| e.contains("ENDCAP_TCF_VENDOR_ID")),
                "{bad}: {errs:?}"
            );
        }
    }

    #[test]
    fn custom_events_default_to_add_to_cart_and_view_through_and_bad_names_are_named() {
        let s = Settings::resolve(&Cli::default(), &env(&[KEYS]), None).unwrap();
        assert_eq!(s.custom_events, ["add_to_cart", "view_through"]);
        let s = Settings::resolve(
            &Cli::default(),
            &env(&[
                KEYS,
                ("ENDCAP_CUSTOM_EVENTS", "wishlist, wishlist,video_50"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(s.custom_events, ["wishlist", "video_50"]);
        let s = Settings::resolve(
            &Cli::default(),
            &env(&[KEYS, ("ENDCAP_CUSTOM_EVENTS", "none")]),
            None,
        )
        .unwrap();
        assert!(s.custom_events.is_empty());
        let errs = Settings::resolve(
            &Cli::default(),
            &env(&[KEYS, ("ENDCAP_CUSTOM_EVENTS", "Add-To-Cart,click")]),
            None,
        )
        .unwrap_err();
        assert_eq!(
            errs.iter()
                .filter(|e| e.contains("ENDCAP_CUSTOM_EVENTS"))
                .count(),
            2,
            "{errs:?}"
        );
    }

    #[test]
    fn sync_urls_name_configured_exchanges_and_carry_the_uid_macro() {
        let adx = ("ENDCAP_EXCHANGES", "adx:exchange-key-0123456789:burl:clear");
        let s = Settings::resolve(
            &Cli::default(),
            &env(&[
                KEYS,
                adx,
                (
                    "ENDCAP_EXCHANGE_SYNC_URLS",
                    "adx=https://sync.adx.example/m?b=endcap&u=${UID},x",
                ),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(
            s.sync_urls["adx"],
            "https://sync.adx.example/m?b=endcap&u=${UID},x"
        );
        for bad in [
            "other=https://sync.example/?u=${UID}",
            "adx=https://sync.adx.example/no-macro",
            "adx=javascript:alert(1)//${UID}",
        ] {
            let errs = Settings::resolve(
                &Cli::default(),
                &env(&[KEYS, adx, ("ENDCAP_EXCHANGE_SYNC_URLS", bad)]),
                None,
            )
            .unwrap_err();
            assert!(
                errs.iter().any(|e| e.contains("ENDCAP_EXCHANGE_SYNC_URLS")),
                "{bad}: {errs:?}"
            );
        }
    }

    #[test]
    fn exploration_defaults_to_3_percent_and_past_5_is_refused() {
        let s = Settings::resolve(&Cli::default(), &env(&[KEYS]), None).unwrap();
        assert_eq!(s.explore_share, 0.03);
        let errs = Settings::resolve(
            &Cli::default(),
            &env(&[KEYS, ("ENDCAP_EXPLORE_BPS", "900")]),
            None,
        )
        .unwrap_err();
        assert!(
            errs.iter().any(|e| e.contains("ENDCAP_EXPLORE_BPS")),
            "{errs:?}"
        );
    }

    #[test]
    fn money_and_exchange_settings_are_read_and_bad_ones_named() {
        let s = Settings::resolve(
            &Cli::default(),
            &env(&[
                KEYS,
                (
                    "ENDCAP_PLACEMENT_FLOORS",
                    "search-top:500000, offsite:200000",
                ),
                (
                    "ENDCAP_EXCHANGES",
                    "adx:exchange-key-0123456789:adm:hmac-sha1/AAAA/BBBB",
                ),
                ("ENDCAP_TIME_ZONE", "America/Chicago"),
                ("ENDCAP_TAKE_RATE_BPS", "0"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(s.placement_floors.get("search-top"), Some(&500_000));
        assert_eq!(
            s.exchanges["exchange-key-0123456789"].billing,
            BillingNotice::Adm
        );
        assert_eq!(s.clock.name(), "America/Chicago");
        assert_eq!(s.take_rate.bps(), 0);
        assert!(
            !s.open_endpoints,
            "decisions and bids need keys unless opened"
        );
        let errs = Settings::resolve(
            &Cli::default(),
            &env(&[
                KEYS,
                ("ENDCAP_PLACEMENT_FLOORS", "search-top"),
                (
                    "ENDCAP_EXCHANGES",
                    "adx:short:burl:clear,b:exchange-key-0123456789:adm:clear",
                ),
                ("ENDCAP_TIME_ZONE", "Mars/Base"),
                ("ENDCAP_TAKE_RATE_BPS", "10000"),
                ("ENDCAP_FX_RATES", "EUR:zero"),
            ]),
            None,
        )
        .unwrap_err();
        for needle in [
            "PLACEMENT_FLOORS",
            "EXCHANGES",
            "TIME_ZONE",
            "TAKE_RATE",
            "FX_RATES",
        ] {
            assert!(
                errs.iter().any(|e| e.contains(needle)),
                "{needle} in {errs:?}"
            );
        }
    }
}
