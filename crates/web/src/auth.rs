//! API key authentication shared by the services.

use crate::ApiError;
use actix_web::{http::header::AUTHORIZATION, HttpRequest};
use endcap_core::Principal;
use endcap_store::CampaignStore;

/// The key of an `Authorization: Bearer <key>` header, if present and non-empty.
pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.strip_prefix("Bearer "))
        .map(|s| s.trim().to_string())
        .filter(|k| !k.is_empty())
}

/// Resolves the request's bearer key to its principal; 401 when missing or unknown.
pub async fn authenticate(store: &CampaignStore, req: &HttpRequest) -> Result<Principal, ApiError> {
    let key = bearer_token(req).ok_or_else(ApiError::unauthorized)?;
    store
        .authenticate(&key)
        .await?
        .ok_or_else(ApiError::unauthorized)
}
