//! Advertisers: the brands and agencies that buy media.

use crate::{text, AdvertiserId, Currency, ValidationError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An advertiser account; every campaign belongs to one and is billed in its currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Advertiser {
    /// Its id.
    pub id: AdvertiserId,
    /// Display name.
    pub name: String,
    /// Billing currency; campaign money is in this currency.
    pub currency: Currency,
    /// Optimistic-concurrency version; PATCH must echo it.
    pub version: i64,
    /// When it was created (UTC).
    pub created_at: DateTime<Utc>,
    /// When it last changed (UTC).
    pub updated_at: DateTime<Utc>,
    /// Per-user cap over all its campaigns' impressions, if any.
    #[serde(default)]
    pub frequency_cap: Option<crate::FrequencyCap>,
}

/// Body of `POST /v1/advertisers` as received.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdvertiserInput {
    /// Display name.
    pub name: String,
    /// ISO 4217 billing currency, e.g. `USD`.
    pub currency: String,
    /// Per-user cap over all its campaigns' impressions (`{max, per}`).
    #[serde(default)]
    pub frequency_cap: Option<crate::FrequencyCap>,
}

/// A validated new advertiser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAdvertiser {
    /// Display name.
    pub name: String,
    /// Billing currency.
    pub currency: Currency,
    /// Per-user cap over all its campaigns.
    pub frequency_cap: Option<crate::FrequencyCap>,
}

impl AdvertiserInput {
    /// Checks the input, naming the first bad field.
    pub fn validate(self) -> Result<NewAdvertiser, ValidationError> {
        Ok(NewAdvertiser {
            name: text::name(&self.name, "name")?,
            currency: Currency::parse(self.currency.trim(), "currency")?,
            frequency_cap: self
                .frequency_cap
                .map(crate::FrequencyCap::validated)
                .transpose()?,
        })
    }

    /// Checks the input for a marketplace that trades in `marketplace` only: every
    /// advertiser (and so every campaign and line item) is in the retailer's currency.
    pub fn validate_for(self, marketplace: &Currency) -> Result<NewAdvertiser, ValidationError> {
        let new = self.validate()?;
        if &new.currency != marketplace {
            return Err(ValidationError::new(
                "currency",
                format!(
                    "must be the marketplace currency {}; other currencies are converted only at the OpenRTB edge",
                    marketplace.as_str()
                ),
            ));
        }
        Ok(new)
    }
}
