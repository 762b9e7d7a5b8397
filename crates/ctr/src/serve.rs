//! The model the auction scores with: a trained model where it knows the line item, the
//! empirical-Bayes cold start where it does not (and everywhere before any model exists),
//! and a bounded share of exploration slots in which the cold start's Thompson draws stand
//! in for its means, so new line items get the traffic that teaches the next model.

use crate::{explore, Beta, Counts, CtrModel, Features, GbdtModel, HistoryCount, PriorCtr, Scored};
use arc_swap::ArcSwap;
use endcap_core::LineItemId;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Most line item x placement pairs counted: placement names come from requests, so the map
/// is bounded; pairs past it are not counted (their rows keep the placement's prior).
const MAX_KEYS: usize = 500_000;

/// Impressions and clicks per line item x placement: the artifact's history plus what this
/// process has seen since that artifact loaded; and the Beta prior of each placement.
#[derive(Default)]
pub struct ColdStart {
    counts: RwLock<HashMap<(LineItemId, String), Counts>>,
    priors: ArcSwap<HashMap<String, Beta>>,
}

impl ColdStart {
    /// Empty: every row gets the documented prior's rate until counts arrive.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts over from a new artifact's history (its counts run to its training time; what
    /// this process saw before would be counted twice), and refits the priors.
    pub fn reset(&self, history: &[HistoryCount]) {
        let fresh: HashMap<(LineItemId, String), Counts> = history
            .iter()
            .map(|h| {
                (
                    (h.line_item, h.placement.clone()),
                    Counts {
                        impressions: h.impressions,
                        clicks: h.clicks,
                    },
                )
            })
            .collect();
        if let Ok(mut c) = self.counts.write() {
            *c = fresh;
        }
        self.refit();
    }

    /// Counts an impression or a click of a line item on a placement.
    pub fn record(&self, line_item: LineItemId, placement: &str, click: bool) {
        let Ok(mut counts) = self.counts.write() else {
            return;
        };
        let key = (line_item, placement.to_string());
        if counts.len() >= MAX_KEYS && !counts.contains_key(&key) {
            return;
        }
        let c = counts.entry(key).or_default();
        if click {
            c.clicks += 1;
        } else {
            c.impressions += 1;
        }
    }

    /// Refits each placement's prior to its line items' counts (called on a timer, off the
    /// request path). A placement with too little data (fewer than two line items shown, or
    /// no click) has none, and its rows fall back to the documented prior's rate.
    pub fn refit(&self) {
        // A copy taken under the lock, the fit outside it: requests wait for a memcpy-sized
        // moment, not for the fit.
        let counts: Vec<((LineItemId, String), Counts)> = match self.counts.read() {
            Ok(c) => c.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            Err(_) => return,
        };
        let mut by: HashMap<&str, Vec<Counts>> = HashMap::new();
        for ((_, placement), c) in &counts {
            by.entry(placement.as_str()).or_default().push(*c);
        }
        let priors = by
            .into_iter()
            .filter(|(_, items)| {
                items.iter().filter(|c| c.impressions > 0).count() >= 2
                    && items.iter().any(|c| c.clicks > 0)
            })
            .map(|(p, items)| (p.to_string(), Beta::fit(&items, 0.01)))
            .collect();
        self.priors.store(Arc::new(priors));
    }

    /// The posterior of each row's line item on its placement.
    fn posteriors(&self, rows: &[Features]) -> Vec<Beta> {
        let priors = self.priors.load();
        let fallback = PriorCtr.predict(rows);
        let counts = self.counts.read().ok();
        rows.iter()
            .zip(fallback)
            .map(|(f, p)| {
                let prior = priors
                    .get(&f.placement)
                    .copied()
                    .unwrap_or_else(|| Beta::fit(&[], p));
                let own = f
                    .line_item
                    .zip(counts.as_ref())
                    .and_then(|(li, c)| c.get(&(li, f.placement.clone())).copied())
                    .unwrap_or_default();
                prior.update(own)
            })
            .collect()
    }
}

/// Scores with a trained model (if any), the cold start for what it has not seen, and
/// explores on at most `explore_share` of slots.
pub struct ServingModel {
    trained: Option<GbdtModel>,
    cold: Arc<ColdStart>,
    explore_share: f64,
}

impl ServingModel {
    /// A model for serving; `explore_share` is capped at 5%.
    pub fn new(trained: Option<GbdtModel>, cold: Arc<ColdStart>, explore_share: f64) -> Self {
        Self {
            trained,
            cold,
            explore_share: explore_share.clamp(0.0, 0.05),
        }
    }

