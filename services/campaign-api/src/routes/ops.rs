//! Health, readiness, metrics, the OpenAPI document and the audit log.

use crate::AppState;
use actix_web::{web, HttpResponse};
use endcap_core::{AdvertiserId, Role};
use endcap_store::{AuditEntry, Page};
use endcap_web::{ApiError, Caller, ErrorBody, ErrorCode, PageQuery};
use serde::Deserialize;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()), responses((status = 200)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the campaign store answers.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()),
    responses((status = 200), (status = 503, body = ErrorBody)))]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match state.store.ping().await {
        Ok(()) => Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(error = %e, "campaign store not ready");
            Err(ApiError::new(
                ErrorCode::NotReady,
                None,
                "the campaign store does not answer",
            ))
        }
    }
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(()), responses((status = 200, content_type = "text/plain")))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render() + &state.sink.metrics().render())
}

/// This API's OpenAPI 3 document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", security(()), responses((status = 200)))]
pub async fn openapi_json() -> Result<HttpResponse, ApiError> {
    let doc = crate::openapi::document_json().map_err(|e| ApiError::internal(&e))?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(doc))
}

/// Filters of `GET /v1/audit-log`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// Only entries about this object.
    #[param(nullable = false)]
    pub object_id: Option<String>,
    /// Only entries of this advertiser.
    #[param(nullable = false, value_type = Option<String>, format = Uuid)]
    pub advertiser_id: Option<AdvertiserId>,
}

/// The audit log's page: up to 500 entries, 100 by default.
pub type AuditQuery = PageQuery<AuditFilter, 500, 100>;

/// Who changed what and when (admin and finance: everything; advertisers: their own objects).
#[utoipa::path(get, path = "/v1/audit-log", tag = "operations", params(AuditQuery),
    responses((status = 200, body = Page<AuditEntry>), (status = 400, body = ErrorBody)))]
pub async fn audit_log(
    state: web::Data<AppState>,
    caller: Caller,
    q: AuditQuery,
) -> Result<HttpResponse, ApiError> {
    let advertiser = match caller.0.role {
        Role::Advertiser => caller.listing_scope(q.filter.advertiser_id)?,
        Role::Admin | Role::Finance => q.filter.advertiser_id,
    };
    let page = state
        .store
        .audit_log(
            q.filter.object_id.as_deref(),
            advertiser,
            q.after.as_deref(),
            q.limit,
        )
        .await?;
    Ok(HttpResponse::Ok().json(page))
}
