//! Line items.

use super::{campaigns::visible_campaign, created, idempotency, path_id};
use crate::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use endcap_core::{
    CampaignId, LineItem, LineItemId, LineItemInput, LineItemPatch, SegmentOwners, Targeting,
};
use endcap_store::{ListQuery, Page, StoreError};
use endcap_web::{ApiError, Caller, ErrorBody, JsonBody, PageQuery};

/// The owners of the segments a targeting names (those that exist), read before the write so
/// the store's transaction can check them against the line item's advertiser.
async fn segment_owners(
    state: &AppState,
    targeting: Option<&Targeting>,
) -> Result<SegmentOwners, ApiError> {
    let mut owners = SegmentOwners::new();
    for id in targeting.map(|t| t.segments.as_slice()).unwrap_or_default() {
        match state.store.segment(id.trim()).await {
            Ok(seg) => {
                owners.insert(id.trim().to_string(), seg.advertiser_id);
            }
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(owners)
}

/// Add a line item to a campaign.
#[utoipa::path(post, path = "/v1/campaigns/{id}/line-items", tag = "line items",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "makes retries safe: 1 to 255 visible ASCII characters", min_length = 1, max_length = 255, pattern = "^[!-~]+$")),
    request_body = LineItemInput,
    responses((status = 403, body = ErrorBody), (status = 201, body = LineItem), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_line_item(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.writer()?;
    let input: LineItemInput = body.parse()?;
    let idem = idempotency(&req, &caller, &body.raw)?;
    let campaign_id = path_id(&id, "campaign", CampaignId::parse)?;
    let owners = segment_owners(&state, Some(&input.targeting)).await?;
    let li = state
        .store
        .create_line_item(&caller.actor(), campaign_id, idem.as_ref(), |c| {
            if !caller.0.can_write(c.advertiser_id) {
                return Err(StoreError::NotFound("campaign"));
            }
            let n = input.validate(c)?;
            n.targeting.check_segments(&owners, c.advertiser_id)?;
            Ok(n)
        })
        .await?;
    Ok(created(li))
}

/// List a campaign's line items, oldest first.
#[utoipa::path(get, path = "/v1/campaigns/{id}/line-items", tag = "line items",
    params(("id" = String, Path), PageQuery),
    responses((status = 200, body = Page<LineItem>), (status = 404, body = ErrorBody)))]
pub async fn list_line_items(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    q: PageQuery,
) -> Result<HttpResponse, ApiError> {
    let c = visible_campaign(&state, &caller, &id).await?;
    let page = state
        .store
        .list::<LineItem>(&ListQuery {
            parent_id: Some(c.id.to_string()),
            after: q.after,
            limit: q.limit,
            ..Default::default()
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Reads a line item the caller may see, else 404.
pub(crate) async fn visible_line_item(
    state: &AppState,
    caller: &Caller,
    raw_id: &str,
) -> Result<LineItem, ApiError> {
    let id = path_id(raw_id, "line_item", LineItemId::parse)?;
    let li: LineItem = state.store.get(&id.to_string()).await?;
    if !caller.0.can_read(li.advertiser_id) {
        return Err(ApiError::not_found("line_item"));
    }
    Ok(li)
}

/// Read a line item.
#[utoipa::path(get, path = "/v1/line-items/{id}", tag = "line items", params(("id" = String, Path)),
    responses((status = 200, body = LineItem), (status = 404, body = ErrorBody)))]
pub async fn get_line_item(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(visible_line_item(&state, &caller, &id).await?))
}

/// Change a line item. Send the `version` you read; a stale one answers 409.
#[utoipa::path(patch, path = "/v1/line-items/{id}", tag = "line items", params(("id" = String, Path)),
    request_body = LineItemPatch,
    responses((status = 403, body = ErrorBody), (status = 200, body = LineItem), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn patch_line_item(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.writer()?;
    let patch: LineItemPatch = body.parse()?;
    let id = path_id(&id, "line_item", LineItemId::parse)?;
    let owners = segment_owners(&state, patch.targeting.as_ref()).await?;
    let li = state
        .store
        .update_line_item(&caller.actor(), id, patch.version, |cur, campaign| {
            if !caller.0.can_write(cur.advertiser_id) {
                return Err(StoreError::NotFound("line_item"));
            }
            let next = patch.apply(cur, campaign)?;
            if patch.targeting.is_some() {
                next.targeting.check_segments(&owners, cur.advertiser_id)?;
            }
            Ok(next)
        })
        .await?;
    Ok(HttpResponse::Ok().json(li))
}
