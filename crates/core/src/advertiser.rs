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
    /// The domains it advertises (`brand.com`): bids carry them in `adomain`, and
    /// publishers' `badv` is matched against them (a blocked `brand.com` blocks
    /// `shop.brand.com` too). None declared: the landing page's host stands in.
    #[serde(default)]
    pub domains: Vec<String>,
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
    /// Its domains (`brand.com`; at most 20 host names, stored lower-case without `www.`).
    #[serde(default)]
    pub domains: Vec<String>,
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
    /// Declared domains, normalized.
    pub domains: Vec<String>,
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
            domains: crate::rtb_fields::domains(&self.domains, "domains")?,
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

/// Body of `PATCH /v1/advertisers/{id}`: the fields an advertiser may change.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdvertiserPatch {
    /// The version read (optimistic concurrency).
    pub version: i64,
    /// Replaces the declared domains (`[]` clears them).
    #[serde(default)]
    pub domains: Option<Vec<String>>,
}

impl AdvertiserPatch {
    /// The advertiser with the patch applied, naming the first bad field.
    pub fn apply(&self, current: &Advertiser) -> Result<Advertiser, ValidationError> {
        let mut next = current.clone();
        if let Some(d) = &self.domains {
            next.domains = crate::rtb_fields::domains(d, "domains")?;
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_domains_are_validated_and_normalized() {
        let input: AdvertiserInput = serde_json::from_value(serde_json::json!({
            "name": "Brand", "currency": "USD", "domains": ["WWW.Brand.com", "brand.com", "brand.co.uk"]
        }))
        .unwrap();
        assert_eq!(
            input.validate().unwrap().domains,
            vec!["brand.com", "brand.co.uk"]
        );
        let input: AdvertiserInput = serde_json::from_value(serde_json::json!({
            "name": "Brand", "currency": "USD", "domains": ["https://brand.com/"]
        }))
        .unwrap();
        assert_eq!(input.validate().unwrap_err().field, "domains[0]");
        // Advertisers stored before domains existed read as declaring none.
        let a: Advertiser = serde_json::from_value(serde_json::json!({
            "id": AdvertiserId::generate(), "name": "Old", "currency": "USD", "version": 1,
            "created_at": "2026-12-01T00:00:00Z", "updated_at": "2026-12-01T00:00:00Z"
        }))
        .unwrap();
        assert!(a.domains.is_empty());
        let patch: AdvertiserPatch = serde_json::from_value(
            serde_json::json!({"version": 1, "domains": ["shop.brand.com"]}),
        )
        .unwrap();
        assert_eq!(patch.apply(&a).unwrap().domains, vec!["shop.brand.com"]);
    }
}
