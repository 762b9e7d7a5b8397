//! What the CTR trainer reads: every served ad that rendered, with whether it was clicked.
//! Ghosts never rendered, and a served ad without an impression (a lost exchange auction, a
//! page closed before the ad showed) was never seen, so neither teaches anything about
//! clicks. The same rows come from ClickHouse or from the embedded file log.

use crate::{read_table, Arm, ClickHouseConfig, Event, EventError, Table};
use clickhouse::Row;
use serde::Deserialize;
use std::collections::HashSet;
use std::path::Path;
use uuid::Uuid;

/// A rendered ad of the decision log and its outcome.
#[derive(Debug, Clone, PartialEq, Row, Deserialize)]
pub struct TrainingRead {
    /// The decision.
    #[serde(with = "clickhouse::serde::uuid")]
    pub decision_id: Uuid,
    /// Decision time, ms since the epoch.
    pub ts_ms: u64,
    /// Rank in its slot, 0 first.
    pub position: u16,
    /// The model's inputs as logged (JSON).
    pub features: String,
    /// 1 when the ad was clicked (at any time after it was decided).
    pub clicked: u8,
}

/// Streams the training rows decided in `from_ms <= ts_ms < to_ms` into `f`.
pub async fn stream_training_rows(
    config: &ClickHouseConfig,
    from_ms: i64,
    to_ms: i64,
    f: impl FnMut(TrainingRead),
) -> Result<u64, EventError> {
    let from = from_ms.max(0) as u64;
    let query = config
        .client()
        .query(
            "SELECT decision_id, ts_ms, position, features, \
             toUInt8(decision_id IN (SELECT decision_id FROM clicks WHERE ts_ms >= ?)) AS clicked \
             FROM decisions FINAL \
             WHERE arm = 'served' AND ts_ms >= ? AND ts_ms < ? \
             AND decision_id IN (SELECT decision_id FROM impressions WHERE ts_ms >= ?) \
             ORDER BY ts_ms, decision_id",
        )
        .bind(from)
        .bind(from)
        .bind(to_ms.max(0) as u64)
        .bind(from);
    let mut cursor = query.fetch::<TrainingRead>()?;
    let mut f = f;
    let mut n = 0;
    while let Some(row) = cursor.next().await? {
        n += 1;
        f(row);
    }
    Ok(n)
}

/// The training rows decided in `from_ms <= ts_ms < to_ms`, from a file event log.
pub fn training_rows_from_log(
    dir: &Path,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<TrainingRead>, EventError> {
    let ids = |table| -> Result<HashSet<Uuid>, EventError> {
        Ok(read_table(dir, table)?
            .into_iter()
            .filter_map(|e| match e {
                Event::Impression(a) | Event::Click(a) => Some(a.event_id()),
                _ => None,
            })
            .collect())
    };
    let rendered = ids(Table::Impressions)?;
    let clicked = ids(Table::Clicks)?;
    let mut rows: Vec<TrainingRead> = read_table(dir, Table::Decisions)?
        .into_iter()
        .filter_map(|e| match e {
            Event::Decision(d) => Some(d),
            _ => None,
        })
        .filter(|d| {
            let ts = d.exposure.decided_at_ms;
            d.arm == Arm::Served
                && ts >= from_ms
                && ts < to_ms
                && rendered.contains(&d.exposure.decision_id.as_uuid())
        })
        .map(|d| {
            let id = d.exposure.decision_id.as_uuid();
            TrainingRead {
                decision_id: id,
                ts_ms: d.exposure.decided_at_ms.max(0) as u64,
                position: d.exposure.position,
                features: d.features,
                clicked: u8::from(clicked.contains(&id)),
            }
        })
        .collect();
    // A replayed decision (the file log keeps every copy) counts once.
    rows.sort_by_key(|r| (r.ts_ms, r.decision_id));
    rows.dedup_by_key(|r| r.decision_id);
    Ok(rows)
}
