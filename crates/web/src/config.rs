//! Layered service settings: flags win over `ENDCAP_*` environment variables, which win over
//! the TOML `--config` file. The environment arrives as a map (this crate reads none), every
//! problem is collected and reported at once naming its flag, variable or key, and file keys
//! no service claimed are refused.

use clap::Args;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The flags every service shares (docs/ARCHITECTURE.md, service command lines).
#[derive(Debug, Clone, Default, Args)]
pub struct CommonArgs {
    /// Address to listen on (ENDCAP_LISTEN; default 127.0.0.1:8080; port 0 picks a free one).
    #[arg(long)]
    pub listen: Option<String>,
    /// Campaign store: sqlite://PATH or postgres://... (ENDCAP_DATABASE; default sqlite://endcap.db).
    #[arg(long)]
    pub database: Option<String>,
    /// ClickHouse HTTP URL, `http://host:8123[?database=NAME]` (ENDCAP_CLICKHOUSE).
    #[arg(long)]
    pub clickhouse: Option<String>,
    /// Redis URL, `redis://host:6379/N` (ENDCAP_REDIS).
    #[arg(long)]
    pub redis: Option<String>,
    /// Local event log directory, the embedded default for ClickHouse (ENDCAP_EVENT_DIR).
    #[arg(long)]
    pub event_dir: Option<PathBuf>,
    /// Disk spool for events the event log could not take (ENDCAP_SPOOL_DIR; default
    /// `<event dir>/spool`, or `endcap-spool` with ClickHouse).
    #[arg(long)]
    pub spool_dir: Option<PathBuf>,
    /// TOML file with any of the settings, by their flag names with `_` for `-`.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Run as the demo: accept the keys and secrets the demo publishes (refused otherwise,
    /// since anyone can read them).
    #[arg(long)]
    pub demo: bool,
}

/// Values the demo publishes in its script and README. Anyone can read them, so a service
/// refuses them as keys, secrets or salts unless started with `--demo`.
pub const PUBLISHED_DEMO_SECRETS: [&str; 4] = [
    "demo-admin-key-change-me",
    "demo-signing-secret-change-me",
    "demo-salt-change-me-0001",
    "demo-advertiser-key-0001",
];

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The settings every service shares, resolved.
#[derive(Debug, Clone)]
pub struct Common {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Campaign store URL.
    pub database: String,
    /// ClickHouse URL, if any.
    pub clickhouse: Option<String>,
    /// Redis URL, if any.
    pub redis: Option<String>,
    /// Local event directory, if any.
    pub event_dir: Option<PathBuf>,
    /// Event spool directory, if configured.
    pub spool_dir: Option<PathBuf>,
    /// HTTP worker threads (ENDCAP_WORKERS / workers, default 2).
    pub workers: usize,
    /// Log filter (RUST_LOG syntax, default `info`).
    pub log_filter: String,
    /// Log format (ENDCAP_LOG_FORMAT / log_format: text or json).
    pub log_format: LogFormat,
    /// The retailer's time zone (ENDCAP_TIME_ZONE / time_zone, an IANA name, default UTC):
    /// its days are the accounting days of budgets and reports, and its stores' local time
    /// places date-only receipts.
    pub time_zone: chrono_tz::Tz,
    /// Started with `--demo`: the demo's published secrets are accepted.
    pub demo: bool,
    /// Where `/metrics` is served instead of the main listener (ENDCAP_METRICS_LISTEN /
    /// metrics_listen), so scrapers reach an admin network and the public does not.
    pub metrics_listen: Option<SocketAddr>,
}

/// Reads the `--config` file named in `args` (if any) and hands its text to `resolve`,
/// which layers it under the environment and flags. Every problem comes back in one
/// message, a line each, ready to print.
pub fn load<S>(
    args: &CommonArgs,
    resolve: impl FnOnce(Option<&str>) -> Result<S, Vec<String>>,
) -> Result<S, String> {
    let text = match &args.config {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .map_err(|e| format!("failed to read config file {}: {e}", p.display()))?,
        ),
        None => None,
    };
    resolve(text.as_deref())
        .map_err(|errs| format!("invalid configuration:\n  {}", errs.join("\n  ")))
}

/// Sets up logging as the shared settings say.
pub fn init_logging(common: &Common) -> Result<(), String> {
    crate::init_tracing(&common.log_filter, common.log_format == LogFormat::Json)
        .map_err(|e| format!("failed to set up logging: {e}"))
}

/// The three layers being read, and the problems found so far.
pub struct Layers<'a> {
    env: &'a HashMap<String, String>,
    file: toml::Table,
    errors: Vec<String>,
}

impl<'a> Layers<'a> {
    /// Starts reading; a config file that is not valid TOML is the first error.
    pub fn new(env: &'a HashMap<String, String>, file_text: Option<&str>) -> Self {
        let mut errors = Vec::new();
        let file = match file_text.map(str::parse::<toml::Table>) {
            Some(Ok(t)) => t,
            Some(Err(e)) => {
                errors.push(format!("config file: {}", e.message()));
                toml::Table::new()
            }
            None => toml::Table::new(),
        };
        Self { env, file, errors }
    }

