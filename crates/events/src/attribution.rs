//! What the attribution job reads from and writes to ClickHouse: exposures and current
//! receipts streamed in (memory is the caller's: it keeps only its shard), credits and run
//! records out. Reruns replace rather than add (see `schemas/clickhouse/0003_attribution.sql`).

use crate::{ClickHouseConfig, EventError};
use clickhouse::Row;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An impression or click as attribution reads it.
#[derive(Debug, Clone, PartialEq, Row, Deserialize)]
pub struct ExposureRead {
    /// Event id.
    #[serde(with = "clickhouse::serde::uuid")]
    pub event_id: Uuid,
    /// Milliseconds since the epoch.
    pub ts_ms: u64,
    /// Hashed user key.
    pub user_key: String,
    /// Advertiser.
    #[serde(with = "clickhouse::serde::uuid")]
    pub advertiser_id: Uuid,
    /// Campaign.
    #[serde(with = "clickhouse::serde::uuid")]
    pub campaign_id: Uuid,
    /// Line item.
    #[serde(with = "clickhouse::serde::uuid")]
    pub line_item_id: Uuid,
    /// `onsite` or `offsite`.
    pub channel: String,
    /// SKUs the line item promoted.
    pub promoted_skus: Vec<String>,
}

impl From<crate::ReceiptRow> for crate::ReceiptLineEvent {
    fn from(r: crate::ReceiptRow) -> Self {
        Self {
            receipt_id: r.receipt_id,
            version: r.version,
            line_no: r.line_no,
            customer_key: r.customer_key,
            store_id: r.store_id,
            channel: r.channel,
            ts_ms: r.ts_ms as i64,
            sku: r.sku,
            brand: r.brand,
            category: r.category,
            quantity: r.quantity,
            amount_micros: r.amount_micros,
        }
    }
}

/// One row of `attribution_credits`.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct CreditRow {
    /// The run that wrote it.
    pub run_id: String,
    /// The run's start, ms (the row's version: the latest run wins).
    pub run_at_ms: u64,
    /// Attribution model.
    pub model: String,
    /// Hash of the settings the run used.
    pub settings_version: String,
    /// Receipt id.
    pub receipt_id: String,
    /// Receipt version.
    pub receipt_version: i64,
    /// Line number.
    pub line_no: u32,
    /// Customer.
    pub customer_key: String,
    /// Store.
    pub store_id: String,
    /// `in_store`, `online` or `pickup`.
    pub sales_channel: String,
    /// Purchase time, seconds.
    pub purchase_ts: u32,
    /// Purchase time, ms.
    pub purchase_ts_ms: u64,
    /// Purchase date in the retailer's time zone, days since 1970-01-01.
    pub purchase_date: u16,
    /// SKU.
    pub sku: String,
    /// Brand.
    pub brand: String,
    /// Category.
    pub category: String,
    /// The line's units.
    pub line_quantity: i32,
    /// The line's amount, micros.
    pub line_amount_micros: i64,
    /// The exposure credited (nil: a marker that this line now has no credit).
    #[serde(with = "clickhouse::serde::uuid")]
    pub exposure_id: Uuid,
    /// `impression` or `click`.
    pub exposure_kind: String,
    /// Exposure time, ms.
    pub exposure_ts_ms: u64,
    /// `onsite` or `offsite`.
    pub ad_channel: String,
    /// Advertiser.
    #[serde(with = "clickhouse::serde::uuid")]
    pub advertiser_id: Uuid,
    /// Campaign.
    #[serde(with = "clickhouse::serde::uuid")]
    pub campaign_id: Uuid,
    /// Line item.
    #[serde(with = "clickhouse::serde::uuid")]
    pub line_item_id: Uuid,
    /// Share of the line (0: marker).
    pub weight: f64,
    /// Attributed amount, micros.
    pub attributed_micros: i64,
    /// Attributed units, millionths.
    pub attributed_units_micros: i64,
    /// 1 when the SKU is one the exposure promoted.
    pub direct: u8,
    /// 1 when the customer had not bought the brand in the lookback before.
    pub new_to_brand: u8,
    /// Days of purchase history the new-to-brand test could see (at most 364).
    pub ntb_lookback_days: u16,
    /// Seconds from exposure to purchase.
    pub lag_secs: i64,
    /// Match scope.
    pub scope: String,
    /// The window that applied, days.
    pub window_days: u16,
}

