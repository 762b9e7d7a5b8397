//! Extractors whose rejections use our envelope and name the offending field.

use crate::{ApiError, ErrorCode};
use actix_web::{
    dev::Payload,
    http::header::CONTENT_TYPE,
    web::{Bytes, BytesMut},
    FromRequest, HttpRequest,
};
use futures_util::{future::LocalBoxFuture, StreamExt};
use serde::{de::DeserializeOwned, Deserialize};
use utoipa::openapi::{
    path::{Parameter, ParameterBuilder, ParameterIn},
    schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type},
    Required,
};

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
        self.json_content_type()?;
        parse_json(&self.raw)
    }

    /// Like [`JsonBody::parse`], but fields `T` does not know are skipped and their JSON
    /// paths returned instead of refused (for request types that must stay forgiving as
    /// callers add fields, such as the decision API). Malformed known fields still fail.
    pub fn parse_lenient<T: DeserializeOwned>(&self) -> Result<(T, Vec<String>), ApiError> {
        self.json_content_type()?;
        let mut ignored = Vec::new();
        let value = match parse_with(&self.raw, Some(&mut ignored)) {
            Err(e) if e.code == ErrorCode::InvalidType => {
                match integral_numbers_as_integers(&self.raw) {
                    Some(rewritten) => {
                        ignored.clear();
                        parse_with(&rewritten, Some(&mut ignored))
                    }
                    None => Err(e),
                }
            }
            other => other,
        }?;
        Ok((value, ignored))
    }

    fn json_content_type(&self) -> Result<(), ApiError> {
        if self.content_type_ok {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                None,
                "send the body as Content-Type: application/json",
            ))
        }
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
                    ApiError::new(
                        ErrorCode::UnreadableBody,
                        None,
                        format!("could not read the body: {e}"),
                    )
                })?;
                if buf.len() + chunk.len() > MAX_JSON_BYTES {
                    return Err(ApiError::new(
                        ErrorCode::BodyTooLarge,
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

fn data_error_code(message: &str) -> ErrorCode {
    if message.starts_with("unknown field") {
        ErrorCode::UnknownField
    } else if message.starts_with("missing field") {
        ErrorCode::MissingField
    } else {
        ErrorCode::InvalidType
    }
}

/// Parses a JSON document into `T`, mapping every failure to a 400 naming the field.
///
/// JSON Schema, and so the API document, counts `143407.0` and `1.4e5` as integers: when a
/// value has the wrong type, the body is read again with every number that has no
/// fractional value written as plain integer digits (decided on the text, never through an
/// `f64`, so `1.0000000000000001` stays a fraction). Bodies that parse the first time pay
/// nothing for this.
pub fn parse_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    match parse_exact(raw) {
        Err(e) if e.code == ErrorCode::InvalidType => match integral_numbers_as_integers(raw) {
            Some(rewritten) => parse_exact(&rewritten),
            None => Err(e),
        },
        other => other,
    }
}

fn parse_exact<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    parse_with(raw, None)
}

/// Parses `raw`; with `ignored`, unknown fields are skipped and their paths collected.
fn parse_with<T: DeserializeOwned>(
    raw: &[u8],
    ignored: Option<&mut Vec<String>>,
) -> Result<T, ApiError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            ErrorCode::MalformedJson,
            None,
            "the body is empty; send a JSON object",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(raw);
    let parsed = match ignored {
        None => serde_path_to_error::deserialize(&mut *de),
        Some(list) => {
            let mut note = |path: serde_ignored::Path<'_>| list.push(path.to_string());
            serde_path_to_error::deserialize(serde_ignored::Deserializer::new(&mut *de, &mut note))
        }
    };
    let value = parsed.map_err(|e| {
        let inner = e.inner();
        let message = inner.to_string();
        match inner.classify() {
            serde_json::error::Category::Data => ApiError::new(
                data_error_code(&message),
                field_path(e.path(), &message),
                message,
            ),
            _ => ApiError::new(
                ErrorCode::MalformedJson,
                None,
                format!("the body is not valid JSON: {message}"),
            ),
        }
    })?;
    de.end().map_err(|e| {
        ApiError::new(
            ErrorCode::MalformedJson,
            None,
            format!("trailing data after the JSON value: {e}"),
        )
    })?;
    Ok(value)
}

