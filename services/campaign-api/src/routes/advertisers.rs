//! Advertisers and API keys.

use super::{created, idempotency, path_id};
use crate::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use endcap_core::{
    Advertiser, AdvertiserId, AdvertiserInput, AdvertiserPatch, Role, ValidationError,
};
use endcap_store::{ApiKeySecret, ListQuery, Page};
use endcap_web::{ApiError, Caller, ErrorBody, ErrorCode, JsonBody, PageQuery};
use serde::{Deserialize, Serialize};

/// Body of `POST /v1/advertisers/{id}/api-keys`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyInput {
    /// `advertiser` (the default; admin and finance keys are created at `/v1/api-keys`).
    pub role: Option<Role>,
    /// Free-text label, e.g. who holds the key.
    pub label: Option<String>,
    /// When the key stops working (RFC 3339, in the future); none: it lasts until revoked.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The roles a key created at `/v1/api-keys` may have.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    /// Everything.
    Admin,
    /// Read-only, every advertiser.
    Finance,
}

/// Body of `POST /v1/api-keys`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffKeyInput {
    /// `admin` or `finance` (advertiser keys are created under their advertiser).
    pub role: StaffRole,
    /// Free-text label, e.g. who holds the key.
    pub label: Option<String>,
    /// When the key stops working (RFC 3339, in the future); none: it lasts until revoked.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A new API key: the only response that ever shows `key`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKeyCreated {
    /// Key id (appears in the audit log).
    #[schema(value_type = String, format = Uuid)]
    pub id: endcap_core::ApiKeyId,
    /// The key itself; store it now, it cannot be shown again.
    pub key: String,
    /// Its role.
    pub role: Role,
    /// The advertiser it is bound to.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub advertiser_id: Option<AdvertiserId>,
    /// Label.
    pub label: String,
    /// When it stops working, if ever.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Create an advertiser (admin).
#[utoipa::path(post, path = "/v1/advertisers", tag = "advertisers",
    request_body = AdvertiserInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "makes retries safe: 1 to 255 visible ASCII characters", min_length = 1, max_length = 255, pattern = "^[!-~]+$")),
    responses((status = 201, body = Advertiser), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_advertiser(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.admin()?;
    let input: AdvertiserInput = body.parse()?;
    let idem = idempotency(&req, &caller, &body.raw)?;
    let new = input.validate_for(&state.currency)?;
    let c = state
        .store
        .create_advertiser(&caller.actor(), new, idem.as_ref())
        .await?;
    Ok(created(c))
}

/// List advertisers (an advertiser key sees only its own).
#[utoipa::path(get, path = "/v1/advertisers", tag = "advertisers", params(PageQuery),
    responses((status = 200, body = Page<Advertiser>)))]
pub async fn list_advertisers(
    state: web::Data<AppState>,
    caller: Caller,
    q: PageQuery,
) -> Result<HttpResponse, ApiError> {
    let after = q.after;
    let page = match caller.0.tenant() {
        Some(own) => {
            let a: Advertiser = state.store.get(&own.to_string()).await?;
            Page {
                items: if after.is_none() { vec![a] } else { vec![] },
                next_cursor: None,
            }
        }
        None => {
            state
                .store
                .list::<Advertiser>(&ListQuery {
                    after,
                    limit: q.limit,
                    ..Default::default()
                })
                .await?
        }
    };
    Ok(HttpResponse::Ok().json(page))
}

/// Read an advertiser.
#[utoipa::path(get, path = "/v1/advertisers/{id}", tag = "advertisers",
    params(("id" = String, Path)),
    responses((status = 200, body = Advertiser), (status = 404, body = ErrorBody)))]
pub async fn get_advertiser(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "advertiser", AdvertiserId::parse)?;
    if !caller.0.can_read(id) {
        return Err(ApiError::not_found("advertiser"));
    }
    let a: Advertiser = state.store.get(&id.to_string()).await?;
    Ok(HttpResponse::Ok().json(a))
}

