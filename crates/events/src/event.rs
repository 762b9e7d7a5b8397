//! The events and the tables they land in.

use endcap_core::Exposure;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An impression, a click or a holdout ghost: an [`Exposure`] and when the event arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdEvent {
    /// When the event arrived, ms since the epoch (UTC); for ghosts, the decision time.
    pub ts_ms: i64,
    /// The ad and the decision that placed it.
    #[serde(flatten)]
    pub exposure: Exposure,
    /// Billable advertiser charge of this event, nanos (the ledger holds the whole story).
    #[serde(default)]
    pub charge_nanos: i64,
    /// SKUs the line item promotes (what attribution credits).
    #[serde(default)]
    pub promoted_skus: Vec<String>,
}

impl AdEvent {
    /// An event for an exposure at `ts_ms`.
    pub fn new(exposure: Exposure, ts_ms: i64, promoted_skus: Vec<String>) -> Self {
        Self {
            ts_ms,
            exposure,
            charge_nanos: 0,
            promoted_skus,
        }
    }

    /// The event's id: its decision's (one impression and one click per decision count).
    pub fn event_id(&self) -> Uuid {
        self.exposure.decision_id.as_uuid()
    }
}

/// A custom event of a placed ad (add to cart, view-through, or another configured name),
/// from its signed URL: logged, never charged. One per decision and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomEvent {
    /// Its id, derived from the decision id and the name (the dedup key: a replay collapses).
    pub event_id: Uuid,
    /// The event's name (`add_to_cart`, ...).
    pub name: String,
    /// When it arrived, ms since the epoch (UTC).
    pub ts_ms: i64,
    /// The ad and the decision that placed it.
    #[serde(flatten)]
    pub exposure: Exposure,
}

/// Which arm of a decision a decision-log row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    /// The ad was served (onsite) or bid (offsite).
    Served,
    /// The user is in the campaign's holdout: the ad would have been served.
    Ghost,
}

impl Arm {
    /// Its name in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Arm::Served => "served",
            Arm::Ghost => "ghost",
        }
    }
}

/// One row of the decision log: a filled slot or a ghost, with the request's context and
/// the model's view of it, written at decision time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// The placed ad.
    #[serde(flatten)]
    pub exposure: Exposure,
    /// The HTTP request (one request decides many slots).
    pub request_id: Uuid,
    /// Served or ghost.
    pub arm: Arm,
    /// The caller's slot id (placement id, or OpenRTB imp id).
    pub slot_id: String,
    /// Ads the slot asked for.
    pub slot_count: u16,
    /// The line item's bid, micros per click or per mille.
    pub bid_micros: i64,
    /// Predicted CTR.
    pub pctr: f64,
    /// eCPM it ranked with, micros.
    pub ecpm_micros: i64,
    /// SKUs the line item promotes.
    pub promoted_skus: Vec<String>,
    /// Search keywords of the request, normalized.
    pub keywords: Vec<String>,
    /// Page categories.
    pub categories: Vec<String>,
    /// Store (geo), "" when none.
    pub store_id: String,
    /// Page type, "" when none.
    pub page_type: String,
    /// Device class, "" when unknown.
    pub device: String,
    /// Retailer-local hour, 0..24.
    pub local_hour: u8,
    /// Retailer-local day of week, Monday 0.
    pub local_weekday: u8,
    /// The user's segments.
    pub segments: Vec<String>,
    /// The model's feature values, as JSON.
    pub features: String,
    /// The model that scored it.
    pub model_version: String,
    /// The slot explored: a cold-start draw scored new line items.
    #[serde(default)]
    pub explored: bool,
    /// The shopper's search text (`context.query`), normalized (lower case, single
    /// spaces); "" off search pages.
    #[serde(default)]
    pub query: String,
    /// The line item's keyword that matched the search ("" when none did or it targets
    /// none).
    #[serde(default)]
    pub matched_keyword: String,
    /// How it matched: `exact`, `phrase`, `broad`, or "".
    #[serde(default)]
    pub match_type: String,
    /// The placement's bid multiplier, basis points (10,000 = x1); `bid_micros` is the
    /// bid after it.
    #[serde(default = "unit_multiplier")]
    pub bid_multiplier_bps: u32,
}

/// x1 in basis points: rows written before multipliers existed.
fn unit_multiplier() -> u32 {
    10_000
}

/// What triggered a charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChargeSource {
    /// An impression (CPM line items onsite).
    Impression,
    /// A click (CPC line items).
    Click,
    /// An exchange's billing notice (offsite: media cost, and CPM advertiser charge).
    Bill,
}

