//! Line items: what to bid, for which placements and audiences, how often per user.

use crate::{
    text, AdvertiserId, Campaign, CampaignId, LineItemId, Micros, Status, ValidationError,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// How a line item pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PricingModel {
    /// Per click; ranked by bid x pCTR.
    Cpc,
    /// Per thousand impressions.
    Cpm,
}

/// A line item's price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Pricing {
    /// `cpc` or `cpm`.
    pub model: PricingModel,
    /// Maximum bid in micros (per click, or per thousand impressions), > 0.
    #[schema(value_type = i64)]
    pub bid_micros: Micros,
}

impl Pricing {
    fn validated(self, field: &str) -> Result<Self, ValidationError> {
        Micros::positive(self.bid_micros.get(), &format!("{field}.bid_micros"))?;
        Ok(self)
    }
}

/// Device classes a line item can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    /// Desktop browsers.
    Desktop,
    /// Phones (web).
    Mobile,
    /// Tablets.
    Tablet,
    /// The retailer's native app.
    App,
}

impl Device {
    /// Its name as the API and the logs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Device::Desktop => "desktop",
            Device::Mobile => "mobile",
            Device::Tablet => "tablet",
            Device::App => "app",
        }
    }
}

/// Who may target a segment: its owning advertiser, or everyone when the retailer shares it
/// (`None`). Segments absent from the map do not exist.
pub type SegmentOwners = std::collections::HashMap<String, Option<AdvertiserId>>;

impl Targeting {
    /// Checks that every targeted segment exists and is the advertiser's own or shared by
    /// the retailer. A missing segment and another advertiser's answer alike, so the answer
    /// does not tell whether someone else's segment exists.
    pub fn check_segments(
        &self,
        owners: &SegmentOwners,
        advertiser: AdvertiserId,
    ) -> Result<(), ValidationError> {
        for (i, id) in self.segments.iter().enumerate() {
            match owners.get(id) {
                Some(None) => {}
                Some(Some(owner)) if *owner == advertiser => {}
                _ => {
                    return Err(ValidationError::new(
                        format!("targeting.segments[{i}]"),
                        "is not a segment of this advertiser nor one the retailer shares",
                    ))
                }
            }
        }
        Ok(())
    }
}

/// Where and to whom a line item may serve. An empty list means "no restriction".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Targeting {
    /// Placement names (`search-top`, `offsite`, `offsite:banner:300x250`, `offsite:native`).
    #[serde(default)]
    pub placements: Vec<String>,
    /// Search keywords: a plain string (broad match) or `{"text", "match": exact | phrase |
    /// broad | negative}`; stored lower-case with single spaces.
    #[serde(default)]
    pub keywords: Vec<crate::Keyword>,
    /// Product categories.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Audience segment ids.
    #[serde(default)]
    pub segments: Vec<String>,
    /// Store ids (geo).
    #[serde(default)]
    pub stores: Vec<String>,
    /// Device classes.
    #[serde(default)]
    pub devices: Vec<Device>,
    /// OpenRTB deal ids (`imp.pmp.deals[].id`): a line item with deals bids only on imps
    /// offering one of them to our seat, at least at that deal's floor; without deals it bids
    /// in the open auction only. Deals exist offsite only, so a deal line item never serves
    /// onsite.
    #[serde(default)]
    pub deals: Vec<String>,
}

pub(crate) fn placement(raw: &str, field: &str) -> Result<String, ValidationError> {
    // Case-insensitive, stored in lower case (decision requests are lower-cased too).
    let p = text::token(raw, field)?.to_ascii_lowercase();
    let charset_ok = p
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_:.".contains(&b));
    if !charset_ok {
        return Err(ValidationError::new(
            field,
            "must use lower-case letters, digits and - _ : . only",
        ));
    }
    if let Some(rest) = p.strip_prefix("offsite") {
        let ok = match rest {
            "" | ":native" => true,
            r => r
                .strip_prefix(":banner:")
                .and_then(|wh| wh.split_once('x'))
                .is_some_and(|(w, h)| dimension(w) && dimension(h)),
        };
        if !ok {
            return Err(ValidationError::new(
                field,
                "offsite placements are offsite, offsite:native or offsite:banner:WxH",
            ));
        }
    }
    Ok(p)
}

