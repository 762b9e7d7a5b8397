//! The events and the tables they land in.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An ad event: what attribution and the CTR model need to know about one exposure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdEvent {
    /// Unique per served ad; duplicates of one id count once.
    pub event_id: Uuid,
    /// When, in milliseconds since the epoch (UTC).
    pub ts_ms: i64,
    /// Hashed online user key.
    pub user_key: String,
    /// Owner.
    pub advertiser_id: Uuid,
    /// Campaign.
    pub campaign_id: Uuid,
    /// Line item.
    pub line_item_id: Uuid,
    /// Creative shown.
    pub creative_id: Uuid,
    /// Placement name.
    pub placement: String,
    /// Price charged for this event, in micros (0 for holdout ghosts).
    pub price_micros: i64,
    /// SKUs the line item promotes.
    pub promoted_skus: Vec<String>,
    /// Features the CTR model was given, as JSON.
    pub features: String,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// An identity link.
    Identity(IdentityLink),
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
    /// `identity_map`
    IdentityMap,
}

impl Table {
    /// Every table, in a fixed order.
    pub const ALL: [Table; 6] = [
        Table::Impressions,
        Table::Clicks,
        Table::ExposureHoldouts,
        Table::Conversions,
        Table::Receipts,
        Table::IdentityMap,
    ];

    /// The table's name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Impressions => "impressions",
            Table::Clicks => "clicks",
            Table::ExposureHoldouts => "exposure_holdouts",
            Table::Conversions => "conversions",
            Table::Receipts => "receipts",
            Table::IdentityMap => "identity_map",
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
            Event::Identity(_) => Table::IdentityMap,
        }
    }
}