/// The JSON text with every number token whose value is a whole number rewritten as integer
/// digits (`143407.0` -> `143407`, `1.5e3` -> `1500`); `None` when there is none. Strings
/// are copied untouched. The text is valid JSON (it parsed, with a type error).
fn integral_numbers_as_integers(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut changed = false;
    let mut in_string = false;
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if in_string {
            out.push(b);
            match b {
                b'\\' => {
                    if let Some(&next) = raw.get(i + 1) {
                        out.push(next);
                        i += 1;
                    }
                }
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
        } else if b == b'-' || b.is_ascii_digit() {
            let end = raw[i..]
                .iter()
                .position(|c| !matches!(c, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-'))
                .map_or(raw.len(), |n| i + n);
            match whole_number(&raw[i..end]) {
                Some(digits) => {
                    out.extend_from_slice(digits.as_bytes());
                    changed = true;
                }
                None => out.extend_from_slice(&raw[i..end]),
            }
            i = end;
        } else {
            in_string = b == b'"';
            out.push(b);
            i += 1;
        }
    }
    changed.then_some(out)
}

/// A JSON number token with a fraction or an exponent whose value is whole, as integer
/// digits; `None` for plain integers, true fractions and magnitudes no integer field holds.
fn whole_number(token: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(token).ok()?;
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(k) => (&s[..k], s[k + 1..].parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if frac.is_empty() && exp == 0 {
        return None;
    }
    let digits = format!("{int}{frac}");
    // Where the decimal point falls in `digits`; past 40 places no integer field can hold
    // the value, so the parser is left to refuse it.
    let point = i64::from(exp) + int.len() as i64;
    if point > 40 {
        return None;
    }
    let point = usize::try_from(point).unwrap_or(0);
    let (whole, rest) = if point >= digits.len() {
        (format!("{digits}{}", "0".repeat(point - digits.len())), "")
    } else {
        (digits[..point].to_string(), &digits[point..])
    };
    if !rest.bytes().all(|c| c == b'0') {
        return None;
    }
    let whole = whole.trim_start_matches('0');
    Some(match (whole.is_empty(), negative) {
        (true, _) => "0".to_string(),
        (false, true) => format!("-{whole}"),
        (false, false) => whole.to_string(),
    })
}

/// A query string parsed into `T`, mapping failures to a 400 naming the parameter.
#[derive(Debug)]
pub struct ValidQuery<T>(pub T);

/// Parses a query string into `T`, mapping failures to a 400 naming the parameter.
fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let parsed = form_urlencoded::parse(query.as_bytes());
    let de = serde_urlencoded::Deserializer::new(parsed);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let message = e.inner().to_string();
        ApiError::new(
            data_error_code(&message),
            field_path(e.path(), &message),
            format!("bad query string: {message}"),
        )
    })
}

impl<T: DeserializeOwned> FromRequest for ValidQuery<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(parse_query(req.query_string()).map(ValidQuery))
    }
}

/// A listing without filters: only the page parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NoFilter {}

/// The query of every listing: its filter `F` and the page, `cursor` (the `next_cursor` of
/// the previous page) and `limit` (1 to `MAX`, `DEFAULT` when absent), parsed from one query
/// string and documented with their bounds. An out-of-bounds `limit` or a cursor this API did
/// not hand out answers 400 naming the parameter.
#[derive(Debug)]
pub struct PageQuery<F = NoFilter, const MAX: u32 = 200, const DEFAULT: u32 = 50> {
    /// The listing's own filters.
    pub filter: F,
    /// The id to list after (a checked cursor).
    pub after: Option<String>,
    /// The page size, within bounds.
    pub limit: u32,
}