/// Change an advertiser's declared `domains` (admins, or the advertiser's own key). Send the
/// `version` you read; a stale one answers 409 and changes nothing.
#[utoipa::path(patch, path = "/v1/advertisers/{id}", tag = "advertisers",
    params(("id" = String, Path)),
    request_body = AdvertiserPatch,
    responses((status = 200, body = Advertiser), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn patch_advertiser(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.writer()?;
    let patch: AdvertiserPatch = body.parse()?;
    let id = path_id(&id, "advertiser", AdvertiserId::parse)?;
    if !caller.0.can_write(id) {
        return Err(ApiError::not_found("advertiser"));
    }
    let a = state
        .store
        .update_advertiser(&caller.actor(), id, patch.version, |cur| {
            Ok(patch.apply(cur)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(a))
}

async fn issue_key(
    state: &AppState,
    caller: &Caller,
    role: Role,
    advertiser_id: Option<AdvertiserId>,
    label: Option<String>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    req: &HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if expires_at.is_some_and(|t| t <= chrono::Utc::now()) {
        return Err(ValidationError::new("expires_at", "must be in the future").into());
    }
    // A key's secret is shown once and never stored, so a retry cannot be answered with the
    // first response; refusing is safer than minting a second key.
    if req.headers().contains_key("idempotency-key") {
        return Err(ApiError::new(
            ErrorCode::IdempotencyUnsupported,
            Some("Idempotency-Key".into()),
            "API keys are shown only once, so their creation cannot be replayed; omit the header",
        ));
    }
    let label = match label {
        Some(l) => endcap_core::validate_label(&l, "label")?,
        None => String::new(),
    };
    let secret = ApiKeySecret::generate().map_err(|e| ApiError::internal(&e))?;
    let key = state
        .store
        .create_api_key(
            &caller.actor(),
            role,
            advertiser_id,
            &secret,
            &label,
            expires_at,
        )
        .await?;
    Ok(HttpResponse::Created().json(ApiKeyCreated {
        id: key.id,
        key: secret.expose().to_string(),
        role: key.role,
        advertiser_id: key.advertiser_id,
        label: key.label,
        expires_at: key.expires_at,
    }))
}

/// Create an advertiser's API key (admin, or the advertiser itself to rotate keys).
#[utoipa::path(post, path = "/v1/advertisers/{id}/api-keys", tag = "advertisers",
    params(("id" = String, Path)), request_body = ApiKeyInput,
    responses((status = 403, body = ErrorBody), (status = 201, body = ApiKeyCreated), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_advertiser_key(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.writer()?;
    let input: ApiKeyInput = body.parse()?;
    let id = path_id(&id, "advertiser", AdvertiserId::parse)?;
    if !caller.0.can_write(id) {
        return Err(ApiError::not_found("advertiser"));
    }
    let role = input.role.unwrap_or(Role::Advertiser);
    if role != Role::Advertiser {
        return Err(ValidationError::new(
            "role",
            "keys under an advertiser have role advertiser; create admin and finance keys at /v1/api-keys",
        )
        .into());
    }
    issue_key(
        &state,
        &caller,
        role,
        Some(id),
        input.label,
        input.expires_at,
        &req,
    )
    .await
}

/// Create an admin or finance API key (admin).
#[utoipa::path(post, path = "/v1/api-keys", tag = "advertisers", request_body = StaffKeyInput,
    responses((status = 201, body = ApiKeyCreated), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_staff_key(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.admin()?;
    let input: StaffKeyInput = body.parse()?;
    let role = match input.role {
        StaffRole::Admin => Role::Admin,
        StaffRole::Finance => Role::Finance,
    };
    issue_key(
        &state,
        &caller,
        role,
        None,
        input.label,
        input.expires_at,
        &req,
    )
    .await
}

/// List API keys, newest first: their records and first characters, never the keys (admins
/// see every key, an advertiser its own).
#[utoipa::path(get, path = "/v1/api-keys", tag = "advertisers",
    responses((status = 200, body = Vec<endcap_store::ApiKey>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list_keys(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let scope = match caller.0.role {
        Role::Admin => None,
        Role::Advertiser => Some(caller.0.advertiser_id.ok_or_else(ApiError::unauthorized)?),
        Role::Finance => return Err(ApiError::forbidden("finance keys do not manage keys")),
    };
    Ok(HttpResponse::Ok().json(state.store.list_api_keys(scope).await?))
}

/// Revoke an API key: it answers 401 from the next request on (admins: any key; an
/// advertiser: its own). Audited.
#[utoipa::path(post, path = "/v1/api-keys/{id}/revoke", tag = "advertisers",
    params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn revoke_key(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let scope = match caller.0.role {
        Role::Admin => None,
        Role::Advertiser => Some(caller.0.advertiser_id.ok_or_else(ApiError::unauthorized)?),
        Role::Finance => return Err(ApiError::forbidden("finance keys do not manage keys")),
    };
    let id = path_id(&id, "api_key", endcap_core::ApiKeyId::parse)?;
    if state
        .store
        .revoke_api_key(&caller.actor(), id, scope)
        .await?
    {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found("api_key"))
    }
}
