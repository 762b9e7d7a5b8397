//! Endcap's shopper simulator, shared by tests, the CTR work and the demo.
//!
//! Shoppers (each with a preferred store and one or two devices linked to one customer key)
//! see ads of simulated campaigns onsite and offsite; a shopper in a campaign's holdout gets
//! a ghost instead. Clicks follow a position effect (the click rate halves with each slot
//! down). Purchases happen in store and online: a base rate for everyone, plus a causal lift
//! for shoppers actually exposed to the campaign, which the simulator records as the truth,
//! so a test can check that the measured lift recovers it. Deterministic for a seed.
//!
//! [`simulate_ad_log`] is the same shoppers as the ad server logs them: a decision log, the
//! impressions and the clicks, where clicks depend on the ad, its relevance, the page, the
//! device, the hour and the position, so a CTR model has real signal to learn.
#![warn(missing_docs)]

use endcap_attribution::{Catalog, IdentityMap, Product, Touch, TouchKind};
mod ads;
mod csv;

pub use ads::{simulate_ad_log, write_event_log, AdLog, AdLogConfig, SimLineItem};

pub use csv::{iso, write_csv};
use endcap_events::ReceiptLineEvent;
use std::collections::HashMap;
use uuid::Uuid;

/// A reproducible random stream (splitmix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A stream for `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// A uniform draw in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A whole number in 0..n.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// A simulated campaign.
#[derive(Debug, Clone)]
pub struct SimCampaign {
    /// Owner.
    pub advertiser_id: Uuid,
    /// Campaign.
    pub campaign_id: Uuid,
    /// Line item.
    pub line_item_id: Uuid,
    /// The SKU it promotes (brand `brand`, category `category` in the catalog).
    pub sku: String,
    /// Share of shoppers held out, percent.
    pub holdout_percent: u8,
    /// Chance per day that a shopper sees one of its ads.
    pub exposure_rate: f64,
    /// Extra chance per day, for an exposed shopper, of buying the SKU: the true lift.
    pub lift_rate: f64,
    /// Price of the SKU, micros.
    pub price_micros: i64,
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Shoppers.
    pub shoppers: usize,
    /// Days simulated.
    pub days: u32,
    /// First day, ms since the epoch (UTC midnight).
    pub start_ms: i64,
    /// Chance per day that any shopper buys a campaign's SKU anyway.
    pub base_rate: f64,
    /// Click rate in the top slot; each slot down halves it.
    pub top_ctr: f64,
    /// Stores.
    pub stores: u32,
    /// The campaigns.
    pub campaigns: Vec<SimCampaign>,
    /// The seed: the same seed gives the same world.
    pub seed: u64,
}

/// The simulated world: what Endcap would have logged, and the truth it should find.
#[derive(Debug, Clone, Default)]
pub struct World {
    /// Real exposures (views and clicks).
    pub touches: Vec<Touch>,
    /// Ghost exposures of held-out shoppers.
    pub ghosts: Vec<Touch>,
    /// Receipt lines, in store and online.
    pub receipts: Vec<ReceiptLineEvent>,
    /// Device user keys to customer keys.
    pub identity: IdentityMap,
    /// The catalog.
    pub catalog: Catalog,
    /// True incremental sales per campaign, micros: the purchases only the lift caused.
    pub true_incremental_micros: HashMap<Uuid, i64>,
    /// Shoppers per campaign who were exposed (not held out) at least once.
    pub exposed_shoppers: HashMap<Uuid, u64>,
}

/// Whether a shopper is in a campaign's holdout: stable per (shopper, campaign).
fn held_out(shopper: usize, c: &SimCampaign) -> bool {
    let mut r = Rng::new(shopper as u64 ^ c.campaign_id.as_u128() as u64);
    r.below(100) < u64::from(c.holdout_percent)
}

