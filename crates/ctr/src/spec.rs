//! The feature specification: the one function that turns a candidate's [`Features`] (and
//! the position it is scored at) into the numbers a model reads, for training on logged
//! decisions and for serving alike, so the two cannot drift apart. Versioned: a model names
//! the version it was trained on, and a model for another version is refused at load.

use crate::Features;
use endcap_core::{Device, PricingModel};

/// The version of [`FeatureSpec::V1`].
pub const SPEC_V1: &str = "ctr-features-v1";
/// The version of [`FeatureSpec::V2`].
pub const SPEC_V2: &str = "ctr-features-v2";
/// The version of [`FeatureSpec::V3`].
pub const SPEC_V3: &str = "ctr-features-v3";

/// Prior impressions the line item x placement CTR is smoothed with (towards the documented
/// prior's rate for the row).
const HISTORY_SMOOTHING: f64 = 100.0;

/// Position every candidate is scored at when serving: position is a training feature (it
/// explains clicks) but must not decide who wins, so serving holds it fixed. Positions are
/// 1-based: the top slot is 1 (a logged rank 0).
pub const REFERENCE_POSITION: u16 = 1;

/// Ids and names hash into this many categories (a stable FNV-1a hash, the same on every
/// machine and run).
const BUCKETS: u64 = 1_024;

/// A feature specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureSpec {
    /// Surface, placement, pricing, relevance flags, device, local hour, position.
    V1,
    /// V1, and the ad (line item, advertiser) and more context (slot count, page type, day of
    /// week): what lets a model tell one ad from another.
    V2,
    /// V2, and history: the line item's smoothed CTR on the placement and how many
    /// impressions it rests on, the user's recent exposures to and clicks on the advertiser.
    V3,
}

/// Feature names in column order: V1 reads the first 10, V2 the first 15, V3 all 19 (each
/// version appends to the one before).
const NAMES: [&str; 19] = [
    "placement",
    "offsite",
    "cpc",
    "keyword_match",
    "segment_match",
    "sku_on_page",
    "device",
    "local_hour",
    "position",
    "search_placement",
    "line_item",
    "advertiser",
    "slot_count",
    "page_type",
    "weekday",
    "history_ctr",
    "history_impressions",
    "user_exposures",
    "user_clicks",
];

/// Which columns are categorical (LightGBM `categorical_feature`): V1's two, and V2's
/// (and V3's) five.
const CATEGORICAL: [&str; 5] = [
    "placement",
    "device",
    "line_item",
    "advertiser",
    "page_type",
];

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

fn bucket(bytes: &[u8]) -> f64 {
    (endcap_core::fnv1a64(bytes) % BUCKETS) as f64
}

fn placement_bucket(name: &str) -> f64 {
    bucket(name.as_bytes())
}

/// An id's category; missing when the row has none.
fn id_bucket(id: Option<uuid::Uuid>) -> f64 {
    id.map_or(f64::NAN, |u| bucket(u.as_bytes()))
}

impl FeatureSpec {
    /// The spec a version string names, if any.
    pub fn parse(version: &str) -> Option<Self> {
        match version.trim() {
            SPEC_V1 => Some(FeatureSpec::V1),
            SPEC_V2 => Some(FeatureSpec::V2),
            SPEC_V3 => Some(FeatureSpec::V3),
            _ => None,
        }
    }

