//! Writing batches to ClickHouse with RowBinary over HTTP.

use crate::{BatchWriter, Event, EventError, Table};
use clickhouse::{Client, Row};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

/// Where ClickHouse is: base URL, database and credentials, from
/// `http://[user[:password]@]host:8123[?database=NAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickHouseConfig {
    /// Base URL without credentials or query string.
    pub url: String,
    /// Database (default `default`).
    pub database: String,
    /// Longest one insert may take before the batch is spooled.
    pub timeout: Duration,
    /// User, if the URL names one.
    pub user: Option<String>,
    /// Password, if the URL carries one (never shown by `Debug`).
    pub password: Option<endcap_core::Secret>,
}

/// The URL with any password replaced, for messages.
fn redacted(raw: &str) -> String {
    match raw.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split(':').next().unwrap_or_default();
                format!("{scheme}://{user}:[redacted]@{host}")
            }
            None => raw.to_string(),
        },
        None => raw.to_string(),
    }
}

impl ClickHouseConfig {
    /// Parses `http://[user[:password]@]host:port[?database=NAME]`.
    pub fn from_url(raw_url: &str) -> Result<Self, EventError> {
        let shown = redacted(raw_url);
        let raw = shown.as_str();
        let (full_base, query) = raw_url.split_once('?').unwrap_or((raw_url, ""));
        if !(full_base.starts_with("http://") || full_base.starts_with("https://")) {
            return Err(EventError::Config(format!(
                "clickhouse url {raw:?} must be http(s)://host:port"
            )));
        }
        // Credentials travel in ClickHouse's own headers, not the URL.
        let (scheme, rest) = full_base.split_once("://").unwrap_or(("http", full_base));
        let (user, password, host) = match rest.split_once('@') {
            Some((userinfo, host)) => {
                let (u, p) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                (
                    (!u.is_empty()).then(|| u.to_string()),
                    (!p.is_empty()).then(|| endcap_core::Secret::new(p)),
                    host,
                )
            }
            None => (None, None, rest),
        };
        let base = format!("{scheme}://{host}");
        let mut database = "default".to_string();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("database", v))
                    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
                {
                    database = v.to_string()
                }
                _ => {
                    return Err(EventError::Config(format!(
                        "clickhouse url {raw:?}: only ?database=NAME (letters, digits, _) is understood"
                    )))
                }
            }
        }
        Ok(Self {
            url: base.trim_end_matches('/').to_string(),
            database,
            timeout: Duration::from_secs(10),
            user,
            password,
        })
    }

    /// A client for the server, not bound to a database.
    pub fn server_client(&self) -> Client {
        // 18.16 lacks RowBinaryWithNamesAndTypes, hence no validation (docs/ARCHITECTURE.md).
        let mut c = Client::default().with_url(&self.url).with_validation(false);
        if let Some(u) = &self.user {
            c = c.with_user(u);
        }
        if let Some(p) = &self.password {
            c = c.with_password(p.expose());
        }
        c
    }

    /// A client bound to the database.
    pub fn client(&self) -> Client {
        self.server_client().with_database(&self.database)
    }
}

/// A row of `impressions`, `clicks` and `exposure_holdouts`.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct AdRow {
    /// Event id: the decision's (one impression and one click per decision count).
    #[serde(with = "clickhouse::serde::uuid")]
    pub event_id: Uuid,
    /// The decision that placed the ad.
    #[serde(with = "clickhouse::serde::uuid")]
    pub decision_id: Uuid,
    /// Arrival, seconds since the epoch.
    pub ts: u32,
    /// Arrival, milliseconds since the epoch.
    pub ts_ms: u64,
    /// Decision time, seconds since the epoch (the partition key: a replay collapses).
    pub decision_ts: u32,
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
    /// Creative.
    #[serde(with = "clickhouse::serde::uuid")]
    pub creative_id: Uuid,
    /// `onsite` or `offsite`.
    pub channel: String,
    /// Placement.
    pub placement: String,
    /// Position in the slot.
    pub position: u16,
    /// SKU shown ("" when none).
    pub sku: String,
    /// `cpc` or `cpm`.
    pub pricing: String,
    /// Clearing price, micros per click or per mille.
    pub price_micros: i64,
    /// Offsite bid CPM, micros.
    pub bid_cpm_micros: i64,
    /// Billable charge of this event, nanos.
    pub charge_nanos: i64,
    /// Promoted SKUs.
    pub promoted_skus: Vec<String>,
}

