//! Endcap's finance reports: delivery (from the charge ledger and the ad tables) and
//! attribution (from `attribution_current`), grouped as finance asks, with freshness, match
//! rate, lift and month-end close.
//!
//! Money is summed in nano-units per group and turned into micros once, by the billing
//! crate's invoice rule, so a report's spend equals the ledger's billable rows to the micro.
//! Spend rows are dated by the charge's accounting date, sales rows by the purchase date,
//! both in the retailer's time zone; every report says so. Delivery figures come from fine
//! cells (day x advertiser x campaign x line item x ad channel) rolled up in Rust, which is
//! what lets a closed month be shown from its frozen cells and what the ledger gained for it
//! later be posted to the next open month as itemised adjustments.
#![warn(missing_docs)]

mod query;
mod render;
mod search_terms;

pub use query::{check_model, Dim, Query, ReportError};
pub use render::Report;
pub use search_terms::OTHER_TERMS;

use chrono::{Datelike, NaiveDate};
use clickhouse::Row;
use endcap_billing::nanos_to_micros;
use endcap_events::{CampaignLiftRow, ClickHouseConfig};
use endcap_store::{CampaignStore, ClosedPeriod};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The ledger reasons that mark a sighting as invalid traffic (filtered counts).
const INVALID: &str = "('invalid_traffic', 'bot', 'no_user_agent', 'too_fast', 'click_rate')";

/// Most decisions one reversal request may name.
pub const MAX_REVERSAL_DECISIONS: usize = 1_000;

/// What reversing traffic found invalid did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reversal {
    /// Decisions named.
    pub decisions: usize,
    /// Billed charges taken back (a decision reversed before is not taken back again).
    pub charges_reversed: usize,
    /// What the advertisers are credited, micros.
    pub credit_micros: i64,
}

/// Fewest customers in a lift arm before its figures are shown (privacy minimum).
pub const DEFAULT_MIN_CUSTOMERS: u64 = 50;

/// Delivery of one day x advertiser x campaign x line item x ad channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Row)]
pub struct Cell {
    /// Day in the retailer's time zone, days since 1970-01-01 (charges: accounting date).
    pub day: u16,
    /// Advertiser.
    #[serde(with = "clickhouse::serde::uuid")]
    pub advertiser_id: Uuid,
    /// Campaign.
    #[serde(with = "clickhouse::serde::uuid")]
    pub campaign_id: Uuid,
    /// Line item.
    #[serde(with = "clickhouse::serde::uuid")]
    pub line_item_id: Uuid,
    /// `onsite`, `offsite` ("" for ledger rows older than the column).
    pub ad_channel: String,
    /// Impressions.
    pub impressions: u64,
    /// Clicks.
    pub clicks: u64,
    /// Billable advertiser charge, nanos.
    pub charge_nanos: i64,
    /// Media cost, nanos (replays excluded).
    pub media_cost_nanos: i64,
    /// Impressions filtered as invalid traffic (bots, no user agent), not billed.
    #[serde(default)]
    pub invalid_impressions: u64,
    /// Clicks filtered as invalid traffic (bots, too fast, click-rate anomalies, no
    /// impression), not billed.
    #[serde(default)]
    pub invalid_clicks: u64,
    /// For an adjustment: the closed month whose late ledger rows it carries ("" for a
    /// month's own figures). A month closed with an adjustment in it keeps it frozen, and
    /// the late rows are never posted again.
    #[serde(default)]
    pub for_period: String,
}

impl Cell {
    fn add(&mut self, o: &Cell) {
        self.impressions += o.impressions;
        self.clicks += o.clicks;
        self.charge_nanos += o.charge_nanos;
        self.media_cost_nanos += o.media_cost_nanos;
        self.invalid_impressions += o.invalid_impressions;
        self.invalid_clicks += o.invalid_clicks;
    }

    /// The value of one grouping dimension.
    fn dim(&self, d: Dim) -> String {
        match d {
            Dim::Advertiser => self.advertiser_id.to_string(),
            Dim::Campaign => self.campaign_id.to_string(),
            Dim::LineItem => self.line_item_id.to_string(),
            Dim::Day => date_of(self.day).to_string(),
            Dim::AdChannel => self.ad_channel.clone(),
            Dim::SalesChannel => String::new(),
        }
    }
}

/// A day number (days since 1970-01-01) as a date.
fn date_of(day: u16) -> NaiveDate {
    NaiveDate::default() + chrono::Duration::days(i64::from(day))
}

/// A date as a day number.
fn day_of(d: NaiveDate) -> u16 {
    (d - NaiveDate::default())
        .num_days()
        .clamp(0, i64::from(u16::MAX)) as u16
}

/// `YYYY-MM` of a day number.
fn month_of(day: u16) -> String {
    let d = date_of(day);
    format!("{:04}-{:02}", d.year(), d.month())
}

/// First and last day of a `YYYY-MM` month; `None` for anything not spelled exactly so
/// (chrono alone would take `2026-6` or `+2026-06`, and one month must have one name).
fn month_bounds(period: &str) -> Option<(NaiveDate, NaiveDate)> {
    let b = period.as_bytes();
    let exact = b.len() == 7
        && b[4] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || c.is_ascii_digit());
    if !exact {
        return None;
    }
    let first = NaiveDate::parse_from_str(&format!("{period}-01"), "%Y-%m-%d").ok()?;
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)?
    };
    Some((first, next.pred_opt()?))
}

