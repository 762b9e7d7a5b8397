//! `ad-server` settings: the shared layers plus signing keys and tracking horizons.

use clap::Parser;
use endcap_events::EventTarget;
use endcap_tracking::KeyRing;
use endcap_web::config::{Common, CommonArgs, Layers};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

/// Command line of `ad-server`.
#[derive(Debug, Clone, Default, Parser)]
#[command(name = "ad-server", about = "Endcap's ad server")]
pub struct Cli {
    /// Flags every service shares.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Directory of the CTR model (ENDCAP_MODEL_DIR; used once the CTR model lands).
    #[arg(long)]
    pub model_dir: Option<PathBuf>,
}

/// The resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Shared settings.
    pub common: Common,
    /// Tracking token keys (ENDCAP_SIGNING_KEYS, `kid:secret[,kid:secret]`).
    pub signing_keys: KeyRing,
    /// Oldest token accepted (ENDCAP_TOKEN_MAX_AGE_SECS, default 7 days).
    pub token_max_age: Duration,
    /// How long an event id is remembered for de-duplication (ENDCAP_DEDUP_HORIZON_SECS,
    /// default 1 day); ClickHouse's keys catch what falls outside it.
    pub dedup_horizon: Duration,
    /// Event destination.
    pub events: EventTarget,
    /// Spool directory.
    pub spool_dir: PathBuf,
    /// CTR model directory.
    pub model_dir: Option<PathBuf>,
    /// Base URL browsers reach this server at, for tracking URLs (ENDCAP_PUBLIC_URL;
    /// default `http://<listen address>`).
    pub public_url: String,
    /// Seconds between index rebuilds (ENDCAP_INDEX_REFRESH_SECS, default 5).
    pub index_refresh: Duration,
    /// Upper bound on OpenRTB `tmax`, ms (ENDCAP_MAX_TMAX_MS, default 100).
    pub max_tmax_ms: u64,
    /// First-price auctions instead of second price (ENDCAP_AUCTION=first|second).
    pub first_price: bool,
    /// The retailer's currency; OpenRTB floors in other currencies are not bid on
    /// (ENDCAP_CURRENCY, default USD).
    pub currency: String,
    /// Reserve eCPM of onsite placements, micros per mille (ENDCAP_ONSITE_FLOOR_CPM_MICROS,
    /// default 100,000 = 0.10 per thousand): a lone bidder pays this, not nothing.
    pub onsite_floor_cpm_micros: i64,
    /// How long a user's segments stay cached (ENDCAP_SEGMENT_CACHE_TTL_SECS, default 60)
    /// and how many users are cached (ENDCAP_SEGMENT_CACHE_USERS, default 1,000,000).
    pub segment_cache: (Duration, u64),
    /// Placements that may show one advertiser more than once per request
    /// (ENDCAP_REPEAT_ADVERTISER_PLACEMENTS, comma separated; default none).
    pub repeat_placements: Vec<String>,
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
        let signing_keys = match keys.as_deref().map(KeyRing::parse) {
            Some(Ok(k)) => Some(k),
            Some(Err(e)) => {
                layers.error(format!("ENDCAP_SIGNING_KEYS: {e}"));
                None
            }
            None => {
                layers.error("ENDCAP_SIGNING_KEYS is required: kid:secret[,kid:secret], secrets of 16+ bytes");
                None
            }
        };
        let token_max_age = Duration::from_secs(
            layers
                .count("ENDCAP_TOKEN_MAX_AGE_SECS", "token_max_age_secs")
                .unwrap_or(7 * 24 * 3600),
        );
        let dedup_horizon = Duration::from_secs(
            layers
                .count("ENDCAP_DEDUP_HORIZON_SECS", "dedup_horizon_secs")
                .unwrap_or(24 * 3600),
        );
        let model_dir = layers
            .text(
                cli.model_dir.as_ref().and_then(|p| p.to_str()),
                "ENDCAP_MODEL_DIR",
                "model_dir",
            )
            .map(PathBuf::from);
        let events = EventTarget::choose(common.clickhouse.as_deref(), common.event_dir.as_deref());
        let spool_dir = common
            .spool_dir
            .clone()
            .unwrap_or_else(|| events.default_spool_dir());
        let public_url = layers
            .text(None, "ENDCAP_PUBLIC_URL", "public_url")
            .unwrap_or_else(|| format!("http://{}", common.listen))
            .trim_end_matches('/')
            .to_string();
        let index_refresh = Duration::from_secs(
            layers
                .count("ENDCAP_INDEX_REFRESH_SECS", "index_refresh_secs")
                .unwrap_or(5),
        );
        let max_tmax_ms = layers
            .count("ENDCAP_MAX_TMAX_MS", "max_tmax_ms")
            .unwrap_or(100);
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
        let onsite_floor_cpm_micros = layers
            .count("ENDCAP_ONSITE_FLOOR_CPM_MICROS", "onsite_floor_cpm_micros")
            .unwrap_or(100_000) as i64;
        let segment_cache = (
            Duration::from_secs(
                layers
                    .count("ENDCAP_SEGMENT_CACHE_TTL_SECS", "segment_cache_ttl_secs")
                    .unwrap_or(60),
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
            .map(|v| {
                v.split(',')
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        layers.finish()?;
        let Some(signing_keys) = signing_keys else {
            return Err(vec!["ENDCAP_SIGNING_KEYS is required".into()]);
        };
        Ok(Settings {
            common,
            signing_keys,
            token_max_age,
            dedup_horizon,
            events,
            spool_dir,
            model_dir,
            public_url,
            index_refresh,
            max_tmax_ms,
            first_price,
            currency,
            onsite_floor_cpm_micros,
            segment_cache,
            repeat_placements,
        })
    }
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
    fn clickhouse_wins_over_files_and_files_are_the_default() {
        let keys = ("ENDCAP_SIGNING_KEYS", "k1:0123456789abcdef");
        let s = Settings::resolve(&Cli::default(), &env(&[keys]), None).unwrap();
        assert_eq!(s.events, EventTarget::Files(PathBuf::from("endcap-events")));
        let s = Settings::resolve(
            &Cli::default(),
            &env(&[
                keys,
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
}
