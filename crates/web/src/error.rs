//! The one error envelope: `{"error": code, "field": path-or-null, "message": text}`, and
//! the one table from an error code to its HTTP status.

use actix_web::{
    body::{BoxBody, EitherBody, MessageBody},
    dev::ServiceResponse,
    http::{header::HeaderValue, StatusCode},
    middleware::{ErrorHandlerResponse, ErrorHandlers},
    HttpResponse, ResponseError,
};
use endcap_core::ValidationError;
use endcap_store::StoreError;
use serde::{Serialize, Serializer};
use utoipa::openapi::{schema::Type, ObjectBuilder, RefOr, Schema};

/// Declares [`ErrorCode`] from one table: variant, the code clients see, its HTTP status.
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident = $code:literal => $status:ident,)*) => {
        /// A machine-readable error code. Each code has exactly one HTTP status, so a client
        /// can branch on either and they never disagree.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as clients see it (snake_case).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }

            /// The HTTP status every error with this code answers with.
            pub const fn status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$variant => StatusCode::$status,)*
                }
            }
        }
    };
}

error_codes! {
    /// The body is not JSON (syntax, empty, trailing data).
    MalformedJson = "malformed_json" => BAD_REQUEST,
    /// The body could not be read off the connection.
    UnreadableBody = "unreadable_body" => BAD_REQUEST,
    /// A field the type does not have.
    UnknownField = "unknown_field" => BAD_REQUEST,
    /// A required field is absent.
    MissingField = "missing_field" => BAD_REQUEST,
    /// A value of the wrong JSON type or shape (also a malformed cursor).
    InvalidType = "invalid_type" => BAD_REQUEST,
    /// A query or path parameter outside what it accepts (a `limit` out of bounds, a
    /// report's unknown `group_by`).
    InvalidParameter = "invalid_parameter" => BAD_REQUEST,
    /// A malformed request header (`Idempotency-Key`).
    InvalidHeader = "invalid_header" => BAD_REQUEST,
    /// `Idempotency-Key` sent where a request cannot be replayed.
    IdempotencyUnsupported = "idempotency_unsupported" => BAD_REQUEST,
    /// A tracking token that is missing or not a token at all.
    MalformedToken = "malformed_token" => BAD_REQUEST,
    /// An exchange's `${AUCTION_PRICE}` that does not decode.
    InvalidPrice = "invalid_price" => BAD_REQUEST,
    /// An OpenRTB request that breaks the protocol or our limits.
    InvalidBidRequest = "invalid_bid_request" => BAD_REQUEST,
    /// No key, an unknown, revoked or expired key.
    Unauthorized = "unauthorized" => UNAUTHORIZED,
    /// A known caller that may not do this.
    Forbidden = "forbidden" => FORBIDDEN,
    /// A well-formed tracking token that fails its signature, key or expiry.
    InvalidToken = "invalid_token" => FORBIDDEN,
    /// No such object or route (or not one the caller may see).
    NotFound = "not_found" => NOT_FOUND,
    /// The path exists, the method does not (the `Allow` header lists those that do).
    MethodNotAllowed = "method_not_allowed" => METHOD_NOT_ALLOWED,
    /// A stale `version`: read the object again.
    VersionConflict = "version_conflict" => CONFLICT,
    /// A model reload on an ad server without a model directory.
    NoModelDir = "no_model_dir" => CONFLICT,
    /// A body over the endpoint's size limit.
    BodyTooLarge = "body_too_large" => PAYLOAD_TOO_LARGE,
    /// A body in a content type the endpoint does not read.
    UnsupportedMediaType = "unsupported_media_type" => UNSUPPORTED_MEDIA_TYPE,
    /// Well-formed, but a value breaks a rule.
    InvalidField = "invalid_field" => UNPROCESSABLE_ENTITY,
    /// An `Idempotency-Key` reused for a different request.
    IdempotencyKeyReused = "idempotency_key_reused" => UNPROCESSABLE_ENTITY,
    /// A model artifact the ad server refused (the one in use keeps serving).
    ModelRefused = "model_refused" => UNPROCESSABLE_ENTITY,
    /// Something broke on our side.
    Internal = "internal" => INTERNAL_SERVER_ERROR,
    /// The campaign store does not answer (readiness).
    NotReady = "not_ready" => SERVICE_UNAVAILABLE,
    /// A backend the request needs is down; nothing was done.
    Unavailable = "unavailable" => SERVICE_UNAVAILABLE,
    /// Finance reports cannot be read now (or need ClickHouse).
    ReportsUnavailable = "reports_unavailable" => SERVICE_UNAVAILABLE,
    /// The event log could not store an upload; nothing was recorded.
    EventLogUnavailable = "event_log_unavailable" => SERVICE_UNAVAILABLE,
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl utoipa::PartialSchema for ErrorCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "Machine-readable error code; each has one HTTP status.",
            ))
            .enum_values(Some(ErrorCode::ALL.iter().map(|c| c.as_str())))
            .into()
    }
}

impl utoipa::ToSchema for ErrorCode {}

/// The error envelope every endpoint answers with.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Machine-readable code (`invalid_field`, `unknown_field`, `version_conflict`, ...).
    pub error: ErrorCode,
    /// JSON path of the offending field, if one is to blame.
    pub field: Option<String>,
    /// What happened.
    pub message: String,
}

