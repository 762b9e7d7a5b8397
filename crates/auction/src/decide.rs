//! One decision, as a pipeline: context -> candidates (filter) -> score -> auction (with
//! holdouts and budget reservations) -> placed ads, each convertible into an [`Exposure`].

use crate::{
    cap_reached, in_holdout, pacing_allows, run_auction, AuctionRules, Bidder, BudgetView,
    Candidate, CapBuckets, CapCounter, CapOwner, Context, CtrModel, Features, Loss, RequestCaps,
    Slot, SlotKind, Snapshot,
};
use endcap_billing::{Limits, NANOS_PER_MICRO};
use endcap_core::{
    AdChannel, AdvertiserId, Campaign, CampaignId, Creative, DecisionId, Exposure, FrequencyCap,
    LineItemId, PricingModel, Targeting,
};
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
    /// OpenRTB blocked attributes and deals (default: none, as onsite).
    pub terms: crate::SlotTerms,
}

/// Everything a decision reads besides the request: one struct instead of many arguments.
pub struct Deps<'a> {
    /// The serving line items.
    pub snapshot: &'a Snapshot,
    /// pCTR.
    pub model: &'a dyn CtrModel,
    /// The ad's and the user's past, logged with the features the model reads.
    pub history: &'a dyn endcap_ctr::HistoryView,
    /// Spend, reservations.
    pub budgets: &'a dyn BudgetView,
    /// Frequency cap counters.
    pub caps: &'a dyn CapCounter,
    /// First price instead of second price.
    pub first_price: bool,
    /// Least a CPC winner pays per click, micros.
    pub min_cpc_micros: i64,
    /// Slots not started by then are not decided (OpenRTB's `tmax`); `None`: no deadline.
    pub deadline: Option<std::time::Instant>,
    /// Record why every line item lost ([`Decision::explanations`], the debug answer);
    /// off, a decision allocates nothing per losing candidate.
    pub explain: bool,
}

/// An ad placed in a slot (or, for holdout users, the ad that would have been).
#[derive(Debug, Clone)]
pub struct Placed {
    /// Its decision id (also the reservation's).
    pub decision_id: DecisionId,
    /// The slot's id.
    pub slot_id: String,
    /// Ads the slot asked for.
    pub slot_count: usize,
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
    /// eCPM it ranked with (the advertiser's value per mille), micros.
    pub ecpm_micros: i64,
    /// Predicted CTR.
    pub pctr: f64,
    /// The model's inputs.
    pub features: Features,
    /// The budget held for it until its impression (nanos).
    pub reserved_nanos: i64,
    /// Its slot explored (cold-start draws instead of means).
    pub explored: bool,
    /// The bid it competed with (keyword or line item bid x placement multiplier): its
    /// price never exceeds it.
    pub bid: crate::EffectiveBid,
    /// The line item's keyword that matched the search, if any.
    pub keyword: Option<endcap_core::KeywordMatch>,
    /// The deal it bid through (OpenRTB `dealid`), whose floor its bid must clear.
    pub deal: Option<crate::DealOffer>,
}

