//! API key authentication shared by the services: the [`Caller`] extractor and the role
//! checks every handler uses.

use crate::ApiError;
use actix_web::{dev::Payload, http::header::AUTHORIZATION, web, FromRequest, HttpRequest};
use endcap_core::{AdvertiserId, Principal, Role};
use endcap_store::CampaignStore;
use futures_util::future::LocalBoxFuture;

/// The key of an `Authorization: Bearer <key>` header, if present and non-empty.
pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.strip_prefix("Bearer "))
        .map(|s| s.trim().to_string())
        .filter(|k| !k.is_empty())
}

/// The authenticated caller, from `Authorization: Bearer <key>` (401 when missing or
/// unknown). Reads the `web::Data<CampaignStore>` the service registers as app data.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl Caller {
    /// Resolves the request's bearer key to its caller; for handlers that authenticate only
    /// on some requests (the ad server's `?debug=1`), so the others never touch the store.
    pub async fn authenticate(req: &HttpRequest) -> Result<Self, ApiError> {
        let store = req
            .app_data::<web::Data<CampaignStore>>()
            .ok_or_else(|| ApiError::internal(&"the campaign store is not app data"))?;
        let key = bearer_token(req).ok_or_else(ApiError::unauthorized)?;
        store
            .authenticate(&key)
            .await?
            .map(Caller)
            .ok_or_else(ApiError::unauthorized)
    }

    /// Refuses read-only keys before any write.
    pub fn writer(&self) -> Result<(), ApiError> {
        match self.0.role {
            Role::Finance => Err(ApiError::forbidden("finance keys are read-only")),
            Role::Admin | Role::Advertiser => Ok(()),
        }
    }

    /// Refuses everyone but admins.
    pub fn admin(&self) -> Result<(), ApiError> {
        if self.0.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden("this needs an admin key"))
        }
    }

    /// The advertiser a listing is restricted to: an advertiser key sees only its own, and
    /// asking for another's answers 404 as if it did not exist.
    pub fn listing_scope(
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
    pub fn actor(&self) -> String {
        self.0.actor()
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Caller::authenticate(&req).await })
    }
}
