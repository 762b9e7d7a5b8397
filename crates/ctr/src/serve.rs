//! The model the auction scores with: a trained model where it knows the line item, the
//! empirical-Bayes cold start where it does not (and everywhere before any model exists),
//! and a bounded share of exploration slots in which the cold start's Thompson draws stand
//! in for its means, so new line items get the traffic that teaches the next model.

use crate::{explore, Beta, Counts, CtrModel, Features, GbdtModel, HistoryCount, PriorCtr, Scored};
use arc_swap::ArcSwap;
use endcap_core::{AdvertiserId, LineItemId};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Most line item x placement pairs counted: placement names come from requests, so the map
/// is bounded; pairs past it are not counted (their rows keep the placement's prior).
const MAX_KEYS: usize = 500_000;

/// Counts per line item, then per placement (looked up without building a key).
type CountMap = HashMap<LineItemId, HashMap<String, Counts>>;

/// Impressions and clicks per line item x placement: the artifact's history plus what this
/// process has seen since that artifact loaded; and the Beta prior of each placement.
#[derive(Default)]
pub struct ColdStart {
    counts: RwLock<CountMap>,
    keys: std::sync::atomic::AtomicUsize,
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
        let mut fresh = CountMap::new();
        for h in history {
            fresh.entry(h.line_item).or_default().insert(
                h.placement.clone(),
                Counts {
                    impressions: h.impressions,
                    clicks: h.clicks,
                },
            );
        }
        if let Ok(mut c) = self.counts.write() {
            *c = fresh;
        }
        self.keys
            .store(history.len(), std::sync::atomic::Ordering::Relaxed);
        self.refit();
    }

    /// Counts an impression or a click of a line item on a placement.
    pub fn record(&self, line_item: LineItemId, placement: &str, click: bool) {
        let Ok(mut counts) = self.counts.write() else {
            return;
        };
        let per = counts.entry(line_item).or_default();
        let c = match per.get_mut(placement) {
            Some(c) => c,
            None => {
                if self.keys.load(std::sync::atomic::Ordering::Relaxed) >= MAX_KEYS {
                    return;
                }
                self.keys.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                per.entry(placement.to_string()).or_default()
            }
        };
        if click {
            c.clicks += 1;
        } else {
            c.impressions += 1;
        }
    }

    /// A line item's counts on a placement.
    pub fn counts(&self, line_item: LineItemId, placement: &str) -> Counts {
        self.counts
            .read()
            .ok()
            .and_then(|c| c.get(&line_item).and_then(|p| p.get(placement)).copied())
            .unwrap_or_default()
    }

    /// Refits each placement's prior to its line items' counts (called on a timer, off the
    /// request path). A placement with too little data (fewer than two line items shown, or
    /// no click) has none, and its rows fall back to the documented prior's rate.
    pub fn refit(&self) {
        // A copy taken under the lock, the fit outside it: requests wait for a copy, not for
        // the fit.
        let mut by: HashMap<String, Vec<Counts>> = HashMap::new();
        match self.counts.read() {
            Ok(c) => {
                for per in c.values() {
                    for (placement, n) in per {
                        by.entry(placement.clone()).or_default().push(*n);
                    }
                }
            }
            Err(_) => return,
        }
        let priors = by
            .into_iter()
            .filter(|(_, items)| {
                items.iter().filter(|c| c.impressions > 0).count() >= 2
                    && items.iter().any(|c| c.clicks > 0)
            })
            .map(|(p, items)| {
                let prior = Beta::fit(&items, 0.01);
                (p, prior)
            })
            .collect();
        self.priors.store(Arc::new(priors));
    }

    /// The posterior of each row's line item on its placement (the priors and the counts
    /// are read once for all of them).
    fn posteriors<'a>(&self, rows: impl Iterator<Item = &'a Features>) -> Vec<Beta> {
        let priors = self.priors.load();
        let counts = self.counts.read().ok();
        rows.map(|f| {
            let prior = priors
                .get(&*f.placement)
                .copied()
                .unwrap_or_else(|| Beta::fit(&[], PriorCtr::rate(f)));
            let own = f
                .line_item
                .zip(counts.as_ref())
                .and_then(|(li, c)| c.get(&li).and_then(|per| per.get(&*f.placement)).copied())
                .unwrap_or_default();
            prior.update(own)
        })
        .collect()
    }
}

/// Days of user activity kept: the features count the last 7 days.
const USER_DAYS: usize = 7;
const DAY_MS: i64 = 86_400_000;

