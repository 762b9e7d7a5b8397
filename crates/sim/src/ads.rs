//! The ad server's view of simulated shoppers: decision-log rows, impressions and clicks.
//!
//! Each request is a page view on a placement with a few slots. Every slot shows one of the
//! line items; whether the shopper clicks follows a known logistic model: a base rate per
//! placement, the line item's own appeal (hidden: only a model that tells line items apart
//! can learn it), keyword, segment and on-page relevance, device, evening hours, and a
//! position effect. Some served ads never render (the shopper left), as in real logs.

use crate::Rng;
use endcap_core::{
    AdChannel, AdvertiserId, CampaignId, CreativeId, DecisionId, Device, Exposure, LineItemId,
    PricingModel,
};
use endcap_ctr::Features;
use endcap_events::{AdEvent, Arm, DecisionRecord, Event, Table};
use std::io::Write as _;
use std::path::Path;
use uuid::Uuid;

/// A simulated line item and its true appeal.
#[derive(Debug, Clone)]
pub struct SimLineItem {
    /// Its id.
    pub id: LineItemId,
    /// Its advertiser.
    pub advertiser: AdvertiserId,
    /// How it pays.
    pub pricing: PricingModel,
    /// It targets keywords (so it matched the search when shown there).
    pub keywords: bool,
    /// It targets a segment the shopper is in.
    pub segments: bool,
    /// Its own appeal, added to the click logit.
    pub appeal: f64,
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct AdLogConfig {
    /// Page views with ads.
    pub requests: usize,
    /// Line items competing.
    pub line_items: usize,
    /// Shoppers.
    pub shoppers: usize,
    /// First request, ms since the epoch; requests spread evenly over `days`.
    pub start_ms: i64,
    /// Days covered.
    pub days: u32,
    /// The seed.
    pub seed: u64,
}

/// The log, and the truth behind it.
#[derive(Debug, Clone, Default)]
pub struct AdLog {
    /// Decisions, impressions and clicks, as the ad server writes them.
    pub events: Vec<Event>,
    /// The line items.
    pub line_items: Vec<SimLineItem>,
    /// The true click probability of each served decision, in decision order.
    pub true_ctr: Vec<(Uuid, f64)>,
}

/// Placements: name, slots, base logit, page type, offsite.
const PLACEMENTS: [(&str, u16, f64, &str, bool); 5] = [
    ("search-top", 3, -3.0, "search", false),
    ("search-rail", 2, -3.8, "search", false),
    ("home-hero", 1, -4.0, "home", false),
    ("pdp-carousel", 4, -3.6, "pdp", false),
    ("offsite-banner", 1, -5.5, "", true),
];

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// A roughly normal draw (sum of uniforms), mean 0, deviation `sd`.
fn normalish(rng: &mut Rng, sd: f64) -> f64 {
    let s: f64 = (0..12).map(|_| rng.next_f64()).sum::<f64>() - 6.0;
    s * sd
}

/// Simulates the ad log.
pub fn simulate_ad_log(cfg: &AdLogConfig) -> AdLog {
    let mut rng = Rng::new(cfg.seed ^ 0xC7_12);
    let advertisers: Vec<AdvertiserId> = (0..cfg.line_items.div_ceil(3).max(1))
        .map(|i| AdvertiserId::from_uuid(Uuid::from_u64_pair(cfg.seed, 1_000 + i as u64)))
        .collect();
    let line_items: Vec<SimLineItem> = (0..cfg.line_items.max(1))
        .map(|i| SimLineItem {
            id: LineItemId::from_uuid(Uuid::from_u64_pair(cfg.seed, 2_000 + i as u64)),
            advertiser: advertisers[i / 3],
            pricing: if rng.next_f64() < 0.6 {
                PricingModel::Cpc
            } else {
                PricingModel::Cpm
            },
            keywords: rng.next_f64() < 0.5,
            segments: rng.next_f64() < 0.3,
            appeal: normalish(&mut rng, 0.6),
        })
        .collect();
    let campaign = CampaignId::from_uuid(Uuid::from_u64_pair(cfg.seed, 3_000));
    let span = i64::from(cfg.days.max(1)) * 86_400_000;
    let mut log = AdLog {
        line_items: line_items.clone(),
        ..AdLog::default()
    };
    let mut n = 0u64;
    // What the ad server would know at each decision: its counts per line item x placement
    // and each user's recent activity with each advertiser (the same store it uses).
    let mut counts: std::collections::HashMap<(LineItemId, &str), (u64, u64)> =
        std::collections::HashMap::new();
    let users = endcap_ctr::UserActivity::new(10_000_000);
    for r in 0..cfg.requests {
        let ts = cfg.start_ms + span * r as i64 / cfg.requests.max(1) as i64;
        let (placement, slots, base, page_type, offsite) =
            PLACEMENTS[rng.below(PLACEMENTS.len() as u64) as usize];
        let device = match rng.below(10) {
            0 => None,
            1..=4 => Some(Device::Mobile),
            5 => Some(Device::Tablet),
            _ => Some(Device::Desktop),
        };
        let local = (ts / 3_600_000) % 24;
        let hour = local as u32;
        let weekday = ((ts / 86_400_000 + 3) % 7) as u8;
        let user = format!("device-{}-0", rng.below(cfg.shoppers.max(1) as u64));
        let request_id = Uuid::from_u64_pair(cfg.seed ^ 0x5EED, r as u64);
        for position in 0..slots {
            let li = &line_items[rng.below(line_items.len() as u64) as usize];
            let sku_on_page = rng.next_f64() < 0.2;
            let keyword_match = li.keywords && page_type == "search";
            let (impressions, clicks) =
                counts.get(&(li.id, placement)).copied().unwrap_or_default();
            let (user_exposures, user_clicks) = users.recent(&user, li.advertiser, ts);
            let logit = base
                + li.appeal
                + if keyword_match { 0.6 } else { 0.0 }
                + if li.segments { 0.3 } else { 0.0 }
                + if sku_on_page { 0.4 } else { 0.0 }
                + match device {
                    Some(Device::Mobile) => 0.25,
                    Some(Device::Tablet) => -0.15,
                    _ => 0.0,
                }
                + if (18..23).contains(&hour) { 0.3 } else { 0.0 }
                // A shopper who clicked the brand this week comes back to it; one shown it
                // many times tires of it.
                + if user_clicks > 0 { 0.8 } else { 0.0 }
                - 0.08 * f64::from(user_exposures.min(10))
                - 0.5 * f64::from(position);
            let p = sigmoid(logit);
            n += 1;
            let decision_id = DecisionId::from_uuid(Uuid::from_u64_pair(cfg.seed, n));
            let features = Features {
                placement: placement.into(),
                offsite,
                pricing: li.pricing,
                keyword_match,
                segment_match: li.segments,
                sku_on_page,
                device,
                hour,
                line_item: Some(li.id),
                advertiser: Some(li.advertiser),
                slot_count: slots,
                page_type: page_type.into(),
                weekday,
                history: Some(endcap_ctr::History {
                    impressions,
                    clicks,
                    user_exposures,
                    user_clicks,
                }),
            };
            let exposure = Exposure {
                decision_id,
                decided_at_ms: ts,
                user_key: user.clone(),
                advertiser_id: li.advertiser,
                campaign_id: campaign,
                line_item_id: li.id,
                creative_id: CreativeId::from_uuid(li.id.as_uuid()),
                channel: if offsite {
                    AdChannel::Offsite
                } else {
                    AdChannel::Onsite
                },
                placement: placement.into(),
                position,
                sku: None,
                pricing: li.pricing,
                price_micros: 500_000,
                bid_cpm_micros: 0,
            };
            log.events.push(Event::Decision(Box::new(DecisionRecord {
                exposure: exposure.clone(),
                request_id,
                arm: Arm::Served,
                slot_id: placement.into(),
                slot_count: slots,
                bid_micros: 1_000_000,
                pctr: 0.01,
                ecpm_micros: 10_000,
                promoted_skus: Vec::new(),
                keywords: Vec::new(),
                categories: Vec::new(),
                store_id: String::new(),
                page_type: page_type.into(),
                device: String::new(),
                local_hour: hour as u8,
                local_weekday: weekday,
                segments: Vec::new(),
                features: serde_json::to_string(&features).unwrap_or_default(),
                model_version: "sim".into(),
                explored: false,
                query: String::new(),
                matched_keyword: String::new(),
                match_type: String::new(),
                bid_multiplier_bps: 10_000,
            })));
            if rng.next_f64() < 0.05 {
                continue; // decided, never rendered
            }
            log.true_ctr.push((decision_id.as_uuid(), p));
            counts.entry((li.id, placement)).or_default().0 += 1;
            users.record(&user, li.advertiser, ts + 200, false);
            log.events.push(Event::Impression(AdEvent::new(
                exposure.clone(),
                ts + 200,
                Vec::new(),
            )));
            if rng.next_f64() < p {
                counts.entry((li.id, placement)).or_default().1 += 1;
                users.record(&user, li.advertiser, ts + 4_000, true);
                log.events
                    .push(Event::Click(AdEvent::new(exposure, ts + 4_000, Vec::new())));
            }
        }
    }
    log
}

/// Writes events as the embedded file log does: one NDJSON file per table in `dir`.
pub fn write_event_log(dir: &Path, events: &[Event]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut files: std::collections::HashMap<Table, std::io::BufWriter<std::fs::File>> =
        std::collections::HashMap::new();
    for e in events {
        let table = e.table();
        let f = match files.entry(table) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join(format!("{}.ndjson", table.name())))?;
                v.insert(std::io::BufWriter::new(file))
            }
        };
        serde_json::to_writer(&mut *f, e)?;
        f.write_all(b"\n")?;
    }
    for (_, mut f) in files {
        f.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_is_reproducible_and_clicks_follow_the_position_effect() {
        let cfg = AdLogConfig {
            requests: 20_000,
            line_items: 30,
            shoppers: 500,
            start_ms: 1_790_000_000_000,
            days: 7,
            seed: 4,
        };
        let a = simulate_ad_log(&cfg);
        assert_eq!(a.events, simulate_ad_log(&cfg).events);
        let count = |f: &dyn Fn(&Event) -> bool| a.events.iter().filter(|e| f(e)).count();
        let decisions = count(&|e| matches!(e, Event::Decision(_)));
        let impressions = count(&|e| matches!(e, Event::Impression(_)));
        assert!(impressions < decisions && impressions > decisions * 9 / 10);
        let ctr_at = |pos: u16| {
            let shown = count(&|e| matches!(e, Event::Impression(x) if x.exposure.position == pos));
            let clicked = count(&|e| matches!(e, Event::Click(x) if x.exposure.position == pos));
            clicked as f64 / shown as f64
        };
        assert!(
            ctr_at(0) > ctr_at(1) && ctr_at(1) > ctr_at(2),
            "position effect"
        );
    }
}
