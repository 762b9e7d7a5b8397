//! `/v1/decisions`: ranked sponsored ads for the retailer's own placements.

use crate::{ServeError, Server};
use endcap_auction::{decide, uniform_draw, Context, Explanation, Slot, SlotRequest};
use endcap_core::{AdChannel, CreativeKind, Device, HashedKey, ValidationError};
use endcap_events::Arm;
use endcap_tracking::{ClaimsHead, TokenKind};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Most placements in one decision request.
const MAX_PLACEMENTS: usize = 20;
/// Most ads per placement.
const MAX_COUNT: usize = 20;

/// A placement to fill. Fields the server does not know are ignored (and counted): a
/// retailer adding one must not lose its ads.
#[derive(Debug, Deserialize)]
pub struct PlacementRequest {
    id: String,
    #[serde(default = "one")]
    count: usize,
}

fn one() -> usize {
    1
}

/// What the page tells about itself.
#[derive(Debug, Default, Deserialize)]
pub struct PageContext {
    #[serde(default)]
    page_type: Option<String>,
    /// The shopper's search text, matched against keyword targeting by match type.
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    skus_on_page: Vec<String>,
    /// The retailer's organic results for this page, each with an optional quality score:
    /// sponsored products are chosen among them, the best-scored first.
    #[serde(default)]
    products: Vec<CandidateProduct>,
    #[serde(default)]
    store_id: Option<String>,
    #[serde(default)]
    device: Option<Device>,
}

/// One of the retailer's organic results.
#[derive(Debug, Deserialize)]
pub struct CandidateProduct {
    sku: String,
    /// Higher is better; results without a score keep their order after scored ones.
    #[serde(default)]
    score: Option<f64>,
}

/// Body of `POST /v1/decisions`. Unknown fields are ignored and counted
/// (`endcap_decision_ignored_fields_total`), never refused.
#[derive(Debug, Deserialize)]
pub struct DecisionRequest {
    #[serde(default)]
    user_key: Option<String>,
    /// The user opted out (no consent for personalised ads): served contextually, with no
    /// segments, caps, holdout arm or user-level logging.
    #[serde(default)]
    opt_out: bool,
    placements: Vec<PlacementRequest>,
    #[serde(default)]
    context: PageContext,
    /// Advertiser ids whose ads this page must not show.
    #[serde(default)]
    blocked_advertisers: Vec<String>,
    /// Creative ids this page must not show.
    #[serde(default)]
    blocked_creatives: Vec<String>,
    /// Answer each ad's pricing model and clearing price.
    #[serde(default)]
    include_pricing: bool,
}

/// Most ids in each blocked list.
const MAX_BLOCKED: usize = 200;

