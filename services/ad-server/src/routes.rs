//! HTTP handlers: each parses, calls the serving pipeline once, serializes.

use crate::startup::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use endcap_openrtb::BidRequest;
use endcap_serving::{BidAnswer, CallerError, ConversionInput, DecisionRequest, ServeError};
use endcap_tracking::TokenError;
use endcap_web::{parse_json, ApiError, Caller, ErrorCode, JsonBody, RequestId, ValidQuery};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Mounts `/metrics`: on the main listener, or alone on the metrics listener.
pub fn configure_metrics(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/metrics").get(metrics));
}

/// Mounts every route but `/metrics`. Each path is one resource, so another method answers
/// 405 with `Allow` (made JSON by `endcap_web::error_envelope`), an unknown path 404.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").get(healthz))
        .service(web::resource("/readyz").get(readyz))
        .service(web::resource("/v1/events/impression").get(impression))
        .service(web::resource("/v1/events/click").get(click))
        .service(web::resource("/v1/events/bill").get(bill))
        .service(web::resource("/v1/events/loss").get(loss))
        .service(web::resource("/v1/events/custom").get(custom_event))
        .service(web::resource("/v1/usersync").get(user_sync))
        .service(web::resource("/v1/events/conversion").post(conversion))
        .service(web::resource("/v1/decisions").post(decisions))
        .service(web::resource("/openrtb2/bid").post(openrtb_bid))
        .service(web::resource("/v1/admin/model/reload").post(reload_model))
        .default_service(web::to(endcap_web::no_such_route));
}

/// The serving pipeline's refusals in the API's error envelope.
fn api_error(e: ServeError) -> ApiError {
    match e {
        ServeError::Invalid(v) => v.into(),
        ServeError::Token(t) => {
            // Not a token at all is the caller's syntax; a real token that fails its
            // signature, key or expiry is a refusal.
            let code = match t {
                TokenError::Malformed => ErrorCode::MalformedToken,
                _ => ErrorCode::InvalidToken,
            };
            ApiError::new(code, Some("t".into()), t.to_string())
        }
        ServeError::Price(p) => {
            ApiError::new(ErrorCode::InvalidPrice, Some("price".into()), p.to_string())
        }
        ServeError::BidRequest(r) => ApiError::new(
            ErrorCode::InvalidBidRequest,
            Some(r.field.clone()),
            r.message,
        ),
        ServeError::Parameter(v) => {
            ApiError::new(ErrorCode::InvalidParameter, Some(v.field), v.message)
        }
        ServeError::Unavailable(e) => {
            tracing::warn!(error = %e, "campaign store unavailable during tracking");
            ApiError::new(
                ErrorCode::Unavailable,
                None,
                "try again: nothing was counted",
            )
        }
    }
}

fn caller_error(e: CallerError) -> ApiError {
    ApiError::new(
        ErrorCode::Unauthorized,
        Some("X-Endcap-Key".into()),
        e.to_string(),
    )
}

/// The caller key of a site or exchange: the `X-Endcap-Key` header, or (exchanges, which
/// often can only configure a URL) the `key` query parameter.
fn caller_key(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get("X-Endcap-Key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| form_key(req.query_string()))
}

fn form_key(query: &str) -> Option<String> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("key="))
        .map(str::to_string)
}

/// The smallest transparent GIF, for `<img>` pixels.
const PIXEL_GIF: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// Query of the tracking endpoints. Other parameters (cache busters) are ignored.
#[derive(Debug, Deserialize)]
pub struct TrackQuery {
    /// The signed token.
    t: Option<String>,
    /// `gif` answers a 1x1 GIF instead of 204.
    f: Option<String>,
    /// The exchange's `${AUCTION_PRICE}` (billing notices).
    price: Option<String>,
}

fn pixel(f: Option<&str>) -> HttpResponse {
    match f {
        Some("gif") => HttpResponse::Ok()
            .content_type("image/gif")
            .insert_header(("Cache-Control", "no-store"))
            .body(PIXEL_GIF),
        _ => HttpResponse::NoContent().finish(),
    }
}

