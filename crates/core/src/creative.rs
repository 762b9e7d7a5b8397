//! Creatives: what a line item actually shows.

use crate::{
    text, AdvertiserId, CampaignId, CreativeId, LineItem, LineItemId, NativeAssets, Status,
    ValidationError,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The kind of ad a creative renders as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CreativeKind {
    /// A product tile rendered by the retailer from its catalog (needs `sku`).
    SponsoredProduct,
    /// An image of a fixed size (needs `image_url`, `width`, `height`).
    Banner,
    /// Assets the page lays out itself (needs `image_url`).
    Native,
}

/// Where a creative stands in review: only approved creatives serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    /// New: waiting for an admin.
    Pending,
    /// An admin approved it: it may serve.
    Approved,
    /// An admin rejected it (the reason says why): it never serves.
    Rejected,
}

/// A creative's review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Review {
    /// Where it stands.
    pub status: ReviewStatus,
    /// Why (required to reject).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who decided (the audit log's actor label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed_by: Option<String>,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed_at: Option<DateTime<Utc>>,
}

impl Review {
    /// A new creative's review: pending.
    pub fn pending() -> Self {
        Self {
            status: ReviewStatus::Pending,
            reason: None,
            reviewed_by: None,
            reviewed_at: None,
        }
    }

    /// Creatives stored before review existed were serving already; they stay approved
    /// (and say so) rather than stop every campaign at the upgrade.
    fn grandfathered() -> Self {
        Self {
            status: ReviewStatus::Approved,
            reason: Some("created before creative review".into()),
            reviewed_by: None,
            reviewed_at: None,
        }
    }
}

/// Body of `POST /v1/creatives/{id}/review` (admins).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewInput {
    /// `approved` or `rejected`.
    pub status: ReviewStatus,
    /// Why; required to reject, at most 500 characters.
    #[serde(default)]
    pub reason: Option<String>,
    /// The creative's version the reviewer saw (a creative changed since is not decided on).
    pub version: i64,
}

impl ReviewInput {
    /// The review it records, by `actor` at `now`; names the bad field.
    pub fn validate(&self, actor: &str, now: DateTime<Utc>) -> Result<Review, ValidationError> {
        if self.status == ReviewStatus::Pending {
            return Err(ValidationError::new(
                "status",
                "must be approved or rejected",
            ));
        }
        let reason = match self.reason.as_deref().map(str::trim) {
            Some(r) if r.chars().count() > 500 => {
                return Err(ValidationError::new(
                    "reason",
                    "must be at most 500 characters",
                ))
            }
            Some(r) if r.chars().any(char::is_control) => {
                return Err(ValidationError::new(
                    "reason",
                    "must not contain control characters",
                ))
            }
            Some("") | None if self.status == ReviewStatus::Rejected => {
                return Err(ValidationError::new("reason", "is required to reject"))
            }
            Some("") | None => None,
            Some(r) => Some(r.to_string()),
        };
        Ok(Review {
            status: self.status,
            reason,
            reviewed_by: Some(actor.to_string()),
            reviewed_at: Some(now),
        })
    }
}