/// One row of `attribution_runs`.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct RunRow {
    /// Run id.
    pub run_id: String,
    /// Start, ms.
    pub run_at_ms: u64,
    /// Model.
    pub model: String,
    /// Settings hash.
    pub settings_version: String,
    /// First purchase second covered.
    pub from_ts: u32,
    /// End (exclusive), seconds.
    pub to_ts: u32,
    /// Shard, 0-based.
    pub shard_index: u32,
    /// Shards in the run.
    pub shard_count: u32,
    /// Current receipt lines read.
    pub lines: u64,
    /// Lines credited.
    pub credited_lines: u64,
    /// Exposures read.
    pub exposures: u64,
}

/// A receipt line an earlier run credited, as that run recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Row, Deserialize)]
pub struct CreditedLine {
    /// Receipt id.
    pub receipt_id: String,
    /// Receipt version.
    pub receipt_version: i64,
    /// Line number.
    pub line_no: u32,
    /// Customer.
    pub customer_key: String,
    /// Store.
    pub store_id: String,
    /// Sales channel.
    pub sales_channel: String,
    /// Purchase time, ms.
    pub purchase_ts_ms: u64,
    /// SKU.
    pub sku: String,
    /// Brand.
    pub brand: String,
    /// Category.
    pub category: String,
    /// Units.
    pub line_quantity: i32,
    /// Amount, micros.
    pub line_amount_micros: i64,
}

impl From<CreditedLine> for crate::ReceiptLineEvent {
    fn from(c: CreditedLine) -> Self {
        Self {
            receipt_id: c.receipt_id,
            version: c.receipt_version,
            line_no: c.line_no,
            customer_key: c.customer_key,
            store_id: c.store_id,
            channel: c.sales_channel,
            ts_ms: c.purchase_ts_ms as i64,
            sku: c.sku,
            brand: c.brand,
            category: c.category,
            quantity: c.line_quantity,
            amount_micros: c.line_amount_micros,
        }
    }
}

/// Feeds each row of a query to `f` as it arrives; returns how many there were.
async fn stream<T>(query: clickhouse::query::Query, mut f: impl FnMut(T)) -> Result<u64, EventError>
where
    T: clickhouse::RowOwned + clickhouse::RowRead,
{
    let mut cursor = query.fetch::<T>()?;
    let mut n = 0;
    while let Some(row) = cursor.next().await? {
        n += 1;
        f(row);
    }
    Ok(n)
}

/// Streams the impressions (`clicks = false`) or clicks with `from_ms <= ts_ms < to_ms`,
/// copies collapsed, into `f`.
pub async fn stream_exposures(
    config: &ClickHouseConfig,
    clicks: bool,
    from_ms: i64,
    to_ms: i64,
    f: impl FnMut(ExposureRead),
) -> Result<u64, EventError> {
    let table = if clicks { "clicks" } else { "impressions" };
    let query = config
        .client()
        .query(&format!(
            "SELECT event_id, ts_ms, user_key, advertiser_id, campaign_id, line_item_id, channel, \
             promoted_skus FROM {table} FINAL WHERE ts_ms >= ? AND ts_ms < ?"
        ))
        .bind(from_ms.max(0) as u64)
        .bind(to_ms.max(0) as u64);
    stream(query, f).await
}

