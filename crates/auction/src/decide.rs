//! One decision: every slot of a request, from candidates to priced, explained winners.

use crate::{
    in_holdout, pacing_allows, run_auction, AuctionRules, Bidder, Candidate, CapCounter, Context,
    CtrModel, Features, Loss, Slot, SlotKind, Snapshot, SpendTracker,
};
use chrono::Timelike;
use endcap_core::{Creative, LineItemId, Targeting};
use serde::Serialize;
use std::sync::Arc;

/// One slot to fill in a decision.
#[derive(Debug, Clone)]
pub struct SlotRequest {
    /// The caller's id for it (placement id, or OpenRTB imp id).
    pub id: String,
    /// What it is.
    pub slot: Slot,
    /// Ads wanted.
    pub count: usize,
    /// Reserve eCPM in micros.
    pub floor_ecpm_micros: i64,
    /// Whether an advertiser may appear more than once in this request through this slot
    /// (a placement setting; by default one ad per advertiser per request).
    pub allow_same_advertiser: bool,
}

/// An ad placed in a slot (or, for holdout users, the ad that would have been).
#[derive(Debug, Clone)]
pub struct Placed {
    /// The slot's id.
    pub slot_id: String,
    /// Placement name the slot answered to first.
    pub placement: String,
    /// Position in the slot, 0 first.
    pub rank: usize,
    /// The line item, campaign and creatives.
    pub candidate: Candidate,
    /// The creative shown.
    pub creative: Arc<Creative>,
    /// Clearing price, micros per click (CPC) or per mille (CPM).
    pub price_micros: i64,
    /// eCPM it ranked with.
    pub ecpm_micros: i64,
    /// Predicted CTR.
    pub pctr: f64,
    /// The model's inputs.
    pub features: Features,
}

/// Why a line item did or did not serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "detail")]
pub enum Outcome {
    /// Served.
    Won,
    /// Targeting or flight excluded it (the dimension is named).
    Filtered(&'static str),
    /// No creative fits the slot.
    NoCreative,
    /// Daily or total budget spent.
    Budget,
    /// Ahead of even pacing; throttled.
    Pacing,
    /// The user reached its frequency cap.
    FrequencyCap,
    /// The user is in the campaign's holdout group; a ghost exposure was recorded.
    Holdout,
    /// Under the reserve price.
    Floor,
    /// Others ranked higher.
    Outbid,
    /// Its advertiser already has an ad in the slot.
    SameAdvertiser,
    /// Already placed in another slot of this request.
    AlreadyPlaced,
}

/// One line item's fate in one slot.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The slot.
    pub slot_id: String,
    /// The line item.
    pub line_item_id: LineItemId,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The result of a decision.
#[derive(Debug, Default)]
pub struct Decision {
    /// Ads to serve, by slot and rank.
    pub placed: Vec<Placed>,
    /// Ads holdout users would have been shown (to log as ghost exposures).
    pub ghosts: Vec<Placed>,
    /// Every considered line item's outcome.
    pub explanations: Vec<Explanation>,
}

fn intersects(a: &[String], b: &[String]) -> bool {
    a.iter()
        .any(|x| b.iter().any(|y| x.eq_ignore_ascii_case(y)))
}

/// The first targeting dimension the request misses; `None` when every one matches.
fn targeting_miss(t: &Targeting, ctx: &Context) -> Option<&'static str> {
    if !t.keywords.is_empty() && !intersects(&t.keywords, &ctx.keywords) {
        return Some("keyword");
    }
    if !t.categories.is_empty() && !intersects(&t.categories, &ctx.categories) {
        return Some("category");
    }
    if !t.segments.is_empty() && !intersects(&t.segments, &ctx.segments) {
        return Some("segment");
    }
    if !t.stores.is_empty() && !ctx.store_id.as_ref().is_some_and(|s| t.stores.contains(s)) {
        return Some("store");
    }
    if !t.devices.is_empty() && !ctx.device.is_some_and(|d| t.devices.contains(&d)) {
        return Some("device");
    }
    None
}

