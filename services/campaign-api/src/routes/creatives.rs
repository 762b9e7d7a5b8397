//! Creatives.

use super::{created, idempotency, line_items::visible_line_item, path_id};
use crate::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use endcap_core::{
    Advertiser, Creative, CreativeId, CreativeInput, CreativeKind, CreativePatch, LineItem,
    LineItemId, ReviewInput,
};
use endcap_store::{ListQuery, Page, StoreError};
use endcap_web::{ApiError, Caller, ErrorBody, JsonBody, PageQuery};

/// Add a creative to a line item.
#[utoipa::path(post, path = "/v1/line-items/{id}/creatives", tag = "creatives",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "makes retries safe: 1 to 255 visible ASCII characters", min_length = 1, max_length = 255, pattern = "^[!-~]+$")),
    request_body = CreativeInput,
    responses((status = 403, body = ErrorBody), (status = 201, body = Creative), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_creative(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.writer()?;
    let input: CreativeInput = body.parse()?;
    let idem = idempotency(&req, &caller, &body.raw)?;
    let line_item_id = path_id(&id, "line_item", LineItemId::parse)?;
    // A native creative's "Sponsored by" defaults to its advertiser's name.
    let sponsor = match input.kind {
        CreativeKind::Native => {
            let li: LineItem = state.store.get(&line_item_id.to_string()).await?;
            let adv: Advertiser = state.store.get(&li.advertiser_id.to_string()).await?;
            Some(adv.name)
        }
        _ => None,
    };
    let cr = state
        .store
        .create_creative(&caller.actor(), line_item_id, idem.as_ref(), |li| {
            if !caller.0.can_write(li.advertiser_id) {
                return Err(StoreError::NotFound("line_item"));
            }
            let new = input.validate(li)?;
            Ok(match &sponsor {
                Some(name) => new.with_default_sponsor(name),
                None => new,
            })
        })
        .await?;
    Ok(created(cr))
}

/// List a line item's creatives, oldest first.
#[utoipa::path(get, path = "/v1/line-items/{id}/creatives", tag = "creatives",
    params(("id" = String, Path), PageQuery),
    responses((status = 200, body = Page<Creative>), (status = 404, body = ErrorBody)))]
pub async fn list_creatives(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    q: PageQuery,
) -> Result<HttpResponse, ApiError> {
    let li = visible_line_item(&state, &caller, &id).await?;
    let page = state
        .store
        .list::<Creative>(&ListQuery {
            parent_id: Some(li.id.to_string()),
            after: q.after,
            limit: q.limit,
            ..Default::default()
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Read a creative.
#[utoipa::path(get, path = "/v1/creatives/{id}", tag = "creatives", params(("id" = String, Path)),
    responses((status = 200, body = Creative), (status = 404, body = ErrorBody)))]
pub async fn get_creative(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "creative", CreativeId::parse)?;
    let cr: Creative = state.store.get(&id.to_string()).await?;
    if !caller.0.can_read(cr.advertiser_id) {
        return Err(ApiError::not_found("creative"));
    }
    Ok(HttpResponse::Ok().json(cr))
}

/// Change the fields publishers block by (`iab_categories`, `app_bundle`, `attributes`).
/// Send the `version` you read. A change sends the creative back to review (`pending`): it
/// stops serving until an admin approves it again.
#[utoipa::path(patch, path = "/v1/creatives/{id}", tag = "creatives", params(("id" = String, Path)),
    request_body = CreativePatch,
    responses((status = 200, body = Creative), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn patch_creative(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.writer()?;
    let patch: CreativePatch = body.parse()?;
    let id = path_id(&id, "creative", CreativeId::parse)?;
    let cr = state
        .store
        .update_creative(&caller.actor(), id, patch.version, |cur| {
            if !caller.0.can_write(cur.advertiser_id) {
                return Err(StoreError::NotFound("creative"));
            }
            Ok(patch.apply(cur)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(cr))
}

/// Approve or reject a creative (admins). Only approved creatives serve; every new creative
/// starts `pending`. `version` must be the creative's current version.
#[utoipa::path(post, path = "/v1/creatives/{id}/review", tag = "creatives",
    params(("id" = String, Path)),
    request_body = ReviewInput,
    responses((status = 200, body = Creative), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn review_creative(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.admin()?;
    let input: ReviewInput = body.parse()?;
    let id = path_id(&id, "creative", CreativeId::parse)?;
    let actor = caller.actor();
    let review = input.validate(&actor, chrono::Utc::now())?;
    let cr = state
        .store
        .review_creative(&actor, id, input.version, |_| Ok(review))
        .await?;
    Ok(HttpResponse::Ok().json(cr))
}