impl<F: DeserializeOwned, const MAX: u32, const DEFAULT: u32> PageQuery<F, MAX, DEFAULT> {
    /// Parses a query string: the page parameters here, the rest into `F`.
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        let mut cursor = None;
        let mut limit = None;
        let mut rest = form_urlencoded::Serializer::new(String::new());
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let slot = match k.as_ref() {
                "cursor" => &mut cursor,
                "limit" => &mut limit,
                _ => {
                    rest.append_pair(&k, &v);
                    continue;
                }
            };
            if slot.replace(v.into_owned()).is_some() {
                return Err(ApiError::new(
                    ErrorCode::InvalidParameter,
                    Some(k.into_owned()),
                    "given more than once",
                ));
            }
        }
        let filter = parse_query(&rest.finish())?;
        let limit = match limit {
            None => DEFAULT,
            Some(raw) => {
                let bounds = format!("must be an integer from 1 to {MAX}");
                let n: u32 = raw.parse().map_err(|_| {
                    ApiError::new(ErrorCode::InvalidType, Some("limit".into()), bounds.clone())
                })?;
                if !(1..=MAX).contains(&n) {
                    return Err(ApiError::new(
                        ErrorCode::InvalidParameter,
                        Some("limit".into()),
                        bounds,
                    ));
                }
                n
            }
        };
        Ok(Self {
            filter,
            after: cursor.map(check_cursor).transpose()?,
            limit,
        })
    }
}

/// A cursor is the id of the last object of a page (a UUID); anything else is refused
/// before it reaches SQL.
fn check_cursor(raw: String) -> Result<String, ApiError> {
    match uuid::Uuid::try_parse(&raw) {
        Ok(id) => Ok(id.to_string()),
        Err(_) => Err(ApiError::new(
            ErrorCode::InvalidType,
            Some("cursor".into()),
            "not a cursor returned by this API",
        )),
    }
}

impl<F: DeserializeOwned, const MAX: u32, const DEFAULT: u32> FromRequest
    for PageQuery<F, MAX, DEFAULT>
{
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Self::parse(req.query_string()))
    }
}

