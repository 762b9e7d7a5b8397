//! The eligibility index: an immutable snapshot of what can serve, keyed by placement.

use crate::context::SlotKind;
use chrono::{DateTime, Utc};
use endcap_core::{Campaign, CampaignId, Creative, CreativeKind, LineItem, Status};
use std::collections::HashMap;
use std::sync::Arc;

/// A line item that can serve, with its campaign and creatives.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The line item.
    pub line_item: Arc<LineItem>,
    /// Its campaign.
    pub campaign: Arc<Campaign>,
    /// Its creatives.
    pub creatives: Vec<Arc<Creative>>,
    /// Its keyword, category and segment targeting, lower-cased into sets: targeting lists
    /// hold up to 10,000 entries, so a request's terms are looked up, never scanned for.
    pub sets: Arc<TargetSets>,
    /// Its advertiser's declared domains (OpenRTB `adomain`, matched by `badv`); empty when
    /// it declared none.
    pub advertiser_domains: Arc<Vec<String>>,
}

/// A line item's list targeting as lower-case sets.
#[derive(Debug, Default)]
pub struct TargetSets {
    /// Keywords, compiled by match type.
    pub keywords: endcap_core::KeywordSet,
    /// Categories.
    pub categories: std::collections::HashSet<String>,
    /// Segments.
    pub segments: std::collections::HashSet<String>,
    /// Promoted SKUs (is one on the page?).
    pub skus: std::collections::HashSet<String>,
    /// Stores (exact ids).
    pub stores: std::collections::HashSet<String>,
}

impl TargetSets {
    /// The sets of a line item's targeting and promoted SKUs.
    pub fn of(li: &LineItem) -> Self {
        let set = |v: &[String]| v.iter().map(|x| x.to_ascii_lowercase()).collect();
        let t = &li.targeting;
        Self {
            keywords: endcap_core::KeywordSet::of(&t.keywords, li.pricing.bid_micros),
            categories: t.categories.iter().map(|c| category_path(c)).collect(),
            segments: set(&t.segments),
            skus: set(&li.promoted_skus),
            stores: t.stores.iter().cloned().collect(),
        }
    }
}

/// A category as a path: its levels (split on `>`) trimmed, lower-cased and joined by `>`, so
/// `Dairy > Milk` and `dairy>milk` are the same category.
pub fn category_path(raw: &str) -> String {
    raw.split('>')
        .map(|l| l.trim().to_lowercase())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(">")
}

/// A category and every level above it (`dairy>milk>whole` -> itself, `dairy>milk`,
/// `dairy`): targeting a level matches everything under it.
pub fn category_and_ancestors(raw: &str) -> Vec<String> {
    let path = category_path(raw);
    let mut out = vec![path.clone()];
    let mut rest = path.as_str();
    while let Some((up, _)) = rest.rsplit_once('>') {
        out.push(up.to_string());
        rest = up;
    }
    out
}

impl Candidate {
    /// The creatives that fit the slot.
    pub fn fitting<'a>(&'a self, kind: &'a SlotKind) -> impl Iterator<Item = &'a Arc<Creative>> {
        self.creatives.iter().filter(move |c| match kind {
            SlotKind::Onsite => true,
            SlotKind::OnsiteDeclared(a) => a.fits(c),
            SlotKind::OffsiteBanner { sizes } => {
                c.kind == CreativeKind::Banner
                    && sizes
                        .iter()
                        .any(|(w, h)| c.width == Some(*w) && c.height == Some(*h))
            }
            SlotKind::OffsiteNative(layout) => endcap_core::native::fills_required(c, layout),
        })
    }

    /// The creative to show in the slot: the one of the first SKU in `skus_on_page` (most
    /// relevant first: on the page, then the organic results) that has one, else the fitting
    /// creatives in even rotation by `draw` (uniform in [0, 1)), so the first one does not
    /// always serve. Only creatives `allowed` accepts are chosen (the page's blocks). Runs
    /// per eligible candidate, so it walks the (few) creatives instead of collecting them.
    pub fn creative_for<'a>(
        &'a self,
        kind: &'a SlotKind,
        skus_on_page: &[String],
        draw: f64,
        allowed: impl Fn(&Creative) -> bool,
    ) -> Option<&'a Arc<Creative>> {
        let shown = || self.fitting(kind).filter(|c| allowed(c));
        for sku in skus_on_page {
            if let Some(c) =
                shown().find(|c| c.sku.as_ref().is_some_and(|s| s.eq_ignore_ascii_case(sku)))
            {
                return Some(c);
            }
        }
        let n = shown().count();
        let i = ((draw.clamp(0.0, 1.0) * n as f64) as usize).min(n.saturating_sub(1));
        shown().nth(i)
    }
}

/// One placement's line items by keyword: a search finds the few that can match it
/// instead of taking every line item of the placement through the keyword test.
#[derive(Debug, Default)]
struct KeywordIndex {
    /// Line items that target no keywords (always candidates), in index order.
    untargeted: Vec<usize>,
    /// Keyword-targeting line items under each of their index words
    /// ([`endcap_core::KeywordSet::index_words`]), in index order.
    by_word: HashMap<String, Vec<usize>>,
}

