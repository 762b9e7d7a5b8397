//! `campaign-api` settings: the shared layers (flags > `ENDCAP_*` > TOML file) plus the keys
//! this service bootstraps.

use clap::Parser;
use endcap_core::Secret;
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
    /// Bootstrap admin key (ENDCAP_ADMIN_KEY), at least 16 characters; a new one retires
    /// the one before.
    pub admin_key: Option<Secret>,
    /// Key of the demo advertiser, when seeding it.
    pub demo_advertiser_key: Option<Secret>,
    /// Key for HMAC-ing raw loyalty ids on upload (ENDCAP_CUSTOMER_KEY_SALT, 16+ characters);
    /// without it, uploads must carry hashed customer keys.
    pub customer_key_salt: Option<Secret>,
    /// The marketplace currency (ENDCAP_CURRENCY, default USD): advertisers in another one
    /// are refused.
    pub currency: endcap_core::Currency,
    /// Fewest customers in a lift arm before reports show its figures
    /// (ENDCAP_PRIVACY_MIN_CUSTOMERS, default 50).
    pub privacy_min_customers: u64,
    /// The ad server's user-key salt (ENDCAP_USER_KEY_SALT, 16+ characters; unset: empty),
    /// which keys the identity map's external ids (`source` + `external_id`) on upload the
    /// way the ad server keys bid requests' `user.eids`.
    pub user_key_salt: Secret,
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
        let demo = common.demo;
        let admin_key = layers.secret("ENDCAP_ADMIN_KEY", MIN_KEY_LEN, demo);
        let demo_advertiser_key = if cli.seed_demo {
            layers
                .secret("ENDCAP_DEMO_ADVERTISER_KEY", MIN_KEY_LEN, demo)
                .or_else(|| {
                    layers.refuse_published(
                        "--seed-demo's default advertiser key",
                        DEMO_ADVERTISER_KEY,
                        demo,
                    );
                    Some(Secret::new(DEMO_ADVERTISER_KEY))
                })
        } else {
            None
        };
        let customer_key_salt = layers.secret("ENDCAP_CUSTOMER_KEY_SALT", MIN_KEY_LEN, demo);
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
        let user_key_salt = layers
            .secret("ENDCAP_USER_KEY_SALT", MIN_KEY_LEN, demo)
            .unwrap_or_else(|| Secret::new(String::new()));
        layers.finish()?;
        Ok(Settings {
            user_key_salt,
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
        let mut cli = Cli {
            seed_demo: true,
            ..Default::default()
        };
        let errs = Settings::resolve(&cli, &env, None).unwrap_err();
        assert!(errs[0].contains("--demo"), "{errs:?}");
        cli.common.demo = true;
        let s = Settings::resolve(&cli, &env, None).unwrap();
        assert_eq!(
            s.demo_advertiser_key.as_ref().map(Secret::expose),
            Some(DEMO_ADVERTISER_KEY)
        );
    }

    #[test]
    fn the_demos_published_secrets_need_demo_and_never_show_in_settings() {
        let env: HashMap<String, String> = [
            ("ENDCAP_ADMIN_KEY", "demo-admin-key-change-me"),
            ("ENDCAP_CUSTOMER_KEY_SALT", "demo-salt-change-me-0001"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let errs = Settings::resolve(&Cli::default(), &env, None).unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs.iter().all(|e| !e.contains("change-me")),
            "never echoed: {errs:?}"
        );
        let mut cli = Cli::default();
        cli.common.demo = true;
        let s = Settings::resolve(&cli, &env, None).unwrap();
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("demo-admin-key") && !shown.contains("demo-salt"),
            "{shown}"
        );
    }
}