/// Parses a list of typed ids, naming the first bad one.
fn ids<T>(
    raw: &[String],
    field: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>, ValidationError> {
    if raw.len() > MAX_BLOCKED {
        return Err(ValidationError::new(
            field,
            format!("at most {MAX_BLOCKED} entries"),
        ));
    }
    raw.iter()
        .enumerate()
        .map(|(i, r)| {
            parse(r.trim())
                .ok_or_else(|| ValidationError::new(format!("{field}[{i}]"), "not an id"))
        })
        .collect()
}

/// The creative of an ad, as the page renders it.
#[derive(Debug, Serialize)]
pub struct CreativeView {
    id: endcap_core::CreativeId,
    kind: CreativeKind,
    sku: Option<String>,
    image_url: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
}

/// One ad in a placement.
#[derive(Debug, Serialize)]
pub struct AdView {
    rank: usize,
    decision_id: endcap_core::DecisionId,
    line_item_id: endcap_core::LineItemId,
    campaign_id: endcap_core::CampaignId,
    advertiser_id: endcap_core::AdvertiserId,
    creative: CreativeView,
    impression_url: String,
    click_url: String,
    /// A signed URL per configured custom event (`add_to_cart`, ...), logged once per
    /// decision and name by `GET /v1/events/custom`, never charged.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    event_urls: std::collections::BTreeMap<String, String>,
    /// With `include_pricing`: how the ad is charged and its clearing price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pricing: Option<PriceView>,
}

/// An ad's pricing, when the request asked for it.
#[derive(Debug, Serialize)]
pub struct PriceView {
    /// `cpc` or `cpm`.
    model: endcap_core::PricingModel,
    /// The clearing price, micros (per click, or per thousand impressions).
    price_micros: i64,
}

/// One placement's ads.
#[derive(Debug, Serialize)]
pub struct PlacementView {
    id: String,
    ads: Vec<AdView>,
}

/// Answer of `POST /v1/decisions`.
#[derive(Debug, Serialize)]
pub struct DecisionResponse {
    request_id: Uuid,
    placements: Vec<PlacementView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    debug: Option<Vec<Explanation>>,
}

/// A placement id, case-insensitive: compared in lower case (line items store theirs so).
fn placement_name(raw: &str, field: &str) -> Result<String, ValidationError> {
    let name = raw.to_ascii_lowercase();
    let ok = (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_:.".contains(&b));
    if ok {
        Ok(name)
    } else {
        Err(ValidationError::new(
            field,
            "must be 1-128 letters, digits, - _ : . (case does not matter)",
        ))
    }
}

/// Most bytes of a user key as sent.
const MAX_USER_KEY_BYTES: usize = 256;

/// The user key decisions use: a SHA-256 hex key as sent (lower-cased), any other non-empty
/// key hashed here (HMAC-SHA256 keyed with the configured salt), so a site sending its own
/// ids (`u-123`) still gets ads, and never stores them raw.
fn user_key(raw: &str, salt: &str) -> Result<String, ValidationError> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > MAX_USER_KEY_BYTES {
        return Err(ValidationError::new(
            "user_key",
            format!("must be 1 to {MAX_USER_KEY_BYTES} bytes (or left out)"),
        ));
    }
    Ok(match HashedKey::parse(raw, "user_key") {
        Ok(k) => k.as_str().to_string(),
        Err(_) => HashedKey::hash_raw(salt, raw).as_str().to_string(),
    })
}

/// Most entries of a request's lists, and bytes of each entry: requests are unauthenticated
/// or cheaply authenticated, and every entry is matched against the index.
const MAX_TERMS: usize = 50;
const MAX_SKUS_ON_PAGE: usize = 200;
const MAX_TERM_BYTES: usize = 200;

/// Refuses a list longer than `max` or with an entry over [`MAX_TERM_BYTES`], naming it.
fn capped(list: &[String], max: usize, field: &str) -> Result<(), ValidationError> {
    if list.len() > max {
        return Err(ValidationError::new(
            field,
            format!("has {} entries; at most {max} are taken", list.len()),
        ));
    }
    match list.iter().position(|v| v.len() > MAX_TERM_BYTES) {
        Some(i) => Err(ValidationError::new(
            format!("{field}[{i}]"),
            format!("is longer than {MAX_TERM_BYTES} bytes"),
        )),
        None => Ok(()),
    }
}

impl PageContext {
    /// Checks the page's lists and strings against their documented limits.
    fn check(&self) -> Result<(), ValidationError> {
        capped(&self.keywords, MAX_TERMS, "context.keywords")?;
        capped(&self.categories, MAX_TERMS, "context.categories")?;
        capped(&self.skus_on_page, MAX_SKUS_ON_PAGE, "context.skus_on_page")?;
        if self.products.len() > MAX_SKUS_ON_PAGE {
            return Err(ValidationError::new(
                "context.products",
                format!("at most {MAX_SKUS_ON_PAGE} entries"),
            ));
        }
        for (i, p) in self.products.iter().enumerate() {
            if p.sku.trim().is_empty() || p.sku.len() > MAX_TERM_BYTES {
                return Err(ValidationError::new(
                    format!("context.products[{i}].sku"),
                    format!("must be 1 to {MAX_TERM_BYTES} bytes"),
                ));
            }
            if p.score.is_some_and(|s| !s.is_finite()) {
                return Err(ValidationError::new(
                    format!("context.products[{i}].score"),
                    "must be a number",
                ));
            }
        }
        for (field, v) in [
            ("context.store_id", &self.store_id),
            ("context.page_type", &self.page_type),
            ("context.query", &self.query),
        ] {
            if v.as_ref().is_some_and(|v| v.len() > MAX_TERM_BYTES) {
                return Err(ValidationError::new(
                    field,
                    format!("is longer than {MAX_TERM_BYTES} bytes"),
                ));
            }
        }
        Ok(())
    }
}

impl Server {
    /// Turns the request's placements into slots with their floors.
    fn onsite_slots(&self, input: &DecisionRequest) -> Result<Vec<SlotRequest>, ValidationError> {
        input.context.check()?;
        if input.placements.is_empty() || input.placements.len() > MAX_PLACEMENTS {
            return Err(ValidationError::new(
                "placements",
                format!("send 1 to {MAX_PLACEMENTS} placements"),
            ));
        }
        let mut slots = Vec::with_capacity(input.placements.len());
        for (i, p) in input.placements.iter().enumerate() {
            let name = placement_name(&p.id, &format!("placements[{i}].id"))?;
            if !(1..=MAX_COUNT).contains(&p.count) {
                return Err(ValidationError::new(
                    format!("placements[{i}].count"),
                    format!("must be 1 to {MAX_COUNT}"),
                ));
            }
            let floor = self
                .config
                .placement_floors
                .get(&name)
                .copied()
                .unwrap_or(self.config.onsite_floor_cpm_micros);
            slots.push(SlotRequest {
                // Answered under the id the caller sent.
                id: p.id.clone(),
                slot: match self.config.placements.get(&name) {
                    Some(a) => Slot::onsite_declared(&name, a.clone()),
                    None => Slot::onsite(&name),
                },
                count: p.count,
                floor_ecpm_micros: floor,
                allow_same_advertiser: self.config.repeat_placements.contains(&name),
                terms: Default::default(),
            });
        }
        Ok(slots)
    }

    /// Decides a `/v1/decisions` request: ranked ads with signed tracking URLs; ghosts and
    /// every placed ad go to the decision log. `debug` adds why every line item lost.
    /// Answered only once the events it wrote are queued or, past a full queue, on disk.
    pub async fn decide_onsite(
        &self,
        input: DecisionRequest,
        debug: bool,
        ignored: &[String],
    ) -> Result<DecisionResponse, ServeError> {
        let out = self.decide_onsite_unsettled(input, debug, ignored).await;
        self.sink.settled().await;
        out
    }

    /// [`Server::decide_onsite`] without waiting for its events to settle.
    async fn decide_onsite_unsettled(
        &self,
        input: DecisionRequest,
        debug: bool,
        ignored: &[String],
    ) -> Result<DecisionResponse, ServeError> {
        if !ignored.is_empty() {
            self.metrics.ignored_fields(ignored.len());
            tracing::debug!(fields = ?ignored, "decision request fields ignored");
        }
        let user_key = match input.user_key.as_deref() {
            // Checked even when opted out: a malformed key is still a malformed request.
            Some(k) => user_key(k, self.config.user_key_salt.expose())?,
            None => String::new(),
        };
        let user_key = if input.opt_out {
            String::new()
        } else {
            user_key
        };
        let slots = self.onsite_slots(&input)?;
        let blocked_advertisers = ids(&input.blocked_advertisers, "blocked_advertisers", |r| {
            endcap_core::AdvertiserId::parse(r)
        })?;
        let blocked_creatives = ids(&input.blocked_creatives, "blocked_creatives", |r| {
            endcap_core::CreativeId::parse(r)
        })?;
        let include_pricing = input.include_pricing;
        let (segments, holdout_key) = self.user_lookup(&user_key).await;
        let c = input.context;
        let now = chrono::Utc::now();
        let ctx = Context {
            user_key,
            holdout_key,
            segments,
            blocked_advertisers,
            blocked_creatives,
            blocked_domains: Vec::new(),
            keywords: c
                .keywords
                .iter()
                .map(|k| Context::normalize_keyword(k))
                .filter(|k| !k.is_empty())
                .collect(),
            query: c.query.unwrap_or_default(),
            categories: c.categories,
            skus_on_page: c.skus_on_page,
            candidate_skus: {
                // Best score first; a stable sort keeps the retailer's order among equals.
                let mut p = c.products;
                p.sort_by(|a, b| {
                    b.score
                        .unwrap_or(f64::MIN)
                        .total_cmp(&a.score.unwrap_or(f64::MIN))
                });
                p.into_iter().map(|p| p.sku.trim().to_string()).collect()
            },
            store_id: c.store_id,
            device: c.device,
            page_type: c.page_type.unwrap_or_default(),
            channel: AdChannel::Onsite,
            now,
            local: self.config.clock.local(now),
            draw: uniform_draw(),
            blocks: Default::default(),
        };
        let snapshot = self.index.load();
        let model = self.model.get();
        let deps = endcap_auction::Deps {
            explain: debug,
            ..self.deps(&snapshot, &model, false)
        };
        let d = decide(&deps, &ctx, &slots);
        let request_id = endcap_core::v7_now();
        self.log_ghosts(&ctx, request_id, &d.ghosts);
        let mut placements: Vec<PlacementView> = slots
            .iter()
            .map(|s| PlacementView {
                id: s.id.clone(),
                ads: Vec::new(),
            })
            .collect();
        let base = &self.config.public_url;
        for p in &d.placed {
            let x = p.exposure(&ctx);
            self.log_decision(&ctx, request_id, p, &x, Arm::Served);
            let mut signer = self.keys.signer(&x);
            let impression_url = crate::tracking_url(
                base,
                "/v1/events/impression",
                &mut signer,
                &ClaimsHead::of(TokenKind::Impression),
                "",
            );
            let click_head = ClaimsHead {
                click_url: &p.creative.click_url,
                ..ClaimsHead::of(TokenKind::Click)
            };
            let click_url =
                crate::tracking_url(base, "/v1/events/click", &mut signer, &click_head, "");
            let li = &p.candidate.line_item;
            if let Some(view) = placements.iter_mut().find(|v| v.id == p.slot_id) {
                view.ads.push(AdView {
                    rank: p.rank,
                    decision_id: x.decision_id,
                    line_item_id: li.id,
                    campaign_id: li.campaign_id,
                    advertiser_id: li.advertiser_id,
                    creative: CreativeView {
                        id: p.creative.id,
                        kind: p.creative.kind,
                        sku: p.creative.sku.clone(),
                        image_url: p.creative.image_url.clone(),
                        width: p.creative.width,
                        height: p.creative.height,
                    },
                    impression_url,
                    click_url,
                    event_urls: self.event_urls(&mut signer),
                    pricing: include_pricing.then(|| PriceView {
                        model: li.pricing.model,
                        price_micros: p.price_micros,
                    }),
                });
            }
        }
        Ok(DecisionResponse {
            request_id,
            placements,
            debug: debug.then_some(d.explanations),
        })
    }
}