/// What the ledger gained for a closed month after it closed, posted to the next open month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Adjustment {
    /// The closed month the late rows belong to.
    pub for_period: String,
    /// The open month it is posted to.
    pub posted_to: String,
    /// Campaign.
    pub campaign_id: Uuid,
    /// Line item.
    pub line_item_id: Uuid,
    /// Ad channel.
    pub ad_channel: String,
    /// Impressions added.
    pub impressions: i64,
    /// Clicks added.
    pub clicks: i64,
    /// Advertiser charge added, micros.
    pub charge_micros: i64,
    /// Media cost added, micros.
    pub media_cost_micros: i64,
}

/// Reports over one ClickHouse event log in the retailer's time zone.
pub struct Finance {
    ch: ClickHouseConfig,
    tz: chrono_tz::Tz,
    min_customers: u64,
}

/// Sales of one group (aliases differ from column names: ClickHouse resolves an alias that
/// shadows a column inside its own aggregate).
#[derive(Row, Deserialize)]
struct Sales {
    key: String,
    orders: u64,
    units: i64,
    gross: i64,
    returns: i64,
    #[serde(rename = "direct_sales")]
    direct: i64,
    #[serde(rename = "halo_sales")]
    halo: i64,
    #[serde(rename = "ntb_sales")]
    ntb: i64,
    ntb_lookback: u16,
    customers: u64,
}

#[derive(Row, Deserialize)]
struct Fresh {
    source: String,
    through: u32,
}

#[derive(Row, Deserialize)]
struct Matched {
    receipts: u64,
    matched_receipts: u64,
    sales: i64,
    matched_sales: i64,
}

/// One credited exposure of a receipt line, for the explainability report.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct Explanation {
    /// Receipt.
    pub receipt_id: String,
    /// Its current version.
    pub receipt_version: i64,
    /// Line.
    pub line_no: u32,
    /// SKU bought.
    pub sku: String,
    /// Line amount, micros.
    pub line_amount_micros: i64,
    /// Exposure credited.
    #[serde(with = "clickhouse::serde::uuid")]
    pub exposure_id: Uuid,
    /// `impression` or `click`.
    pub exposure_kind: String,
    /// Campaign.
    #[serde(with = "clickhouse::serde::uuid")]
    pub campaign_id: Uuid,
    /// Advertiser.
    #[serde(with = "clickhouse::serde::uuid")]
    pub advertiser_id: Uuid,
    /// Match scope.
    pub scope: String,
    /// Window that applied, days.
    pub window_days: u16,
    /// Seconds from exposure to purchase.
    pub lag_secs: i64,
    /// Model.
    pub model: String,
    /// Settings version.
    pub settings_version: String,
    /// Share of the line.
    pub weight: f64,
    /// Attributed amount, micros.
    pub attributed_micros: i64,
    /// A sale of a promoted SKU (else halo).
    pub direct: u8,
    /// New to the brand.
    pub new_to_brand: u8,
}

impl Finance {
    /// Reports over `ch`, days in `tz`.
    pub fn new(ch: ClickHouseConfig, tz: chrono_tz::Tz) -> Self {
        Self {
            ch,
            tz,
            min_customers: DEFAULT_MIN_CUSTOMERS,
        }
    }

    /// Sets the privacy minimum of lift arms.
    pub fn with_min_customers(mut self, n: u64) -> Self {
        self.min_customers = n;
        self
    }

    fn filter(q: &Query) -> String {
        // Ids are parsed UUIDs: their text is safe to inline.
        let mut f = String::new();
        if let Some(a) = q.advertiser_id {
            f.push_str(&format!(" AND advertiser_id = toUUID('{a}')"));
        }
        if let Some(c) = q.campaign_id {
            f.push_str(&format!(" AND campaign_id = toUUID('{c}')"));
        }
        f
    }