impl ChargeSource {
    /// Its name in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            ChargeSource::Impression => "impression",
            ChargeSource::Click => "click",
            ChargeSource::Bill => "bill",
        }
    }

    /// The source named `name` in a table.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Impression, Self::Click, Self::Bill]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// Whether a ledger row is billed, and why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChargeReason {
    /// Billed.
    Billable,
    /// The part of a charge past the daily or total budget.
    OverBudget,
    /// The event was seen before.
    Duplicate,
    /// Test traffic (OpenRTB `test=1`).
    TestTraffic,
    /// Invalid traffic: a click with no impression seen, when refused.
    InvalidTraffic,
    /// Invalid traffic: a known bot or crawler's user agent.
    Bot,
    /// Invalid traffic: no user agent at all.
    NoUserAgent,
    /// Invalid traffic: a click sooner after its decision than a person can click.
    TooFast,
    /// Invalid traffic: a user, IP prefix or placement clicking far faster than its history.
    ClickRate,
    /// A billed charge taken back after the traffic was found invalid: the negative of the
    /// original, dated on its accounting day (a closed month's is credited as an adjustment
    /// to the next open month). Billable, so ledger sums net it out.
    ReversedInvalid,
}

impl ChargeReason {
    /// Its name in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            ChargeReason::Billable => "billable",
            ChargeReason::OverBudget => "over_budget",
            ChargeReason::Duplicate => "duplicate",
            ChargeReason::TestTraffic => "test_traffic",
            ChargeReason::InvalidTraffic => "invalid_traffic",
            ChargeReason::Bot => "bot",
            ChargeReason::NoUserAgent => "no_user_agent",
            ChargeReason::TooFast => "too_fast",
            ChargeReason::ClickRate => "click_rate",
            ChargeReason::ReversedInvalid => "reversed_invalid",
        }
    }
}

/// One row of the append-only charge ledger. Spend, budgets and reports read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeRecord {
    /// The decision charged for.
    pub decision_id: Uuid,
    /// What triggered it.
    pub source: ChargeSource,
    /// Billed or why not.
    pub reason: ChargeReason,
    /// When, ms since the epoch (UTC).
    pub ts_ms: i64,
    /// The accounting date in the retailer's time zone, days since 1970-01-01.
    pub accounting_day: i32,
    /// Owner.
    pub advertiser_id: Uuid,
    /// Campaign.
    pub campaign_id: Uuid,
    /// Line item.
    pub line_item_id: Uuid,
    /// Advertiser charge, nanos.
    pub charge_nanos: i64,
    /// What the exchange bills us, nanos (offsite; 0 onsite).
    pub media_cost_nanos: i64,
    /// ISO 4217 marketplace currency.
    pub currency: String,
    /// `onsite` or `offsite` (empty in rows written before it was recorded).
    #[serde(default)]
    pub channel: String,
}

impl ChargeRecord {
    /// Whether this row is billed to the advertiser.
    pub fn billable(&self) -> bool {
        matches!(
            self.reason,
            ChargeReason::Billable | ChargeReason::ReversedInvalid
        )
    }
}

/// An online purchase reported by the retailer's site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversionEvent {
    /// Unique id; duplicates count once.
    pub event_id: Uuid,
    /// When, in milliseconds since the epoch (UTC).
    pub ts_ms: i64,
    /// Hashed online user key.
    pub user_key: String,
    /// The retailer's order id.
    pub order_id: String,
    /// SKUs bought.
    pub skus: Vec<String>,
    /// Order amount in micros.
    pub amount_micros: i64,
    /// ISO 4217 currency.
    pub currency: String,
}

/// One line of a receipt, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptLineEvent {
    /// The retailer's receipt id.
    pub receipt_id: String,
    /// Correction counter; the highest version of a receipt wins.
    pub version: i64,
    /// Position of the line in the receipt.
    pub line_no: u32,
    /// Hashed customer key.
    pub customer_key: String,
    /// Store.
    pub store_id: String,
    /// `in_store`, `online` or `pickup`.
    pub channel: String,
    /// When, in milliseconds since the epoch (UTC).
    pub ts_ms: i64,
    /// Product.
    pub sku: String,
    /// Brand ("" when unknown).
    pub brand: String,
    /// Category ("" when unknown).
    pub category: String,
    /// Units (negative for returns).
    pub quantity: i32,
    /// Amount in micros (negative for returns).
    pub amount_micros: i64,
}

/// A receipt version's header: what says which version of a receipt is current and whether
/// it was voided (a version with no lines), so readers never sum two versions of one receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptHeaderEvent {
    /// The retailer's receipt id.
    pub receipt_id: String,
    /// Correction counter; the highest version of a receipt wins.
    pub version: i64,
    /// Lines in this version (0: the receipt is voided).
    pub line_count: u32,
    /// Hashed customer key.
    pub customer_key: String,
    /// Store.
    pub store_id: String,
    /// `in_store`, `online` or `pickup`.
    pub channel: String,
    /// When, in milliseconds since the epoch (UTC).
    pub ts_ms: i64,
}

/// A link from an online user key to a loyalty customer key (both hashed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityLink {
    /// Hashed online user key.
    pub user_key: String,
    /// Hashed customer key.
    pub customer_key: String,
    /// When the link was learnt, in milliseconds since the epoch.
    pub ts_ms: i64,
}