/// Streams the current receipt lines with `from_ms <= ts_ms < to_ms` into `f`.
pub async fn stream_current_receipts(
    config: &ClickHouseConfig,
    from_ms: i64,
    to_ms: i64,
    f: impl FnMut(crate::ReceiptRow),
) -> Result<u64, EventError> {
    let query = config
        .client()
        .query(
            "SELECT receipt_id, version, line_no, customer_key, store_id, channel, toUInt32(ts), \
             ts_ms, sku, brand, category, quantity, amount_micros FROM receipts_current \
             WHERE ts_ms >= ? AND ts_ms < ?",
        )
        .bind(from_ms.max(0) as u64)
        .bind(to_ms.max(0) as u64);
    stream(query, f).await
}

/// A line of `receipts` borrowed from the read buffer: no allocation per field for the
/// millions of lines a run reads and mostly drops.
#[derive(Debug, Clone, Copy, PartialEq, Row, Deserialize)]
pub struct ReceiptLineRef<'a> {
    /// Receipt id.
    pub receipt_id: &'a str,
    /// Version.
    pub version: i64,
    /// Line number.
    pub line_no: u32,
    /// Hashed customer key.
    pub customer_key: &'a str,
    /// Store.
    pub store_id: &'a str,
    /// Sales channel.
    pub channel: &'a str,
    /// Milliseconds since the epoch.
    pub ts_ms: u64,
    /// SKU.
    pub sku: &'a str,
    /// Brand.
    pub brand: &'a str,
    /// Category.
    pub category: &'a str,
    /// Units.
    pub quantity: i32,
    /// Amount, micros.
    pub amount_micros: i64,
}

impl From<ReceiptLineRef<'_>> for crate::ReceiptLineEvent {
    fn from(r: ReceiptLineRef<'_>) -> Self {
        Self {
            receipt_id: r.receipt_id.to_string(),
            version: r.version,
            line_no: r.line_no,
            customer_key: r.customer_key.to_string(),
            store_id: r.store_id.to_string(),
            channel: r.channel.to_string(),
            ts_ms: r.ts_ms as i64,
            sku: r.sku.to_string(),
            brand: r.brand.to_string(),
            category: r.category.to_string(),
            quantity: r.quantity,
            amount_micros: r.amount_micros,
        }
    }
}

/// Streams the raw lines of `receipts` with `from_ms <= ts_ms < to_ms` into `f`: every
/// version, and replayed copies until ClickHouse merges them. The caller keeps a line only
/// when [`CurrentVersions::is_current`] says so and drops repeated keys, which is
/// `receipts_current` without its cost (a fourth of the time on 1.5M lines).
pub async fn stream_receipt_lines(
    config: &ClickHouseConfig,
    from_ms: i64,
    to_ms: i64,
    mut f: impl FnMut(ReceiptLineRef<'_>),
) -> Result<u64, EventError> {
    let mut cursor = config
        .client()
        .query(
            "SELECT receipt_id, version, line_no, customer_key, store_id, channel, ts_ms, sku, \
             brand, category, quantity, amount_micros FROM receipts \
             WHERE ts_ms >= ? AND ts_ms < ?",
        )
        .bind(from_ms.max(0) as u64)
        .bind(to_ms.max(0) as u64)
        .fetch::<ReceiptLineRef<'_>>()?;
    let mut n = 0;
    while let Some(row) = cursor.next().await? {
        n += 1;
        f(row);
    }
    Ok(n)
}

#[derive(Row, Deserialize)]
struct Superseded {
    receipt_id: String,
    version: i64,
    line_count: u32,
}

/// Which version of each receipt is current, by its headers: the receipts ever corrected or
/// voided are listed with their highest version (and its line count); every other receipt
/// has only version 1.
#[derive(Debug, Default)]
pub struct CurrentVersions {
    changed: std::collections::HashMap<String, (i64, u32)>,
}

impl CurrentVersions {
    /// Reads the headers of the receipts that have a version above 1 or a void.
    pub async fn read(config: &ClickHouseConfig) -> Result<Self, EventError> {
        let rows: Vec<Superseded> = config
            .client()
            .query(
                "SELECT receipt_id, max(version) AS v, argMax(line_count, version) AS lc \
                 FROM receipt_headers FINAL WHERE receipt_id IN ( \
                   SELECT receipt_id FROM receipt_headers WHERE version > 1 OR line_count = 0) \
                 GROUP BY receipt_id",
            )
            .fetch_all()
            .await?;
        Ok(Self {
            changed: rows
                .into_iter()
                .map(|r| (r.receipt_id, (r.version, r.line_count)))
                .collect(),
        })
    }

    /// Whether a line of `version` of the receipt is part of its current content (what
    /// `receipts_current` holds): the highest version, unless that version voided it.
    pub fn is_current(&self, receipt_id: &str, version: i64) -> bool {
        match self.changed.get(receipt_id) {
            Some((top, lines)) => version == *top && *lines > 0,
            None => version == 1,
        }
    }
}

#[derive(Row, Deserialize)]
struct LinkRead {
    user_key: String,
    customer_key: String,
}

/// Every identity link, user key -> customer key (the latest link of a user key wins).
pub async fn identity_links(
    config: &ClickHouseConfig,
) -> Result<Vec<(String, String)>, EventError> {
    let rows: Vec<LinkRead> = config
        .client()
        .query(
            "SELECT user_key, argMax(customer_key, ts) AS customer_key FROM identity_map \
             GROUP BY user_key",
        )
        .fetch_all()
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.user_key, r.customer_key))
        .collect())
}