    /// Fine delivery cells for days `from..=to` (ledger current, nothing frozen applied).
    async fn cells(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        q: &Query,
    ) -> Result<Vec<Cell>, ReportError> {
        let tz = self.tz.name();
        let filter = Self::filter(q);
        let mut cells: BTreeMap<(u16, Uuid, Uuid, Uuid, String), Cell> = BTreeMap::new();
        let client = self.ch.client();
        // Three sources, one row shape: the ad tables count, the ledger sums.
        let keys = "advertiser_id, campaign_id, line_item_id, toString(channel) AS ad_channel";
        let group = "GROUP BY day, advertiser_id, campaign_id, line_item_id, ad_channel";
        let sources = [
            format!(
                "SELECT toUInt16(toDate(ts, '{tz}')) AS day, {keys}, count() AS impressions, \
                 toUInt64(0) AS clicks, toInt64(0) AS charge_nanos, toInt64(0) AS media_cost_nanos, \
                 toUInt64(0) AS invalid_impressions, toUInt64(0) AS invalid_clicks, \
                 '' AS for_period FROM impressions FINAL WHERE day >= ? AND day <= ?{filter} {group}"
            ),
            format!(
                "SELECT toUInt16(toDate(ts, '{tz}')) AS day, {keys}, toUInt64(0) AS impressions, \
                 count() AS clicks, toInt64(0) AS charge_nanos, toInt64(0) AS media_cost_nanos, \
                 toUInt64(0) AS invalid_impressions, toUInt64(0) AS invalid_clicks, \
                 '' AS for_period FROM clicks FINAL WHERE day >= ? AND day <= ?{filter} {group}"
            ),
            format!(
                "SELECT toUInt16(accounting_date) AS day, {keys}, toUInt64(0) AS impressions, \
                 toUInt64(0) AS clicks, sumIf(charge_nanos, billable = 1) AS charge_nanos, \
                 sumIf(media_cost_nanos, reason != 'duplicate') AS media_cost_nanos, \
                 countIf(source = 'impression' AND reason IN {INVALID}) AS invalid_impressions, \
                 countIf(source = 'click' AND reason IN {INVALID}) AS invalid_clicks, \
                 '' AS for_period FROM charges FINAL WHERE day >= ? AND day <= ?{filter} {group}"
            ),
        ];
        for sql in &sources {
            let rows: Vec<Cell> = client
                .query(sql)
                .bind(day_of(from))
                .bind(day_of(to))
                .fetch_all()
                .await?;
            for r in rows {
                cells
                    .entry((
                        r.day,
                        r.advertiser_id,
                        r.campaign_id,
                        r.line_item_id,
                        r.ad_channel.clone(),
                    ))
                    .or_insert_with(|| {
                        empty(
                            r.day,
                            r.advertiser_id,
                            r.campaign_id,
                            r.line_item_id,
                            &r.ad_channel,
                        )
                    })
                    .add(&r);
            }
        }
        Ok(cells.into_values().collect())
    }

    /// Delivery cells as finance sees them: closed months from their frozen cells, and what
    /// the ledger gained for them since posted as adjustments to the next open month (only
    /// those posted inside the report's days are returned).
    async fn frozen_cells(
        &self,
        store: &CampaignStore,
        q: &Query,
    ) -> Result<(Vec<Cell>, Vec<Adjustment>), ReportError> {
        let closed = store.closed_periods().await?;
        let closed_months: Vec<&ClosedPeriod> = closed.iter().collect();
        let is_closed = |m: &str| closed_months.iter().any(|p| p.period == m);
        // The first open month after `m`.
        let next_open = |m: &str| -> Option<String> {
            let (_, last) = month_bounds(m)?;
            let mut day = last.succ_opt()?;
            loop {
                let month = format!("{:04}-{:02}", day.year(), day.month());
                if !is_closed(&month) {
                    return Some(month);
                }
                day = month_bounds(&month)?.1.succ_opt()?;
            }
        };
        let mut out: Vec<Cell> = Vec::new();
        let mut adjustments = Vec::new();
        // Current ledger for the report's days.
        for c in self.cells(q.from, q.to, q).await? {
            if !is_closed(&month_of(c.day)) {
                out.push(c);
            }
        }
        // Every closed month's frozen cells, and per closed month what has been frozen for it
        // anywhere (its own cells, and adjustments a later close absorbed).
        let mut snapshots: Vec<(&ClosedPeriod, Vec<Cell>)> = Vec::new();
        for p in &closed {
            let frozen: Vec<Cell> = serde_json::from_str(&p.cells)
                .map_err(|e| ReportError::Corrupt(format!("closed period {}: {e}", p.period)))?;
            let frozen: Vec<Cell> = frozen
                .into_iter()
                .filter(|c| {
                    q.advertiser_id.is_none_or(|a| a == c.advertiser_id)
                        && q.campaign_id.is_none_or(|x| x == c.campaign_id)
                })
                .collect();
            snapshots.push((p, frozen));
        }
        let belongs_to = |c: &Cell, snapshot: &str| {
            if c.for_period.is_empty() {
                snapshot.to_string()
            } else {
                c.for_period.clone()
            }
        };
        for (p, frozen) in &snapshots {
            let Some((first, last)) = month_bounds(&p.period) else {
                continue;
            };
            if first <= q.to && last >= q.from {
                out.extend(
                    frozen
                        .iter()
                        .filter(|c| (day_of(q.from)..=day_of(q.to)).contains(&c.day))
                        .cloned(),
                );
            }
            // A month whose impressions and clicks are past their retention no longer has
            // its ledger to compare: anything "missing" would be retention, not a late row,
            // so it posts no adjustments.
            if (chrono::Utc::now().date_naive() - last).num_days()
                > i64::from(endcap_events::BEHAVIOUR_DAYS)
            {
                continue;
            }
            // Adjustments: posted on the first day of the next open month.
            let Some(posted) = next_open(&p.period) else {
                continue;
            };
            let Some((post_day, _)) = month_bounds(&posted) else {
                continue;
            };
            if post_day < q.from || post_day > q.to {
                continue;
            }
            // Ledger now minus everything frozen for this month, per (advertiser, campaign,
            // line item, channel).
            let mut diff: BTreeMap<(Uuid, Uuid, Uuid, String), [i64; 4]> = BTreeMap::new();
            let now = self.cells(first, last, q).await?;
            let frozen_for_p = snapshots.iter().flat_map(|(s, cells)| {
                cells
                    .iter()
                    .filter(move |c| belongs_to(c, &s.period) == p.period)
            });
            for (c, sign) in now
                .iter()
                .map(|c| (c, 1))
                .chain(frozen_for_p.map(|c| (c, -1)))
            {
                let d = diff
                    .entry((
                        c.advertiser_id,
                        c.campaign_id,
                        c.line_item_id,
                        c.ad_channel.clone(),
                    ))
                    .or_default();
                d[0] += sign * c.impressions as i64;
                d[1] += sign * c.clicks as i64;
                d[2] += sign * c.charge_nanos;
                d[3] += sign * c.media_cost_nanos;
            }
            for ((advertiser_id, campaign_id, line_item_id, ad_channel), d) in diff {
                if d == [0; 4] {
                    continue;
                }
                adjustments.push(Adjustment {
                    for_period: p.period.clone(),
                    posted_to: posted.clone(),
                    campaign_id,
                    line_item_id,
                    ad_channel: ad_channel.clone(),
                    impressions: d[0],
                    clicks: d[1],
                    charge_micros: nanos_to_micros(i128::from(d[2])),
                    media_cost_micros: nanos_to_micros(i128::from(d[3])),
                });
                // Posted on the first day of the open month. The ledger only grows, so counts
                // are not negative; clamp rather than wrap if a replay collapsed after close.
                out.push(Cell {
                    impressions: d[0].max(0) as u64,
                    clicks: d[1].max(0) as u64,
                    charge_nanos: d[2],
                    media_cost_nanos: d[3],
                    for_period: p.period.clone(),
                    ..empty(
                        day_of(post_day),
                        advertiser_id,
                        campaign_id,
                        line_item_id,
                        &ad_channel,
                    )
                });
            }
        }
        Ok((out, adjustments))
    }

