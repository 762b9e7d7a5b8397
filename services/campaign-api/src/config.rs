//! Settings from flags, `ENDCAP_*` environment variables and an optional TOML file:
//! flags win over the environment, the environment over the file. Every problem is
//! reported at once, each naming its flag, variable or key.

use clap::Parser;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Command line of `campaign-api`.
#[derive(Debug, Clone, Default, Parser)]
#[command(name = "campaign-api", about = "Endcap's advertiser API")]
pub struct Cli {
    /// Address to listen on (ENDCAP_LISTEN; default 127.0.0.1:8080; port 0 picks a free one).
    #[arg(long)]
    pub listen: Option<String>,
    /// Campaign store: sqlite://PATH or postgres://... (ENDCAP_DATABASE; default sqlite://endcap.db).
    #[arg(long)]
    pub database: Option<String>,
    /// ClickHouse HTTP URL for events and reports (ENDCAP_CLICKHOUSE).
    #[arg(long)]
    pub clickhouse: Option<String>,
    /// Redis URL for audience segments (ENDCAP_REDIS).
    #[arg(long)]
    pub redis: Option<String>,
    /// Local event log directory, the embedded default for ClickHouse (ENDCAP_EVENT_DIR).
    #[arg(long)]
    pub event_dir: Option<PathBuf>,
    /// TOML file with any of: listen, database, clickhouse, redis, event_dir, workers, log_format.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Create a demo advertiser whose API key is ENDCAP_DEMO_ADVERTISER_KEY (idempotent).
    #[arg(long)]
    pub seed_demo: bool,
    /// Print the OpenAPI document and exit.
    #[arg(long)]
    pub print_openapi: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    database: Option<String>,
    clickhouse: Option<String>,
    redis: Option<String>,
    event_dir: Option<PathBuf>,
    workers: Option<usize>,
    log_format: Option<String>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The resolved settings the service runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Campaign store URL.
    pub database: String,
    /// ClickHouse URL (not used by the campaign API yet: reports arrive with the event pipeline).
    pub clickhouse: Option<String>,
    /// Redis URL (not used by the campaign API yet: segment uploads arrive with the event pipeline).
    pub redis: Option<String>,
    /// Local event log directory (likewise).
    pub event_dir: Option<PathBuf>,
    /// HTTP worker threads.
    pub workers: usize,
    /// Bootstrap admin key (ENDCAP_ADMIN_KEY), at least 16 characters.
    pub admin_key: Option<String>,
    /// Key of the demo advertiser, when seeding it.
    pub demo_advertiser_key: Option<String>,
    /// Log filter (RUST_LOG syntax).
    pub log_filter: String,
    /// Log format (ENDCAP_LOG_FORMAT: text or json).
    pub log_format: LogFormat,
}

/// Default key of the seeded demo advertiser; only ever used with `--seed-demo`.
pub const DEMO_ADVERTISER_KEY: &str = "demo-advertiser-key-0001";
const MIN_KEY_LEN: usize = 16;