fn dimension(s: &str) -> bool {
    !s.starts_with('0') && s.parse::<u32>().is_ok_and(|n| (1..=4096).contains(&n))
}

/// Normalizes a keyword the way search queries are normalized at serve time.
pub(crate) fn keyword(raw: &str, field: &str) -> Result<String, ValidationError> {
    let k = raw
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    if k.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if k.len() > text::MAX_TOKEN || k.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must be at most 128 bytes without control characters",
        ));
    }
    Ok(k)
}

/// Checks and normalizes targeted keywords, dropping repeats, naming the first bad one.
fn keywords(raw: &[crate::Keyword], field: &str) -> Result<Vec<crate::Keyword>, ValidationError> {
    if raw.len() > text::MAX_LIST {
        return Err(ValidationError::new(
            field,
            format!("must have at most {} entries", text::MAX_LIST),
        ));
    }
    // (text, match) -> (first index, its bid): a repeat is dropped, one with another bid
    // refused (which bid was meant?).
    let mut seen = std::collections::HashMap::with_capacity(raw.len());
    let mut out = Vec::with_capacity(raw.len());
    for (i, k) in raw.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let bid_micros = match (k.bid_micros, k.match_type) {
            (None, _) => None,
            (Some(_), crate::MatchType::Negative) => {
                return Err(ValidationError::new(
                    format!("{at}.bid_micros"),
                    "a negative keyword carries no bid",
                ))
            }
            (Some(b), _) => Some(Micros::positive(b.get(), &format!("{at}.bid_micros"))?),
        };
        let k = crate::Keyword {
            text: keyword(&k.text, &at)?,
            match_type: k.match_type,
            bid_micros,
        };
        match seen.entry((k.text.clone(), k.match_type)) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert((i, k.bid_micros));
                out.push(k);
            }
            std::collections::hash_map::Entry::Occupied(o) if o.get().1 != k.bid_micros => {
                return Err(ValidationError::new(
                    format!("{at}.bid_micros"),
                    format!("repeats {field}[{}] with another bid", o.get().0),
                ))
            }
            std::collections::hash_map::Entry::Occupied(_) => {}
        }
    }
    Ok(out)
}

impl Targeting {
    /// Checks and normalizes every list, naming the first bad entry (`targeting.keywords[3]`).
    pub fn normalized(&self, field: &str) -> Result<Targeting, ValidationError> {
        let mut devices = Vec::new();
        for d in &self.devices {
            if !devices.contains(d) {
                devices.push(*d);
            }
        }
        Ok(Targeting {
            placements: text::list(&self.placements, &format!("{field}.placements"), placement)?,
            keywords: keywords(&self.keywords, &format!("{field}.keywords"))?,
            categories: text::list(&self.categories, &format!("{field}.categories"), text::name)?,
            segments: text::list(&self.segments, &format!("{field}.segments"), text::token)?,
            stores: text::list(&self.stores, &format!("{field}.stores"), text::token)?,
            devices,
            deals: crate::rtb_fields::deal_ids(&self.deals, &format!("{field}.deals"))?,
        })
    }
}

/// The period a frequency cap counts over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CapPeriod {
    /// The retailer's local clock hour (from the top of the hour; not rolling).
    Hour,
    /// The retailer's local day (from local midnight; not rolling).
    Day,
    /// The retailer's local week, Monday 00:00 to Sunday 24:00 (not rolling).
    Week,
}

/// At most `max` impressions per user per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FrequencyCap {
    /// Impressions allowed in the period, >= 1.
    pub max: u32,
    /// The period.
    pub per: CapPeriod,
}