    /// Takes back what `decision_ids` were billed, their traffic found invalid after the
    /// fact: writes the reversal rows to the ledger through `sink` and waits until they are
    /// stored, then audits it (who, why, the request id, the counts). A closed month's
    /// charges come back as a credit in the next open month's adjustments.
    pub async fn reverse_invalid(
        &self,
        store: &CampaignStore,
        sink: &endcap_events::Sink,
        actor: &str,
        request_id: &str,
        decision_ids: &[Uuid],
        reason: &str,
    ) -> Result<Reversal, ReportError> {
        if decision_ids.is_empty() || decision_ids.len() > MAX_REVERSAL_DECISIONS {
            return Err(ReportError::Invalid(
                "decision_ids".into(),
                format!("name 1 to {MAX_REVERSAL_DECISIONS} decisions"),
            ));
        }
        let now_ms = chrono::Utc::now().timestamp_millis();
        let rows = endcap_events::reversals_for(&self.ch, decision_ids, now_ms).await?;
        let credit_nanos: i64 = rows.iter().map(|r| -r.charge_nanos).sum();
        let charges_reversed = rows.len();
        for r in rows {
            endcap_events::EventSink::send(sink, endcap_events::Event::Charge(r));
        }
        sink.flush().await;
        let done = Reversal {
            decisions: decision_ids.len(),
            charges_reversed,
            credit_micros: nanos_to_micros(i128::from(credit_nanos)),
        };
        store
            .record_activity(
                actor,
                "reverse_invalid",
                "charges",
                &decision_ids[0].to_string(),
                None,
                &json!({
                    "request_id": request_id,
                    "reason": reason,
                    "decisions": done.decisions,
                    "charges_reversed": done.charges_reversed,
                    "credit_micros": done.credit_micros,
                }),
            )
            .await?;
        Ok(done)
    }