impl Creative {
    /// The advertiser domain its landing page is on: the click URL's host, lower-case,
    /// without `www.` (for `adomain` and publishers' `badv` blocking).
    pub fn click_domain(&self) -> String {
        url::Url::parse(&self.click_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
            .map(|h| h.trim_start_matches("www.").to_string())
            .unwrap_or_default()
    }

    /// Whether its URLs pass today's rules (creatives stored before them may not): serving
    /// takes only creatives that do.
    pub fn urls_are_safe(&self) -> bool {
        let image_ok = self
            .image_url
            .as_deref()
            .is_none_or(|u| text::url(u, "image_url", text::Scheme::Https).is_ok());
        image_ok && text::url(&self.click_url, "click_url", text::Scheme::HttpOrHttps).is_ok()
    }
}

/// A creative as stored and returned by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Creative {
    /// Its id.
    pub id: CreativeId,
    /// Parent line item.
    pub line_item_id: LineItemId,
    /// The line item's campaign.
    pub campaign_id: CampaignId,
    /// Owner.
    pub advertiser_id: AdvertiserId,
    /// Kind.
    pub kind: CreativeKind,
    /// Product shown (sponsored products).
    pub sku: Option<String>,
    /// Image (banner, native).
    pub image_url: Option<String>,
    /// Landing page a click redirects to.
    pub click_url: String,
    /// Pixel width (banner).
    pub width: Option<u32>,
    /// Pixel height (banner).
    pub height: Option<u32>,
    /// Its review: only approved creatives serve.
    #[serde(default = "Review::grandfathered")]
    pub review: Review,
    /// Optimistic-concurrency version.
    pub version: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Native assets beyond the main image (native creatives only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native: Option<NativeAssets>,
    /// IAB Content Taxonomy 1.0 categories of what it advertises (`IAB8-5`); set by the
    /// advertiser, checked at review; publishers' `bcat` blocks them (and what is under them).
    #[serde(default)]
    pub iab_categories: Vec<String>,
    /// The app it promotes (OpenRTB `bundle`, e.g. `com.brand.app`); publishers' `bapp` blocks it.
    #[serde(default)]
    pub app_bundle: Option<String>,
    /// OpenRTB creative attributes (list 5.3, 1..=17, e.g. 6 "in-banner video"); publishers'
    /// `battr` blocks them.
    #[serde(default)]
    pub attributes: Vec<u8>,
}

/// Body of `POST /v1/line-items/{id}/creatives` as received.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreativeInput {
    /// Kind.
    pub kind: CreativeKind,
    /// Product (required for `sponsored_product`).
    #[serde(default)]
    pub sku: Option<String>,
    /// Image URL (required for `banner` and `native`), absolute https.
    #[serde(default)]
    pub image_url: Option<String>,
    /// Landing page, absolute http(s).
    pub click_url: String,
    /// Pixel width (required for `banner`), 1..=4096.
    #[serde(default)]
    pub width: Option<u32>,
    /// Pixel height (required for `banner`), 1..=4096.
    #[serde(default)]
    pub height: Option<u32>,
    /// Native assets beyond the main image (`native` only): headline, description, sponsor
    /// (default: the advertiser's name), icon, call to action, price, rating, display URL.
    #[serde(default)]
    pub native: Option<NativeAssets>,
    /// IAB Content Taxonomy 1.0 ids (`IAB8`, `IAB8-5`), at most 10.
    #[serde(default)]
    pub iab_categories: Vec<String>,
    /// The app it promotes (OpenRTB `bundle`).
    #[serde(default)]
    pub app_bundle: Option<String>,
    /// OpenRTB creative attribute ids (list 5.3, 1..=17).
    #[serde(default)]
    pub attributes: Vec<u8>,
}

/// A validated new creative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCreative {
    /// Kind.
    pub kind: CreativeKind,
    /// Product.
    pub sku: Option<String>,
    /// Image URL.
    pub image_url: Option<String>,
    /// Landing page.
    pub click_url: String,
    /// Width.
    pub width: Option<u32>,
    /// Height.
    pub height: Option<u32>,
    /// Native assets.
    pub native: Option<NativeAssets>,
    /// IAB categories, normalized.
    pub iab_categories: Vec<String>,
    /// App bundle.
    pub app_bundle: Option<String>,
    /// Creative attributes, sorted.
    pub attributes: Vec<u8>,
}

fn size(v: Option<u32>, field: &str, required: bool) -> Result<Option<u32>, ValidationError> {
    match v {
        None if required => Err(ValidationError::new(field, "is required for banners")),
        Some(n) if !(1..=4096).contains(&n) => {
            Err(ValidationError::new(field, "must be between 1 and 4096"))
        }
        v => Ok(v),
    }
}

impl CreativeInput {
    /// Checks the input against its line item, naming the first bad field.
    pub fn validate(&self, line_item: &LineItem) -> Result<NewCreative, ValidationError> {
        if line_item.status == Status::Archived {
            return Err(ValidationError::new(
                "line_item_id",
                "the line item is archived",
            ));
        }
        let sku = self
            .sku
            .as_deref()
            .map(|s| text::token(s, "sku"))
            .transpose()?;
        let image_url = self
            .image_url
            .as_deref()
            .map(|u| text::url(u, "image_url", text::Scheme::Https))
            .transpose()?;
        let click_url = text::url(&self.click_url, "click_url", text::Scheme::HttpOrHttps)?;
        let banner = self.kind == CreativeKind::Banner;
        let width = size(self.width, "width", banner)?;
        let height = size(self.height, "height", banner)?;
        match self.kind {
            CreativeKind::SponsoredProduct => match &sku {
                None => {
                    return Err(ValidationError::new(
                        "sku",
                        "is required for sponsored products",
                    ))
                }
                Some(s)
                    if !line_item.promoted_skus.is_empty()
                        && !line_item.promoted_skus.contains(s) =>
                {
                    return Err(ValidationError::new(
                        "sku",
                        "is not one of the line item's promoted_skus",
                    ))
                }
                Some(_) => {}
            },
            CreativeKind::Banner | CreativeKind::Native => {
                if image_url.is_none() {
                    return Err(ValidationError::new(
                        "image_url",
                        "is required for banner and native creatives",
                    ));
                }
            }
        }
        let native = match (&self.native, self.kind) {
            (None, _) => None,
            (Some(n), CreativeKind::Native) => Some(n.validate()?),
            (Some(_), _) => {
                return Err(ValidationError::new(
                    "native",
                    "is only for native creatives",
                ))
            }
        };
        Ok(NewCreative {
            kind: self.kind,
            sku,
            image_url,
            click_url,
            width,
            height,
            native,
            iab_categories: crate::rtb_fields::iab_categories(
                &self.iab_categories,
                "iab_categories",
            )?,
            app_bundle: self
                .app_bundle
                .as_deref()
                .map(|b| crate::rtb_fields::app_bundle(b, "app_bundle"))
                .transpose()?,
            attributes: crate::rtb_fields::attributes(&self.attributes, "attributes")?,
        })
    }
}