    /// Records a problem.
    pub fn error(&mut self, message: impl Into<String>) {
        self.errors.push(message.into());
    }

    /// A non-empty environment variable.
    pub fn env(&self, var: &str) -> Option<String> {
        self.env.get(var).filter(|v| !v.is_empty()).cloned()
    }

    /// A text setting: the flag, else the variable, else the file key.
    pub fn text(&mut self, flag: Option<&str>, var: &str, key: &str) -> Option<String> {
        let from_file = self.file.remove(key);
        if let Some(f) = flag {
            return Some(f.to_string());
        }
        if let Some(v) = self.env(var) {
            return Some(v);
        }
        match from_file {
            Some(toml::Value::String(s)) => Some(s),
            Some(other) => {
                self.error(format!(
                    "config file: {key} must be a string, not {}",
                    other.type_str()
                ));
                None
            }
            None => None,
        }
    }

    /// A whole number setting from the variable or the file key, `> 0`.
    pub fn count(&mut self, var: &str, key: &str) -> Option<u64> {
        self.whole(var, key, 1)
    }

    /// A whole number setting from the variable or the file key, `>= 0`.
    pub fn amount(&mut self, var: &str, key: &str) -> Option<u64> {
        self.whole(var, key, 0)
    }

    /// A whole number of at least `min` from the variable or the file key.
    fn whole(&mut self, var: &str, key: &str, min: u64) -> Option<u64> {
        let from_file = self.file.remove(key);
        let raw = match (self.env(var), from_file) {
            (Some(v), _) => v,
            (None, Some(toml::Value::Integer(i))) => i.to_string(),
            (None, Some(toml::Value::String(s))) => s,
            (None, Some(other)) => format!("a {}", other.type_str()),
            (None, None) => return None,
        };
        match raw.parse::<u64>() {
            Ok(n) if n >= min => Some(n),
            _ => {
                let bound = if min == 0 { ">= 0" } else { "> 0" };
                self.error(format!(
                    "{var} / {key}: {raw:?} must be a whole number {bound}"
                ));
                None
            }
        }
    }

