//! Extractors whose rejections use our envelope and name the offending field.

use crate::ApiError;
use actix_web::{
    dev::Payload,
    http::{header::CONTENT_TYPE, StatusCode},
    web::{Bytes, BytesMut},
    FromRequest, HttpRequest,
};
use futures_util::{future::LocalBoxFuture, StreamExt};
use serde::de::DeserializeOwned;

/// Largest JSON body accepted (campaign objects are small; uploads use their own endpoints).
pub const MAX_JSON_BYTES: usize = 1024 * 1024;

/// A request body read whole (bounded), to be parsed as JSON once the caller is
/// authenticated, so a bad key answers 401 before a bad body answers 400. The raw bytes
/// are kept for idempotency hashing.
#[derive(Debug)]
pub struct JsonBody {
    /// The body as received.
    pub raw: Bytes,
    content_type_ok: bool,
}

impl JsonBody {
    /// Parses the body into `T`, answering 415 for a non-JSON content type and 400 naming
    /// the field for anything malformed.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        if !self.content_type_ok {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                None,
                "send the body as Content-Type: application/json",
            ));
        }
        parse_json(&self.raw)
    }
}

fn json_content_type(req: &HttpRequest) -> bool {
    match req.headers().get(CONTENT_TYPE) {
        None => true,
        Some(v) => v.to_str().is_ok_and(|s| {
            let mime = s
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            mime == "application/json" || mime.ends_with("+json")
        }),
    }
}

impl FromRequest for JsonBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type_ok = json_content_type(req);
        let mut payload = payload.take();
        Box::pin(async move {
            let mut buf = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| {
                    ApiError::bad_request(
                        "unreadable_body",
                        None,
                        format!("could not read the body: {e}"),
                    )
                })?;
                if buf.len() + chunk.len() > MAX_JSON_BYTES {
                    return Err(ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "body_too_large",
                        None,
                        format!("the body must be at most {MAX_JSON_BYTES} bytes"),
                    ));
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(Self {
                raw: buf.freeze(),
                content_type_ok,
            })
        })
    }
}

/// Joins serde_path_to_error's path with the field a message names (`unknown field `x``),
/// so the client always learns the full path of the culprit.
fn field_path(path: &serde_path_to_error::Path, message: &str) -> Option<String> {
    let base = path.to_string();
    let base = if base == "." { String::new() } else { base };
    let named = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|p| message.split_once(p))
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(name, _)| name.to_string());
    match (base.is_empty(), named) {
        (true, None) => None,
        (true, Some(n)) => Some(n),
        (false, None) => Some(base),
        // An unknown key is reported with the key itself already on the path.
        (false, Some(n)) if base.ends_with(&n) => Some(base),
        (false, Some(n)) => Some(format!("{base}.{n}")),
    }
}

fn data_error_code(message: &str) -> &'static str {
    if message.starts_with("unknown field") {
        "unknown_field"
    } else if message.starts_with("missing field") {
        "missing_field"
    } else {
        "invalid_type"
    }
}

/// Parses a JSON document into `T`, mapping every failure to a 400 naming the field.
pub fn parse_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "malformed_json",
            None,
            "the body is empty; send a JSON object",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(raw);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let inner = e.inner();
        let message = inner.to_string();
        match inner.classify() {
            serde_json::error::Category::Data => ApiError::bad_request(
                data_error_code(&message),
                field_path(e.path(), &message),
                message,
            ),
            _ => ApiError::bad_request(
                "malformed_json",
                None,
                format!("the body is not valid JSON: {message}"),
            ),
        }
    })?;
    de.end().map_err(|e| {
        ApiError::bad_request(
            "malformed_json",
            None,
            format!("trailing data after the JSON value: {e}"),
        )
    })?;
    Ok(value)
}

/// A query string parsed into `T`, mapping failures to a 400 naming the parameter.
#[derive(Debug)]
pub struct ValidQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequest for ValidQuery<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let parsed = form_urlencoded::parse(req.query_string().as_bytes());
        let de = serde_urlencoded::Deserializer::new(parsed);
        std::future::ready(
            serde_path_to_error::deserialize(de)
                .map(ValidQuery)
                .map_err(|e| {
                    let message = e.inner().to_string();
                    ApiError::bad_request(
                        data_error_code(&message),
                        field_path(e.path(), &message),
                        format!("bad query string: {message}"),
                    )
                }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        daily_micros: i64,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        budget: Inner,
    }

    fn err(body: &str) -> ApiError {
        parse_json::<Outer>(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn a_wrong_type_names_the_nested_field() {
        let e = err(r#"{"name":"x","budget":{"daily_micros":"lots"}}"#);
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("invalid_type", Some("budget.daily_micros"))
        );
    }

    #[test]
    fn an_unknown_field_is_named_with_its_path() {
        let e = err(r#"{"name":"x","budget":{"daily_micros":1,"hourly":2}}"#);
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("unknown_field", Some("budget.hourly"))
        );
        let e = err(r#"{"name":"x","color":"red","budget":{"daily_micros":1}}"#);
        assert_eq!(e.field.as_deref(), Some("color"));
    }

    #[test]
    fn a_missing_field_is_named() {
        let e = err(r#"{"budget":{"daily_micros":1}}"#);
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("missing_field", Some("name"))
        );
        let e = err(r#"{"name":"x","budget":{}}"#);
        assert_eq!(e.field.as_deref(), Some("budget.daily_micros"));
    }

    #[test]
    fn syntax_errors_and_empty_bodies_are_malformed_json() {
        assert_eq!(err(r#"{"name": "#).code, "malformed_json");
        assert_eq!(err("").code, "malformed_json");
        assert_eq!(
            err(r#"{"name":"x","budget":{"daily_micros":1}} trailing"#).code,
            "malformed_json"
        );
    }
}
