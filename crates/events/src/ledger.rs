//! Reading the charge ledger back from ClickHouse (spend after a restart without Redis).

use crate::{ChargeSource, ClickHouseConfig, EventError};
use clickhouse::Row;
use serde::Deserialize;
use uuid::Uuid;

#[derive(Row, Deserialize)]
struct SpendRow {
    #[serde(with = "clickhouse::serde::uuid")]
    campaign_id: Uuid,
    day: u16,
    nanos: i64,
}

#[derive(Row, Deserialize)]
struct SeenRow {
    #[serde(with = "clickhouse::serde::uuid")]
    decision_id: Uuid,
    source: String,
    ts_ms: u64,
}

/// Billable nanos per (campaign, accounting day) in the `charges` table, replays collapsed.
pub async fn billable_spend(
    config: &ClickHouseConfig,
) -> Result<Vec<(Uuid, i32, i64)>, EventError> {
    let rows: Vec<SpendRow> = config
        .client()
        .query(
            "SELECT campaign_id, toUInt16(accounting_date) AS day, sum(charge_nanos) AS nanos \
             FROM charges FINAL WHERE billable = 1 GROUP BY campaign_id, day",
        )
        .fetch_all()
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.campaign_id, i32::from(r.day), r.nanos))
        .collect())
}

#[derive(Row, Deserialize)]
struct IdRow {
    #[serde(with = "clickhouse::serde::uuid")]
    decision_id: Uuid,
    ts_ms: u64,
}

/// (decision id, ms) of the impressions or clicks that arrived since `since_ms`.
pub async fn recent_ad_events(
    config: &ClickHouseConfig,
    table: crate::Table,
    since_ms: i64,
) -> Result<Vec<(Uuid, i64)>, EventError> {
    let rows: Vec<IdRow> = config
        .client()
        .query(&format!(
            "SELECT DISTINCT decision_id, ts_ms FROM {} WHERE ts_ms >= ?",
            table.name()
        ))
        .bind(since_ms.max(0) as u64)
        .fetch_all()
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.decision_id, r.ts_ms as i64))
        .collect())
}

#[derive(Row, Deserialize)]
struct EventIdRow {
    #[serde(with = "clickhouse::serde::uuid")]
    event_id: Uuid,
    ts_ms: u64,
}

/// (event id, ms) of the custom events that arrived since `since_ms` (their dedup keys).
pub async fn recent_custom_events(
    config: &ClickHouseConfig,
    since_ms: i64,
) -> Result<Vec<(Uuid, i64)>, EventError> {
    let rows: Vec<EventIdRow> = config
        .client()
        .query("SELECT DISTINCT event_id, ts_ms FROM custom_events WHERE ts_ms >= ?")
        .bind(since_ms.max(0) as u64)
        .fetch_all()
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.event_id, r.ts_ms as i64))
        .collect())
}

/// (decision id, source, ms) of every charge recorded since `since_ms`: the events still
/// inside their token's lifetime, to remember as seen.
pub async fn recent_charges(
    config: &ClickHouseConfig,
    since_ms: i64,
) -> Result<Vec<(Uuid, ChargeSource, i64)>, EventError> {
    let rows: Vec<SeenRow> = config
        .client()
        .query("SELECT DISTINCT decision_id, source, ts_ms FROM charges WHERE ts_ms >= ?")
        .bind(since_ms.max(0) as u64)
        .fetch_all()
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some((
                r.decision_id,
                ChargeSource::parse(&r.source)?,
                r.ts_ms as i64,
            ))
        })
        .collect())
}

/// The reversals that take back what these decisions were billed, once their traffic is
/// found invalid after the fact: for each billable row, a [`crate::ChargeReason::ReversedInvalid`]
/// row of the opposite amount on the same accounting day (so a closed month is credited
/// through the next open month's adjustments). Charges already reversed are left out, and
/// the ledger keys a row by decision, source and reason, so a decision is reversed once.
pub async fn reversals_for(
    config: &ClickHouseConfig,
    decision_ids: &[Uuid],
    now_ms: i64,
) -> Result<Vec<crate::ChargeRecord>, EventError> {
    if decision_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = decision_ids.iter().map(Uuid::to_string).collect();
    let rows: Vec<crate::ChargeRow> = config
        .client()
        .query(
            "SELECT ?fields FROM charges FINAL \
             WHERE reason = 'billable' AND has(?, toString(decision_id)) AND charge_nanos > 0 \
             AND (decision_id, source) NOT IN \
             (SELECT decision_id, source FROM charges WHERE reason = 'reversed_invalid')",
        )
        .bind(ids)
        .fetch_all()
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(crate::ChargeRecord {
                decision_id: r.decision_id,
                source: ChargeSource::parse(&r.source)?,
                reason: crate::ChargeReason::ReversedInvalid,
                ts_ms: now_ms,
                accounting_day: i32::from(r.accounting_date),
                advertiser_id: r.advertiser_id,
                campaign_id: r.campaign_id,
                line_item_id: r.line_item_id,
                charge_nanos: -r.charge_nanos,
                // What the exchange billed us stays billed; only the advertiser is credited.
                media_cost_nanos: 0,
                currency: r.currency,
                channel: r.channel,
            })
        })
        .collect())
}