impl Placed {
    /// The exposure record of this ad for the request's user and time.
    pub fn exposure(&self, ctx: &Context) -> Exposure {
        let li = &self.candidate.line_item;
        Exposure {
            decision_id: self.decision_id,
            decided_at_ms: ctx.now.timestamp_millis(),
            user_key: ctx.user_key.clone(),
            advertiser_id: li.advertiser_id,
            campaign_id: li.campaign_id,
            line_item_id: li.id,
            creative_id: self.creative.id,
            channel: ctx.channel,
            placement: self.placement.clone(),
            position: self.rank.min(usize::from(u16::MAX)) as u16,
            sku: self.creative.sku.clone(),
            pricing: li.pricing.model,
            price_micros: self.price_micros,
            bid_cpm_micros: 0,
        }
    }
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
    /// Daily or total budget spent (or held by open decisions, or not yet known).
    Budget,
    /// Today's allowance reached, or ahead of the expected-traffic line and throttled.
    Pacing,
    /// The user reached a frequency cap: the line item's, its campaign's or its
    /// advertiser's (named: `line_item`, `campaign`, `advertiser`).
    FrequencyCap(&'static str),
    /// The user is in the campaign's holdout group; a ghost was recorded.
    Holdout,
    /// Under the reserve price (or the minimum CPC).
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
    /// Ads holdout users would have been shown (logged as ghosts; not served, not reserved).
    pub ghosts: Vec<Placed>,
    /// Every considered line item's outcome.
    pub explanations: Vec<Explanation>,
    /// The deadline passed before every slot was decided (the rest were not).
    pub timed_out: bool,
}

/// What earlier slots of the request decided, which later slots must respect.
#[derive(Default)]
struct RequestState {
    used: Vec<LineItemId>,
    advertisers: Vec<AdvertiserId>,
    /// Campaigns a ghost was recorded for: they leave the whole request.
    ghosted: Vec<CampaignId>,
    /// Ads placed or ghosted so far toward each cap owner (the counters move only when
    /// impressions arrive).
    caps: RequestCaps,
    /// The user's cap counters, read once for the request (`None`: no user, no caps).
    seen: Option<crate::UserCaps>,
}

/// SplitMix64's finalizer: a cheap, well-mixed 64-bit hash of a 64-bit value.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A candidate's three caps, each with its owner.
fn caps_of(deps: &Deps<'_>, cand: &Candidate) -> [(CapOwner, Option<FrequencyCap>); 3] {
    let li = &cand.line_item;
    [
        (CapOwner::LineItem(li.id), li.frequency_cap),
        (
            CapOwner::Campaign(cand.campaign.id),
            cand.campaign.frequency_cap,
        ),
        (
            CapOwner::Advertiser(li.advertiser_id),
            deps.snapshot.advertiser_cap(li.advertiser_id),
        ),
    ]
}

/// The three owners an ad of `cand` counts toward.
fn owners_of(cand: &Candidate) -> [CapOwner; 3] {
    let li = &cand.line_item;
    CapOwner::all(li.id, cand.campaign.id, li.advertiser_id)
}

/// A candidate that passed the filters, with its creative, features and bid.
struct Eligible<'s> {
    cand: &'s Candidate,
    creative: Arc<Creative>,
    features: Features,
    keyword: Option<endcap_core::KeywordMatch>,
    bid: crate::EffectiveBid,
    /// The deal it bids through, if it targets deals.
    deal: Option<&'s crate::DealOffer>,
}

/// A request's list terms, lower-cased once per request (matched against [`TargetSets`]).
struct Terms {
    search: endcap_core::Search,
    /// The request's organic results, lower-cased, best first.
    candidates: Vec<String>,
    /// The products to show first: those on the page, then the organic results.
    relevant: Vec<String>,
    categories: Vec<String>,
    segments: Vec<String>,
    skus: Vec<String>,
}

impl Terms {
    fn of(ctx: &Context) -> Self {
        let lower =
            |v: &[String]| -> Vec<String> { v.iter().map(|x| x.to_ascii_lowercase()).collect() };
        let skus = lower(&ctx.skus_on_page);
        let candidates = lower(&ctx.candidate_skus);
        Self {
            search: endcap_core::Search::new(&ctx.query, &ctx.keywords),
            categories: ctx
                .categories
                .iter()
                .flat_map(|c| crate::index::category_and_ancestors(c))
                .collect(),
            segments: lower(&ctx.segments),
            relevant: skus.iter().chain(&candidates).cloned().collect(),
            skus,
            candidates,
        }
    }
}

/// Whether any of the request's terms is in the set (cost: the request's terms, which are
/// capped, never the targeting list's length).
fn any_in(terms: &[String], set: &std::collections::HashSet<String>) -> bool {
    terms.iter().any(|t| set.contains(t))
}