/// Simulates the world.
pub fn simulate(cfg: &SimConfig) -> World {
    const DAY_MS: i64 = 86_400_000;
    let mut rng = Rng::new(cfg.seed);
    let mut w = World::default();
    for c in &cfg.campaigns {
        w.catalog.insert(
            c.sku.clone(),
            Product {
                brand: format!("brand-of-{}", c.sku),
                category: "grocery".into(),
            },
        );
    }
    let mut receipt_no = 0u64;
    // Exposure ids from one counter: unique, as the ad server's are.
    let mut exposure_no = 0u64;
    for s in 0..cfg.shoppers {
        let customer = format!("customer-{s}");
        let devices: Vec<String> = (0..1 + rng.below(2))
            .map(|d| format!("device-{s}-{d}"))
            .collect();
        for d in &devices {
            w.identity.insert(d.clone(), customer.clone());
        }
        let store = format!("store-{}", rng.below(u64::from(cfg.stores.max(1))));
        let mut exposed_since: HashMap<Uuid, i64> = HashMap::new();
        for day in 0..cfg.days {
            let day_ms = cfg.start_ms + i64::from(day) * DAY_MS;
            for c in &cfg.campaigns {
                if rng.next_f64() < c.exposure_rate {
                    let ts = day_ms + rng.below(12 * 3_600_000) as i64;
                    let device = &devices[rng.below(devices.len() as u64) as usize];
                    let position = rng.below(3) as i32;
                    exposure_no += 1;
                    let touch = |kind| Touch {
                        event_id: Uuid::from_u64_pair(cfg.seed, exposure_no),
                        kind,
                        ts_ms: ts,
                        user_key: device.clone(),
                        advertiser_id: c.advertiser_id,
                        campaign_id: c.campaign_id,
                        line_item_id: c.line_item_id,
                        skus: vec![c.sku.clone()],
                    };
                    if held_out(s, c) {
                        w.ghosts.push(touch(TouchKind::View));
                    } else {
                        w.touches.push(touch(TouchKind::View));
                        if rng.next_f64() < cfg.top_ctr / f64::from(1 << position) {
                            let mut click = touch(TouchKind::Click);
                            click.event_id = Uuid::from_u64_pair(!cfg.seed, exposure_no);
                            click.ts_ms += 5_000;
                            w.touches.push(click);
                        }
                        exposed_since.entry(c.campaign_id).or_insert(ts);
                    }
                }
                // Purchases in the afternoon, after the morning's ads.
                let buy_ts = day_ms + 13 * 3_600_000 + rng.below(8 * 3_600_000) as i64;
                let base = rng.next_f64() < cfg.base_rate;
                let lifted = exposed_since
                    .get(&c.campaign_id)
                    .is_some_and(|since| *since <= buy_ts)
                    && rng.next_f64() < c.lift_rate;
                if base || lifted {
                    if lifted && !base {
                        *w.true_incremental_micros.entry(c.campaign_id).or_default() +=
                            c.price_micros;
                    }
                    receipt_no += 1;
                    let online = rng.next_f64() < 0.3;
                    w.receipts.push(ReceiptLineEvent {
                        receipt_id: format!("r-{receipt_no}"),
                        version: 1,
                        line_no: 0,
                        customer_key: customer.clone(),
                        store_id: if online {
                            "online".into()
                        } else {
                            store.clone()
                        },
                        channel: if online { "online" } else { "in_store" }.into(),
                        ts_ms: buy_ts,
                        sku: c.sku.clone(),
                        brand: String::new(),
                        category: String::new(),
                        quantity: 1,
                        amount_micros: c.price_micros,
                    });
                }
            }
        }
        for c in exposed_since.keys() {
            *w.exposed_shoppers.entry(*c).or_default() += 1;
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(seed: u64) -> SimConfig {
        SimConfig {
            shoppers: 500,
            days: 10,
            start_ms: 1_790_000_000_000 - 1_790_000_000_000 % 86_400_000,
            base_rate: 0.02,
            top_ctr: 0.05,
            stores: 3,
            campaigns: vec![SimCampaign {
                advertiser_id: Uuid::from_u128(1),
                campaign_id: Uuid::from_u128(2),
                line_item_id: Uuid::from_u128(3),
                sku: "milk-1".into(),
                holdout_percent: 10,
                exposure_rate: 0.2,
                lift_rate: 0.02,
                price_micros: 4_990_000,
            }],
            seed,
        }
    }

    #[test]
    fn the_same_seed_makes_the_same_world_and_another_seed_another() {
        let (a, b, c) = (
            simulate(&config(1)),
            simulate(&config(1)),
            simulate(&config(2)),
        );
        assert_eq!(a.touches, b.touches);
        assert_eq!(a.receipts, b.receipts);
        assert_ne!(a.receipts, c.receipts);
    }

    #[test]
    fn held_out_shoppers_get_ghosts_and_clicks_follow_the_position_effect() {
        let w = simulate(&config(3));
        assert!(!w.ghosts.is_empty() && !w.touches.is_empty());
        let ghosts: std::collections::HashSet<&str> = w
            .ghosts
            .iter()
            .map(|g| w.identity[&g.user_key].as_str())
            .collect();
        assert!(
            w.touches
                .iter()
                .all(|t| !ghosts.contains(w.identity[&t.user_key].as_str())),
            "one arm per shopper"
        );
        let views = w
            .touches
            .iter()
            .filter(|t| t.kind == TouchKind::View)
            .count();
        let clicks = w.touches.len() - views;
        let ctr = clicks as f64 / views as f64;
        // Slots 0-2 equally likely: mean CTR = 0.05 x (1 + 1/2 + 1/4) / 3.
        assert!((0.015..0.045).contains(&ctr), "ctr {ctr}");
    }
}
