//! The feature specification: the one function that turns a candidate's [`Features`] (and
//! the position it is scored at) into the numbers a model reads, for training on logged
//! decisions and for serving alike, so the two cannot drift apart. Versioned: a model names
//! the version it was trained on, and a model for another version is refused at load.

use crate::Features;
use endcap_core::{Device, PricingModel};

/// The version of [`FeatureSpec::V1`].
pub const SPEC_V1: &str = "ctr-features-v1";

/// Position every candidate is scored at when serving: position is a training feature (it
/// explains clicks) but must not decide who wins, so serving holds it fixed.
pub const REFERENCE_POSITION: u16 = 1;

/// Placements hash into this many categories (a stable FNV-1a hash, the same on every
/// machine and run).
const PLACEMENT_BUCKETS: u64 = 1_024;

/// A feature specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureSpec {
    /// Surface, placement, pricing, relevance flags, device, local hour, position.
    V1,
}

/// Feature names of [`FeatureSpec::V1`], in column order.
const V1_NAMES: [&str; 10] = [
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
];

/// Which of the V1 columns are categorical (LightGBM `categorical_feature`).
const V1_CATEGORICAL: [&str; 2] = ["placement", "device"];

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

fn placement_bucket(name: &str) -> f64 {
    (endcap_core::fnv1a64(name.as_bytes()) % PLACEMENT_BUCKETS) as f64
}

impl FeatureSpec {
    /// The spec a version string names, if any.
    pub fn parse(version: &str) -> Option<Self> {
        (version.trim() == SPEC_V1).then_some(FeatureSpec::V1)
    }

    /// Its version string.
    pub fn version(self) -> &'static str {
        SPEC_V1
    }

    /// Column names, in order.
    pub fn names(self) -> &'static [&'static str] {
        &V1_NAMES
    }

    /// The categorical columns.
    pub fn categorical(self) -> &'static [&'static str] {
        &V1_CATEGORICAL
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
    }

    #[test]
    fn versions_round_trip_and_strangers_are_refused() {
        assert_eq!(FeatureSpec::parse(SPEC_V1), Some(FeatureSpec::V1));
        assert_eq!(FeatureSpec::parse("ctr-features-v9"), None);
        assert!(FeatureSpec::V1
            .categorical()
            .iter()
            .all(|c| FeatureSpec::V1.names().contains(c)));
    }
}
