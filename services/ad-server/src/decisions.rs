//! `POST /v1/decisions` and `POST /openrtb2/bid`: parse, look up segments (bounded), decide,
//! sign tracking URLs, queue ghost exposures, answer.

use crate::AppState;
use actix_web::{http::StatusCode, web, HttpRequest, HttpResponse};
use endcap_auction::{decide, Context, Decision, Explanation, Placed, Slot, SlotRequest};
use endcap_core::{Device, HashedKey, Role};
use endcap_events::{AdEvent, Event, EventSink};
use endcap_openrtb::{cpm_to_micros, micros_to_cpm, nbr, Bid, BidRequest, BidResponse, SeatBid};
use endcap_tracking::Claims;
use endcap_web::{parse_json, ApiError, JsonBody};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Below this `tmax` a bid cannot be decided and sent back in time.
const MIN_TMAX: Duration = Duration::from_millis(2);

/// Most placements in one decision request.
const MAX_PLACEMENTS: usize = 20;
/// Most ads per placement.
const MAX_COUNT: usize = 20;

/// A placement to fill.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
pub struct PageContext {
    /// Part of the request contract; no targeting or feature reads it yet.
    #[serde(default)]
    #[allow(dead_code)]
    page_type: Option<String>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    skus_on_page: Vec<String>,
    #[serde(default)]
    store_id: Option<String>,
    #[serde(default)]
    device: Option<Device>,
}

/// Body of `POST /v1/decisions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    #[serde(default)]
    user_key: Option<String>,
    placements: Vec<PlacementRequest>,
    #[serde(default)]
    context: PageContext,
}

#[derive(Serialize)]
struct CreativeView<'a> {
    id: String,
    kind: endcap_core::CreativeKind,
    sku: Option<&'a str>,
    image_url: Option<&'a str>,
    width: Option<u32>,
    height: Option<u32>,
}

#[derive(Serialize)]
struct AdView<'a> {
    rank: usize,
    line_item_id: String,
    campaign_id: String,
    advertiser_id: String,
    creative: CreativeView<'a>,
    impression_url: String,
    click_url: String,
}

#[derive(Serialize)]
struct PlacementView<'a> {
    id: String,
    ads: Vec<AdView<'a>>,
}

#[derive(Serialize)]
struct DecisionResponse<'a> {
    request_id: String,
    placements: Vec<PlacementView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    debug: Option<&'a [Explanation]>,
}

fn placement_name(raw: &str, field: &str) -> Result<String, ApiError> {
    let ok = (1..=128).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_:.".contains(&b));
    if ok {
        Ok(raw.to_string())
    } else {
        Err(endcap_core::ValidationError::new(
            field,
            "must be 1-128 lower-case letters, digits, - _ : .",
        )
        .into())
    }
}