/// The request's user agent, for the invalid-traffic filter.
fn user_agent(req: &HttpRequest) -> Option<std::borrow::Cow<'_, str>> {
    // Non-ASCII bytes are read leniently: such a user agent is still a user agent.
    req.headers()
        .get(actix_web::http::header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()))
}

async fn impression(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: ValidQuery<TrackQuery>,
) -> Result<HttpResponse, ApiError> {
    state
        .server
        .impression(q.0.t.as_deref(), user_agent(&req).as_deref())
        .await
        .map_err(api_error)?;
    Ok(pixel(q.0.f.as_deref()))
}

async fn click(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: ValidQuery<TrackQuery>,
) -> Result<HttpResponse, ApiError> {
    let (_, to) = state
        .server
        .click(
            q.0.t.as_deref(),
            user_agent(&req).as_deref(),
            req.peer_addr().map(|a| a.ip()),
        )
        .await
        .map_err(api_error)?;
    Ok(HttpResponse::Found()
        .insert_header(("Location", to))
        .insert_header(("Cache-Control", "no-store"))
        .finish())
}

async fn bill(
    state: web::Data<AppState>,
    q: ValidQuery<TrackQuery>,
) -> Result<HttpResponse, ApiError> {
    state
        .server
        .bill(q.0.t.as_deref(), q.0.price.as_deref())
        .await
        .map_err(api_error)?;
    Ok(pixel(q.0.f.as_deref()))
}

async fn loss(
    state: web::Data<AppState>,
    q: ValidQuery<TrackQuery>,
) -> Result<HttpResponse, ApiError> {
    state.server.loss(q.0.t.as_deref()).map_err(api_error)?;
    Ok(HttpResponse::NoContent().finish())
}

/// A placed ad's custom event (add to cart, ...): logged once per decision and name, never
/// charged.
async fn custom_event(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: ValidQuery<TrackQuery>,
) -> Result<HttpResponse, ApiError> {
    state
        .server
        .custom_event(q.0.t.as_deref(), user_agent(&req).as_deref())
        .await
        .map_err(api_error)?;
    Ok(pixel(q.0.f.as_deref()))
}

/// The value of a request cookie (actix-web's cookie feature is not built in).
fn cookie<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get_all(actix_web::http::header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(name)?.strip_prefix('='))
}

/// Our user id cookie: long-lived, sent on third-party requests (the exchanges' sync
/// redirects and ad calls), never readable by scripts.
fn uid_cookie(uid: &str) -> String {
    format!(
        "{}={uid}; Max-Age={}; Path=/; Secure; HttpOnly; SameSite=None",
        endcap_serving::UID_COOKIE,
        endcap_serving::UID_COOKIE_MAX_AGE_SECS
    )
}

/// Query of `GET /v1/usersync`: the sync's parameters and the pixel format.
#[derive(Debug, Deserialize)]
pub struct SyncParams {
    #[serde(flatten)]
    sync: endcap_serving::SyncQuery,
    /// `gif` answers a 1x1 GIF instead of 204 when there is nowhere to redirect.
    f: Option<String>,
}

/// User sync: an exchange sends the browser here with its user id; we store the pair and
/// send the browser on to the exchange's sync URL with ours.
async fn user_sync(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: ValidQuery<SyncParams>,
) -> Result<HttpResponse, ApiError> {
    let answer = state
        .server
        .user_sync(&q.0.sync, cookie(&req, endcap_serving::UID_COOKIE))
        .await
        .map_err(api_error)?;
    Ok(match answer {
        endcap_serving::SyncAnswer::Redirect { location, uid } => HttpResponse::Found()
            .insert_header(("Location", location))
            .insert_header((actix_web::http::header::SET_COOKIE, uid_cookie(&uid)))
            .insert_header(("Cache-Control", "no-store"))
            .finish(),
        endcap_serving::SyncAnswer::Pixel { uid } => {
            let mut r = pixel(q.0.f.as_deref());
            // Our ids are hex, always a valid header value.
            if let Some(Ok(v)) =
                uid.map(|u| actix_web::http::header::HeaderValue::from_str(&uid_cookie(&u)))
            {
                r.headers_mut()
                    .insert(actix_web::http::header::SET_COOKIE, v);
            }
            r
        }
    })
}

