//! Campaigns.

use super::{created, idempotency, path_id};
use crate::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use endcap_core::{Campaign, CampaignId, CampaignInput, CampaignPatch, Status, ValidationError};
use endcap_store::{ListQuery, Page, StoreError};
use endcap_web::{ApiError, Caller, ErrorBody, JsonBody, PageQuery};
use serde::Deserialize;

/// Filters of `GET /v1/campaigns`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CampaignFilter {
    /// Only this advertiser's campaigns (an advertiser key always sees only its own).
    #[param(nullable = false, value_type = Option<String>, format = Uuid)]
    pub advertiser_id: Option<endcap_core::AdvertiserId>,
    /// Only campaigns in this state.
    #[param(nullable = false)]
    pub status: Option<Status>,
}

/// Create a campaign. With an advertiser key `advertiser_id` may be left out.
#[utoipa::path(post, path = "/v1/campaigns", tag = "campaigns", request_body = CampaignInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "makes retries safe: 1 to 255 visible ASCII characters", min_length = 1, max_length = 255, pattern = "^[!-~]+$")),
    responses((status = 403, body = ErrorBody), (status = 201, body = Campaign), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_campaign(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.writer()?;
    let input: CampaignInput = body.parse()?;
    let idem = idempotency(&req, &caller, &body.raw)?;
    let advertiser_id = input
        .advertiser_id
        .or(caller.0.advertiser_id)
        .ok_or_else(|| ValidationError::new("advertiser_id", "is required with an admin key"))?;
    let c = state
        .store
        .create_campaign(&caller.actor(), advertiser_id, idem.as_ref(), |adv| {
            if !caller.0.can_write(adv.id) {
                return Err(StoreError::NotFound("advertiser"));
            }
            Ok(input.validate()?)
        })
        .await?;
    Ok(created(c))
}

/// List campaigns, oldest first.
#[utoipa::path(get, path = "/v1/campaigns", tag = "campaigns", params(PageQuery<CampaignFilter>),
    responses((status = 200, body = Page<Campaign>), (status = 400, body = ErrorBody)))]
pub async fn list_campaigns(
    state: web::Data<AppState>,
    caller: Caller,
    q: PageQuery<CampaignFilter>,
) -> Result<HttpResponse, ApiError> {
    let page = state
        .store
        .list::<Campaign>(&ListQuery {
            advertiser_id: caller.listing_scope(q.filter.advertiser_id)?,
            parent_id: None,
            status: q.filter.status,
            after: q.after,
            limit: q.limit,
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Reads a campaign the caller may see, else 404.
pub(crate) async fn visible_campaign(
    state: &AppState,
    caller: &Caller,
    raw_id: &str,
) -> Result<Campaign, ApiError> {
    let id = path_id(raw_id, "campaign", CampaignId::parse)?;
    let c: Campaign = state.store.get(&id.to_string()).await?;
    if !caller.0.can_read(c.advertiser_id) {
        return Err(ApiError::not_found("campaign"));
    }
    Ok(c)
}

/// Read a campaign.
#[utoipa::path(get, path = "/v1/campaigns/{id}", tag = "campaigns", params(("id" = String, Path)),
    responses((status = 200, body = Campaign), (status = 404, body = ErrorBody)))]
pub async fn get_campaign(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(visible_campaign(&state, &caller, &id).await?))
}

/// Change a campaign. Send the `version` you read; a stale one answers 409 and changes nothing.
#[utoipa::path(patch, path = "/v1/campaigns/{id}", tag = "campaigns", params(("id" = String, Path)),
    request_body = CampaignPatch,
    responses((status = 403, body = ErrorBody), (status = 200, body = Campaign), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn patch_campaign(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.writer()?;
    let patch: CampaignPatch = body.parse()?;
    let id = path_id(&id, "campaign", CampaignId::parse)?;
    let c = state
        .store
        .update_campaign(&caller.actor(), id, patch.version, |cur| {
            if !caller.0.can_write(cur.advertiser_id) {
                return Err(StoreError::NotFound("campaign"));
            }
            Ok(patch.apply(cur)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(c))
}