/// One user's exposures to and clicks on one advertiser, per UTC day in a ring.
#[derive(Debug, Clone, Copy, Default)]
struct Activity {
    days: [i64; USER_DAYS],
    exposures: [u32; USER_DAYS],
    clicks: [u32; USER_DAYS],
}

impl Activity {
    fn add(&mut self, now_ms: i64, click: bool) {
        let day = now_ms.div_euclid(DAY_MS);
        let i = day.rem_euclid(USER_DAYS as i64) as usize;
        if self.days[i] != day {
            (self.days[i], self.exposures[i], self.clicks[i]) = (day, 0, 0);
        }
        if click {
            self.clicks[i] = self.clicks[i].saturating_add(1);
        } else {
            self.exposures[i] = self.exposures[i].saturating_add(1);
        }
    }

    /// Exposures and clicks over the 7 days ending with `now_ms`'s day.
    fn recent(&self, now_ms: i64) -> (u32, u32) {
        let today = now_ms.div_euclid(DAY_MS);
        (0..USER_DAYS)
            .filter(|i| self.days[*i] > today - USER_DAYS as i64 && self.days[*i] <= today)
            .fold((0u32, 0u32), |(e, c), i| {
                (
                    e.saturating_add(self.exposures[i]),
                    c.saturating_add(self.clicks[i]),
                )
            })
    }
}

/// Users' recent exposures to and clicks on each advertiser (a bounded cache; a user not
/// seen for 7 days is forgotten).
pub struct UserActivity {
    cache: moka::sync::Cache<(u64, AdvertiserId), Activity>,
}

impl Default for UserActivity {
    fn default() -> Self {
        Self::new(1_000_000)
    }
}

impl UserActivity {
    /// Keeps at most `capacity` user x advertiser pairs.
    pub fn new(capacity: u64) -> Self {
        Self {
            cache: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_idle(std::time::Duration::from_millis(
                    USER_DAYS as u64 * DAY_MS as u64,
                ))
                .build(),
        }
    }

    /// Counts an exposure (an impression) or a click of a user on an advertiser's ad.
    pub fn record(&self, user_key: &str, advertiser: AdvertiserId, now_ms: i64, click: bool) {
        if user_key.is_empty() {
            return;
        }
        let key = (endcap_core::fnv1a64(user_key.as_bytes()), advertiser);
        self.cache.entry(key).and_upsert_with(|e| {
            let mut a = e.map(|e| e.into_value()).unwrap_or_default();
            a.add(now_ms, click);
            a
        });
    }

    /// The user's exposures and clicks on the advertiser over the last 7 days.
    pub fn recent(&self, user_key: &str, advertiser: AdvertiserId, now_ms: i64) -> (u32, u32) {
        if user_key.is_empty() {
            return (0, 0);
        }
        self.cache
            .get(&(endcap_core::fnv1a64(user_key.as_bytes()), advertiser))
            .map_or((0, 0), |a| a.recent(now_ms))
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
        let cold_rows = rows.iter().zip(&cold).filter(|(_, c)| **c).map(|(f, _)| f);
        let mut posts = self.cold.posteriors(cold_rows).into_iter();
        for (p, _) in pctr.iter_mut().zip(&cold).filter(|(_, c)| **c) {
            if let Some(b) = posts.next() {
                *p = if explored {
                    b.sample(&mut || uniform())
                } else {
                    b.mean()
                };
            }
        }
        // Held to [0, 1] (NaN to 0) by the auction, for every model alike.
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
            page_type: "".into(),
            weekday: 0,
            history: None,
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
    fn user_activity_counts_the_last_seven_days() {
        let u = UserActivity::new(100);
        let adv = AdvertiserId::from_uuid(uuid::Uuid::from_u128(5));
        let day = 86_400_000;
        let t0 = 1_790_000_000_000 / day * day;
        u.record("u1", adv, t0, false);
        u.record("u1", adv, t0 + 3 * day, false);
        u.record("u1", adv, t0 + 3 * day + 5, true);
        u.record("", adv, t0, false);
        assert_eq!(u.recent("u1", adv, t0 + 3 * day), (2, 1));
        assert_eq!(
            u.recent("u1", adv, t0 + 7 * day),
            (1, 1),
            "day 0 has left the window"
        );
        assert_eq!(u.recent("u1", adv, t0 + 11 * day), (0, 0));
        assert_eq!(u.recent("u2", adv, t0), (0, 0));
        assert_eq!(u.recent("", adv, t0), (0, 0));
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