/// The lines any earlier run of `model` credited, purchased in `[from_ms, to_ms)` (read from
/// the table, not the view: a superset of what is credited now, and a marker on a line
/// without credit changes nothing).
pub async fn credited_lines(
    config: &ClickHouseConfig,
    model: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<CreditedLine>, EventError> {
    Ok(config
        .client()
        .query(
            "SELECT DISTINCT receipt_id, receipt_version, line_no, customer_key, store_id, \
             sales_channel, purchase_ts_ms, sku, brand, category, line_quantity, line_amount_micros \
             FROM attribution_credits WHERE model = ? AND weight > 0 \
             AND purchase_ts_ms >= ? AND purchase_ts_ms < ?",
        )
        .bind(model)
        .bind(from_ms.max(0) as u64)
        .bind(to_ms.max(0) as u64)
        .fetch_all()
        .await?)
}

/// Rows per INSERT, about (a batch ends at a receipt-line boundary).
const BATCH_ROWS: usize = 100_000;

/// Writes a run's credits (and markers), then its run record. `credits` must be grouped by
/// receipt line: each INSERT holds whole lines, so a run that fails part-way leaves every
/// line with either its old results or its new ones, never half of each (the rerun then
/// replaces the rest). The run record goes last, so freshness never claims a failed run.
pub async fn write_run(
    config: &ClickHouseConfig,
    credits: &[CreditRow],
    run: &RunRow,
) -> Result<(), EventError> {
    let client = config.client();
    let same_line = |a: &CreditRow, b: &CreditRow| {
        (&a.receipt_id, a.receipt_version, a.line_no)
            == (&b.receipt_id, b.receipt_version, b.line_no)
    };
    let mut start = 0;
    while start < credits.len() {
        let mut end = (start + BATCH_ROWS).min(credits.len());
        while end < credits.len() && same_line(&credits[end - 1], &credits[end]) {
            end += 1;
        }
        let mut ins = client.insert::<CreditRow>("attribution_credits").await?;
        for r in &credits[start..end] {
            ins.write(r).await?;
        }
        ins.end().await?;
        start = end;
    }
    let mut ins = client.insert::<RunRow>("attribution_runs").await?;
    ins.write(run).await?;
    ins.end().await?;
    Ok(())
}

/// One row of `campaign_lift`: a campaign's incrementality over its flight (NaN where a
/// figure does not exist or is suppressed).
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct CampaignLiftRow {
    /// Campaign.
    #[serde(with = "clickhouse::serde::uuid")]
    pub campaign_id: Uuid,
    /// Its advertiser.
    #[serde(with = "clickhouse::serde::uuid")]
    pub advertiser_id: Uuid,
    /// When computed, ms (the latest wins).
    pub computed_at_ms: u64,
    /// Flight start, seconds.
    pub flight_from: u32,
    /// End of what was measured, seconds.
    pub flight_to: u32,
    /// Match scope of the purchases counted.
    pub scope: String,
    /// Configured holdout share, percent.
    pub holdout_percent: u8,
    /// Customers exposed.
    pub exposed_customers: u64,
    /// Customers held out.
    pub held_out_customers: u64,
    /// Customers in both arms (left out).
    pub contaminated: u64,
    /// Exposed arm's conversion rate.
    pub exposed_conversion_rate: f64,
    /// Held-out arm's conversion rate.
    pub held_out_conversion_rate: f64,
    /// Exposed arm's sales per customer, micros.
    pub exposed_sales_per_customer: f64,
    /// Held-out arm's sales per customer, micros.
    pub held_out_sales_per_customer: f64,
    /// Absolute lift in sales per customer, micros.
    pub sales_lift: f64,
    /// Its 95% lower bound.
    pub sales_lift_low: f64,
    /// Its 95% upper bound.
    pub sales_lift_high: f64,
    /// Relative lift.
    pub relative_lift: f64,
    /// Incremental sales, micros.
    pub incremental_sales: f64,
    /// Its lower bound.
    pub incremental_low: f64,
    /// Its upper bound.
    pub incremental_high: f64,
    /// Incremental sales per unit of spend.
    pub iroas: f64,
    /// Its lower bound.
    pub iroas_low: f64,
    /// Its upper bound.
    pub iroas_high: f64,
    /// Billable spend over the flight, micros.
    pub spend_micros: i64,
    /// 1: an arm is under the privacy minimum.
    pub suppressed: u8,
    /// 1: the arm sizes disagree with the holdout share.
    pub sample_ratio_mismatch: u8,
}

/// Streams one campaign's rows of an ad table (`impressions`, `clicks` or
/// `exposure_holdouts`) with `from_ms <= ts_ms < to_ms` into `f`.
pub async fn stream_campaign_exposures(
    config: &ClickHouseConfig,
    table: crate::Table,
    campaign_id: Uuid,
    from_ms: i64,
    to_ms: i64,
    f: impl FnMut(ExposureRead),
) -> Result<u64, EventError> {
    let query = config
        .client()
        .query(&format!(
            "SELECT event_id, ts_ms, user_key, advertiser_id, campaign_id, line_item_id, channel, \
             promoted_skus FROM {} FINAL WHERE campaign_id = toUUID(?) AND ts_ms >= ? AND ts_ms < ?",
            table.name()
        ))
        .bind(campaign_id.to_string())
        .bind(from_ms.max(0) as u64)
        .bind(to_ms.max(0) as u64);
    stream(query, f).await
}

/// A campaign's billable charge in nanos, replays collapsed.
pub async fn campaign_spend_nanos(
    config: &ClickHouseConfig,
    campaign_id: Uuid,
) -> Result<i64, EventError> {
    Ok(config
        .client()
        .query(
            "SELECT toInt64(sum(charge_nanos)) FROM charges FINAL \
             WHERE campaign_id = toUUID(?) AND billable = 1",
        )
        .bind(campaign_id.to_string())
        .fetch_one::<i64>()
        .await?)
}

/// Writes campaign lift rows.
pub async fn write_lifts(
    config: &ClickHouseConfig,
    rows: &[CampaignLiftRow],
) -> Result<(), EventError> {
    let mut ins = config
        .client()
        .insert::<CampaignLiftRow>("campaign_lift")
        .await?;
    for r in rows {
        ins.write(r).await?;
    }
    ins.end().await?;
    Ok(())
}
