//! HTTP routes. Each handler: authenticate, parse, check access, call the store, serialize.

mod advertisers;
mod campaigns;
mod creatives;
mod line_items;
mod ops;
mod privacy;
mod reports;
mod segments;
mod uploads;

use crate::AppState;
use actix_web::{dev::Payload, web, FromRequest, HttpRequest, HttpResponse};
use endcap_core::{AdvertiserId, Principal, Role};
use endcap_store::{Created, Idempotency};
use endcap_web::ApiError;
use futures_util::future::LocalBoxFuture;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub(crate) use advertisers::*;
pub(crate) use campaigns::*;
pub(crate) use creatives::*;
pub(crate) use line_items::*;
pub(crate) use ops::*;
pub(crate) use privacy::*;
pub(crate) use reports::*;
pub(crate) use segments::*;
pub(crate) use uploads::*;

/// Mounts `/metrics`: on the main listener, or alone on the metrics listener.
pub fn configure_metrics(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics));
}

/// Mounts every route but `/metrics`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/openapi.json", web::get().to(openapi_json))
        .service(
            web::scope("/v1")
                .route("/advertisers", web::post().to(create_advertiser))
                .route("/advertisers", web::get().to(list_advertisers))
                .route("/advertisers/{id}", web::get().to(get_advertiser))
                .route(
                    "/advertisers/{id}/api-keys",
                    web::post().to(create_advertiser_key),
                )
                .route("/api-keys", web::post().to(create_staff_key))
                .route("/api-keys", web::get().to(list_keys))
                .route("/api-keys/{id}/revoke", web::post().to(revoke_key))
                .route("/campaigns", web::post().to(create_campaign))
                .route("/campaigns", web::get().to(list_campaigns))
                .route("/campaigns/{id}", web::get().to(get_campaign))
                .route("/campaigns/{id}", web::patch().to(patch_campaign))
                .route(
                    "/campaigns/{id}/line-items",
                    web::post().to(create_line_item),
                )
                .route("/campaigns/{id}/line-items", web::get().to(list_line_items))
                .route("/line-items/{id}", web::get().to(get_line_item))
                .route("/line-items/{id}", web::patch().to(patch_line_item))
                .route(
                    "/line-items/{id}/creatives",
                    web::post().to(create_creative),
                )
                .route("/line-items/{id}/creatives", web::get().to(list_creatives))
                .route("/creatives/{id}", web::get().to(get_creative))
                .route("/creatives/{id}/review", web::post().to(review_creative))
                .route("/privacy/deletions", web::post().to(delete_person))
                .route("/audit-log", web::get().to(audit_log))
                .route("/segments/{id}", web::put().to(put_segment))
                .route("/segments/{id}", web::get().to(get_segment))
                .route("/segments/{id}/members", web::put().to(put_members))
                .route("/segments/{id}/members", web::delete().to(delete_members))
                .route("/receipts", web::post().to(upload_receipts))
                .route("/identity-map", web::post().to(upload_identity_map))
                .route("/catalog", web::post().to(upload_catalog))
                .route("/reports/delivery", web::get().to(delivery_report))
                .route("/reports/attribution", web::get().to(attribution_report))
                .route(
                    "/reports/attribution/receipts/{receipt_id}",
                    web::get().to(explain_receipt),
                )
                .route("/periods/{period}/close", web::post().to(close_period)),
        )
        .default_service(web::to(not_found_route));
}

async fn not_found_route() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("route"))
}

/// The authenticated caller, from `Authorization: Bearer <key>`.
pub(crate) struct Caller(pub Principal);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let req = req.clone();
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal(&"app state missing"))?;
            endcap_web::authenticate(&state.store, &req)
                .await
                .map(Caller)
        })
    }
}

impl Caller {
    /// Refuses read-only keys before any write.
    pub(crate) fn writer(&self) -> Result<(), ApiError> {
        match self.0.role {
            Role::Finance => Err(ApiError::forbidden("finance keys are read-only")),
            Role::Admin | Role::Advertiser => Ok(()),
        }
    }

    /// Refuses everyone but admins.
    pub(crate) fn admin(&self) -> Result<(), ApiError> {
        if self.0.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden("this needs an admin key"))
        }
    }

    /// The advertiser a listing is restricted to: an advertiser key sees only its own, and
    /// asking for another's answers 404 as if it did not exist.
    pub(crate) fn listing_scope(
        &self,
        asked: Option<AdvertiserId>,
    ) -> Result<Option<AdvertiserId>, ApiError> {
        match (self.0.tenant(), asked) {
            (Some(own), Some(a)) if a != own => Err(ApiError::not_found("advertiser")),
            (Some(own), _) => Ok(Some(own)),
            (None, asked) => Ok(asked),
        }
    }

    /// The audit log's actor label.
    pub(crate) fn actor(&self) -> String {
        self.0.actor()
    }
}

/// Parses a path id; a malformed one cannot name an object, so it is a 404.
pub(crate) fn path_id<T>(
    raw: &str,
    kind: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, ApiError> {
    parse(raw).ok_or_else(|| ApiError::not_found(kind))
}

/// Reads the `Idempotency-Key` header into what the store needs.
pub(crate) fn idempotency(
    req: &HttpRequest,
    caller: &Caller,
    raw: &[u8],
) -> Result<Option<Idempotency>, ApiError> {
    let Some(v) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = v
        .to_str()
        .ok()
        .filter(|s| {
            !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| (0x21..=0x7e).contains(&b))
        })
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_header",
                Some("Idempotency-Key".into()),
                "must be 1 to 255 visible ASCII characters",
            )
        })?;
    let mut h = Sha256::new();
    h.update(req.method().as_str().as_bytes());
    h.update(b" ");
    h.update(req.path().as_bytes());
    h.update(b"\n");
    h.update(raw);
    Ok(Some(Idempotency {
        scope: caller.0.key_id.to_string(),
        key: key.to_string(),
        request_hash: hex::encode(h.finalize()),
    }))
}

/// 201 with the object; a replayed idempotent request says so in a header.
pub(crate) fn created<T: Serialize>(c: Created<T>) -> HttpResponse {
    let mut b = HttpResponse::Created();
    if c.replayed {
        b.insert_header(("Idempotent-Replayed", "true"));
    }
    b.json(c.value)
}

/// Checks a pagination cursor (an id) before it reaches SQL.
pub(crate) fn cursor(raw: Option<String>) -> Result<Option<String>, ApiError> {
    match raw {
        Some(c) if uuid_like(&c) => Ok(Some(c)),
        Some(_) => Err(ApiError::bad_request(
            "invalid_type",
            Some("cursor".into()),
            "not a cursor returned by this API",
        )),
        None => Ok(None),
    }
}

fn uuid_like(s: &str) -> bool {
    AdvertiserId::parse(s).is_some()
}