impl FrequencyCap {
    /// The cap if `max` is at least 1.
    pub(crate) fn validated(self) -> Result<Self, ValidationError> {
        if self.max == 0 {
            return Err(ValidationError::new(
                "frequency_cap.max",
                "must be at least 1 (pause the line item to stop it serving)",
            ));
        }
        Ok(self)
    }
}

/// A line item as stored and returned by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LineItem {
    /// Its id.
    pub id: LineItemId,
    /// Parent campaign.
    pub campaign_id: CampaignId,
    /// Owner (the campaign's).
    pub advertiser_id: AdvertiserId,
    /// Display name.
    pub name: String,
    /// Lifecycle state; serves only while it and its campaign are active.
    pub status: Status,
    /// Price.
    pub pricing: Pricing,
    /// Targeting.
    pub targeting: Targeting,
    /// Per-user cap, if any.
    pub frequency_cap: Option<FrequencyCap>,
    /// SKUs this line item promotes (what attribution credits).
    pub promoted_skus: Vec<String>,
    /// Optimistic-concurrency version.
    pub version: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Bid multipliers by placement (`{"search-top": 1.5}`, x0.1 to x10, stored in basis
    /// points): the bid that competes in a placement is the keyword's or line item's bid
    /// times its multiplier.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    #[schema(value_type = std::collections::BTreeMap<String, f64>)]
    pub placement_multipliers: crate::PlacementMultipliers,
}

/// Body of `POST /v1/campaigns/{id}/line-items` as received.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineItemInput {
    /// Display name.
    pub name: String,
    /// Price.
    pub pricing: Pricing,
    /// Targeting; left out means run of site.
    #[serde(default)]
    pub targeting: Targeting,
    /// Per-user cap.
    #[serde(default)]
    pub frequency_cap: Option<FrequencyCap>,
    /// Promoted SKUs.
    #[serde(default)]
    pub promoted_skus: Vec<String>,
    /// `draft` (default), `active` or `paused`.
    #[serde(default)]
    pub status: Option<Status>,
    /// Bid multipliers by targeted placement, x0.1 to x10 with at most 4 decimals.
    #[serde(default)]
    pub placement_multipliers: std::collections::BTreeMap<String, f64>,
}

/// A validated new line item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLineItem {
    /// Display name.
    pub name: String,
    /// Initial state.
    pub status: Status,
    /// Price.
    pub pricing: Pricing,
    /// Normalized targeting.
    pub targeting: Targeting,
    /// Per-user cap.
    pub frequency_cap: Option<FrequencyCap>,
    /// Promoted SKUs.
    pub promoted_skus: Vec<String>,
    /// Bid multipliers by placement.
    pub placement_multipliers: crate::PlacementMultipliers,
}

fn parent_open(campaign: &Campaign) -> Result<(), ValidationError> {
    if campaign.status == Status::Archived {
        return Err(ValidationError::new(
            "campaign_id",
            "the campaign is archived",
        ));
    }
    Ok(())
}

impl LineItemInput {
    /// Checks the input against its parent campaign, naming the first bad field.
    pub fn validate(&self, campaign: &Campaign) -> Result<NewLineItem, ValidationError> {
        parent_open(campaign)?;
        let targeting = self.targeting.normalized("targeting")?;
        Ok(NewLineItem {
            name: text::name(&self.name, "name")?,
            status: Status::initial(self.status, "status")?,
            pricing: self.pricing.validated("pricing")?,
            placement_multipliers: crate::bid::placement_multipliers(
                &self.placement_multipliers,
                &targeting.placements,
                "placement_multipliers",
            )?,
            targeting,
            frequency_cap: self
                .frequency_cap
                .map(FrequencyCap::validated)
                .transpose()?,
            promoted_skus: text::list(&self.promoted_skus, "promoted_skus", text::token)?,
        })
    }
}