/// The first targeting dimension the request misses; `None` when every one matches. The
/// keyword that matched, if any, is left in `keyword`.
fn targeting_miss(
    t: &Targeting,
    sets: &crate::TargetSets,
    terms: &Terms,
    ctx: &Context,
    keyword: &mut Option<endcap_core::KeywordMatch>,
) -> Option<&'static str> {
    if !t.keywords.is_empty() {
        let fit = sets.keywords.fit(&terms.search);
        if !fit.admits() {
            return Some("keyword");
        }
        *keyword = fit.matched();
    }
    if !t.categories.is_empty() && !any_in(&terms.categories, &sets.categories) {
        return Some("category");
    }
    if !t.segments.is_empty() && !any_in(&terms.segments, &sets.segments) {
        return Some("segment");
    }
    if !t.stores.is_empty()
        && !ctx
            .store_id
            .as_ref()
            .is_some_and(|s| sets.stores.contains(s))
    {
        return Some("store");
    }
    if !t.devices.is_empty() && !ctx.device.is_some_and(|d| t.devices.contains(&d)) {
        return Some("device");
    }
    None
}

/// Stage 1: the slot's candidates that pass flight, targeting, request, creative, budget,
/// pacing and cap filters; every one filtered out is explained.
fn candidates<'s>(
    deps: &Deps<'s>,
    ctx: &Context,
    terms: &Terms,
    req: &'s SlotRequest,
    state: &RequestState,
    explain: &mut Vec<Explanation>,
) -> Vec<Eligible<'s>> {
    let placement: Arc<str> = req.slot.names.last().map_or("", String::as_str).into();
    let page_type: Arc<str> = ctx.page_type.as_str().into();
    // The request's store's stock-outs (`None`: nothing known out of stock there).
    let stock = ctx
        .store_id
        .as_deref()
        .and_then(|s| deps.snapshot.stock().at(s));
    // A creative of a candidate the page may show (its blocks) and whose product is in stock
    // at the store.
    let shown = |cand: &Candidate, cr: &Creative| {
        ctx.shows(&req.terms, cand, cr) && stock.is_none_or(|s| s.shows_in_stock(cr))
    };
    // The user's history with each advertiser, read once per advertiser in the slot.
    let mut seen_advertisers: Vec<(AdvertiserId, (u32, u32))> = Vec::new();
    let now_ms = ctx.now.timestamp_millis();
    let mut user_history = |a: AdvertiserId| match seen_advertisers.iter().find(|(x, _)| *x == a) {
        Some((_, h)) => *h,
        None => {
            let h = deps.history.user(&ctx.user_key, a, now_ms);
            seen_advertisers.push((a, h));
            h
        }
    };
    let slot_hash = endcap_core::fnv1a64(req.id.as_bytes());
    // Budget and pacing are the campaign's, and nothing reserves while candidates are
    // filtered: one answer per campaign in the slot, not one per line item.
    let mut by_campaign: Vec<(CampaignId, Option<Outcome>)> = Vec::new();
    let mut budget_outcome = |c: &Campaign| {
        if let Some((_, o)) = by_campaign.iter().find(|(id, _)| *id == c.id) {
            return *o;
        }
        let o = match deps.budgets.spent(c.id, ctx.local.day) {
            None => Some(Outcome::Budget),
            Some(spent) => {
                let reserved = deps.budgets.reserved(c.id);
                let flight = deps.snapshot.flight(c);
                let curve = deps.snapshot.traffic();
                match pacing_allows(c, &flight, curve, spent, reserved, &ctx.local, ctx.draw) {
                    Err("budget") => Some(Outcome::Budget),
                    Err(_) => Some(Outcome::Pacing),
                    Ok(()) => None,
                }
            }
        };
        by_campaign.push((c.id, o));
        o
    };
    let mut out = Vec::new();
    // Line items a keyword index shows cannot match the search are not even looked at,
    // unless the caller wants every line item's reason (they would lose on "keyword").
    let found = if deps.explain {
        deps.snapshot.for_placements(&req.slot.names)
    } else {
        deps.snapshot.for_search(&req.slot.names, &terms.search)
    };
    for cand in found {
        let li = &cand.line_item;
        let c = &cand.campaign;
        let mut keyword = None;
        let outcome = if ctx.now < c.start_at || ctx.now >= c.end_at {
            Some(Outcome::Filtered("flight"))
        } else if ctx.blocked_advertisers.contains(&li.advertiser_id) {
            Some(Outcome::Filtered("blocked_advertiser"))
        } else if let Some(why) = ctx.line_item_block(&req.terms, cand) {
            Some(Outcome::Filtered(why))
        } else if !terms.candidates.is_empty()
            && !li.promoted_skus.is_empty()
            && !any_in(&terms.candidates, &cand.sets.skus)
        {
            // The shopper would not see any of its products among the results.
            Some(Outcome::Filtered("not_in_results"))
        } else if let Some(dim) =
            targeting_miss(&li.targeting, &cand.sets, terms, ctx, &mut keyword)
        {
            Some(Outcome::Filtered(dim))
        } else if stock.is_some_and(|s| s.sold_out(li)) {
            // Every product it promotes is out of stock at the shopper's store.
            Some(Outcome::Filtered("out_of_stock"))
        } else if state.ghosted.contains(&c.id) {
            Some(Outcome::Holdout)
        } else if c.holdout_percent > 0 && ctx.holdout_key.is_none() {
            // Without the shopper's arm, neither serving nor ghosting would be honest.
            Some(Outcome::Filtered("holdout_unit"))
        } else if state.used.contains(&li.id) {
            Some(Outcome::AlreadyPlaced)
        } else if !req.allow_same_advertiser && state.advertisers.contains(&li.advertiser_id) {
            Some(Outcome::SameAdvertiser)
        } else {
            None
        };
        let outcome = outcome.or_else(|| {
            if !cand.fitting(&req.slot.kind).any(|cr| shown(cand, cr)) {
                return Some(Outcome::NoCreative);
            }
            if let Some(o) = budget_outcome(c) {
                return Some(o);
            }
            cap_reached(state.seen.as_ref(), caps_of(deps, cand), |o| {
                state.caps.already(o)
            })
            .map(|owner| Outcome::FrequencyCap(owner.level()))
        });
        if let Some(o) = outcome {
            if deps.explain {
                explain.push(Explanation {
                    slot_id: req.id.clone(),
                    line_item_id: li.id,
                    outcome: o,
                });
            }
            continue;
        }
        // A draw of its own per slot and line item (the request's draw paces), so creatives
        // rotate evenly across requests.
        let rotation = {
            let (hi, lo) = li.id.as_uuid().as_u64_pair();
            let h = mix64(ctx.draw.to_bits() ^ slot_hash ^ mix64(hi ^ mix64(lo)));
            (h >> 11) as f64 / (1u64 << 53) as f64
        };
        let Some(creative) = cand
            .creative_for(&req.slot.kind, &terms.relevant, rotation, |cr| {
                shown(cand, cr)
            })
            .cloned()
        else {
            continue;
        };
        let features = Features {
            placement: placement.clone(),
            offsite: !matches!(
                req.slot.kind,
                SlotKind::Onsite | SlotKind::OnsiteDeclared(_)
            ),
            pricing: li.pricing.model,
            keyword_match: cand.sets.keywords.targets(),
            segment_match: !li.targeting.segments.is_empty(),
            sku_on_page: any_in(&terms.skus, &cand.sets.skus),
            device: ctx.device,
            hour: u32::from(ctx.local.hour),
            line_item: Some(li.id),
            advertiser: Some(li.advertiser_id),
            slot_count: req.count.min(usize::from(u16::MAX)) as u16,
            page_type: page_type.clone(),
            weekday: ctx.local.weekday,
            history: Some({
                let (impressions, clicks) = deps.history.line_item(li.id, &placement);
                let (user_exposures, user_clicks) = user_history(li.advertiser_id);
                endcap_ctr::History {
                    impressions,
                    clicks,
                    user_exposures,
                    user_clicks,
                }
            }),
        };
        let bid = crate::EffectiveBid::of(li, keyword, &req.slot, &creative);
        out.push(Eligible {
            cand,
            creative,
            features,
            keyword,
            bid,
            deal: cand.deal(&req.terms),
        });
    }
    out
}