    /// Which rows the cold start scores: all of them without a trained model, else those
    /// whose line item the model was not trained on.
    fn cold_rows(&self, rows: &[Features]) -> Vec<bool> {
        match &self.trained {
            None => vec![true; rows.len()],
            Some(m) => rows.iter().map(|f| !m.knows(f.line_item)).collect(),
        }
    }
}

impl CtrModel for ServingModel {
    fn predict(&self, rows: &[Features]) -> Vec<f64> {
        self.score_slot(rows, &mut || 1.0).pctr
    }

    fn score_slot(&self, rows: &[Features], uniform: &mut dyn FnMut() -> f64) -> Scored {
        let cold = self.cold_rows(rows);
        let mut pctr = match &self.trained {
            Some(m) => m.predict(rows),
            None => vec![0.0; rows.len()],
        };
        if !cold.iter().any(|c| *c) {
            return Scored {
                pctr,
                explored: false,
            };
        }
        // Offsite, the pCTR sets what we bid for media (a CPC advertiser pays per click, we
        // pay the exchange per impression): a lucky draw there would overpay with our money.
        let explored = !rows.iter().any(|f| f.offsite) && explore(self.explore_share, uniform());
        let cold_rows: Vec<Features> = rows
            .iter()
            .zip(&cold)
            .filter(|(_, c)| **c)
            .map(|(f, _)| f.clone())
            .collect();
        let mut posts = self.cold.posteriors(&cold_rows).into_iter();
        for (p, _) in pctr.iter_mut().zip(&cold).filter(|(_, c)| **c) {
            if let Some(b) = posts.next() {
                *p = if explored {
                    b.sample(&mut || uniform())
                } else {
                    b.mean()
                };
            }
        }
        for p in &mut pctr {
            *p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        }
        Scored { pctr, explored }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use endcap_core::PricingModel;

    fn row(li: u128) -> Features {
        Features {
            placement: "search-top".into(),
            offsite: false,
            pricing: PricingModel::Cpc,
            keyword_match: false,
            segment_match: false,
            sku_on_page: false,
            device: None,
            hour: 9,
            line_item: Some(LineItemId::from_uuid(uuid::Uuid::from_u128(li))),
            advertiser: None,
            slot_count: 1,
            page_type: String::new(),
            weekday: 0,
        }
    }

    fn lcg(seed: u64) -> impl FnMut() -> f64 {
        let mut s = seed;
        move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    #[test]
    fn without_counts_the_cold_start_is_the_documented_prior() {
        let m = ServingModel::new(None, Arc::new(ColdStart::new()), 0.0);
        let p = m.predict(&[row(1)]);
        assert!((p[0] - PriorCtr.predict(&[row(1)])[0]).abs() < 1e-12);
    }

    #[test]
    fn a_line_items_own_clicks_move_it_from_its_placements_prior() {
        let cold = Arc::new(ColdStart::new());
        let li = |i: u128| LineItemId::from_uuid(uuid::Uuid::from_u128(i));
        let mut history = Vec::new();
        for (i, clicks) in [(1u128, 10u64), (2, 50), (3, 30)] {
            history.push(HistoryCount {
                line_item: li(i),
                placement: "search-top".into(),
                impressions: 1_000,
                clicks,
            });
        }
        cold.reset(&history);
        let m = ServingModel::new(None, cold.clone(), 0.0);
        let p = m.predict(&[row(1), row(2), row(9)]);
        assert!(p[0] < p[2] && p[2] < p[1], "{p:?}");
        assert!(
            (p[2] - 0.03).abs() < 0.005,
            "a new line item sits at the placement's rate"
        );
        // Live clicks count too.
        for _ in 0..200 {
            cold.record(li(9), "search-top", false);
        }
        for _ in 0..40 {
            cold.record(li(9), "search-top", true);
        }
        assert!(m.predict(&[row(9)])[0] > p[2]);
    }

    #[test]
    fn exploration_stays_within_its_share() {
        let m = ServingModel::new(None, Arc::new(ColdStart::new()), 0.5);
        let mut u = lcg(7);
        let slots = 20_000;
        let explored = (0..slots)
            .filter(|_| m.score_slot(&[row(1), row(2)], &mut u).explored)
            .count();
        let share = explored as f64 / slots as f64;
        assert!(
            (0.04..=0.055).contains(&share),
            "share {share} (asked 50%, capped at 5%)"
        );
        let none = ServingModel::new(None, Arc::new(ColdStart::new()), 0.0);
        assert!(!(0..1_000).any(|_| none.score_slot(&[row(1)], &mut u).explored));
        let mut offsite = row(1);
        offsite.offsite = true;
        assert!(
            !(0..1_000).any(|_| m.score_slot(&[offsite.clone()], &mut u).explored),
            "offsite bids are our money: never a draw"
        );
    }
}