    /// A yes/no setting (`true`/`false`, `1`/`0`) from the variable or the file key.
    pub fn switch(&mut self, var: &str, key: &str) -> Option<bool> {
        let from_file = self.file.remove(key);
        let raw = match (self.env(var), from_file) {
            (Some(v), _) => v,
            (None, Some(toml::Value::Boolean(b))) => return Some(b),
            (None, Some(toml::Value::String(s))) => s,
            (None, Some(other)) => format!("a {}", other.type_str()),
            (None, None) => return None,
        };
        match raw.as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => {
                self.error(format!("{var} / {key}: {raw:?} must be true or false"));
                None
            }
        }
    }

    /// The shared settings.
    pub fn common(&mut self, args: &CommonArgs) -> Common {
        let listen_raw = self
            .text(args.listen.as_deref(), "ENDCAP_LISTEN", "listen")
            .unwrap_or_else(|| "127.0.0.1:8080".to_string());
        let listen = listen_raw.parse::<SocketAddr>().unwrap_or_else(|_| {
            self.error(format!(
                "--listen / ENDCAP_LISTEN / listen: {listen_raw:?} is not an address like 127.0.0.1:8080"
            ));
            SocketAddr::from(([127, 0, 0, 1], 8080))
        });
        let database = self
            .text(args.database.as_deref(), "ENDCAP_DATABASE", "database")
            .unwrap_or_else(|| "sqlite://endcap.db".to_string());
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|p| database.starts_with(p))
        {
            self.error(format!(
                "--database / ENDCAP_DATABASE / database: {database:?} must start with sqlite:// or postgres://"
            ));
        }
        let clickhouse = self.text(
            args.clickhouse.as_deref(),
            "ENDCAP_CLICKHOUSE",
            "clickhouse",
        );
        if let Some(c) = clickhouse
            .as_ref()
            .filter(|c| !c.starts_with("http://") && !c.starts_with("https://"))
        {
            self.error(format!(
                "--clickhouse / ENDCAP_CLICKHOUSE / clickhouse: {c:?} must be an http(s) URL"
            ));
        }
        let redis = self.text(args.redis.as_deref(), "ENDCAP_REDIS", "redis");
        if let Some(r) = redis
            .as_ref()
            .filter(|r| !r.starts_with("redis://") && !r.starts_with("rediss://"))
        {
            self.error(format!(
                "--redis / ENDCAP_REDIS / redis: {r:?} must be a redis:// URL"
            ));
        }
        let event_dir = self
            .text(
                args.event_dir.as_ref().and_then(|p| p.to_str()),
                "ENDCAP_EVENT_DIR",
                "event_dir",
            )
            .map(PathBuf::from);
        let spool_dir = self
            .text(
                args.spool_dir.as_ref().and_then(|p| p.to_str()),
                "ENDCAP_SPOOL_DIR",
                "spool_dir",
            )
            .map(PathBuf::from);
        let workers = self.count("ENDCAP_WORKERS", "workers").unwrap_or(2) as usize;
        let log_format = match self
            .text(None, "ENDCAP_LOG_FORMAT", "log_format")
            .as_deref()
        {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                self.error(format!(
                    "ENDCAP_LOG_FORMAT / log_format: {other:?} must be one of: text, json"
                ));
                LogFormat::Text
            }
        };
        let tz = self
            .text(None, "ENDCAP_TIME_ZONE", "time_zone")
            .unwrap_or_else(|| "UTC".into());
        let time_zone = tz.parse::<chrono_tz::Tz>().unwrap_or_else(|_| {
            self.error(format!(
                "ENDCAP_TIME_ZONE / time_zone: {tz:?} is not an IANA time zone like Europe/Paris"
            ));
            chrono_tz::Tz::UTC
        });
        let metrics_listen = self
            .text(None, "ENDCAP_METRICS_LISTEN", "metrics_listen")
            .and_then(|raw| match raw.parse::<SocketAddr>() {
                Ok(a) => Some(a),
                Err(_) => {
                    self.error(format!(
                        "ENDCAP_METRICS_LISTEN / metrics_listen: {raw:?} is not an address like 127.0.0.1:9100"
                    ));
                    None
                }
            });
        Common {
            metrics_listen,
            demo: args.demo,
            time_zone,
            listen,
            database,
            clickhouse,
            redis,
            event_dir,
            spool_dir,
            workers,
            log_filter: self.env("RUST_LOG").unwrap_or_else(|| "info".to_string()),
            log_format,
        }
    }

    /// A secret from the variable `var`: at least `min_len` bytes, and not one of the demo's
    /// published values unless `demo` (both are errors naming the variable, never the value).
    pub fn secret(&mut self, var: &str, min_len: usize, demo: bool) -> Option<endcap_core::Secret> {
        let value = self.env(var)?;
        if value.len() < min_len {
            self.error(format!("{var} must be at least {min_len} characters"));
        }
        self.refuse_published(var, &value, demo);
        Some(endcap_core::Secret::new(value))
    }

    /// Errors when `value` holds one of the demo's published secrets and this is not the
    /// demo.
    pub fn refuse_published(&mut self, var: &str, value: &str, demo: bool) {
        if !demo && PUBLISHED_DEMO_SECRETS.iter().any(|d| value.contains(d)) {
            self.error(format!(
                "{var} holds a value the demo publishes (anyone can read it): set your own, or \
                 pass --demo to run the demo"
            ));
        }
    }

    /// Ends reading: file keys nobody asked for are errors (typos must not pass silently).
    pub fn finish(mut self) -> Result<(), Vec<String>> {
        let unknown: Vec<String> = self.file.keys().cloned().collect();
        for k in unknown {
            self.errors.push(format!("config file: unknown key {k:?}"));
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
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
        let args = CommonArgs {
            listen: Some("127.0.0.1:9001".into()),
            ..Default::default()
        };
        let file = "listen = \"127.0.0.1:9003\"\ndatabase = \"sqlite://file.db\"\nworkers = 3";
        let e = env(&[
            ("ENDCAP_LISTEN", "127.0.0.1:9002"),
            ("ENDCAP_DATABASE", "sqlite://env.db"),
        ]);
        let mut l = Layers::new(&e, Some(file));
        let c = l.common(&args);
        l.finish().unwrap();
        assert_eq!(
            (c.listen.port(), c.database.as_str(), c.workers),
            (9001, "sqlite://env.db", 3)
        );
        let empty = env(&[]);
        let mut l = Layers::new(&empty, Some(file));
        let c = l.common(&CommonArgs::default());
        assert_eq!(
            (c.listen.port(), c.database.as_str()),
            (9003, "sqlite://file.db")
        );
    }

    #[test]
    fn defaults_are_the_embedded_ones() {
        let e = env(&[]);
        let mut l = Layers::new(&e, None);
        let c = l.common(&CommonArgs::default());
        assert!(l.finish().is_ok());
        assert_eq!(
            (c.database.as_str(), c.listen.to_string().as_str()),
            ("sqlite://endcap.db", "127.0.0.1:8080")
        );
        assert!(c.clickhouse.is_none() && c.redis.is_none() && c.event_dir.is_none());
    }

    #[test]
    fn every_problem_is_reported_at_once_naming_its_source() {
        let args = CommonArgs {
            listen: Some("nowhere".into()),
            database: Some("mysql://x".into()),
            ..Default::default()
        };
        let e = env(&[("ENDCAP_LOG_FORMAT", "xml"), ("ENDCAP_WORKERS", "0")]);
        let mut l = Layers::new(&e, Some("lisen = \"x\""));
        l.common(&args);
        let errs = l.finish().unwrap_err();
        assert_eq!(errs.len(), 5, "{errs:?}");
        for needle in [
            "--listen",
            "--database",
            "ENDCAP_LOG_FORMAT",
            "ENDCAP_WORKERS",
            "lisen",
        ] {
            assert!(
                errs.iter().any(|e| e.contains(needle)),
                "{needle} in {errs:?}"
            );
        }
    }
}
