//! The CTR model interface the auction scores with, the features it is given, and the
//! prior that serves until a trained model is loaded.

use endcap_core::{AdvertiserId, Device, LineItemId, PricingModel};
use serde::{Deserialize, Serialize};

/// What the CTR model is given for one candidate (also logged with the impression).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Features {
    /// Placement name the slot answered to first (shared by the slot's candidates).
    pub placement: std::sync::Arc<str>,
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
    /// The line item (absent in rows logged before spec v2).
    #[serde(default)]
    pub line_item: Option<LineItemId>,
    /// Its advertiser.
    #[serde(default)]
    pub advertiser: Option<AdvertiserId>,
    /// Ads the slot asked for.
    #[serde(default)]
    pub slot_count: u16,
    /// Page type of the request, "" when none.
    #[serde(default = "no_page_type")]
    pub page_type: std::sync::Arc<str>,
    /// Day of week in the retailer's time zone, Monday 0.
    #[serde(default)]
    pub weekday: u8,
    /// What serving knew of the ad's and the user's past at decision time (absent in rows
    /// logged before spec v3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<History>,
}

fn no_page_type() -> std::sync::Arc<str> {
    "".into()
}

/// The past as serving saw it when deciding: logged with the features, so training reads
/// exactly what serving used, as of the request and never later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct History {
    /// Impressions of the line item on the placement this process has counted.
    pub impressions: u64,
    /// Its clicks.
    pub clicks: u64,
    /// The user's exposures to the advertiser over the last 7 days.
    pub user_exposures: u32,
    /// The user's clicks on the advertiser's ads over the last 7 days.
    pub user_clicks: u32,
}

/// Where the auction reads [`History`] from.
pub trait HistoryView: Send + Sync {
    /// Impressions and clicks of a line item on a placement this process has counted.
    fn line_item(&self, line_item: LineItemId, placement: &str) -> (u64, u64);

    /// A user's (hashed key, "" when unknown) exposures and clicks with an advertiser over
    /// the last 7 days, at `now_ms`. Read once per advertiser in a request, not per ad.
    fn user(&self, user_key: &str, advertiser: AdvertiserId, now_ms: i64) -> (u32, u32);

    /// The history of a line item on a placement and of a user with its advertiser.
    fn history(
        &self,
        user_key: &str,
        line_item: LineItemId,
        advertiser: AdvertiserId,
        placement: &str,
        now_ms: i64,
    ) -> History {
        let (impressions, clicks) = self.line_item(line_item, placement);
        let (user_exposures, user_clicks) = self.user(user_key, advertiser, now_ms);
        History {
            impressions,
            clicks,
            user_exposures,
            user_clicks,
        }
    }
}

/// No history (tests, tools): every count is 0.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHistory;

impl HistoryView for NoHistory {
    fn line_item(&self, _: LineItemId, _: &str) -> (u64, u64) {
        (0, 0)
    }

    fn user(&self, _: &str, _: AdvertiserId, _: i64) -> (u32, u32) {
        (0, 0)
    }
}

/// pCTRs of one slot's candidates, and whether the slot explored.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scored {
    /// One probability per candidate.
    pub pctr: Vec<f64>,
    /// Some candidates were scored by a Thompson draw instead of their expected CTR (an
    /// exploration slot, marked in the decision log).
    pub explored: bool,
}

/// Predicts the probability of a click for a batch of candidates.
pub trait CtrModel: Send + Sync {
    /// One probability in (0, 1) per feature row.
    fn predict(&self, rows: &[Features]) -> Vec<f64>;

    /// Scores one slot's candidates; a model with a cold start may explore, drawing from
    /// `uniform` (uniforms in [0, 1)). By default: [`CtrModel::predict`], never exploring.
    fn score_slot(&self, rows: &[Features], uniform: &mut dyn FnMut() -> f64) -> Scored {
        let _ = uniform;
        Scored {
            pctr: self.predict(rows),
            explored: false,
        }
    }
}

/// A documented prior until the trained model lands: a base rate per surface, lifted when
/// the ad is relevant to the request. Base rates: onsite search 2%, other onsite 1%,
/// offsite 0.1%; x1.5 for a keyword match, x1.3 for a segment match, x1.2 for a promoted SKU
/// on the page; capped at 20%.
#[derive(Debug, Clone, Copy, Default)]
pub struct PriorCtr;

impl PriorCtr {
    /// The prior's rate for one candidate (the cold start's fallback and the history
    /// feature's smoothing target read it row by row).
    pub fn rate(f: &Features) -> f64 {
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
    }
}

impl CtrModel for PriorCtr {
    fn predict(&self, rows: &[Features]) -> Vec<f64> {
        rows.iter().map(PriorCtr::rate).collect()
    }
}