fn pricing_name(p: endcap_core::PricingModel) -> &'static str {
    match p {
        endcap_core::PricingModel::Cpc => "cpc",
        endcap_core::PricingModel::Cpm => "cpm",
    }
}

impl From<&crate::AdEvent> for AdRow {
    fn from(e: &crate::AdEvent) -> Self {
        let x = &e.exposure;
        AdRow {
            event_id: e.event_id(),
            decision_id: x.decision_id.as_uuid(),
            ts: secs(e.ts_ms),
            ts_ms: e.ts_ms.max(0) as u64,
            decision_ts: secs(x.decided_at_ms),
            user_key: x.user_key.clone(),
            advertiser_id: x.advertiser_id.as_uuid(),
            campaign_id: x.campaign_id.as_uuid(),
            line_item_id: x.line_item_id.as_uuid(),
            creative_id: x.creative_id.as_uuid(),
            channel: x.channel.as_str().into(),
            placement: x.placement.clone(),
            position: x.position,
            sku: x.sku.clone().unwrap_or_default(),
            pricing: pricing_name(x.pricing).into(),
            price_micros: x.price_micros,
            bid_cpm_micros: x.bid_cpm_micros,
            charge_nanos: e.charge_nanos,
            promoted_skus: e.promoted_skus.clone(),
        }
    }
}

/// A row of `custom_events`.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct CustomEventRow {
    /// Event id (derived from the decision id and the name).
    #[serde(with = "clickhouse::serde::uuid")]
    pub event_id: Uuid,
    /// The decision that placed the ad.
    #[serde(with = "clickhouse::serde::uuid")]
    pub decision_id: Uuid,
    /// The event's name.
    pub name: String,
    /// Arrival, seconds since the epoch.
    pub ts: u32,
    /// Arrival, milliseconds since the epoch.
    pub ts_ms: u64,
    /// Decision time, seconds since the epoch (the partition key: a replay collapses).
    pub decision_ts: u32,
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
    /// Creative.
    #[serde(with = "clickhouse::serde::uuid")]
    pub creative_id: Uuid,
    /// `onsite` or `offsite`.
    pub channel: String,
    /// Placement.
    pub placement: String,
    /// Position in the slot.
    pub position: u16,
    /// SKU shown ("" when none).
    pub sku: String,
}

impl From<&crate::CustomEvent> for CustomEventRow {
    fn from(e: &crate::CustomEvent) -> Self {
        let x = &e.exposure;
        CustomEventRow {
            event_id: e.event_id,
            decision_id: x.decision_id.as_uuid(),
            name: e.name.clone(),
            ts: secs(e.ts_ms),
            ts_ms: e.ts_ms.max(0) as u64,
            decision_ts: secs(x.decided_at_ms),
            user_key: x.user_key.clone(),
            advertiser_id: x.advertiser_id.as_uuid(),
            campaign_id: x.campaign_id.as_uuid(),
            line_item_id: x.line_item_id.as_uuid(),
            creative_id: x.creative_id.as_uuid(),
            channel: x.channel.as_str().into(),
            placement: x.placement.clone(),
            position: x.position,
            sku: x.sku.clone().unwrap_or_default(),
        }
    }
}

/// A row of `decisions`.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct DecisionRow {
    /// Decision id.
    #[serde(with = "clickhouse::serde::uuid")]
    pub decision_id: Uuid,
    /// Request id.
    #[serde(with = "clickhouse::serde::uuid")]
    pub request_id: Uuid,
    /// Seconds since the epoch.
    pub ts: u32,
    /// Milliseconds since the epoch.
    pub ts_ms: u64,
    /// `served` or `ghost`.
    pub arm: String,
    /// `onsite` or `offsite`.
    pub channel: String,
    /// The caller's slot id.
    pub slot_id: String,
    /// Placement.
    pub placement: String,
    /// Position.
    pub position: u16,
    /// Ads the slot asked for.
    pub slot_count: u16,
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
    /// Creative.
    #[serde(with = "clickhouse::serde::uuid")]
    pub creative_id: Uuid,
    /// `cpc` or `cpm`.
    pub pricing: String,
    /// Bid, micros.
    pub bid_micros: i64,
    /// Predicted CTR.
    pub pctr: f64,
    /// eCPM, micros.
    pub ecpm_micros: i64,
    /// Clearing price, micros.
    pub price_micros: i64,
    /// Offsite bid CPM, micros.
    pub bid_cpm_micros: i64,
    /// SKU shown.
    pub sku: String,
    /// Promoted SKUs.
    pub promoted_skus: Vec<String>,
    /// Keywords.
    pub keywords: Vec<String>,
    /// Categories.
    pub categories: Vec<String>,
    /// Store.
    pub store_id: String,
    /// Page type.
    pub page_type: String,
    /// Device.
    pub device: String,
    /// Local hour.
    pub local_hour: u8,
    /// Local day of week.
    pub local_weekday: u8,
    /// Segments.
    pub segments: Vec<String>,
    /// Features as JSON.
    pub features: String,
    /// Model version.
    pub model_version: String,
    /// 1 when the slot explored.
    pub explored: u8,
    /// The search text, normalized.
    pub query: String,
    /// The keyword that matched.
    pub matched_keyword: String,
    /// `exact`, `phrase`, `broad` or "".
    pub match_type: String,
    /// The placement's bid multiplier, basis points.
    pub bid_multiplier_bps: u32,
}

