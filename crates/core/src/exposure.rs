//! The exposure: one ad put in front of a shopper, defined once. Tracking tokens, ad
//! events, decision-log rows and ClickHouse rows are all derived from it.

use crate::{AdvertiserId, CampaignId, CreativeId, DecisionId, LineItemId, PricingModel};
use serde::{Deserialize, Serialize};

/// Where an ad ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdChannel {
    /// The retailer's own site or app (`/v1/decisions`).
    Onsite,
    /// A publisher reached through an exchange (`/openrtb2/bid`).
    Offsite,
}

impl AdChannel {
    /// Its name in logs and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            AdChannel::Onsite => "onsite",
            AdChannel::Offsite => "offsite",
        }
    }
}

/// One ad placed in a slot for a user (or, for a holdout user, the ad that would have been).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exposure {
    /// The decision that placed it; impressions, clicks and charges carry it.
    pub decision_id: DecisionId,
    /// When it was decided, ms since the epoch (UTC); ad tables partition on it.
    pub decided_at_ms: i64,
    /// Hashed (SHA-256 hex) user key; empty when the user is unknown.
    pub user_key: String,
    /// Owner.
    pub advertiser_id: AdvertiserId,
    /// Campaign.
    pub campaign_id: CampaignId,
    /// Line item.
    pub line_item_id: LineItemId,
    /// Creative shown.
    pub creative_id: CreativeId,
    /// Onsite or offsite.
    pub channel: AdChannel,
    /// Placement name the slot answered to.
    pub placement: String,
    /// Position in the slot, 0 first.
    pub position: u16,
    /// The SKU shown (sponsored products), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    /// How the line item pays.
    pub pricing: PricingModel,
    /// Clearing price in micros: per click (CPC) or per mille (CPM).
    pub price_micros: i64,
    /// Offsite: the CPM we bid, in micros (the exchange's price may not exceed it); 0 onsite.
    #[serde(default)]
    pub bid_cpm_micros: i64,
}
