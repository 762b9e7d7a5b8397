//! The CTR model interface the auction scores with, the features it is given, and the
//! prior that serves until a trained model is loaded.

use endcap_core::{Device, PricingModel};
use serde::{Deserialize, Serialize};

/// What the CTR model is given for one candidate (also logged with the impression).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Features {
    /// Placement name the slot answered to first.
    pub placement: String,
    /// Offsite (OpenRTB) or onsite.
    pub offsite: bool,
    /// The line item's pricing model.
    pub pricing: PricingModel,
    /// A targeted keyword matched the search.
    pub keyword_match: bool,
    /// A targeted segment matched the user.
    pub segment_match: bool,
    /// A promoted SKU is on the page.
    pub sku_on_page: bool,
    /// Device class, if known.
    pub device: Option<Device>,
    /// Hour of day in the retailer's time zone.
    pub hour: u32,
}

/// Predicts the probability of a click for a batch of candidates.
pub trait CtrModel: Send + Sync {
    /// One probability in (0, 1) per feature row.
    fn predict(&self, rows: &[Features]) -> Vec<f64>;
}

/// A documented prior until the trained model lands: a base rate per surface, lifted when
/// the ad is relevant to the request. Base rates: onsite search 2%, other onsite 1%,
/// offsite 0.1%; x1.5 for a keyword match, x1.3 for a segment match, x1.2 for a promoted SKU
/// on the page; capped at 20%.
#[derive(Debug, Clone, Copy, Default)]
pub struct PriorCtr;

impl CtrModel for PriorCtr {
    fn predict(&self, rows: &[Features]) -> Vec<f64> {
        rows.iter()
            .map(|f| {
                let mut p: f64 = if f.offsite {
                    0.001
                } else if f.placement.starts_with("search") {
                    0.02
                } else {
                    0.01
                };
                if f.keyword_match {
                    p *= 1.5;
                }
                if f.segment_match {
                    p *= 1.3;
                }
                if f.sku_on_page {
                    p *= 1.2;
                }
                p.min(0.2)
            })
            .collect()
    }
}