impl From<&crate::DecisionRecord> for DecisionRow {
    fn from(d: &crate::DecisionRecord) -> Self {
        let x = &d.exposure;
        DecisionRow {
            decision_id: x.decision_id.as_uuid(),
            request_id: d.request_id,
            ts: secs(x.decided_at_ms),
            ts_ms: x.decided_at_ms.max(0) as u64,
            arm: d.arm.as_str().into(),
            channel: x.channel.as_str().into(),
            slot_id: d.slot_id.clone(),
            placement: x.placement.clone(),
            position: x.position,
            slot_count: d.slot_count,
            user_key: x.user_key.clone(),
            advertiser_id: x.advertiser_id.as_uuid(),
            campaign_id: x.campaign_id.as_uuid(),
            line_item_id: x.line_item_id.as_uuid(),
            creative_id: x.creative_id.as_uuid(),
            pricing: pricing_name(x.pricing).into(),
            bid_micros: d.bid_micros,
            pctr: d.pctr,
            ecpm_micros: d.ecpm_micros,
            price_micros: x.price_micros,
            bid_cpm_micros: x.bid_cpm_micros,
            sku: x.sku.clone().unwrap_or_default(),
            promoted_skus: d.promoted_skus.clone(),
            keywords: d.keywords.clone(),
            categories: d.categories.clone(),
            store_id: d.store_id.clone(),
            page_type: d.page_type.clone(),
            device: d.device.clone(),
            local_hour: d.local_hour,
            local_weekday: d.local_weekday,
            segments: d.segments.clone(),
            features: d.features.clone(),
            model_version: d.model_version.clone(),
            explored: u8::from(d.explored),
            query: d.query.clone(),
            matched_keyword: d.matched_keyword.clone(),
            match_type: d.match_type.clone(),
            bid_multiplier_bps: d.bid_multiplier_bps,
        }
    }
}

/// A row of `charges`.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct ChargeRow {
    /// Decision charged for.
    #[serde(with = "clickhouse::serde::uuid")]
    pub decision_id: Uuid,
    /// `impression`, `click` or `bill`.
    pub source: String,
    /// `billable`, `over_budget`, `duplicate`, `test_traffic`, `invalid_traffic`, `bot`,
    /// `no_user_agent`, `too_fast`.
    pub reason: String,
    /// 1 when billed.
    pub billable: u8,
    /// Seconds since the epoch.
    pub ts: u32,
    /// Milliseconds since the epoch.
    pub ts_ms: u64,
    /// Accounting date, days since 1970-01-01 (ClickHouse `Date`).
    pub accounting_date: u16,
    /// Advertiser.
    #[serde(with = "clickhouse::serde::uuid")]
    pub advertiser_id: Uuid,
    /// Campaign.
    #[serde(with = "clickhouse::serde::uuid")]
    pub campaign_id: Uuid,
    /// Line item.
    #[serde(with = "clickhouse::serde::uuid")]
    pub line_item_id: Uuid,
    /// Advertiser charge, nanos.
    pub charge_nanos: i64,
    /// Media cost, nanos.
    pub media_cost_nanos: i64,
    /// Currency.
    pub currency: String,
    /// `onsite` or `offsite`.
    pub channel: String,
}

