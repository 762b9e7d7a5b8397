//! Endcap's domain model.
//!
//! Owns the types every other crate speaks: typed ids, money as integer micros with an
//! ISO 4217 currency, advertisers, campaigns, line items, creatives, targeting, API roles,
//! events and receipts. Untrusted input enters through the `*Input` / `*Patch` types, whose
//! `validate` / `apply` turn it into domain values or a [`ValidationError`] naming the field.
#![warn(missing_docs)]

mod access;
mod advertiser;
mod bid;
mod campaign;
mod creative;
mod error;
mod events;
mod exposure;
mod ids;
mod keyword;
mod line_item;
mod money;
pub mod native;
pub mod rtb_fields;
mod status;
mod text;

pub use access::{Principal, Role};
pub use advertiser::{Advertiser, AdvertiserInput, AdvertiserPatch, NewAdvertiser};
pub use bid::{
    check_multiplier_placements, placement_multipliers, BidMultiplier, PlacementMultipliers,
    MAX_PLACEMENT_MULTIPLIERS,
};
pub use campaign::{
    AttributionInput, AttributionModel, AttributionPatch, AttributionSettings, Budget, BudgetInput,
    BudgetPatch, Campaign, CampaignInput, CampaignPatch, MatchScope, NewCampaign, WindowDays,
};
mod secret;
pub use creative::{
    Creative, CreativeInput, CreativeKind, CreativePatch, NewCreative, Review, ReviewInput,
    ReviewStatus,
};
pub use error::ValidationError;
pub use events::{Channel, EventKind, HashedKey, Receipt, ReceiptLine, Sku};
pub use exposure::{AdChannel, Exposure};
pub use ids::{v7_now, AdvertiserId, ApiKeyId, CampaignId, CreativeId, DecisionId, LineItemId};
pub use keyword::{match_words, Keyword, KeywordFit, KeywordMatch, KeywordSet, MatchType, Search};
pub use line_item::{
    CapPeriod, Device, FrequencyCap, LineItem, LineItemInput, LineItemPatch, NewLineItem, Pricing,
    PricingModel, SegmentOwners, Targeting,
};
pub use money::{Currency, Micros};
pub use native::{NativeAssets, NativeLayout};
pub use secret::Secret;
pub use status::Status;

/// A stable 64-bit hash of bytes (FNV-1a): the same on every run and machine, for shards
/// and buckets that must not move between processes. Not for untrusted keys in maps.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Timestamps: always UTC.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// Checks a free-text label or name (trimmed, non-empty, at most 200 characters, no
/// control characters), naming `field` when it is refused.
pub fn validate_label(raw: &str, field: &str) -> Result<String, ValidationError> {
    text::name(raw, field)
}