impl KeywordIndex {
    fn add(&mut self, idx: usize, sets: &TargetSets) {
        let words = sets.keywords.index_words();
        if words.is_empty() {
            self.untargeted.push(idx);
        }
        for w in words {
            let list = self.by_word.entry(w.to_string()).or_default();
            if list.last() != Some(&idx) {
                list.push(idx);
            }
        }
    }
}

/// The serving line items at one moment. Built off the request path, swapped in whole.
#[derive(Debug, Default)]
pub struct Snapshot {
    candidates: Vec<Candidate>,
    by_placement: HashMap<String, Vec<usize>>,
    /// Per placement, its line items by keyword ([`KeywordIndex`]).
    keywords_by_placement: HashMap<String, KeywordIndex>,
    any_placement: Vec<usize>,
    /// The line items of any placement by keyword.
    any_keywords: KeywordIndex,
    /// When it was built.
    pub built_at: Option<DateTime<Utc>>,
    /// Per-store stock-outs of the SKUs its line items promote ([`Snapshot::set_stock`]).
    stock: crate::Stock,
    /// Each serving campaign's flight in the retailer's calendar ([`Snapshot::set_pacing`]).
    flights: HashMap<CampaignId, crate::Flight>,
    /// The expected traffic by hour of week pacing follows ([`Snapshot::set_pacing`]).
    traffic: Arc<crate::TrafficCurve>,
    /// Advertisers' own frequency caps ([`Snapshot::set_advertiser_caps`]).
    advertiser_caps: HashMap<endcap_core::AdvertiserId, endcap_core::FrequencyCap>,
}

impl Snapshot {
    /// Indexes active line items of active campaigns whose flight has not ended.
    pub fn build(
        campaigns: Vec<Campaign>,
        line_items: Vec<LineItem>,
        creatives: Vec<Creative>,
        now: DateTime<Utc>,
    ) -> Self {
        let campaigns: HashMap<CampaignId, Arc<Campaign>> = campaigns
            .into_iter()
            .filter(|c| c.status == Status::Active && c.end_at > now)
            .map(|c| (c.id, Arc::new(c)))
            .collect();
        let mut by_line_item: HashMap<endcap_core::LineItemId, Vec<Arc<Creative>>> = HashMap::new();
        // Only creatives an admin approved serve.
        for c in creatives
            .into_iter()
            // ...and whose URLs pass today's rules (a creative approved by default because it
            // predates review may carry a URL the old rules let through).
            .filter(|c| c.review.status == endcap_core::ReviewStatus::Approved && c.urls_are_safe())
        {
            by_line_item
                .entry(c.line_item_id)
                .or_default()
                .push(Arc::new(c));
        }
        let mut snap = Snapshot {
            built_at: Some(now),
            ..Default::default()
        };
        let mut items: Vec<LineItem> = line_items
            .into_iter()
            .filter(|l| l.status == Status::Active && campaigns.contains_key(&l.campaign_id))
            .collect();
        // A fixed order keeps decisions (and their tie-breaks) reproducible.
        items.sort_by_key(|l| l.id);
        for li in items {
            let Some(campaign) = campaigns.get(&li.campaign_id).cloned() else {
                continue;
            };
            let idx = snap.candidates.len();
            let sets = Arc::new(TargetSets::of(&li));
            if li.targeting.placements.is_empty() {
                snap.any_placement.push(idx);
                snap.any_keywords.add(idx, &sets);
            }
            for p in &li.targeting.placements {
                // In index order and each once (a placement listed twice), as
                // `for_placements` reads a single list as is.
                let list = snap.by_placement.entry(p.clone()).or_default();
                if list.last() != Some(&idx) {
                    list.push(idx);
                    snap.keywords_by_placement
                        .entry(p.clone())
                        .or_default()
                        .add(idx, &sets);
                }
            }
            snap.candidates.push(Candidate {
                creatives: by_line_item.remove(&li.id).unwrap_or_default(),
                sets,
                line_item: Arc::new(li),
                campaign,
                advertiser_domains: Arc::default(),
            });
        }
        snap
    }

    /// The snapshot with each advertiser's declared domains on its line items (bids name
    /// them in `adomain`, and `badv` is matched against them).
    pub fn with_advertisers(mut self, advertisers: &[endcap_core::Advertiser]) -> Self {
        let domains: HashMap<endcap_core::AdvertiserId, Arc<Vec<String>>> = advertisers
            .iter()
            .filter(|a| !a.domains.is_empty())
            .map(|a| (a.id, Arc::new(a.domains.clone())))
            .collect();
        for c in &mut self.candidates {
            if let Some(d) = domains.get(&c.line_item.advertiser_id) {
                c.advertiser_domains = d.clone();
            }
        }
        self
    }