impl From<&crate::ChargeRecord> for ChargeRow {
    fn from(c: &crate::ChargeRecord) -> Self {
        ChargeRow {
            decision_id: c.decision_id,
            source: c.source.as_str().into(),
            reason: c.reason.as_str().into(),
            billable: u8::from(c.billable()),
            ts: secs(c.ts_ms),
            ts_ms: c.ts_ms.max(0) as u64,
            accounting_date: c.accounting_day.clamp(0, i32::from(u16::MAX)) as u16,
            advertiser_id: c.advertiser_id,
            campaign_id: c.campaign_id,
            line_item_id: c.line_item_id,
            charge_nanos: c.charge_nanos,
            media_cost_nanos: c.media_cost_nanos,
            currency: c.currency.clone(),
            channel: c.channel.clone(),
        }
    }
}

/// A row of `conversions`.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct ConversionRow {
    /// Event id.
    #[serde(with = "clickhouse::serde::uuid")]
    pub event_id: Uuid,
    /// Seconds since the epoch.
    pub ts: u32,
    /// Milliseconds since the epoch.
    pub ts_ms: u64,
    /// Hashed user key.
    pub user_key: String,
    /// Order id.
    pub order_id: String,
    /// SKUs.
    pub skus: Vec<String>,
    /// Amount, micros.
    pub amount_micros: i64,
    /// Currency.
    pub currency: String,
}

/// A row of `receipts`.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct ReceiptRow {
    /// Receipt id.
    pub receipt_id: String,
    /// Version.
    pub version: i64,
    /// Line number.
    pub line_no: u32,
    /// Hashed customer key.
    pub customer_key: String,
    /// Store.
    pub store_id: String,
    /// Channel.
    pub channel: String,
    /// Seconds since the epoch.
    pub ts: u32,
    /// Milliseconds since the epoch.
    pub ts_ms: u64,
    /// SKU.
    pub sku: String,
    /// Brand.
    pub brand: String,
    /// Category.
    pub category: String,
    /// Units.
    pub quantity: i32,
    /// Amount, micros.
    pub amount_micros: i64,
}

/// A row of `receipt_headers`.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct ReceiptHeaderRow {
    /// Receipt id.
    pub receipt_id: String,
    /// Version.
    pub version: i64,
    /// Lines in this version (0: voided).
    pub line_count: u32,
    /// Hashed customer key.
    pub customer_key: String,
    /// Store.
    pub store_id: String,
    /// Channel.
    pub channel: String,
    /// Seconds since the epoch.
    pub ts: u32,
    /// Milliseconds since the epoch.
    pub ts_ms: u64,
}

impl From<&crate::ReceiptHeaderEvent> for ReceiptHeaderRow {
    fn from(h: &crate::ReceiptHeaderEvent) -> Self {
        Self {
            receipt_id: h.receipt_id.clone(),
            version: h.version,
            line_count: h.line_count,
            customer_key: h.customer_key.clone(),
            store_id: h.store_id.clone(),
            channel: h.channel.clone(),
            ts: secs(h.ts_ms),
            ts_ms: h.ts_ms.max(0) as u64,
        }
    }
}

/// A row of `identity_map`.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct IdentityRow {
    /// Hashed user key.
    pub user_key: String,
    /// Hashed customer key.
    pub customer_key: String,
    /// Seconds since the epoch.
    pub ts: u32,
}

fn secs(ms: i64) -> u32 {
    // DateTime is u32 seconds; clamp rather than wrap for out-of-range input.
    (ms.max(0) / 1000).min(i64::from(u32::MAX)) as u32
}

/// Writes batches to ClickHouse, one INSERT per table present in the batch.
#[derive(Clone)]
pub struct ClickHouseWriter {
    client: Client,
    timeout: Duration,
}

impl ClickHouseWriter {
    /// A writer for the configured database (apply the schema first: [`crate::apply_schema`]).
    pub fn new(config: &ClickHouseConfig) -> Self {
        Self {
            client: config.client(),
            timeout: config.timeout,
        }
    }

    async fn insert<T>(&self, table: Table, rows: Vec<T>) -> Result<(), EventError>
    where
        T: Row + Serialize + Send + Sync + 'static,
        for<'a> T: Row<Value<'a> = T>,
        T: clickhouse::RowWrite,
    {
        if rows.is_empty() {
            return Ok(());
        }
        let work = async {
            let mut ins = self.client.insert::<T>(table.name()).await?;
            for r in &rows {
                ins.write(r).await?;
            }
            ins.end().await?;
            Ok::<(), EventError>(())
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| EventError::Timeout(self.timeout))?
    }
}