    /// `GET /v1/reports/delivery`.
    pub async fn delivery(&self, store: &CampaignStore, q: &Query) -> Result<Report, ReportError> {
        q.refuse(&[Dim::SalesChannel], "delivery")?;
        let (cells, adjustments) = self.frozen_cells(store, q).await?;
        let mut groups: BTreeMap<Vec<String>, Cell> = BTreeMap::new();
        for c in &cells {
            let key: Vec<String> = q.group_by.iter().map(|d| c.dim(*d)).collect();
            groups
                .entry(key)
                .or_insert_with(|| empty(0, Uuid::nil(), Uuid::nil(), Uuid::nil(), ""))
                .add(c);
        }
        let mut columns: Vec<String> = q.group_by.iter().map(|d| d.name().to_string()).collect();
        columns.extend(
            [
                "impressions",
                "clicks",
                "ctr",
                "advertiser_charge",
                "media_cost",
                "cpc",
                "invalid_impressions",
                "invalid_clicks",
            ]
            .map(String::from),
        );
        let mut total = empty(0, Uuid::nil(), Uuid::nil(), Uuid::nil(), "");
        for c in groups.values() {
            total.add(c);
        }
        // The total is the ledger's nanos rounded once; the rows share out those micros by
        // largest remainder, so they add up to it (rounding each row alone could bill a
        // micro more than the ledger holds).
        let charge_total = nanos_to_micros(i128::from(total.charge_nanos));
        let media_total = nanos_to_micros(i128::from(total.media_cost_nanos));
        let charges = apportion(
            &groups.values().map(|c| c.charge_nanos).collect::<Vec<_>>(),
            charge_total,
        );
        let media = apportion(
            &groups
                .values()
                .map(|c| c.media_cost_nanos)
                .collect::<Vec<_>>(),
            media_total,
        );
        let rows = groups
            .into_iter()
            .zip(charges.into_iter().zip(media))
            .map(|((key, c), (charge, media))| {
                let mut row: Vec<Value> = key.into_iter().map(Value::from).collect();
                row.extend(delivery_values(&c, charge, media));
                row
            })
            .collect();
        let mut totals: Vec<Value> = q.group_by.iter().map(|_| Value::Null).collect();
        totals.extend(delivery_values(&total, charge_total, media_total));
        Ok(Report {
            report: "delivery",
            from: q.from,
            to: q.to,
            time_zone: self.tz.name().to_string(),
            dated_by: "spend by the charge's accounting date; impressions and clicks by the event's date; both in the retailer's time zone".into(),
            columns,
            rows,
            totals,
            freshness: self.freshness(&q.model).await?,
            match_rate: None,
            adjustments,
            notes: vec!["money in currency units with 6 decimals; spend is the sum of the ledger's billable rows".into()],
        })
    }

    /// `GET /v1/reports/attribution`.
    pub async fn attribution(
        &self,
        store: &CampaignStore,
        q: &Query,
    ) -> Result<Report, ReportError> {
        let key = q
            .group_by
            .iter()
            .map(|d| match d {
                Dim::Advertiser => "toString(advertiser_id)",
                Dim::Campaign => "toString(campaign_id)",
                Dim::LineItem => "toString(line_item_id)",
                Dim::Day => "toString(purchase_date)",
                Dim::AdChannel => "toString(ad_channel)",
                Dim::SalesChannel => "toString(sales_channel)",
            })
            .collect::<Vec<_>>();
        let key_sql = if key.is_empty() {
            "''".to_string()
        } else {
            format!("concat({}, '')", key.join(", '\\t', "))
        };
        let filter = Self::filter(q);
        let sales: Vec<Sales> = self
            .ch
            .client()
            .query(&format!(
                "SELECT {key_sql} AS key, uniqExactIf(receipt_id, attributed_micros > 0) AS orders, \
                 sum(attributed_units_micros) AS units, sumIf(attributed_micros, attributed_micros > 0) AS gross, \
                 sumIf(attributed_micros, attributed_micros < 0) AS returns, \
                 sumIf(attributed_micros, direct = 1) AS direct_sales, sumIf(attributed_micros, direct = 0) AS halo_sales, \
                 sumIf(attributed_micros, new_to_brand = 1) AS ntb_sales, min(ntb_lookback_days) AS ntb_lookback, uniqExact(customer_key) AS customers \
                 FROM attribution_current WHERE model = ? AND purchase_date >= toDate(?) \
                 AND purchase_date <= toDate(?){filter} GROUP BY key ORDER BY key"
            ))
            .bind(&q.model)
            .bind(q.from.to_string())
            .bind(q.to.to_string())
            .fetch_all()
            .await?;
        // Spend for ROAS, grouped the same way (not by sales channel: spend has none).
        let by_sales_channel = q.group_by.contains(&Dim::SalesChannel);
        let mut spend: BTreeMap<Vec<String>, i64> = BTreeMap::new();
        if !by_sales_channel {
            let (cells, _) = self.frozen_cells(store, q).await?;
            for c in &cells {
                let k: Vec<String> = q.group_by.iter().map(|d| c.dim(*d)).collect();
                *spend.entry(k).or_default() += c.charge_nanos;
            }
        }
        let lifts = if q.group_by == [Dim::Campaign] {
            self.lifts(q).await?
        } else {
            BTreeMap::new()
        };
        let mut columns: Vec<String> = q.group_by.iter().map(|d| d.name().to_string()).collect();
        columns.extend(
            [
                "attributed_orders",
                "attributed_units",
                "gross_sales",
                "returns",
                "net_sales",
                "direct_sales",
                "halo_sales",
                "new_to_brand_sales",
                "new_to_brand_lookback_days",
                "customers",
                "suppressed",
                "advertiser_charge",
                "roas",
            ]
            .map(String::from),
        );
        if q.group_by == [Dim::Campaign] {
            columns.extend(
                [
                    "lift_exposed_customers",
                    "lift_held_out_customers",
                    "sales_lift_per_customer",
                    "sales_lift_low",
                    "sales_lift_high",
                    "incremental_sales",
                    "incremental_sales_low",
                    "incremental_sales_high",
                    "iroas",
                    "iroas_low",
                    "iroas_high",
                    "sample_ratio_mismatch",
                ]
                .map(String::from),
            );
        }
        let mut rows = Vec::new();
        let mut any_hidden = false;
        for s in &sales {
            let key: Vec<String> = if q.group_by.is_empty() {
                Vec::new()
            } else {
                s.key.split('\t').map(String::from).collect()
            };
            let charge = spend.get(&key).copied();
            let mut row: Vec<Value> = key.iter().cloned().map(Value::from).collect();
            let net = s.gross + s.returns;
            // A group of fewer customers than the privacy minimum names too few people's
            // purchases: advertisers see that it exists, not what was bought.
            let hide = q.privacy && s.customers < self.min_customers;
            any_hidden |= hide;
            let shown = |v: Value| if hide { Value::Null } else { v };
            row.extend([
                shown(json!(s.orders)),
                shown(json!(units(s.units))),
                shown(json!(money(s.gross))),
                shown(json!(money(s.returns))),
                shown(json!(money(net))),
                shown(json!(money(s.direct))),
                shown(json!(money(s.halo))),
                shown(json!(money(s.ntb))),
                json!(s.ntb_lookback),
                shown(json!(s.customers)),
                json!(hide),
                charge.map_or(Value::Null, |c| {
                    json!(money(nanos_to_micros(i128::from(c))))
                }),
                shown(
                    charge
                        .filter(|c| *c > 0)
                        .map_or(Value::Null, |c| json!(ratio(net as f64 * 1e3 / c as f64))),
                ),
            ]);
            if q.group_by == [Dim::Campaign] {
                row.extend(lift_values(key.first().and_then(|k| lifts.get(k))));
            }
            rows.push(row);
        }
        let total_row = sales
            .iter()
            .fold((0u64, 0i64, 0i64, 0i64, 0i64, 0i64, 0i64), |t, s| {
                (
                    t.0 + s.orders,
                    t.1 + s.units,
                    t.2 + s.gross,
                    t.3 + s.returns,
                    t.4 + s.direct,
                    t.5 + s.halo,
                    t.6 + s.ntb,
                )
            });
        let mut totals: Vec<Value> = q.group_by.iter().map(|_| Value::Null).collect();
        totals.extend([
            // Orders are distinct per group; their sum can count an order under two groups.
            json!(total_row.0),
            json!(units(total_row.1)),
            json!(money(total_row.2)),
            json!(money(total_row.3)),
            json!(money(total_row.2 + total_row.3)),
            json!(money(total_row.4)),
            json!(money(total_row.5)),
            json!(money(total_row.6)),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
        ]);
        if any_hidden {
            // The totals would give away what the hidden rows withhold.
            for v in totals.iter_mut() {
                *v = Value::Null;
            }
        }
        if q.group_by == [Dim::Campaign] {
            totals.extend(lift_values(None));
        }
        Ok(Report {
            report: "attribution",
            from: q.from,
            to: q.to,
            time_zone: self.tz.name().to_string(),
            dated_by: "sales by the purchase date; spend (for ROAS) by the charge's accounting date; both in the retailer's time zone".into(),
            columns,
            rows,
            totals,
            freshness: self.freshness(&q.model).await?,
            // Retailer-wide figures: for finance and admins, not advertisers.
            match_rate: if q.privacy {
                None
            } else {
                Some(self.match_rate(q).await?)
            },
            adjustments: Vec::new(),
            notes: vec![
                format!("model {}; each advertiser's credit stands alone, so campaign rows of different advertisers can share a sale", q.model),
                "totals sum the rows: an order credited to two groups counts in each".into(),
                "new-to-brand: no purchase of the brand in the prior 52 weeks; new_to_brand_lookback_days is the shortest history any of the group's sales had".into(),
                "lift: Welch's 95% interval over customers, from the holdout; arms under the privacy minimum are suppressed".into(),
            ],
        })
    }

