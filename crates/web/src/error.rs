//! The one error envelope: `{"error": code, "field": path-or-null, "message": text}`.

use actix_web::{http::StatusCode, HttpResponse, ResponseError};
use endcap_core::ValidationError;
use endcap_store::StoreError;
use serde::Serialize;

/// An error answered to an HTTP client; internal details are logged, never sent.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    status: StatusCode,
    /// Machine-readable code, e.g. `invalid_field`, `version_conflict`.
    pub code: &'static str,
    /// JSON path of the offending field, when one is to blame.
    pub field: Option<String>,
    /// What happened, for a human.
    pub message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    field: Option<&'a str>,
    message: &'a str,
}

impl ApiError {
    /// An error with an explicit status and code.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        field: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            field,
            message: message.into(),
        }
    }

    /// 400: the request itself is malformed (syntax, types, unknown fields).
    pub fn bad_request(
        code: &'static str,
        field: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, field, message)
    }

    /// 422: well-formed, but a value breaks a rule.
    pub fn invalid(e: ValidationError) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some(e.field),
            e.message,
        )
    }

    /// 401: no or unknown credentials.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            None,
            "send a valid API key as `Authorization: Bearer <key>`",
        )
    }

    /// 403: known caller, not allowed.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", None, message)
    }

    /// 404: no such object (or not one the caller may see).
    pub fn not_found(kind: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            None,
            format!("{kind} not found"),
        )
    }

    /// 500: something broke on our side; `detail` is logged, the client sees a fixed text.
    pub fn internal(detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            None,
            "internal error",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(Body {
            error: self.code,
            field: self.field.as_deref(),
            message: &self.message,
        })
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        Self::invalid(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(kind) => Self::not_found(kind),
            StoreError::Invalid(v) => Self::invalid(v),
            StoreError::Conflict { sent, current } => Self::new(
                StatusCode::CONFLICT,
                "version_conflict",
                Some("version".into()),
                format!("you sent version {sent} but the object is at version {current}; read it again and retry"),
            ),
            StoreError::IdempotencyMismatch => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                Some("Idempotency-Key".into()),
                "this Idempotency-Key was already used for a different request",
            ),
            other => Self::internal(&other),
        }
    }
}