    /// Candidates for a slot answering to any of `names` that can match `search`: the line
    /// items of those placements and of any placement that target no keywords, and those
    /// with an index word in the search, each once, in index order. Every line item
    /// [`Snapshot::for_placements`] would give that this leaves out fails the keyword test
    /// ([`endcap_core::KeywordSet::index_words`]).
    pub fn for_search(&self, names: &[String], search: &endcap_core::Search) -> Vec<&Candidate> {
        // Once, not per index: `words` collects and sorts the search's words.
        let words: Vec<&str> = search.words().collect();
        let indexes = names
            .iter()
            .filter_map(|n| self.keywords_by_placement.get(n))
            .chain(Some(&self.any_keywords));
        let mut lists: Vec<&[usize]> = Vec::new();
        for index in indexes {
            if !index.untargeted.is_empty() {
                lists.push(&index.untargeted);
            }
            lists.extend(
                words
                    .iter()
                    .filter_map(|w| index.by_word.get(*w))
                    .map(Vec::as_slice),
            );
        }
        self.merged(&lists)
    }

    /// Candidates for a slot answering to any of `names` (each at most once), in index order.
    pub fn for_placements(&self, names: &[String]) -> Vec<&Candidate> {
        let lists: Vec<&[usize]> = names
            .iter()
            .filter_map(|n| self.by_placement.get(n))
            .map(Vec::as_slice)
            .chain(Some(self.any_placement.as_slice()).filter(|l| !l.is_empty()))
            .collect();
        self.merged(&lists)
    }

    /// The candidates of index lists (each in index order, a line item once in each), each
    /// once, in index order. One list, the common case (one placement), is read as is.
    fn merged(&self, lists: &[&[usize]]) -> Vec<&Candidate> {
        if let [one] = lists {
            return one.iter().map(|i| &self.candidates[*i]).collect();
        }
        let mut idx: Vec<usize> = lists.concat();
        idx.sort_unstable();
        idx.dedup();
        idx.into_iter().map(|i| &self.candidates[i]).collect()
    }

    /// Ids of the campaigns with a serving line item, each once.
    pub fn campaign_ids(&self) -> Vec<CampaignId> {
        let mut ids: Vec<CampaignId> = self.candidates.iter().map(|c| c.campaign.id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Every SKU its line items promote or its creatives show, each once (the availability
    /// the snapshot needs).
    pub fn skus(&self) -> Vec<String> {
        let mut skus: Vec<String> = self
            .candidates
            .iter()
            .flat_map(|c| {
                c.line_item
                    .promoted_skus
                    .iter()
                    .chain(c.creatives.iter().filter_map(|cr| cr.sku.as_ref()))
            })
            .cloned()
            .collect();
        skus.sort_unstable();
        skus.dedup();
        skus
    }

    /// Takes in the stock-outs (`(sku, store_id)`) of its SKUs, built off the request path.
    pub fn set_stock(&mut self, outs: impl IntoIterator<Item = (String, String)>) {
        self.stock = crate::Stock::build(
            outs,
            self.candidates.iter().map(|c| &*c.line_item),
            self.candidates
                .iter()
                .flat_map(|c| c.creatives.iter().map(|cr| &**cr)),
        );
    }

    /// Takes in the retailer's calendar (each campaign's flight in it) and the traffic curve
    /// pacing follows; until then flights are in UTC and the curve is flat.
    pub fn set_pacing(
        &mut self,
        clock: &endcap_billing::RetailerClock,
        traffic: Arc<crate::TrafficCurve>,
    ) {
        self.flights = self
            .candidates
            .iter()
            .map(|c| (c.campaign.id, crate::Flight::of(&c.campaign, clock)))
            .collect();
        self.traffic = traffic;
    }

    /// A campaign's flight in the retailer's calendar (UTC's when not set).
    pub fn flight(&self, campaign: &Campaign) -> crate::Flight {
        self.flights.get(&campaign.id).copied().unwrap_or_else(|| {
            crate::Flight::of(campaign, &endcap_billing::RetailerClock::default())
        })
    }

    /// The traffic curve pacing follows.
    pub fn traffic(&self) -> &crate::TrafficCurve {
        &self.traffic
    }

    /// Takes in the advertisers' frequency caps (those with one).
    pub fn set_advertiser_caps<'a>(
        &mut self,
        advertisers: impl IntoIterator<Item = &'a endcap_core::Advertiser>,
    ) {
        self.advertiser_caps = advertisers
            .into_iter()
            .filter_map(|a| a.frequency_cap.map(|cap| (a.id, cap)))
            .collect();
    }

    /// An advertiser's own frequency cap, if it has one.
    pub fn advertiser_cap(
        &self,
        id: endcap_core::AdvertiserId,
    ) -> Option<endcap_core::FrequencyCap> {
        self.advertiser_caps.get(&id).copied()
    }

    /// The per-store stock-outs it holds.
    pub fn stock(&self) -> &crate::Stock {
        &self.stock
    }

    /// Number of serving line items.
    pub fn len(&self) -> usize {
        self.candidates.len()
    }

    /// True when nothing can serve.
    pub fn is_empty(&self) -> bool {
        self.candidates.is_empty()
    }
}