/// Distinguishes "field absent" (`None`) from "field set to null" (`Some(None)`).
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Body of `PATCH /v1/line-items/{id}`: the version read plus the fields to change.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineItemPatch {
    /// The version the client read; a stale one answers 409.
    pub version: i64,
    /// New name.
    pub name: Option<String>,
    /// New price.
    pub pricing: Option<Pricing>,
    /// New targeting (replaces the old one whole).
    pub targeting: Option<Targeting>,
    /// New cap; `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<FrequencyCap>, nullable)]
    pub frequency_cap: Option<Option<FrequencyCap>>,
    /// New promoted SKUs (replace the old list).
    pub promoted_skus: Option<Vec<String>>,
    /// New status; transitions are checked.
    pub status: Option<Status>,
    /// New bid multipliers by placement (replace the old ones whole; `{}` removes them).
    pub placement_multipliers: Option<std::collections::BTreeMap<String, f64>>,
}

impl LineItemPatch {
    /// Applies the patch to `current` under `campaign`; the store bumps the version.
    pub fn apply(
        &self,
        current: &LineItem,
        campaign: &Campaign,
    ) -> Result<LineItem, ValidationError> {
        if current.status == Status::Archived {
            return Err(ValidationError::new(
                "status",
                "an archived line item cannot be changed",
            ));
        }
        let mut next = current.clone();
        if let Some(n) = &self.name {
            next.name = text::name(n, "name")?;
        }
        if let Some(p) = self.pricing {
            next.pricing = p.validated("pricing")?;
        }
        if let Some(t) = &self.targeting {
            next.targeting = t.normalized("targeting")?;
        } else if next.pricing.model != current.pricing.model {
            // A keyword's bid is in the line item's pricing model: $8 CPM would silently
            // become $8 a click. A new model must come with the keywords priced in it.
            if let Some(i) = next
                .targeting
                .keywords
                .iter()
                .position(|k| k.bid_micros.is_some())
            {
                return Err(ValidationError::new(
                    format!("targeting.keywords[{i}].bid_micros"),
                    "is priced in the old pricing model: send targeting with the new pricing",
                ));
            }
        }
        match &self.placement_multipliers {
            Some(raw) => {
                next.placement_multipliers = crate::bid::placement_multipliers(
                    raw,
                    &next.targeting.placements,
                    "placement_multipliers",
                )?
            }
            // New targeting must still cover the placements that keep a multiplier.
            None => crate::bid::check_multiplier_placements(
                &next.placement_multipliers,
                &next.targeting.placements,
                "placement_multipliers",
            )?,
        }
        if let Some(cap) = self.frequency_cap {
            next.frequency_cap = cap.map(FrequencyCap::validated).transpose()?;
        }
        if let Some(skus) = &self.promoted_skus {
            next.promoted_skus = text::list(skus, "promoted_skus", text::token)?;
        }
        if let Some(s) = self.status {
            next.status = current.status.transition(s, "status")?;
            // Reviving a line item under a finished campaign would be a silent no-op.
            if next.status != Status::Archived {
                parent_open(campaign)?;
            }
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keywords_are_normalized_and_deduplicated() {
        let t = Targeting {
            keywords: vec![
                crate::Keyword::broad("  Organic   Milk "),
                crate::Keyword::broad("organic milk"),
            ],
            ..Default::default()
        };
        assert_eq!(
            t.normalized("targeting").unwrap().keywords,
            vec![crate::Keyword::broad("organic milk")]
        );
    }

    fn with_bid(text: &str, m: crate::MatchType, bid: i64) -> crate::Keyword {
        crate::Keyword {
            text: text.into(),
            match_type: m,
            bid_micros: Some(Micros::new(bid)),
        }
    }

    #[test]
    fn keyword_bids_have_the_line_item_bids_bounds_and_negatives_carry_none() {
        let t = |k: Vec<crate::Keyword>| {
            Targeting {
                keywords: k,
                ..Default::default()
            }
            .normalized("targeting")
        };
        let ok = t(vec![with_bid("Milk", crate::MatchType::Exact, 1_500_000)]).unwrap();
        assert_eq!(ok.keywords[0].bid_micros, Some(Micros::new(1_500_000)));
        for bad in [0, -1, Micros::MAX.get() + 1] {
            assert_eq!(
                t(vec![
                    crate::Keyword::broad("eggs"),
                    with_bid("milk", crate::MatchType::Exact, bad)
                ])
                .unwrap_err()
                .field,
                "targeting.keywords[1].bid_micros"
            );
        }
        assert_eq!(
            t(vec![with_bid("milk", crate::MatchType::Negative, 1)])
                .unwrap_err()
                .field,
            "targeting.keywords[0].bid_micros"
        );
        // The same keyword twice: dropped if it bids the same, refused if not.
        let same = t(vec![
            with_bid("milk", crate::MatchType::Exact, 2),
            with_bid("MILK", crate::MatchType::Exact, 2),
        ])
        .unwrap();
        assert_eq!(same.keywords.len(), 1);
        assert_eq!(
            t(vec![
                with_bid("milk", crate::MatchType::Exact, 2),
                with_bid("milk", crate::MatchType::Exact, 3),
            ])
            .unwrap_err()
            .field,
            "targeting.keywords[1].bid_micros"
        );
        // Other match types are other keywords.
        assert_eq!(
            t(vec![
                with_bid("milk", crate::MatchType::Exact, 2),
                with_bid("milk", crate::MatchType::Broad, 3),
            ])
            .unwrap()
            .keywords
            .len(),
            2
        );
    }

    #[test]
    fn offsite_placements_must_be_well_formed() {
        assert!(placement("offsite", "p").is_ok());
        assert!(placement("offsite:native", "p").is_ok());
        assert!(placement("offsite:banner:300x250", "p").is_ok());
        assert!(placement("offsite:banner:300", "p").is_err());
        assert!(placement("offsite:banner:0x250", "p").is_err());
        assert!(placement("offsite:video", "p").is_err());
        assert_eq!(
            placement("Search-Top", "p").unwrap(),
            "search-top",
            "case-insensitive"
        );
        assert!(placement("search top", "p").is_err());
    }

    #[test]
    fn a_bad_entry_is_named_by_its_index() {
        let t = Targeting {
            placements: vec!["search-top".into(), "BAD PLACE".into()],
            ..Default::default()
        };
        assert_eq!(
            t.normalized("targeting").unwrap_err().field,
            "targeting.placements[1]"
        );
    }

    #[test]
    fn a_device_name_is_its_json_name() {
        for d in [Device::Desktop, Device::Mobile, Device::Tablet, Device::App] {
            assert_eq!(serde_json::to_value(d).unwrap(), d.as_str());
        }
    }

    #[test]
    fn a_zero_cap_is_refused() {
        let cap = FrequencyCap {
            max: 0,
            per: CapPeriod::Day,
        };
        assert_eq!(cap.validated().unwrap_err().field, "frequency_cap.max");
    }

    proptest! {
        #[test]
        fn normalized_keywords_are_idempotent(k in "[ a-zA-Z0-9]{0,40}") {
            if let Ok(once) = keyword(&k, "k") {
                prop_assert_eq!(keyword(&once, "k").unwrap(), once.clone());
                prop_assert!(!once.starts_with(' ') && !once.ends_with(' '));
                prop_assert!(!once.contains("  "));
            }
        }

        #[test]
        fn bids_are_accepted_iff_positive_and_within_the_money_bound(b in any::<i64>()) {
            let p = Pricing { model: PricingModel::Cpc, bid_micros: Micros::new(b) };
            prop_assert_eq!(p.validated("pricing").is_ok(), b > 0 && b <= Micros::MAX.get());
        }
    }
}