    async fn lifts(&self, q: &Query) -> Result<BTreeMap<String, CampaignLiftRow>, ReportError> {
        let filter = Self::filter(q);
        let rows: Vec<CampaignLiftRow> = self
            .ch
            .client()
            .query(&format!(
                "SELECT ?fields FROM campaign_lift WHERE 1 = 1{filter} ORDER BY computed_at_ms"
            ))
            .fetch_all()
            .await?;
        let min = self.min_customers;
        Ok(rows
            .into_iter()
            .map(|mut r| {
                // The reader enforces the privacy minimum too, whatever the writer used.
                if r.exposed_customers < min || r.held_out_customers < min {
                    r.suppressed = 1;
                }
                (r.campaign_id.to_string(), r)
            })
            .collect())
    }

    /// "Complete through" per source: the latest event time each table holds (and, for
    /// attribution, the end of the latest run of the model).
    async fn freshness(&self, model: &str) -> Result<BTreeMap<String, String>, ReportError> {
        let rows: Vec<Fresh> = self
            .ch
            .client()
            .query(
                "SELECT 'charges' AS source, toUInt32(max(ts)) AS through FROM charges \
                 UNION ALL SELECT 'impressions' AS source, toUInt32(max(ts)) AS through FROM impressions \
                 UNION ALL SELECT 'clicks' AS source, toUInt32(max(ts)) AS through FROM clicks \
                 UNION ALL SELECT 'receipts' AS source, toUInt32(max(ts)) AS through FROM receipt_headers \
                 UNION ALL SELECT 'attribution' AS source, toUInt32(max(to_ts)) AS through FROM ( \
                   SELECT to_ts, any(shard_count) AS shards, uniqExact(shard_index) AS done \
                   FROM attribution_runs WHERE model = ? \
                   GROUP BY from_ts, to_ts, shard_count, settings_version) WHERE done = shards",
            )
            .bind(model)
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let through = if r.through == 0 {
                    "no data".to_string()
                } else {
                    chrono::DateTime::from_timestamp(i64::from(r.through), 0)
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_default()
                };
                (r.source, through)
            })
            .collect())
    }

    /// The share of the period's receipts, and of their sales, whose customer was seen by
    /// any exposure (through the identity map).
    async fn match_rate(&self, q: &Query) -> Result<Value, ReportError> {
        let tz = self.tz.name();
        let m: Matched = self
            .ch
            .client()
            .query(&format!(
                "SELECT uniqExact(receipt_id) AS receipts, uniqExactIf(receipt_id, matched) AS matched_receipts, \
                 sum(amount_micros) AS sales, sumIf(amount_micros, matched) AS matched_sales FROM ( \
                   SELECT receipt_id, amount_micros, customer_key IN ( \
                     SELECT if(c = '', user_key, c) FROM ( \
                       SELECT DISTINCT user_key FROM (SELECT user_key FROM impressions UNION ALL SELECT user_key FROM clicks)) \
                     ANY LEFT JOIN (SELECT user_key, argMax(customer_key, ts) AS c FROM identity_map GROUP BY user_key) \
                     USING user_key) AS matched \
                   FROM receipts_current WHERE toDate(ts, '{tz}') >= toDate(?) AND toDate(ts, '{tz}') <= toDate(?))"
            ))
            .bind(q.from.to_string())
            .bind(q.to.to_string())
            .fetch_one()
            .await?;
        let share = |a: f64, b: f64| {
            if b > 0.0 {
                json!(ratio(a / b))
            } else {
                Value::Null
            }
        };
        Ok(json!({
            "receipts": m.receipts,
            "matched_receipts": m.matched_receipts,
            "receipt_match_rate": share(m.matched_receipts as f64, m.receipts as f64),
            "sales": money(m.sales),
            "matched_sales": money(m.matched_sales),
            "sales_match_rate": share(m.matched_sales as f64, m.sales as f64),
        }))
    }

    /// Why a receipt's lines were credited: every credited exposure, with the rule, the lag,
    /// the model and the settings version. Names a customer's purchases: admin and finance only.
    pub async fn explain(
        &self,
        receipt_id: &str,
        model: &str,
    ) -> Result<Vec<Explanation>, ReportError> {
        Ok(self
            .ch
            .client()
            .query(
                "SELECT receipt_id, receipt_version, line_no, sku, line_amount_micros, exposure_id, \
                 exposure_kind, campaign_id, advertiser_id, scope, window_days, lag_secs, model, \
                 settings_version, weight, attributed_micros, direct, new_to_brand \
                 FROM attribution_current WHERE receipt_id = ? AND model = ? \
                 ORDER BY line_no, advertiser_id, exposure_id",
            )
            .bind(receipt_id)
            .bind(model)
            .fetch_all()
            .await?)
    }

    /// Closes an accounting month (`YYYY-MM`): freezes its delivery cells. Closing again
    /// changes nothing. Returns whether it was closed now, and the frozen totals.
    pub async fn close(
        &self,
        store: &CampaignStore,
        period: &str,
        by: &str,
        today: NaiveDate,
    ) -> Result<(bool, Value), ReportError> {
        let (first, last) = month_bounds(period).ok_or_else(|| {
            ReportError::Invalid("period".into(), "must be a month like 2026-10".into())
        })?;
        if last >= today {
            return Err(ReportError::Refused(
                "period".into(),
                format!("{period} has not ended yet in the retailer's time zone"),
            ));
        }
        let all = Query {
            from: first,
            to: last,
            group_by: Vec::new(),
            advertiser_id: None,
            campaign_id: None,
            model: "last_touch".into(),
            privacy: false,
        };
        // What the month shows now: its own ledger and any adjustment posted into it.
        let (cells, _) = self.frozen_cells(store, &all).await?;
        let closed = store
            .close_period(&ClosedPeriod {
                period: period.to_string(),
                closed_at_micros: chrono::Utc::now().timestamp_micros(),
                closed_by: by.to_string(),
                cells: serde_json::to_string(&cells)
                    .map_err(|e| ReportError::Corrupt(e.to_string()))?,
            })
            .await?;
        // Already closed (or closed by a concurrent call): answer what is frozen, not what
        // the ledger says now.
        let frozen: Vec<Cell> = if closed {
            cells
        } else {
            let stored = store
                .closed_periods()
                .await?
                .into_iter()
                .find(|p| p.period == period)
                .ok_or_else(|| ReportError::Corrupt(format!("closed period {period} vanished")))?;
            serde_json::from_str(&stored.cells)
                .map_err(|e| ReportError::Corrupt(format!("closed period {period}: {e}")))?
        };
        let mut t = empty(0, Uuid::nil(), Uuid::nil(), Uuid::nil(), "");
        for c in &frozen {
            t.add(c);
        }
        Ok((
            closed,
            json!({
                "period": period,
                "impressions": t.impressions,
                "clicks": t.clicks,
                "advertiser_charge": money(nanos_to_micros(i128::from(t.charge_nanos))),
                "media_cost": money(nanos_to_micros(i128::from(t.media_cost_nanos))),
            }),
        ))
    }
}

