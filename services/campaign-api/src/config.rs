//! `campaign-api` settings: the shared layers (flags > `ENDCAP_*` > TOML file) plus the keys
//! this service bootstraps.

use clap::Parser;
use endcap_web::config::{Common, CommonArgs, Layers};
use std::collections::HashMap;

/// Command line of `campaign-api`.
#[derive(Debug, Clone, Default, Parser)]
#[command(name = "campaign-api", about = "Endcap's advertiser API")]
pub struct Cli {
    /// Flags every service shares.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Create a demo advertiser whose API key is ENDCAP_DEMO_ADVERTISER_KEY (idempotent).
    #[arg(long)]
    pub seed_demo: bool,
    /// Print the OpenAPI document and exit.
    #[arg(long)]
    pub print_openapi: bool,
}

/// The resolved settings the service runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Shared settings: the store, where receipts go (ClickHouse or files), Redis for
    /// segment members (in-process without it).
    pub common: Common,
    /// Bootstrap admin key (ENDCAP_ADMIN_KEY), at least 16 characters.
    pub admin_key: Option<String>,
    /// Key of the demo advertiser, when seeding it.
    pub demo_advertiser_key: Option<String>,
    /// Salt for hashing raw loyalty ids on upload (ENDCAP_CUSTOMER_KEY_SALT, 16+ characters);
    /// without it, uploads must carry SHA-256 customer keys.
    pub customer_key_salt: Option<String>,
    /// The marketplace currency (ENDCAP_CURRENCY, default USD): advertisers in another one
    /// are refused.
    pub currency: endcap_core::Currency,
    /// Fewest customers in a lift arm before reports show its figures
    /// (ENDCAP_PRIVACY_MIN_CUSTOMERS, default 50).
    pub privacy_min_customers: u64,
}

/// Default key of the seeded demo advertiser; only ever used with `--seed-demo`.
pub const DEMO_ADVERTISER_KEY: &str = "demo-advertiser-key-0001";
/// Shortest API key accepted from configuration.
pub const MIN_KEY_LEN: usize = 16;

impl Settings {
    /// Resolves settings from the command line, an environment map and the config file's
    /// text (if one was given), returning every problem found.
    pub fn resolve(
        cli: &Cli,
        env: &HashMap<String, String>,
        file_text: Option<&str>,
    ) -> Result<Settings, Vec<String>> {
        let mut layers = Layers::new(env, file_text);
        let common = layers.common(&cli.common);
        let admin_key = layers.env("ENDCAP_ADMIN_KEY");
        if admin_key.as_ref().is_some_and(|k| k.len() < MIN_KEY_LEN) {
            layers.error(format!(
                "ENDCAP_ADMIN_KEY must be at least {MIN_KEY_LEN} characters"
            ));
        }
        let demo_advertiser_key = cli.seed_demo.then(|| {
            layers
                .env("ENDCAP_DEMO_ADVERTISER_KEY")
                .unwrap_or_else(|| DEMO_ADVERTISER_KEY.to_string())
        });
        if demo_advertiser_key
            .as_ref()
            .is_some_and(|k| k.len() < MIN_KEY_LEN)
        {
            layers.error(format!(
                "ENDCAP_DEMO_ADVERTISER_KEY must be at least {MIN_KEY_LEN} characters"
            ));
        }
        let customer_key_salt = layers.env("ENDCAP_CUSTOMER_KEY_SALT");
        if customer_key_salt
            .as_ref()
            .is_some_and(|k| k.len() < MIN_KEY_LEN)
        {
            layers.error(format!(
                "ENDCAP_CUSTOMER_KEY_SALT must be at least {MIN_KEY_LEN} characters"
            ));
        }
        let raw = layers
            .text(None, "ENDCAP_CURRENCY", "currency")
            .unwrap_or_else(|| "USD".into());
        let currency = endcap_core::Currency::parse(&raw, "currency").unwrap_or_else(|_| {
            layers.error(format!(
                "ENDCAP_CURRENCY / currency: {raw:?} is not an ISO 4217 code"
            ));
            endcap_core::Currency::parse("USD", "currency").unwrap_or_else(|_| unreachable!())
        });
        let privacy_min_customers = layers
            .count("ENDCAP_PRIVACY_MIN_CUSTOMERS", "privacy_min_customers")
            .unwrap_or(endcap_reports::DEFAULT_MIN_CUSTOMERS);
        layers.finish()?;
        Ok(Settings {
            privacy_min_customers,
            common,
            admin_key,
            demo_advertiser_key,
            customer_key_salt,
            currency,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_bootstrap_keys_are_refused() {
        let env: HashMap<String, String> =
            [("ENDCAP_ADMIN_KEY".to_string(), "short".to_string())].into();
        let errs = Settings::resolve(&Cli::default(), &env, None).unwrap_err();
        assert!(errs[0].contains("ENDCAP_ADMIN_KEY"), "{errs:?}");
    }

    #[test]
    fn the_demo_key_is_only_set_when_seeding() {
        let env = HashMap::new();
        assert!(Settings::resolve(&Cli::default(), &env, None)
            .unwrap()
            .demo_advertiser_key
            .is_none());
        let cli = Cli {
            seed_demo: true,
            ..Default::default()
        };
        let s = Settings::resolve(&cli, &env, None).unwrap();
        assert_eq!(s.demo_advertiser_key.as_deref(), Some(DEMO_ADVERTISER_KEY));
    }
}