/// Decides every slot of a request. Pure: spend and caps are read, never written (the
/// caller records what is actually served).
#[allow(clippy::too_many_arguments)]
pub fn decide(
    snapshot: &Snapshot,
    ctx: &Context,
    slots: &[SlotRequest],
    model: &dyn CtrModel,
    spend: &dyn SpendTracker,
    caps: &dyn CapCounter,
    first_price: bool,
) -> Decision {
    let mut out = Decision::default();
    let mut used: Vec<LineItemId> = Vec::new();
    let mut advertisers_placed: Vec<endcap_core::AdvertiserId> = Vec::new();
    for req in slots {
        let placement = req.slot.names.last().cloned().unwrap_or_default();
        let explain = |out: &mut Decision, li: LineItemId, outcome: Outcome| {
            out.explanations.push(Explanation {
                slot_id: req.id.clone(),
                line_item_id: li,
                outcome,
            })
        };
        let mut eligible: Vec<(&Candidate, Arc<Creative>, Features)> = Vec::new();
        for cand in snapshot.for_placements(&req.slot.names) {
            let li = &cand.line_item;
            let c = &cand.campaign;
            let outcome = if ctx.now < c.start_at || ctx.now >= c.end_at {
                Some(Outcome::Filtered("flight"))
            } else if let Some(dim) = targeting_miss(&li.targeting, ctx) {
                Some(Outcome::Filtered(dim))
            } else if used.contains(&li.id) {
                Some(Outcome::AlreadyPlaced)
            } else if !req.allow_same_advertiser && advertisers_placed.contains(&li.advertiser_id) {
                Some(Outcome::SameAdvertiser)
            } else {
                None
            };
            if let Some(o) = outcome {
                explain(&mut out, li.id, o);
                continue;
            }
            let Some(creative) = cand.creative_for(&req.slot.kind).cloned() else {
                explain(&mut out, li.id, Outcome::NoCreative);
                continue;
            };
            let (today, total) = spend.spent(c.id, ctx.now);
            match pacing_allows(c, today, total, ctx.now, ctx.draw) {
                Err("budget") => {
                    explain(&mut out, li.id, Outcome::Budget);
                    continue;
                }
                Err(_) => {
                    explain(&mut out, li.id, Outcome::Pacing);
                    continue;
                }
                Ok(()) => {}
            }
            if let Some(cap) = li.frequency_cap {
                if !ctx.user_key.is_empty()
                    && caps.count(&ctx.user_key, li.id, cap.per, ctx.now) >= cap.max
                {
                    explain(&mut out, li.id, Outcome::FrequencyCap);
                    continue;
                }
            }
            let features = Features {
                placement: placement.clone(),
                offsite: req.slot.kind != SlotKind::Onsite,
                pricing: li.pricing.model,
                keyword_match: !li.targeting.keywords.is_empty(),
                segment_match: !li.targeting.segments.is_empty(),
                sku_on_page: intersects(&li.promoted_skus, &ctx.skus_on_page),
                device: ctx.device,
                hour: ctx.now.hour(),
            };
            eligible.push((cand, creative, features));
        }
        let rows: Vec<Features> = eligible.iter().map(|(_, _, f)| f.clone()).collect();
        let pctrs = model.predict(&rows);
        let mut bidders: Vec<Bidder> = eligible
            .iter()
            .zip(&pctrs)
            .enumerate()
            .map(|(i, ((cand, _, _), p))| {
                let li = &cand.line_item;
                Bidder {
                    idx: i,
                    line_item: li.id,
                    advertiser: li.advertiser_id,
                    pricing: li.pricing.model,
                    bid_micros: li.pricing.bid_micros.get(),
                    pctr: *p,
                    ecpm_micros: Bidder::ecpm(li.pricing.model, li.pricing.bid_micros.get(), *p),
                }
            })
            .collect();
        let rules = AuctionRules {
            slots: req.count,
            floor_ecpm_micros: req.floor_ecpm_micros,
            first_price,
            allow_same_advertiser: req.allow_same_advertiser,
        };
        // Holdout users are taken out of the ads they would have won, one at a time, and the
        // auction re-run so the slot goes to the next ad at a fair price.
        let (wins, losses) = loop {
            let (wins, losses) = run_auction(bidders.clone(), rules);
            let held = wins.iter().find(|w| {
                let c = &eligible[w.bidder.idx].0.campaign;
                in_holdout(&ctx.user_key, c.id, c.holdout_percent)
            });
            match held {
                None => break (wins, losses),
                Some(w) => {
                    let (cand, creative, features) = &eligible[w.bidder.idx];
                    out.ghosts.push(Placed {
                        slot_id: req.id.clone(),
                        placement: placement.clone(),
                        rank: w.rank,
                        candidate: (*cand).clone(),
                        creative: creative.clone(),
                        price_micros: 0,
                        ecpm_micros: w.bidder.ecpm_micros,
                        pctr: w.bidder.pctr,
                        features: features.clone(),
                    });
                    explain(&mut out, w.bidder.line_item, Outcome::Holdout);
                    // Counted once per request: later slots do not log it again.
                    used.push(w.bidder.line_item);
                    let gone = w.bidder.idx;
                    bidders.retain(|b| b.idx != gone);
                }
            }
        };
        for (b, loss) in losses {
            let o = match loss {
                Loss::Floor => Outcome::Floor,
                Loss::Outbid => Outcome::Outbid,
                Loss::SameAdvertiser => Outcome::SameAdvertiser,
            };
            explain(&mut out, b.line_item, o);
        }
        for w in wins {
            let (cand, creative, features) = &eligible[w.bidder.idx];
            used.push(w.bidder.line_item);
            advertisers_placed.push(w.bidder.advertiser);
            explain(&mut out, w.bidder.line_item, Outcome::Won);
            out.placed.push(Placed {
                slot_id: req.id.clone(),
                placement: placement.clone(),
                rank: w.rank,
                candidate: (*cand).clone(),
                creative: creative.clone(),
                price_micros: w.price_micros,
                ecpm_micros: w.bidder.ecpm_micros,
                pctr: w.bidder.pctr,
                features: features.clone(),
            });
        }
    }
    out
}