fn empty(day: u16, advertiser_id: Uuid, campaign_id: Uuid, line_item_id: Uuid, ch: &str) -> Cell {
    Cell {
        day,
        advertiser_id,
        campaign_id,
        line_item_id,
        ad_channel: ch.to_string(),
        impressions: 0,
        clicks: 0,
        charge_nanos: 0,
        media_cost_nanos: 0,
        invalid_impressions: 0,
        invalid_clicks: 0,
        for_period: String::new(),
    }
}

/// Micros as currency units with 6 decimals, exactly (a string, so no float rounding).
pub fn money(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let m = micros.unsigned_abs();
    format!("{sign}{}.{:06}", m / 1_000_000, m % 1_000_000)
}

fn units(millionths: i64) -> String {
    money(millionths)
}

fn ratio(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Shares `total` micros among parts given in nanos: each part's whole micros, then one
/// micro more to the parts with the largest remainders (earlier parts first on ties), so the
/// parts add up to `total` exactly.
fn apportion(nanos: &[i64], total: i64) -> Vec<i64> {
    let per = endcap_billing::NANOS_PER_MICRO;
    let mut out: Vec<i64> = nanos.iter().map(|n| n.div_euclid(per)).collect();
    let mut short = total - out.iter().sum::<i64>();
    let mut order: Vec<usize> = (0..nanos.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(nanos[i].rem_euclid(per)), i));
    for &i in order.iter().cycle().take(nanos.len().saturating_mul(2)) {
        if short == 0 {
            break;
        }
        let step = short.signum();
        out[i] += step;
        short -= step;
    }
    out
}