/// A uniform draw in [0, 1) from a fresh id's random bits (for pacing throttles).
fn draw() -> f64 {
    let bits = Uuid::now_v7().as_u128() as u64;
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// The user's segments, with their shared frequency-cap counters loaded alongside: the
/// request path's only I/O, one bounded round trip each, run concurrently.
async fn user_segments(state: &AppState, user_key: &str) -> Vec<String> {
    if user_key.is_empty() {
        return Vec::new();
    }
    let caps = async {
        if let Some((caps, conn)) = &state.caps_loader {
            caps.prefetch(conn.get(), user_key, LOOKUP_TIMEOUT).await;
        }
    };
    let (lookup, ()) = tokio::join!(state.segments.lookup(user_key), caps);
    lookup.segments.to_vec()
}

/// Bound on the cap counter load (the segment lookup has its own, the same by default).
const LOOKUP_TIMEOUT: Duration = Duration::from_millis(5);

/// Signed URLs for a placed ad: (event id, impression URL, click URL).
fn tracking_urls(state: &AppState, user_key: &str, p: &Placed) -> (Uuid, String, String) {
    let li = &p.candidate.line_item;
    let claims = Claims {
        event_id: Uuid::now_v7(),
        advertiser_id: li.advertiser_id.as_uuid(),
        campaign_id: li.campaign_id.as_uuid(),
        line_item_id: li.id.as_uuid(),
        creative_id: p.creative.id.as_uuid(),
        user_key: user_key.to_string(),
        price_micros: p.price_micros,
        pricing: li.pricing.model,
        placement: p.placement.clone(),
        promoted_skus: li.promoted_skus.clone(),
        issued_at_ms: chrono::Utc::now().timestamp_millis(),
        click_url: p.creative.click_url.clone(),
        features: serde_json::to_string(&p.features).unwrap_or_default(),
    };
    let t = state.keys.sign(&claims);
    (
        claims.event_id,
        format!("{}/v1/events/impression?t={t}", state.public_url),
        format!("{}/v1/events/click?t={t}", state.public_url),
    )
}

/// Queues a ghost exposure for each ad a holdout user would have seen.
fn log_ghosts(state: &AppState, user_key: &str, d: &Decision) {
    for g in &d.ghosts {
        let li = &g.candidate.line_item;
        state.sink.send(Event::HoldoutExposure(AdEvent {
            event_id: Uuid::now_v7(),
            ts_ms: chrono::Utc::now().timestamp_millis(),
            user_key: user_key.to_string(),
            advertiser_id: li.advertiser_id.as_uuid(),
            campaign_id: li.campaign_id.as_uuid(),
            line_item_id: li.id.as_uuid(),
            creative_id: g.creative.id.as_uuid(),
            placement: g.placement.clone(),
            price_micros: 0,
            promoted_skus: li.promoted_skus.clone(),
            features: serde_json::to_string(&g.features).unwrap_or_default(),
        }));
    }
}

async fn wants_debug(state: &AppState, req: &HttpRequest) -> Result<bool, ApiError> {
    let asked = req
        .query_string()
        .split('&')
        .any(|kv| kv == "debug=1" || kv == "debug=true");
    if !asked {
        return Ok(false);
    }
    match endcap_web::authenticate(&state.store, req).await?.role {
        Role::Admin => Ok(true),
        _ => Err(ApiError::forbidden("debug output needs an admin key")),
    }
}

/// Ranked sponsored ads for the retailer's own placements.
pub async fn decisions(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let debug = wants_debug(&state, &req).await?;
    let input: DecisionRequest = body.parse()?;
    let user_key = match input.user_key.as_deref() {
        Some(k) => HashedKey::parse(k, "user_key")?.as_str().to_string(),
        None => String::new(),
    };
    if input.placements.is_empty() || input.placements.len() > MAX_PLACEMENTS {
        return Err(endcap_core::ValidationError::new(
            "placements",
            format!("send 1 to {MAX_PLACEMENTS} placements"),
        )
        .into());
    }
    let mut slots = Vec::with_capacity(input.placements.len());
    for (i, p) in input.placements.iter().enumerate() {
        let name = placement_name(&p.id, &format!("placements[{i}].id"))?;
        if !(1..=MAX_COUNT).contains(&p.count) {
            return Err(endcap_core::ValidationError::new(
                format!("placements[{i}].count"),
                format!("must be 1 to {MAX_COUNT}"),
            )
            .into());
        }
        slots.push(SlotRequest {
            id: name.clone(),
            slot: Slot::onsite(&name),
            count: p.count,
            floor_ecpm_micros: state.onsite_floor_cpm_micros,
            allow_same_advertiser: state.repeat_placements.contains(&name),
        });
    }
    let c = &input.context;
    let segments = user_segments(&state, &user_key).await;
    let ctx = Context {
        user_key: user_key.clone(),
        segments,
        keywords: c
            .keywords
            .iter()
            .map(|k| Context::normalize_keyword(k))
            .filter(|k| !k.is_empty())
            .collect(),
        categories: c.categories.clone(),
        skus_on_page: c.skus_on_page.clone(),
        store_id: c.store_id.clone(),
        device: c.device,
        now: chrono::Utc::now(),
        draw: draw(),
    };
    let snapshot = state.index.load();
    let d = decide(
        &snapshot,
        &ctx,
        &slots,
        state.model.as_ref(),
        state.spend.as_ref(),
        state.caps.as_ref(),
        state.first_price,
    );
    log_ghosts(&state, &user_key, &d);
    let mut placements: Vec<PlacementView> = slots
        .iter()
        .map(|s| PlacementView {
            id: s.id.clone(),
            ads: Vec::new(),
        })
        .collect();
    for p in &d.placed {
        let (_, impression_url, click_url) = tracking_urls(&state, &user_key, p);
        let li = &p.candidate.line_item;
        if let Some(view) = placements.iter_mut().find(|v| v.id == p.slot_id) {
            view.ads.push(AdView {
                rank: p.rank,
                line_item_id: li.id.to_string(),
                campaign_id: li.campaign_id.to_string(),
                advertiser_id: li.advertiser_id.to_string(),
                creative: CreativeView {
                    id: p.creative.id.to_string(),
                    kind: p.creative.kind,
                    sku: p.creative.sku.as_deref(),
                    image_url: p.creative.image_url.as_deref(),
                    width: p.creative.width,
                    height: p.creative.height,
                },
                impression_url,
                click_url,
            });
        }
    }
    Ok(HttpResponse::Ok().json(DecisionResponse {
        request_id: Uuid::now_v7().to_string(),
        placements,
        debug: debug.then_some(d.explanations.as_slice()),
    }))
}

#[derive(Serialize)]
struct NoBid<'a> {
    id: &'a str,
    nbr: u8,
}