/// Stage 2: pCTR for every candidate in one batch (the model may explore the slot), then
/// eCPM bidders.
fn score(model: &dyn CtrModel, eligible: &[Eligible<'_>]) -> (Vec<Bidder>, bool) {
    let rows: Vec<Features> = eligible.iter().map(|e| e.features.clone()).collect();
    let scored = model.score_slot(&rows, &mut || fastrand::f64());
    // Whatever a model says, a probability: NaN scores 0 (the ad cannot win), the rest is
    // held to [0, 1].
    let pctrs: Vec<f64> = scored
        .pctr
        .iter()
        .map(|p| if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) })
        .collect();
    let bidders = eligible
        .iter()
        .zip(&pctrs)
        .enumerate()
        .map(|(i, (e, p))| {
            let li = &e.cand.line_item;
            Bidder {
                idx: i,
                line_item: li.id,
                tiebreak: fastrand::u64(..),
                advertiser: li.advertiser_id,
                pricing: li.pricing.model,
                bid_micros: e.bid.micros,
                pctr: *p,
                ecpm_micros: Bidder::ecpm(li.pricing.model, e.bid.micros, *p),
                floor_ecpm_micros: e.deal.map(|d| d.floor_ecpm_micros),
            }
        })
        .collect();
    (bidders, scored.explored)
}

