//! Endcap's event log.
//!
//! Everything Endcap measures (impressions, clicks, holdout ghost impressions, online
//! conversions, custom events of placed ads, receipt lines, identity links) enters as an [`Event`] through an [`EventSink`].
//! The sink never blocks its caller: events are queued, batched by size and time, and written
//! by a [`BatchWriter`] — ClickHouse in production, append-only local files by default. A
//! batch the writer refuses goes to a durable, checksummed on-disk [`Spool`] and is replayed
//! in order when the writer is back; replays are idempotent because every ClickHouse table is
//! a ReplacingMergeTree keyed by the event's id (see `schemas/clickhouse/`).
#![warn(missing_docs)]

mod attribution;
mod clickhouse_writer;
mod event;
mod file_writer;
mod ledger;
mod metrics;
mod privacy;
mod retention;
mod schema;
mod sink;
mod spool;
mod target;
mod traffic;
mod training;

pub use attribution::{
    campaign_spend_nanos, credited_lines, identity_links, stream_campaign_exposures,
    stream_current_receipts, stream_exposures, stream_receipt_lines, write_lifts, write_run,
    CampaignLiftRow, CreditRow, CreditedLine, CurrentVersions, ExposureRead, ReceiptLineRef,
    RunRow,
};
pub use clickhouse_writer::{
    AdRow, ChargeRow, ClickHouseConfig, ClickHouseWriter, ConversionRow, CustomEventRow,
    DecisionRow, IdentityRow, ReceiptHeaderRow, ReceiptRow,
};
pub use event::{
    AdEvent, Arm, ChargeReason, ChargeRecord, ChargeSource, ConversionEvent, CustomEvent,
    DecisionRecord, Event, IdentityLink, ReceiptHeaderEvent, ReceiptLineEvent, Table,
};
pub use file_writer::{read_table, rewrite_table, FileWriter};
pub use ledger::{
    billable_spend, recent_ad_events, recent_charges, recent_custom_events, reversals_for,
};
pub use metrics::SinkMetrics;
pub use privacy::{delete_people, delete_people_from_files, rows_of_people};
pub use retention::{
    enforce_clickhouse, enforce_files, policy as retention_policy, Enforced, Retention,
    BEHAVIOUR_DAYS, FINANCE_DAYS, RECEIPT_DAYS,
};
pub use schema::apply_schema;
pub use sink::{BatchWriter, EventSink, Sink, SinkConfig};
pub use spool::{Spool, SpoolError};
pub use target::{open_sink, EventTarget};
pub use traffic::{hourly_decisions, hourly_decisions_from_log, MAX_FILE_BYTES, WEEK_HOURS};
pub use training::{stream_training_rows, training_rows_from_log, TrainingRead};

/// Errors of the event log.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// ClickHouse refused or could not be reached.
    #[error("clickhouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    /// A ClickHouse call took longer than allowed.
    #[error("clickhouse did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// A local file could not be written or read.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// An event could not be encoded.
    #[error("encoding: {0}")]
    Encoding(#[from] serde_json::Error),
    /// A configuration value is unusable.
    #[error("config: {0}")]
    Config(String),
    /// A migration's SQL changed after it was applied.
    #[error("clickhouse migration {0} changed after it was applied; add a new one instead")]
    MigrationChanged(u32),
}