/// Anything the event log records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// An ad was rendered.
    Impression(AdEvent),
    /// An ad was clicked.
    Click(AdEvent),
    /// A holdout user would have been shown this ad.
    HoldoutExposure(AdEvent),
    /// An online purchase.
    Conversion(ConversionEvent),
    /// A receipt line.
    ReceiptLine(ReceiptLineEvent),
    /// A receipt version's header.
    ReceiptHeader(ReceiptHeaderEvent),
    /// An identity link.
    Identity(IdentityLink),
    /// A decision-log row.
    Decision(Box<DecisionRecord>),
    /// A charge-ledger row.
    Charge(ChargeRecord),
    /// A custom event of a placed ad.
    Custom(CustomEvent),
}

/// The tables events land in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// `impressions`
    Impressions,
    /// `clicks`
    Clicks,
    /// `exposure_holdouts`
    ExposureHoldouts,
    /// `conversions`
    Conversions,
    /// `receipts`
    Receipts,
    /// `receipt_headers`
    ReceiptHeaders,
    /// `identity_map`
    IdentityMap,
    /// `decisions`
    Decisions,
    /// `charges`
    Charges,
    /// `custom_events`
    CustomEvents,
}

impl Table {
    /// Every table, in a fixed order.
    pub const ALL: [Table; 10] = [
        Table::Impressions,
        Table::Clicks,
        Table::ExposureHoldouts,
        Table::Conversions,
        Table::Receipts,
        Table::ReceiptHeaders,
        Table::IdentityMap,
        Table::Decisions,
        Table::Charges,
        Table::CustomEvents,
    ];

    /// The table's name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Impressions => "impressions",
            Table::Clicks => "clicks",
            Table::ExposureHoldouts => "exposure_holdouts",
            Table::Conversions => "conversions",
            Table::Receipts => "receipts",
            Table::ReceiptHeaders => "receipt_headers",
            Table::IdentityMap => "identity_map",
            Table::Decisions => "decisions",
            Table::Charges => "charges",
            Table::CustomEvents => "custom_events",
        }
    }
}

impl Event {
    /// The table this event lands in.
    pub fn table(&self) -> Table {
        match self {
            Event::Impression(_) => Table::Impressions,
            Event::Click(_) => Table::Clicks,
            Event::HoldoutExposure(_) => Table::ExposureHoldouts,
            Event::Conversion(_) => Table::Conversions,
            Event::ReceiptLine(_) => Table::Receipts,
            Event::ReceiptHeader(_) => Table::ReceiptHeaders,
            Event::Identity(_) => Table::IdentityMap,
            Event::Decision(_) => Table::Decisions,
            Event::Charge(_) => Table::Charges,
            Event::Custom(_) => Table::CustomEvents,
        }
    }

    /// When it happened, in milliseconds since the epoch (what retention measures age by).
    pub fn ts_ms(&self) -> i64 {
        match self {
            Event::Impression(a) | Event::Click(a) | Event::HoldoutExposure(a) => a.ts_ms,
            Event::Conversion(c) => c.ts_ms,
            Event::ReceiptLine(r) => r.ts_ms,
            Event::ReceiptHeader(h) => h.ts_ms,
            Event::Identity(l) => l.ts_ms,
            Event::Decision(d) => d.exposure.decided_at_ms,
            Event::Charge(c) => c.ts_ms,
            Event::Custom(c) => c.ts_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_line_written_before_keywords_and_multipliers_reads_as_x1_without_a_keyword() {
        let old = serde_json::json!({
            "decision_id": "0190b3f0-0000-7000-8000-000000000001",
            "decided_at_ms": 1, "user_key": "", "advertiser_id": "0190b3f0-0000-7000-8000-000000000002",
            "campaign_id": "0190b3f0-0000-7000-8000-000000000003",
            "line_item_id": "0190b3f0-0000-7000-8000-000000000004",
            "creative_id": "0190b3f0-0000-7000-8000-000000000005",
            "channel": "onsite", "placement": "search-top", "position": 0, "sku": null,
            "pricing": "cpc", "price_micros": 1, "bid_cpm_micros": 0,
            "request_id": "0190b3f0-0000-7000-8000-000000000006", "arm": "served",
            "slot_id": "search-top", "slot_count": 1, "bid_micros": 2, "pctr": 0.1,
            "ecpm_micros": 200, "promoted_skus": [], "keywords": [], "categories": [],
            "store_id": "", "page_type": "", "device": "", "local_hour": 0, "local_weekday": 0,
            "segments": [], "features": "{}", "model_version": "m"
        });
        let d: DecisionRecord = serde_json::from_value(old).unwrap();
        assert_eq!(d.bid_multiplier_bps, 10_000);
        assert!(d.query.is_empty() && d.matched_keyword.is_empty() && d.match_type.is_empty());
    }
}
