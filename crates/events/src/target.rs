//! Choosing and opening the event destination.

use crate::{
    apply_schema, ClickHouseConfig, ClickHouseWriter, EventError, FileWriter, Sink, SinkConfig,
    Spool,
};
use std::path::{Path, PathBuf};

/// Where a service's events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventTarget {
    /// ClickHouse at this URL.
    ClickHouse(String),
    /// Append-only NDJSON files in this directory (the embedded default).
    Files(PathBuf),
}

impl EventTarget {
    /// ClickHouse when a URL is configured, else the event directory, else `endcap-events`.
    pub fn choose(clickhouse: Option<&str>, event_dir: Option<&Path>) -> Self {
        match (clickhouse, event_dir) {
            (Some(url), _) => EventTarget::ClickHouse(url.to_string()),
            (None, Some(dir)) => EventTarget::Files(dir.to_path_buf()),
            (None, None) => EventTarget::Files(PathBuf::from("endcap-events")),
        }
    }

    /// The spool directory `service` uses when none is configured: one per service, since
    /// a spool directory has one owning process.
    pub fn default_spool_dir(&self, service: &str) -> PathBuf {
        match self {
            EventTarget::ClickHouse(_) => PathBuf::from("endcap-spool").join(service),
            EventTarget::Files(dir) => dir.join("spool").join(service),
        }
    }
}

/// Opens the sink for a target. A ClickHouse that is down at start does not fail it: events
/// spool until it is back (the schema is applied on the next start).
pub async fn open_sink(
    target: &EventTarget,
    spool_dir: &Path,
    config: SinkConfig,
) -> Result<Sink, EventError> {
    let spool = Spool::open(spool_dir)?;
    Ok(match target {
        EventTarget::ClickHouse(url) => {
            let cfg = ClickHouseConfig::from_url(url)?;
            if let Err(e) = apply_schema(&cfg).await {
                tracing::warn!(error = %e, "could not apply the clickhouse schema; events will spool");
            }
            Sink::start(ClickHouseWriter::new(&cfg), spool, config)
        }
        EventTarget::Files(dir) => Sink::start(FileWriter::open(dir)?, spool, config),
    })
}