impl<F: utoipa::IntoParams, const MAX: u32, const DEFAULT: u32> utoipa::IntoParams
    for PageQuery<F, MAX, DEFAULT>
{
    fn into_params(parameter_in_provider: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut params = F::into_params(&parameter_in_provider);
        params.push(
            ParameterBuilder::new()
                .name("cursor")
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some("`next_cursor` of the previous page"))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))),
                ))
                .build(),
        );
        params.push(
            ParameterBuilder::new()
                .name("limit")
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(format!("Page size, 1 to {MAX} (default {DEFAULT})")))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
                        .minimum(Some(1))
                        .maximum(Some(MAX))
                        .default(Some(DEFAULT.into())),
                ))
                .build(),
        );
        params
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
            (ErrorCode::InvalidType, Some("budget.daily_micros"))
        );
    }

    #[test]
    fn an_unknown_field_is_named_with_its_path() {
        let e = err(r#"{"name":"x","budget":{"daily_micros":1,"hourly":2}}"#);
        assert_eq!(
            (e.code, e.field.as_deref()),
            (ErrorCode::UnknownField, Some("budget.hourly"))
        );
        let e = err(r#"{"name":"x","color":"red","budget":{"daily_micros":1}}"#);
        assert_eq!(e.field.as_deref(), Some("color"));
    }

    #[test]
    fn a_missing_field_is_named() {
        let e = err(r#"{"budget":{"daily_micros":1}}"#);
        assert_eq!(
            (e.code, e.field.as_deref()),
            (ErrorCode::MissingField, Some("name"))
        );
        let e = err(r#"{"name":"x","budget":{}}"#);
        assert_eq!(e.field.as_deref(), Some("budget.daily_micros"));
    }

    #[test]
    fn integral_floats_are_integers_as_json_schema_counts_them() {
        let ok = |body: &str| {
            parse_json::<Outer>(body.as_bytes())
                .unwrap()
                .budget
                .daily_micros
        };
        assert_eq!(
            ok(r#"{"name":"x","budget":{"daily_micros":143407.0}}"#),
            143407
        );
        assert_eq!(ok(r#"{"name":"x","budget":{"daily_micros":1.5e3}}"#), 1500);
        assert_eq!(ok(r#"{"name":"x","budget":{"daily_micros":-2.00E0}}"#), -2);
        assert_eq!(ok(r#"{"name":"x","budget":{"daily_micros":-0.0}}"#), 0);
        assert_eq!(
            ok(r#"{"name":"1.0 \"2.0\"","budget":{"daily_micros":7.0}}"#),
            7
        );
        for fraction in [
            "1.5",
            "1.0000000000000001",
            "4503599627370495.9",
            "1e-3",
            "1e41",
        ] {
            let e = err(&format!(
                r#"{{"name":"x","budget":{{"daily_micros":{fraction}}}}}"#
            ));
            assert_eq!(
                (e.code, e.field.as_deref()),
                (ErrorCode::InvalidType, Some("budget.daily_micros")),
                "{fraction}"
            );
        }
        // A string stays a string, and a second mistake is still named.
        let e = err(r#"{"name":2.0,"budget":{"daily_micros":1.0}}"#);
        assert_eq!(e.field.as_deref(), Some("name"));
    }

    #[test]
    fn whole_numbers_are_read_from_the_text() {
        assert_eq!(whole_number(b"10.00").as_deref(), Some("10"));
        assert_eq!(whole_number(b"12e2").as_deref(), Some("1200"));
        assert_eq!(whole_number(b"0.5e1").as_deref(), Some("5"));
        assert_eq!(whole_number(b"12"), None);
        assert_eq!(whole_number(b"0.1"), None);
        assert_eq!(whole_number(b"1e41"), None);
    }

    #[test]
    fn syntax_errors_and_empty_bodies_are_malformed_json() {
        assert_eq!(err(r#"{"name": "#).code, ErrorCode::MalformedJson);
        assert_eq!(err("").code, ErrorCode::MalformedJson);
        assert_eq!(
            err(r#"{"name":"x","budget":{"daily_micros":1}} trailing"#).code,
            ErrorCode::MalformedJson
        );
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Filter {
        status: Option<String>,
    }

    type Listing = PageQuery<Filter, 200, 50>;

    fn page_err(q: &str) -> (ErrorCode, Option<String>) {
        let e = Listing::parse(q).unwrap_err();
        (e.code, e.field)
    }

    #[test]
    fn a_page_query_takes_its_defaults_and_its_filter() {
        let q = Listing::parse("status=active").unwrap();
        assert_eq!((q.after, q.limit), (None, 50));
        assert_eq!(q.filter.status.as_deref(), Some("active"));
        let q = Listing::parse("limit=200&cursor=0190a8f2-7d8b-7c3e-9f00-000000000001").unwrap();
        assert_eq!(q.limit, 200);
        assert_eq!(
            q.after.as_deref(),
            Some("0190a8f2-7d8b-7c3e-9f00-000000000001")
        );
    }

    #[test]
    fn a_limit_out_of_bounds_is_refused_naming_it() {
        for q in ["limit=0", "limit=201", "limit=4294967295"] {
            assert_eq!(
                page_err(q),
                (ErrorCode::InvalidParameter, Some("limit".into())),
                "{q}"
            );
        }
        for q in ["limit=-1", "limit=ten", "limit=1.5", "limit="] {
            assert_eq!(
                page_err(q),
                (ErrorCode::InvalidType, Some("limit".into())),
                "{q}"
            );
        }
        assert_eq!(
            page_err("limit=1&limit=2"),
            (ErrorCode::InvalidParameter, Some("limit".into()))
        );
    }

    #[test]
    fn a_foreign_cursor_or_an_unknown_parameter_is_named() {
        assert_eq!(
            page_err("cursor=abc"),
            (ErrorCode::InvalidType, Some("cursor".into()))
        );
        assert_eq!(
            page_err("colour=red"),
            (ErrorCode::UnknownField, Some("colour".into()))
        );
        assert_eq!(
            PageQuery::<NoFilter>::parse("x=1")
                .unwrap_err()
                .field
                .as_deref(),
            Some("x")
        );
    }

    #[test]
    fn the_page_parameters_are_documented_with_their_bounds() {
        use utoipa::IntoParams;
        let params = PageQuery::<NoFilter, 500, 100>::into_params(|| Some(ParameterIn::Query));
        let doc = serde_json::to_value(&params).unwrap();
        let limit = doc
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "limit")
            .unwrap();
        assert_eq!(limit["schema"]["minimum"], 1);
        assert_eq!(limit["schema"]["maximum"], 500);
        assert_eq!(limit["schema"]["default"], 100);
    }
}