/// An error answered to an HTTP client; internal details are logged, never sent.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// Machine-readable code; it decides the HTTP status.
    pub code: ErrorCode,
    /// JSON path of the offending field, when one is to blame.
    pub field: Option<String>,
    /// What happened, for a human.
    pub message: String,
}

impl ApiError {
    /// An error with its code (and so its status), the field to blame and a message.
    pub fn new(code: ErrorCode, field: Option<String>, message: impl Into<String>) -> Self {
        Self {
            code,
            field,
            message: message.into(),
        }
    }

    /// 422: well-formed, but a value breaks a rule.
    pub fn invalid(e: ValidationError) -> Self {
        Self::new(ErrorCode::InvalidField, Some(e.field), e.message)
    }

    /// 401: no or unknown credentials.
    pub fn unauthorized() -> Self {
        Self::new(
            ErrorCode::Unauthorized,
            None,
            "send a valid API key as `Authorization: Bearer <key>`",
        )
    }

    /// 403: known caller, not allowed.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, None, message)
    }

    /// 404: no such object (or not one the caller may see).
    pub fn not_found(kind: &str) -> Self {
        Self::new(ErrorCode::NotFound, None, format!("{kind} not found"))
    }

    /// 500: something broke on our side; `detail` is logged, the client sees a fixed text.
    pub fn internal(detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(ErrorCode::Internal, None, "internal error")
    }

    /// The HTTP status (the code's).
    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// The envelope sent to the client.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.code,
            field: self.field.clone(),
            message: self.message.clone(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status()).json(self.body())
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
                ErrorCode::VersionConflict,
                Some("version".into()),
                format!("you sent version {sent} but the object is at version {current}; read it again and retry"),
            ),
            StoreError::IdempotencyMismatch => Self::new(
                ErrorCode::IdempotencyKeyReused,
                Some("Idempotency-Key".into()),
                "this Idempotency-Key was already used for a different request",
            ),
            other => Self::internal(&other),
        }
    }
}

/// The default service of both services: no route has this path.
pub async fn no_such_route() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("route"))
}

/// Middleware that gives the router's own 405 (a path served for other methods; its `Allow`
/// header lists them) our JSON envelope, so every error a client sees has the same shape.
pub fn error_envelope<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().handler(StatusCode::METHOD_NOT_ALLOWED, method_not_allowed)
}

fn method_not_allowed<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let allow = res
        .headers()
        .get(actix_web::http::header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let err = ApiError::new(
        ErrorCode::MethodNotAllowed,
        None,
        format!("this path answers {allow}"),
    );
    let (req, res) = res.into_parts();
    let mut out = err.error_response();
    for (name, value) in res.headers() {
        if name != actix_web::http::header::CONTENT_TYPE
            && name != actix_web::http::header::CONTENT_LENGTH
        {
            out.headers_mut().append(name.clone(), value.clone());
        }
    }
    if allow.is_empty() {
        // RFC 9110 wants an Allow header on every 405, even an empty one.
        out.headers_mut()
            .insert(actix_web::http::header::ALLOW, HeaderValue::from_static(""));
    }
    let out: HttpResponse<EitherBody<B, BoxBody>> = out.map_into_right_body();
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(
        req, out,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_code_maps_to_its_status() {
        use ErrorCode::*;
        let expected: &[(ErrorCode, u16)] = &[
            (MalformedJson, 400),
            (UnreadableBody, 400),
            (UnknownField, 400),
            (MissingField, 400),
            (InvalidType, 400),
            (InvalidParameter, 400),
            (InvalidHeader, 400),
            (IdempotencyUnsupported, 400),
            (MalformedToken, 400),
            (InvalidPrice, 400),
            (InvalidBidRequest, 400),
            (Unauthorized, 401),
            (Forbidden, 403),
            (InvalidToken, 403),
            (NotFound, 404),
            (MethodNotAllowed, 405),
            (VersionConflict, 409),
            (NoModelDir, 409),
            (BodyTooLarge, 413),
            (UnsupportedMediaType, 415),
            (InvalidField, 422),
            (IdempotencyKeyReused, 422),
            (ModelRefused, 422),
            (Internal, 500),
            (NotReady, 503),
            (Unavailable, 503),
            (ReportsUnavailable, 503),
            (EventLogUnavailable, 503),
        ];
        assert_eq!(
            expected.len(),
            ErrorCode::ALL.len(),
            "every code is listed here"
        );
        for (code, status) in expected {
            assert_eq!(code.status().as_u16(), *status, "{code}");
            assert_eq!(ApiError::new(*code, None, "x").status().as_u16(), *status);
        }
    }

    #[test]
    fn codes_are_unique_snake_case_and_serialize_as_shown() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{s}"
            );
            assert_eq!(serde_json::to_value(code).unwrap(), s);
        }
    }

    #[test]
    fn the_envelope_keeps_its_wire_format() {
        let e = ApiError::new(
            ErrorCode::InvalidField,
            Some("name".into()),
            "must not be empty",
        );
        let body = serde_json::to_value(e.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": "invalid_field", "field": "name", "message": "must not be empty"})
        );
        let e = ApiError::unauthorized();
        assert_eq!(
            serde_json::to_value(e.body()).unwrap()["field"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn the_documented_code_schema_lists_every_code() {
        let schema = serde_json::to_value(<ErrorCode as utoipa::PartialSchema>::schema()).unwrap();
        let listed: Vec<&str> = schema["enum"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        let all: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, all);
    }
}