impl Settings {
    /// Resolves settings from the command line, an environment map and the config file's
    /// text (if one was given), returning every problem found.
    pub fn resolve(
        cli: &Cli,
        env: &HashMap<String, String>,
        file_text: Option<&str>,
    ) -> Result<Settings, Vec<String>> {
        let mut errors = Vec::new();
        let file: FileSettings = match file_text {
            Some(t) => toml::from_str(t).unwrap_or_else(|e| {
                errors.push(format!("config file: {}", e.message()));
                FileSettings::default()
            }),
            None => FileSettings::default(),
        };
        let env_get = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
        let pick = |flag: &Option<String>, var: &str, file: &Option<String>| {
            flag.clone()
                .or_else(|| env_get(var))
                .or_else(|| file.clone())
        };

        let listen_raw = pick(&cli.listen, "ENDCAP_LISTEN", &file.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".to_string());
        let listen = listen_raw.parse::<SocketAddr>().unwrap_or_else(|_| {
            errors.push(format!(
                "--listen / ENDCAP_LISTEN / listen: {listen_raw:?} is not an address like 127.0.0.1:8080"
            ));
            SocketAddr::from(([127, 0, 0, 1], 8080))
        });
        let database = pick(&cli.database, "ENDCAP_DATABASE", &file.database)
            .unwrap_or_else(|| "sqlite://endcap.db".to_string());
        if !(database.starts_with("sqlite:")
            || database.starts_with("postgres://")
            || database.starts_with("postgresql://"))
        {
            errors.push(format!(
                "--database / ENDCAP_DATABASE / database: {database:?} must start with sqlite:// or postgres://"
            ));
        }
        let clickhouse = pick(&cli.clickhouse, "ENDCAP_CLICKHOUSE", &file.clickhouse);
        if let Some(c) = &clickhouse {
            if !(c.starts_with("http://") || c.starts_with("https://")) {
                errors.push(format!(
                    "--clickhouse / ENDCAP_CLICKHOUSE / clickhouse: {c:?} must be an http(s) URL"
                ));
            }
        }
        let redis = pick(&cli.redis, "ENDCAP_REDIS", &file.redis);
        if let Some(r) = &redis {
            if !(r.starts_with("redis://") || r.starts_with("rediss://")) {
                errors.push(format!(
                    "--redis / ENDCAP_REDIS / redis: {r:?} must be a redis:// URL"
                ));
            }
        }
        let event_dir = cli
            .event_dir
            .clone()
            .or_else(|| env_get("ENDCAP_EVENT_DIR").map(PathBuf::from))
            .or(file.event_dir);
        let workers = match env_get("ENDCAP_WORKERS") {
            Some(w) => w
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .unwrap_or_else(|| {
                    errors.push(format!("ENDCAP_WORKERS: {w:?} must be a whole number > 0"));
                    1
                }),
            None => file.workers.unwrap_or(2),
        };
        let admin_key = env_get("ENDCAP_ADMIN_KEY");
        if admin_key.as_ref().is_some_and(|k| k.len() < MIN_KEY_LEN) {
            errors.push(format!(
                "ENDCAP_ADMIN_KEY must be at least {MIN_KEY_LEN} characters"
            ));
        }
        let demo_advertiser_key = cli.seed_demo.then(|| {
            env_get("ENDCAP_DEMO_ADVERTISER_KEY").unwrap_or_else(|| DEMO_ADVERTISER_KEY.to_string())
        });
        if demo_advertiser_key
            .as_ref()
            .is_some_and(|k| k.len() < MIN_KEY_LEN)
        {
            errors.push(format!(
                "ENDCAP_DEMO_ADVERTISER_KEY must be at least {MIN_KEY_LEN} characters"
            ));
        }
        let log_format = match env_get("ENDCAP_LOG_FORMAT").or(file.log_format).as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                errors.push(format!(
                    "ENDCAP_LOG_FORMAT / log_format: {other:?} must be one of: text, json"
                ));
                LogFormat::Text
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Settings {
            listen,
            database,
            clickhouse,
            redis,
            event_dir,
            workers,
            admin_key,
            demo_advertiser_key,
            log_filter: env_get("RUST_LOG").unwrap_or_else(|| "info".to_string()),
            log_format,
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
    fn flags_beat_env_and_env_beats_file() {
        let cli = Cli {
            listen: Some("127.0.0.1:9001".into()),
            ..Default::default()
        };
        let file = "listen = \"127.0.0.1:9003\"\ndatabase = \"sqlite://file.db\"";
        let e = env(&[
            ("ENDCAP_LISTEN", "127.0.0.1:9002"),
            ("ENDCAP_DATABASE", "sqlite://env.db"),
        ]);
        let s = Settings::resolve(&cli, &e, Some(file)).unwrap();
        assert_eq!(s.listen.port(), 9001);
        assert_eq!(s.database, "sqlite://env.db");
        let s = Settings::resolve(&Cli::default(), &env(&[]), Some(file)).unwrap();
        assert_eq!(
            (s.listen.port(), s.database.as_str()),
            (9003, "sqlite://file.db")
        );
    }

    #[test]
    fn defaults_are_the_embedded_ones() {
        let s = Settings::resolve(&Cli::default(), &env(&[]), None).unwrap();
        assert_eq!(s.database, "sqlite://endcap.db");
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert!(s.clickhouse.is_none() && s.redis.is_none());
    }

    #[test]
    fn every_problem_is_reported_at_once_naming_its_source() {
        let cli = Cli {
            listen: Some("nowhere".into()),
            database: Some("mysql://x".into()),
            ..Default::default()
        };
        let e = env(&[("ENDCAP_ADMIN_KEY", "short"), ("ENDCAP_LOG_FORMAT", "xml")]);
        let errs = Settings::resolve(&cli, &e, None).unwrap_err();
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert!(errs[0].contains("--listen"));
        assert!(errs.iter().any(|e| e.contains("ENDCAP_ADMIN_KEY")));
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let errs =
            Settings::resolve(&Cli::default(), &env(&[]), Some("lisen = \"x\"")).unwrap_err();
        assert!(errs[0].contains("lisen"), "{errs:?}");
    }
}
