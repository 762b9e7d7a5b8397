//! Tracking endpoints and operations.

use crate::AppState;
use actix_web::{http::StatusCode, web, HttpRequest, HttpResponse};
use endcap_core::Role;
use endcap_events::{AdEvent, ConversionEvent, Event, EventSink};
use endcap_tracking::{Claims, TokenError};
use endcap_web::{ApiError, JsonBody, ValidQuery};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Mounts every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics))
        .route("/v1/events/impression", web::get().to(impression))
        .route("/v1/events/click", web::get().to(click))
        .route("/v1/events/conversion", web::post().to(conversion))
        .route("/v1/decisions", web::post().to(crate::decisions::decisions))
        .route(
            "/openrtb2/bid",
            web::post().to(crate::decisions::openrtb_bid),
        )
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(ApiError::not_found("route"))
        }));
}

/// The smallest transparent GIF, for `<img>` pixels.
const PIXEL_GIF: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// Query of the tracking endpoints.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackQuery {
    /// The signed token.
    t: Option<String>,
    /// `gif` answers a 1x1 GIF instead of 204.
    f: Option<String>,
}

const CLOCK_SKEW_MS: i64 = 60_000;

fn verified(state: &AppState, t: Option<&str>) -> Result<Claims, ApiError> {
    let Some(t) = t.filter(|t| !t.is_empty()) else {
        state.tracking.rejected("missing");
        return Err(ApiError::bad_request(
            "invalid_token",
            Some("t".into()),
            "the tracking token is missing",
        ));
    };
    let now = chrono::Utc::now().timestamp_millis();
    state
        .keys
        .verify(t, now, state.token_max_age_ms, CLOCK_SKEW_MS)
        .map_err(|e| {
            state.tracking.rejected(e.reason());
            tracing::info!(reason = e.reason(), "tracking token refused");
            let status = match e {
                TokenError::Malformed => StatusCode::BAD_REQUEST,
                _ => StatusCode::FORBIDDEN,
            };
            ApiError::new(status, "invalid_token", Some("t".into()), e.to_string())
        })
}

fn ad_event(c: &Claims, price_micros: i64) -> AdEvent {
    AdEvent {
        event_id: c.event_id,
        ts_ms: chrono::Utc::now().timestamp_millis(),
        user_key: c.user_key.clone(),
        advertiser_id: c.advertiser_id,
        campaign_id: c.campaign_id,
        line_item_id: c.line_item_id,
        creative_id: c.creative_id,
        placement: c.placement.clone(),
        price_micros,
        promoted_skus: c.promoted_skus.clone(),
        features: c.features.clone(),
    }
}

/// True the first time an event id of this kind is seen within the horizon.
fn first_sighting(state: &AppState, kind: u8, id: Uuid) -> bool {
    let fresh = state.seen.entry((kind, id)).or_insert(()).is_fresh();
    if !fresh {
        state
            .tracking
            .duplicates
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    fresh
}

async fn impression(
    state: web::Data<AppState>,
    q: ValidQuery<TrackQuery>,
) -> Result<HttpResponse, ApiError> {
    let claims = verified(&state, q.0.t.as_deref())?;
    if first_sighting(&state, 1, claims.event_id) {
        state.sink.send(Event::Impression(ad_event(
            &claims,
            claims.impression_charge(),
        )));
        state.tracking.logged("impression");
        let now = chrono::Utc::now();
        let campaign = endcap_core::CampaignId::from_uuid(claims.campaign_id);
        state
            .spend
            .record(campaign, claims.impression_charge(), now);
        if !claims.user_key.is_empty() {
            let li = endcap_core::LineItemId::from_uuid(claims.line_item_id);
            state.caps.record(&claims.user_key, li, now);
        }
    }
    Ok(match q.0.f.as_deref() {
        Some("gif") => HttpResponse::Ok()
            .content_type("image/gif")
            .insert_header(("Cache-Control", "no-store"))
            .body(PIXEL_GIF),
        _ => HttpResponse::NoContent().finish(),
    })
}

async fn click(
    state: web::Data<AppState>,
    q: ValidQuery<TrackQuery>,
) -> Result<HttpResponse, ApiError> {
    let claims = verified(&state, q.0.t.as_deref())?;
    if first_sighting(&state, 2, claims.event_id) {
        state
            .sink
            .send(Event::Click(ad_event(&claims, claims.click_charge())));
        state.tracking.logged("click");
        let campaign = endcap_core::CampaignId::from_uuid(claims.campaign_id);
        state
            .spend
            .record(campaign, claims.click_charge(), chrono::Utc::now());
    }
    // The destination comes from the signed token, so this is no open redirect.
    Ok(HttpResponse::Found()
        .insert_header(("Location", claims.click_url))
        .insert_header(("Cache-Control", "no-store"))
        .finish())
}

/// Body of `POST /v1/events/conversion`: an online order, reported by the retailer's site.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionInput {
    /// The retailer's order id; reporting it again counts once.
    order_id: String,
    /// Hashed (SHA-256 hex) online user key.
    user_key: String,
    /// SKUs bought.
    #[serde(default)]
    skus: Vec<String>,
    /// Order amount in micros, >= 0.
    amount_micros: i64,
    /// ISO 4217 currency.
    currency: String,
    /// When the order was placed (RFC 3339); default now.
    ts: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Serialize)]
struct Accepted {
    event_id: Uuid,
}

/// Namespace of conversion event ids: the same order always maps to the same id.
const CONVERSION_NS: Uuid = Uuid::from_u128(0x6e64_6361_705f_636f_6e76_6572_7369_6f6e);

async fn conversion(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let caller = endcap_web::authenticate(&state.store, &req).await?;
    if caller.role != Role::Admin {
        return Err(ApiError::forbidden(
            "conversions are reported with the retailer's admin key",
        ));
    }
    let input: ConversionInput = body.parse()?;
    let order_id = endcap_core::validate_label(&input.order_id, "order_id")?;
    let user_key = endcap_core::HashedKey::parse(&input.user_key, "user_key")?;
    endcap_core::Micros::non_negative(input.amount_micros, "amount_micros")?;
    let currency = endcap_core::Currency::parse(input.currency.trim(), "currency")?;
    let mut skus = Vec::with_capacity(input.skus.len());
    for (i, s) in input.skus.iter().enumerate() {
        skus.push(
            endcap_core::Sku::parse(s, &format!("skus[{i}]"))?
                .as_str()
                .to_string(),
        );
    }
    let event_id = Uuid::new_v5(&CONVERSION_NS, order_id.as_bytes());
    state.sink.send(Event::Conversion(ConversionEvent {
        event_id,
        ts_ms: input.ts.unwrap_or_else(chrono::Utc::now).timestamp_millis(),
        user_key: user_key.as_str().to_string(),
        order_id,
        skus,
        amount_micros: input.amount_micros,
        currency: currency.as_str().to_string(),
    }));
    state.tracking.logged("conversion");
    Ok(HttpResponse::Accepted().json(Accepted { event_id }))
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "campaign store not ready");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            None,
            "the campaign store does not answer",
        )
    })?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"})))
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let mut text = state.http.render();
    text.push_str(&state.tracking.render());
    text.push_str(&state.sink.metrics().render());
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text)
}
