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

use actix_web::{web, HttpRequest, HttpResponse};
use endcap_store::{Created, Idempotency};
use endcap_web::{ApiError, Caller, ErrorCode};
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
    cfg.service(web::resource("/metrics").get(metrics));
}

/// Mounts every route but `/metrics`. Each path is one resource holding all its methods, so
/// a method it does not serve answers 405 with `Allow` (made JSON by
/// `endcap_web::error_envelope`), and a path that does not exist answers 404.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").get(healthz))
        .service(web::resource("/readyz").get(readyz))
        .service(web::resource("/openapi.json").get(openapi_json))
        .service(
            web::scope("/v1")
                .service(
                    web::resource("/advertisers")
                        .post(create_advertiser)
                        .get(list_advertisers),
                )
                .service(
                    web::resource("/advertisers/{id}")
                        .get(get_advertiser)
                        .patch(patch_advertiser),
                )
                .service(web::resource("/advertisers/{id}/api-keys").post(create_advertiser_key))
                .service(
                    web::resource("/api-keys")
                        .post(create_staff_key)
                        .get(list_keys),
                )
                .service(web::resource("/api-keys/{id}/revoke").post(revoke_key))
                .service(
                    web::resource("/campaigns")
                        .post(create_campaign)
                        .get(list_campaigns),
                )
                .service(
                    web::resource("/campaigns/{id}")
                        .get(get_campaign)
                        .patch(patch_campaign),
                )
                .service(
                    web::resource("/campaigns/{id}/line-items")
                        .post(create_line_item)
                        .get(list_line_items),
                )
                .service(
                    web::resource("/line-items/{id}")
                        .get(get_line_item)
                        .patch(patch_line_item),
                )
                .service(
                    web::resource("/line-items/{id}/creatives")
                        .post(create_creative)
                        .get(list_creatives),
                )
                .service(
                    web::resource("/creatives/{id}")
                        .get(get_creative)
                        .patch(patch_creative),
                )
                .service(web::resource("/creatives/{id}/review").post(review_creative))
                .service(web::resource("/privacy/deletions").post(delete_person))
                .service(web::resource("/invalid-traffic").post(reverse_invalid_traffic))
                .service(web::resource("/audit-log").get(audit_log))
                .service(
                    web::resource("/segments/{id}")
                        .put(put_segment)
                        .get(get_segment),
                )
                .service(
                    web::resource("/segments/{id}/members")
                        .put(put_members)
                        .delete(delete_members),
                )
                .service(web::resource("/receipts").post(upload_receipts))
                .service(web::resource("/identity-map").post(upload_identity_map))
                .service(web::resource("/catalog").post(upload_catalog))
                .service(web::resource("/inventory").post(upload_inventory))
                .service(web::resource("/reports/delivery").get(delivery_report))
                .service(web::resource("/reports/attribution").get(attribution_report))
                .service(web::resource("/reports/search-terms").get(search_terms_report))
                .service(
                    web::resource("/reports/attribution/receipts/{receipt_id}")
                        .get(explain_receipt),
                )
                .service(web::resource("/periods/{period}/close").post(close_period)),
        )
        .default_service(web::to(endcap_web::no_such_route));
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
            ApiError::new(
                ErrorCode::InvalidHeader,
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