/// Body of `PATCH /v1/creatives/{id}`: the fields publishers block by. A change sends the
/// creative back to review (`pending`), since review checks them.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreativePatch {
    /// The version read (optimistic concurrency).
    pub version: i64,
    /// Replaces the IAB categories.
    #[serde(default)]
    pub iab_categories: Option<Vec<String>>,
    /// Replaces the promoted app (`null` is "no change"; `""` clears it).
    #[serde(default)]
    pub app_bundle: Option<String>,
    /// Replaces the creative attributes.
    #[serde(default)]
    pub attributes: Option<Vec<u8>>,
}

impl CreativePatch {
    /// The creative with the patch applied, naming the first bad field; any actual change
    /// puts it back in review, so an approved creative stops serving until re-approved.
    pub fn apply(&self, current: &Creative) -> Result<Creative, ValidationError> {
        let mut next = current.clone();
        if let Some(c) = &self.iab_categories {
            next.iab_categories = crate::rtb_fields::iab_categories(c, "iab_categories")?;
        }
        if let Some(b) = &self.app_bundle {
            next.app_bundle = match b.trim() {
                "" => None,
                b => Some(crate::rtb_fields::app_bundle(b, "app_bundle")?),
            };
        }
        if let Some(a) = &self.attributes {
            next.attributes = crate::rtb_fields::attributes(a, "attributes")?;
        }
        let changed = next.iab_categories != current.iab_categories
            || next.app_bundle != current.app_bundle
            || next.attributes != current.attributes;
        if changed {
            next.review = Review::pending();
        }
        Ok(next)
    }
}

#[cfg(test)]
mod rtb_field_tests {
    use super::*;

    fn approved() -> Creative {
        serde_json::from_value(serde_json::json!({
            "id": CreativeId::generate(), "line_item_id": LineItemId::generate(),
            "campaign_id": CampaignId::generate(), "advertiser_id": AdvertiserId::generate(),
            "kind": "banner", "sku": null, "image_url": "https://cdn.example/a.png",
            "click_url": "https://brand.example/", "width": 300, "height": 250,
            "review": {"status": "approved"}, "version": 3,
            "created_at": "2026-12-01T00:00:00Z", "updated_at": "2026-12-01T00:00:00Z"
        }))
        .unwrap()
    }

    fn patch(v: serde_json::Value) -> CreativePatch {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn stored_creatives_without_the_fields_read_as_empty() {
        let c = approved();
        assert!(c.iab_categories.is_empty() && c.app_bundle.is_none() && c.attributes.is_empty());
    }

    #[test]
    fn changing_what_publishers_block_by_sends_the_creative_back_to_review() {
        let c = approved();
        let next = patch(
            serde_json::json!({"version": 3, "iab_categories": ["iab8-5"],
            "app_bundle": "com.brand.app", "attributes": [6, 1]}),
        )
        .apply(&c)
        .unwrap();
        assert_eq!(next.iab_categories, vec!["IAB8-5"]);
        assert_eq!(next.app_bundle.as_deref(), Some("com.brand.app"));
        assert_eq!(next.attributes, vec![1, 6]);
        assert_eq!(next.review.status, ReviewStatus::Pending);
        // The same values again: no change, still approved.
        let mut same = next.clone();
        same.review.status = ReviewStatus::Approved;
        let again = patch(serde_json::json!({"version": 4, "iab_categories": ["IAB8-5"]}))
            .apply(&same)
            .unwrap();
        assert_eq!(again.review.status, ReviewStatus::Approved);
        // `""` clears the bundle (a change).
        let cleared = patch(serde_json::json!({"version": 4, "app_bundle": ""}))
            .apply(&same)
            .unwrap();
        assert_eq!(cleared.app_bundle, None);
        assert_eq!(cleared.review.status, ReviewStatus::Pending);
        let bad = patch(serde_json::json!({"version": 3, "iab_categories": ["IAB8", "Alcohol"]}));
        assert_eq!(bad.apply(&c).unwrap_err().field, "iab_categories[1]");
        let bad = patch(serde_json::json!({"version": 3, "attributes": [18]}));
        assert_eq!(bad.apply(&c).unwrap_err().field, "attributes[0]");
    }
}