/// What a placed ad is expected to cost, nanos: its CPM price per impression, or its CPC
/// price times the chance of a click.
fn expected_cost_nanos(pricing: PricingModel, price_micros: i64, pctr: f64) -> i64 {
    match pricing {
        PricingModel::Cpm => price_micros,
        PricingModel::Cpc => {
            (price_micros as f64 * NANOS_PER_MICRO as f64 * pctr.clamp(0.0, 1.0)).ceil() as i64
        }
    }
}

/// Decides every slot of a request. Reads spend and caps; writes only reservations (one
/// per placed ad, released by its impression, a loss notice, or a timeout).
pub fn decide(deps: &Deps<'_>, ctx: &Context, slots: &[SlotRequest]) -> Decision {
    let mut out = Decision::default();
    let terms = Terms::of(ctx);
    let buckets = CapBuckets::of(&ctx.local);
    let mut state = RequestState {
        seen: (!ctx.user_key.is_empty()).then(|| deps.caps.of_user(&ctx.user_key, buckets)),
        ..RequestState::default()
    };
    for req in slots {
        if deps
            .deadline
            .is_some_and(|d| std::time::Instant::now() >= d)
        {
            // Out of time: the caller answers no-bid rather than late.
            out.timed_out = true;
            break;
        }
        let eligible = candidates(deps, ctx, &terms, req, &state, &mut out.explanations);
        let (mut bidders, explored) = score(deps.model, &eligible);
        let rules = AuctionRules {
            slots: req.count,
            floor_ecpm_micros: req.floor_ecpm_micros,
            first_price: deps.first_price,
            allow_same_advertiser: req.allow_same_advertiser,
            min_cpc_micros: deps.min_cpc_micros,
        };
        let placement = req.slot.names.last().cloned().unwrap_or_default();
        let make = |idx: usize, rank: usize, price: i64, b: &Bidder, reserved: i64| {
            let e = &eligible[idx];
            Placed {
                decision_id: DecisionId::from_uuid(endcap_core::v7_now()),
                slot_id: req.id.clone(),
                slot_count: req.count,
                placement: placement.clone(),
                rank,
                candidate: e.cand.clone(),
                creative: e.creative.clone(),
                price_micros: price,
                ecpm_micros: b.ecpm_micros,
                pctr: b.pctr,
                features: e.features.clone(),
                reserved_nanos: reserved,
                explored,
                bid: e.bid,
                keyword: e.keyword,
                deal: e.deal.cloned(),
            }
        };
        let explain = |out: &mut Decision, li: LineItemId, outcome: Outcome| {
            if !deps.explain {
                return;
            }
            out.explanations.push(Explanation {
                slot_id: req.id.clone(),
                line_item_id: li,
                outcome,
            })
        };
        // Stage 3: the auction. A winner whose user is held out of its campaign becomes a
        // ghost and takes its whole campaign out of the request; a winner whose expected cost
        // no longer fits its budget is dropped. Either way the auction runs again, so the slot
        // goes to the next ad at a fair price.
        let placed = loop {
            let (wins, losses) = run_auction(bidders.clone(), rules);
            let held = wins.iter().find(|w| {
                let c = &eligible[w.bidder.idx].cand.campaign;
                in_holdout(
                    ctx.holdout_key.as_deref().unwrap_or(""),
                    c.id,
                    c.holdout_percent,
                )
            });
            if let Some(w) = held {
                let campaign = eligible[w.bidder.idx].cand.campaign.id;
                out.ghosts
                    .push(make(w.bidder.idx, w.rank, w.price_micros, &w.bidder, 0));
                state.ghosted.push(campaign);
                state.caps.add(owners_of(eligible[w.bidder.idx].cand));
                for b in bidders
                    .iter()
                    .filter(|b| eligible[b.idx].cand.campaign.id == campaign)
                {
                    explain(&mut out, b.line_item, Outcome::Holdout);
                }
                bidders.retain(|b| eligible[b.idx].cand.campaign.id != campaign);
                continue;
            }
            let mut placed = Vec::with_capacity(wins.len());
            let mut refused = None;
            // Winners of one slot count toward each other's caps (several positions may go
            // to one campaign or advertiser where the placement allows repeats).
            let mut in_slot = RequestCaps::default();
            for w in &wins {
                let e = &eligible[w.bidder.idx];
                let over = cap_reached(state.seen.as_ref(), caps_of(deps, e.cand), |o| {
                    state.caps.already(o) + in_slot.already(o)
                });
                if let Some(owner) = over {
                    refused = Some((w.bidder.idx, Outcome::FrequencyCap(owner.level())));
                    break;
                }
                // Offsite we bid the advertiser's value, so a CPM ad may cost up to its bid.
                let basis = match (ctx.channel, w.bidder.pricing) {
                    (AdChannel::Offsite, PricingModel::Cpm) => w.bidder.bid_micros,
                    _ => w.price_micros,
                };
                let nanos = expected_cost_nanos(w.bidder.pricing, basis, w.bidder.pctr);
                let p = make(w.bidder.idx, w.rank, w.price_micros, &w.bidder, nanos);
                let limits = Limits::from(&e.cand.campaign.budget);
                let c = e.cand.campaign.id;
                if deps
                    .budgets
                    .reserve(p.decision_id.as_uuid(), c, limits, ctx.local.day, nanos)
                {
                    in_slot.add(owners_of(e.cand));
                    placed.push(p);
                } else {
                    refused = Some((w.bidder.idx, Outcome::Budget));
                    break;
                }
            }
            if let Some((idx, outcome)) = refused {
                for p in &placed {
                    deps.budgets.release(p.decision_id.as_uuid());
                }
                explain(&mut out, eligible[idx].cand.line_item.id, outcome);
                bidders.retain(|b| b.idx != idx);
                continue;
            }
            for (b, loss) in losses {
                let o = match loss {
                    Loss::Floor => Outcome::Floor,
                    Loss::Outbid => Outcome::Outbid,
                    Loss::SameAdvertiser => Outcome::SameAdvertiser,
                };
                explain(&mut out, b.line_item, o);
            }
            break placed;
        };
        // Stage 4: the placed ads, and what later slots must respect.
        for p in placed {
            let li = &p.candidate.line_item;
            state.used.push(li.id);
            state.advertisers.push(li.advertiser_id);
            state.caps.add(owners_of(&p.candidate));
            explain(&mut out, li.id, Outcome::Won);
            out.placed.push(p);
        }
    }
    out
}