/// `?debug=1` needs an admin key; without it the store is never asked (the hot path).
async fn wants_debug(req: &HttpRequest) -> Result<bool, ApiError> {
    let asked = req
        .query_string()
        .split('&')
        .any(|kv| kv == "debug=1" || kv == "debug=true");
    if !asked {
        return Ok(false);
    }
    Caller::authenticate(req).await?.admin()?;
    Ok(true)
}

/// Ranked sponsored ads for the retailer's own placements.
async fn decisions(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let debug = wants_debug(&req).await?;
    if !debug {
        state
            .server
            .site_allowed(caller_key(&req).as_deref())
            .map_err(caller_error)?;
    }
    let (input, ignored): (DecisionRequest, _) = body.parse_lenient()?;
    let answer = state
        .server
        .decide_onsite(input, debug, &ignored)
        .await
        .map_err(api_error)?;
    Ok(HttpResponse::Ok().json(answer))
}

#[derive(Serialize)]
struct NoBid<'a> {
    id: &'a str,
    nbr: u8,
}

/// OpenRTB 2.6 bidding for offsite publishers.
async fn openrtb_bid(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let key = caller_key(&req);
    let exchange = state
        .server
        .exchange_for(key.as_deref())
        .map_err(caller_error)?;
    let bid: BidRequest = parse_json(&body)?;
    Ok(
        match state
            .server
            .bid(bid, exchange, started)
            .await
            .map_err(api_error)?
        {
            BidAnswer::Bid(r) => HttpResponse::Ok().json(r),
            BidAnswer::NoBid => HttpResponse::NoContent().finish(),
            BidAnswer::Refused { id, nbr } => HttpResponse::Ok().json(NoBid { id: &id, nbr }),
        },
    )
}

/// Conversions are reported with the retailer's admin key.
async fn conversion(
    state: web::Data<AppState>,
    caller: Caller,
    request: RequestId,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.admin()?;
    let input: ConversionInput = body.parse()?;
    let event_id = state.server.conversion(input).await.map_err(api_error)?;
    // Audited by event id and request id (the order and the shopper stay in the event log).
    state
        .store
        .record_activity(
            &caller.actor(),
            "record",
            "conversion",
            &event_id.to_string(),
            None,
            &serde_json::json!({ "request_id": request.0 }),
        )
        .await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "event_id": event_id })))
}

/// Loads the model directory's artifact now (admin key): the version serving, 409 without a
/// model directory, 422 naming why an artifact was refused (the model in use keeps serving).
async fn reload_model(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    caller.admin()?;
    let Some(dir) = &state.model_dir else {
        return Err(ApiError::new(
            ErrorCode::NoModelDir,
            None,
            "the ad server has no model directory (ENDCAP_MODEL_DIR)",
        ));
    };
    match endcap_serving::reload_model(&state.server.model, dir).await {
        Ok(version) => Ok(HttpResponse::Ok().json(serde_json::json!({ "version": version }))),
        Err(why) => Err(ApiError::new(
            ErrorCode::ModelRefused,
            None,
            format!("the artifact was refused, the model in use keeps serving: {why}"),
        )),
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "campaign store not ready");
        ApiError::new(
            ErrorCode::NotReady,
            None,
            "the campaign store does not answer",
        )
    })?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"})))
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let mut text = state.http.render();
    text.push_str(&state.server.metrics.render());
    text.push_str(&state.server.sink.metrics().render());
    text.push_str(&state.server.model.render());
    if let Some((caps, redis)) = &state.server.shared_caps {
        text.push_str(&redis.render());
        text.push_str(&caps.render());
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text)
}