    /// Its version string.
    pub fn version(self) -> &'static str {
        match self {
            FeatureSpec::V1 => SPEC_V1,
            FeatureSpec::V2 => SPEC_V2,
            FeatureSpec::V3 => SPEC_V3,
        }
    }

    /// Column names, in order.
    pub fn names(self) -> &'static [&'static str] {
        match self {
            FeatureSpec::V1 => &NAMES[..10],
            FeatureSpec::V2 => &NAMES[..15],
            FeatureSpec::V3 => &NAMES,
        }
    }

    /// The categorical columns.
    pub fn categorical(self) -> &'static [&'static str] {
        match self {
            FeatureSpec::V1 => &CATEGORICAL[..2],
            FeatureSpec::V2 | FeatureSpec::V3 => &CATEGORICAL,
        }
    }

    /// Whether the spec tells line items apart (so a model trained on it knows which line
    /// items it has seen).
    pub fn has_line_item(self) -> bool {
        self != FeatureSpec::V1
    }

    /// Appends one row: the candidate's features at `position` (NaN where a value is
    /// unknown, which the model treats as missing).
    pub fn push_row(self, f: &Features, position: u16, out: &mut Vec<f64>) {
        let device = match f.device {
            None => f64::NAN,
            Some(Device::Desktop) => 0.0,
            Some(Device::Mobile) => 1.0,
            Some(Device::Tablet) => 2.0,
            Some(Device::App) => 3.0,
        };
        out.extend([
            placement_bucket(&f.placement),
            flag(f.offsite),
            flag(f.pricing == PricingModel::Cpc),
            flag(f.keyword_match),
            flag(f.segment_match),
            flag(f.sku_on_page),
            device,
            f64::from(f.hour),
            f64::from(position),
            flag(f.placement.starts_with("search")),
        ]);
        if self != FeatureSpec::V1 {
            out.extend([
                id_bucket(f.line_item.map(|l| l.as_uuid())),
                id_bucket(f.advertiser.map(|a| a.as_uuid())),
                f64::from(f.slot_count),
                if f.page_type.is_empty() {
                    f64::NAN
                } else {
                    bucket(f.page_type.as_bytes())
                },
                f64::from(f.weekday),
            ]);
        }
        if self == FeatureSpec::V3 {
            match f.history {
                Some(h) => {
                    let prior = crate::PriorCtr::rate(f);
                    let clicks = h.clicks.min(h.impressions) as f64;
                    out.extend([
                        (clicks + HISTORY_SMOOTHING * prior)
                            / (h.impressions as f64 + HISTORY_SMOOTHING),
                        (h.impressions as f64).ln_1p(),
                        f64::from(h.user_exposures),
                        f64::from(h.user_clicks),
                    ]);
                }
                None => out.extend([f64::NAN; 4]),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features() -> Features {
        Features {
            placement: "search-top".into(),
            offsite: false,
            pricing: PricingModel::Cpc,
            keyword_match: true,
            segment_match: false,
            sku_on_page: true,
            device: None,
            hour: 14,
            line_item: Some(endcap_core::LineItemId::from_uuid(uuid::Uuid::from_u128(7))),
            advertiser: None,
            slot_count: 3,
            page_type: "search".into(),
            weekday: 2,
            history: Some(crate::History {
                impressions: 900,
                clicks: 27,
                user_exposures: 3,
                user_clicks: 1,
            }),
        }
    }

    #[test]
    fn a_logged_row_gives_the_numbers_serving_gave() {
        // The decision log keeps the features as JSON; training reads them back from it.
        let served = features();
        let logged: Features =
            serde_json::from_str(&serde_json::to_string(&served).unwrap()).unwrap();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        FeatureSpec::V1.push_row(&served, 2, &mut a);
        FeatureSpec::V1.push_row(&logged, 2, &mut b);
        assert_eq!(a.len(), FeatureSpec::V1.names().len());
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "NaN-aware equality");
        assert!(
            a[6].is_nan(),
            "an unknown device is missing, not a category"
        );
        assert_eq!((a[8], a[9], a[2]), (2.0, 1.0, 1.0));
        assert_eq!(a[0], placement_bucket("search-top"), "stable hash");
        assert!(a[0] < 1_024.0);
        let (mut c, mut d) = (Vec::new(), Vec::new());
        FeatureSpec::V2.push_row(&served, 2, &mut c);
        FeatureSpec::V2.push_row(&logged, 2, &mut d);
        assert_eq!(format!("{c:?}"), format!("{d:?}"));
        assert_eq!(c.len(), FeatureSpec::V2.names().len());
        assert_eq!(c[..10].len(), a.len());
        assert!(c[11].is_nan(), "no advertiser is missing");
        assert_eq!((c[12], c[14]), (3.0, 2.0));
        let (mut e, mut g) = (Vec::new(), Vec::new());
        FeatureSpec::V3.push_row(&served, 2, &mut e);
        FeatureSpec::V3.push_row(&logged, 2, &mut g);
        assert_eq!(format!("{e:?}"), format!("{g:?}"));
        assert_eq!(e.len(), FeatureSpec::V3.names().len());
        // 27 clicks in 900 impressions, smoothed with 100 at the prior's 3.6% (search 2% x
        // keyword 1.5 x SKU on the page 1.2).
        assert!((e[15] - (27.0 + 3.6) / 1_000.0).abs() < 1e-12, "{}", e[15]);
        assert_eq!((e[17], e[18]), (3.0, 1.0));
    }

    #[test]
    fn a_row_logged_before_v2_reads_with_its_new_columns_missing() {
        let old = r#"{"placement":"home","offsite":false,"pricing":"cpm","keyword_match":false,
            "segment_match":false,"sku_on_page":false,"device":"mobile","hour":9}"#;
        let f: Features = serde_json::from_str(old).unwrap();
        let mut row = Vec::new();
        FeatureSpec::V2.push_row(&f, 1, &mut row);
        assert!(row[10].is_nan() && row[11].is_nan() && row[13].is_nan());
        assert_eq!(row[6], 1.0);
        let mut v3 = Vec::new();
        FeatureSpec::V3.push_row(&f, 1, &mut v3);
        assert!(
            v3[15..].iter().all(|v| v.is_nan()),
            "no history logged: missing"
        );
    }

    #[test]
    fn versions_round_trip_and_strangers_are_refused() {
        for spec in [FeatureSpec::V1, FeatureSpec::V2, FeatureSpec::V3] {
            assert_eq!(FeatureSpec::parse(spec.version()), Some(spec));
            assert!(spec.categorical().iter().all(|c| spec.names().contains(c)));
        }
        assert_eq!(FeatureSpec::parse("ctr-features-v9"), None);
    }
}