impl BatchWriter for ClickHouseWriter {
    async fn write(&self, batch: &[Event]) -> Result<(), EventError> {
        let (mut imp, mut clk, mut hold, mut conv, mut rec, mut ids) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        let (mut dec, mut chg, mut heads, mut custom) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for e in batch {
            match e {
                Event::Impression(a) => imp.push(AdRow::from(a)),
                Event::Click(a) => clk.push(AdRow::from(a)),
                Event::HoldoutExposure(a) => hold.push(AdRow::from(a)),
                Event::Decision(d) => dec.push(DecisionRow::from(d.as_ref())),
                Event::Charge(c) => chg.push(ChargeRow::from(c)),
                Event::Custom(c) => custom.push(CustomEventRow::from(c)),
                Event::Conversion(c) => conv.push(ConversionRow {
                    event_id: c.event_id,
                    ts: secs(c.ts_ms),
                    ts_ms: c.ts_ms.max(0) as u64,
                    user_key: c.user_key.clone(),
                    order_id: c.order_id.clone(),
                    skus: c.skus.clone(),
                    amount_micros: c.amount_micros,
                    currency: c.currency.clone(),
                }),
                Event::ReceiptLine(r) => rec.push(ReceiptRow {
                    receipt_id: r.receipt_id.clone(),
                    version: r.version,
                    line_no: r.line_no,
                    customer_key: r.customer_key.clone(),
                    store_id: r.store_id.clone(),
                    channel: r.channel.clone(),
                    ts: secs(r.ts_ms),
                    ts_ms: r.ts_ms.max(0) as u64,
                    sku: r.sku.clone(),
                    brand: r.brand.clone(),
                    category: r.category.clone(),
                    quantity: r.quantity,
                    amount_micros: r.amount_micros,
                }),
                Event::ReceiptHeader(h) => heads.push(ReceiptHeaderRow::from(h)),
                Event::Identity(i) => ids.push(IdentityRow {
                    user_key: i.user_key.clone(),
                    customer_key: i.customer_key.clone(),
                    ts: secs(i.ts_ms),
                }),
            }
        }
        // A failure part-way leaves some tables written; the whole batch is then spooled and
        // replayed, and the ReplacingMergeTree keys collapse what was written twice.
        self.insert(Table::Impressions, imp).await?;
        self.insert(Table::Clicks, clk).await?;
        self.insert(Table::ExposureHoldouts, hold).await?;
        self.insert(Table::Conversions, conv).await?;
        self.insert(Table::Receipts, rec).await?;
        // Headers after their lines: a header names the current version, so it must never be
        // visible before that version's lines are.
        self.insert(Table::ReceiptHeaders, heads).await?;
        self.insert(Table::IdentityMap, ids).await?;
        self.insert(Table::Decisions, dec).await?;
        self.insert(Table::Charges, chg).await?;
        self.insert(Table::CustomEvents, custom).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_the_database() {
        let c = ClickHouseConfig::from_url("http://127.0.0.1:8123/?database=ev_1").unwrap();
        assert_eq!(
            (c.url.as_str(), c.database.as_str()),
            ("http://127.0.0.1:8123", "ev_1")
        );
        assert_eq!(
            ClickHouseConfig::from_url("http://h:1").unwrap().database,
            "default"
        );
        assert!(ClickHouseConfig::from_url("tcp://h:9000").is_err());
        assert!(ClickHouseConfig::from_url("http://h:1?database=a;drop").is_err());
        assert!(ClickHouseConfig::from_url("http://h:1?user=x").is_err());
    }
}

#[cfg(test)]
mod url_tests {
    use super::*;

    #[test]
    fn credentials_come_out_of_the_url_and_are_never_shown() {
        let c = ClickHouseConfig::from_url(
            "https://ingest:s3cret-pass@ch.example:8443?database=endcap",
        )
        .unwrap();
        assert_eq!(c.url, "https://ch.example:8443");
        assert_eq!(c.user.as_deref(), Some("ingest"));
        assert_eq!(c.password.as_ref().map(|p| p.expose()), Some("s3cret-pass"));
        assert_eq!(c.database, "endcap");
        assert!(!format!("{c:?}").contains("s3cret"));
        let e =
            ClickHouseConfig::from_url("https://ingest:s3cret-pass@ch.example?db=x").unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
        let plain = ClickHouseConfig::from_url("http://127.0.0.1:8123").unwrap();
        assert_eq!((plain.user, plain.password), (None, None));
    }
}