fn delivery_values(c: &Cell, charge: i64, media: i64) -> Vec<Value> {
    vec![
        json!(c.impressions),
        json!(c.clicks),
        if c.impressions > 0 {
            json!(ratio(c.clicks as f64 / c.impressions as f64))
        } else {
            Value::Null
        },
        json!(money(charge)),
        json!(money(media)),
        if c.clicks > 0 {
            json!(money(charge / c.clicks as i64))
        } else {
            Value::Null
        },
        json!(c.invalid_impressions),
        json!(c.invalid_clicks),
    ]
}

fn lift_values(l: Option<&CampaignLiftRow>) -> Vec<Value> {
    let Some(l) = l else {
        return vec![Value::Null; 12];
    };
    let shown = |x: f64| {
        if l.suppressed == 1 || !x.is_finite() {
            Value::Null
        } else {
            json!(ratio(x))
        }
    };
    let m = |x: f64| {
        if l.suppressed == 1 || !x.is_finite() {
            Value::Null
        } else {
            json!(money(x.round() as i64))
        }
    };
    vec![
        json!(l.exposed_customers),
        json!(l.held_out_customers),
        m(l.sales_lift),
        m(l.sales_lift_low),
        m(l.sales_lift_high),
        m(l.incremental_sales),
        m(l.incremental_low),
        m(l.incremental_high),
        shown(l.iroas),
        shown(l.iroas_low),
        shown(l.iroas_high),
        json!(l.sample_ratio_mismatch == 1),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_exact_with_six_decimals() {
        assert_eq!(money(1_234_567), "1.234567");
        assert_eq!(money(-5), "-0.000005");
        assert_eq!(money(0), "0.000000");
    }

    #[test]
    fn rows_share_the_rounded_total_exactly() {
        // Two rows of 500 nanos: the ledger's 1,000 nanos are one micro, not two.
        assert_eq!(apportion(&[500, 500], nanos_to_micros(1_000)), vec![1, 0]);
        assert_eq!(apportion(&[1_999, 2_001], 4), vec![2, 2]);
        assert_eq!(apportion(&[], 0), Vec::<i64>::new());
        let parts = [123_456_789, 987, 1_000_000_499, 3];
        let total = nanos_to_micros(parts.iter().map(|p| i128::from(*p)).sum());
        assert_eq!(apportion(&parts, total).iter().sum::<i64>(), total);
    }

    #[test]
    fn months_are_spelled_one_way() {
        assert!(month_bounds("2026-6").is_none());
        assert!(month_bounds("+2026-06").is_none());
        assert!(month_bounds("2026-06 ").is_none());
        assert!(month_bounds("2026-06").is_some());
    }

    #[test]
    fn months_have_their_real_bounds() {
        let (a, b) = month_bounds("2026-02").unwrap();
        assert_eq!(
            (a.to_string(), b.to_string()),
            ("2026-02-01".into(), "2026-02-28".into())
        );
        let (_, b) = month_bounds("2026-12").unwrap();
        assert_eq!(b.to_string(), "2026-12-31");
        assert!(month_bounds("2026-13").is_none());
        assert_eq!(
            month_of(day_of(NaiveDate::from_ymd_opt(2026, 10, 31).unwrap())),
            "2026-10"
        );
    }
}