fn domain(url: &str) -> String {
    url.split("://")
        .nth(1)
        .and_then(|r| r.split(['/', '?', '#', ':']).next())
        .unwrap_or("")
        .trim_start_matches("www.")
        .to_string()
}

fn banner_markup(p: &Placed, impression_url: &str, click_url: &str) -> String {
    let img = p.creative.image_url.as_deref().unwrap_or("");
    let (w, h) = (
        p.creative.width.unwrap_or(0),
        p.creative.height.unwrap_or(0),
    );
    format!(
        "<a href=\"{click_url}\" target=\"_blank\"><img src=\"{img}\" width=\"{w}\" height=\"{h}\" alt=\"\"></a>\
         <img src=\"{impression_url}&amp;f=gif\" width=\"1\" height=\"1\" style=\"display:none\" alt=\"\">"
    )
}

fn native_markup(p: &Placed, impression_url: &str, click_url: &str) -> String {
    serde_json::json!({"native": {
        "ver": "1.2",
        "assets": [{"id": 1, "img": {"url": p.creative.image_url, "w": p.creative.width, "h": p.creative.height}}],
        "link": {"url": click_url},
        "imptrackers": [impression_url],
    }})
    .to_string()
}

/// OpenRTB 2.6 bidding for offsite publishers.
pub async fn openrtb_bid(
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let req: BidRequest = parse_json(&body)?;
    req.validate().map_err(|e| {
        ApiError::bad_request(
            "invalid_bid_request",
            Some(e.field.clone()),
            e.message.clone(),
        )
    })?;
    let tmax = Duration::from_millis(req.tmax.unwrap_or(state.max_tmax_ms).min(state.max_tmax_ms));
    // Too little time to decide and answer: do no work, answer no-bid at once.
    if tmax < MIN_TMAX {
        return Ok(HttpResponse::NoContent().finish());
    }
    let currency_ok = req.cur.is_empty() || req.cur.iter().any(|c| c == &state.currency);
    let mut slots = Vec::new();
    let mut unsupported = 0;
    for imp in &req.imp {
        let floor_cur_ok = imp
            .bidfloorcur
            .as_deref()
            .is_none_or(|c| c == state.currency);
        if !floor_cur_ok {
            continue;
        }
        let floor = cpm_to_micros(imp.bidfloor);
        if let Some(b) = &imp.banner {
            let mut sizes: Vec<(u32, u32)> = b.format.iter().map(|f| (f.w, f.h)).collect();
            if let (Some(w), Some(h)) = (b.w, b.h) {
                sizes.insert(0, (w, h));
            }
            sizes.retain(|(w, h)| *w > 0 && *h > 0);
            // One slot for the imp, accepting any of its sizes: one decision per imp.
            if !sizes.is_empty() {
                slots.push(SlotRequest {
                    id: imp.id.clone(),
                    slot: Slot::offsite_banner(&sizes),
                    count: 1,
                    floor_ecpm_micros: floor,
                    allow_same_advertiser: false,
                });
            }
        } else if imp.native.is_some() {
            slots.push(SlotRequest {
                id: imp.id.clone(),
                slot: Slot::offsite_native(),
                count: 1,
                floor_ecpm_micros: floor,
                allow_same_advertiser: false,
            });
        } else {
            unsupported += 1;
        }
    }
    if !currency_ok || slots.is_empty() {
        if unsupported > 0 && currency_ok {
            return Ok(HttpResponse::Ok().json(NoBid {
                id: &req.id,
                nbr: nbr::UNSUPPORTED,
            }));
        }
        return Ok(HttpResponse::NoContent().finish());
    }
    let user_key = req
        .user
        .as_ref()
        .and_then(|u| u.buyeruid.as_deref())
        .and_then(|k| HashedKey::parse(k, "user.buyeruid").ok())
        .map(|k| k.as_str().to_string())
        .unwrap_or_default();
    let segments = user_segments(&state, &user_key).await;
    let device = req
        .device
        .as_ref()
        .and_then(|d| d.devicetype)
        .and_then(|t| match t {
            2 => Some(Device::Desktop),
            4 => Some(Device::Mobile),
            5 => Some(Device::Tablet),
            1 => Some(Device::Mobile),
            _ => None,
        });
    let ctx = Context {
        user_key: user_key.clone(),
        segments,
        keywords: Vec::new(),
        categories: Vec::new(),
        skus_on_page: Vec::new(),
        store_id: None,
        device,
        now: chrono::Utc::now(),
        draw: draw(),
    };
    let snapshot = state.index.load();
    let first_price = state.first_price || req.at == Some(1);
    let d = decide(
        &snapshot,
        &ctx,
        &slots,
        state.model.as_ref(),
        state.spend.as_ref(),
        state.caps.as_ref(),
        first_price,
    );
    if started.elapsed() >= tmax {
        return Ok(HttpResponse::build(StatusCode::NO_CONTENT).finish());
    }
    log_ghosts(&state, &user_key, &d);
    let mut bids: Vec<Bid> = Vec::new();
    // One slot per imp with count 1: at most one placed ad, so one bid, per imp.
    for p in &d.placed {
        let adomain = domain(&p.creative.click_url);
        if req
            .badv
            .iter()
            .any(|b| b.trim_start_matches("www.") == adomain)
        {
            continue;
        }
        let li = &p.candidate.line_item;
        // OpenRTB prices are CPM: a CPC winner bids the eCPM its click price implies.
        let cpm_micros = match li.pricing.model {
            endcap_core::PricingModel::Cpm => p.price_micros,
            endcap_core::PricingModel::Cpc => {
                (p.price_micros as f64 * p.pctr * 1000.0).round() as i64
            }
        };
        let floor = slots
            .iter()
            .find(|s| s.id == p.slot_id)
            .map_or(0, |s| s.floor_ecpm_micros);
        let cpm_micros = cpm_micros.max(floor);
        let (event_id, impression_url, click_url) = tracking_urls(&state, &user_key, p);
        let adm = match p.creative.kind {
            endcap_core::CreativeKind::Native => native_markup(p, &impression_url, &click_url),
            _ => banner_markup(p, &impression_url, &click_url),
        };
        bids.push(Bid {
            id: event_id.to_string(),
            impid: p.slot_id.clone(),
            price: micros_to_cpm(cpm_micros),
            adm,
            nurl: format!("{impression_url}&f=gif"),
            burl: impression_url,
            crid: p.creative.id.to_string(),
            cid: li.campaign_id.to_string(),
            adomain: vec![adomain],
            w: p.creative.width,
            h: p.creative.height,
        });
    }
    if bids.is_empty() {
        return Ok(HttpResponse::NoContent().finish());
    }
    Ok(HttpResponse::Ok().json(BidResponse {
        id: req.id.clone(),
        seatbid: vec![SeatBid {
            bid: bids,
            seat: "endcap".into(),
        }],
        cur: state.currency.clone(),
    }))
}
