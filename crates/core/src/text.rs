//! Checks shared by every free-text field of the model.

use crate::ValidationError;

/// Longest display name we accept (names show up in reports and the console).
pub(crate) const MAX_NAME: usize = 200;
/// Longest targeting value, SKU or store id.
pub(crate) const MAX_TOKEN: usize = 128;
/// Most values in one targeting list or SKU list.
pub(crate) const MAX_LIST: usize = 10_000;

/// A trimmed, non-empty name without control characters.
pub(crate) fn name(raw: &str, field: &str) -> Result<String, ValidationError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if s.chars().count() > MAX_NAME {
        return Err(ValidationError::new(
            field,
            format!("must be at most {MAX_NAME} characters"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(s.to_string())
}

/// A trimmed token (id-like value): non-empty, bounded, no whitespace or control characters.
pub(crate) fn token(raw: &str, field: &str) -> Result<String, ValidationError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if s.len() > MAX_TOKEN {
        return Err(ValidationError::new(
            field,
            format!("must be at most {MAX_TOKEN} bytes"),
        ));
    }
    if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ValidationError::new(
            field,
            "must not contain whitespace or control characters",
        ));
    }
    Ok(s.to_string())
}

/// Validates each element with `one`, drops duplicates (first wins) and bounds the length.
pub(crate) fn list<F>(raw: &[String], field: &str, one: F) -> Result<Vec<String>, ValidationError>
where
    F: Fn(&str, &str) -> Result<String, ValidationError>,
{
    if raw.len() > MAX_LIST {
        return Err(ValidationError::new(
            field,
            format!("must have at most {MAX_LIST} entries"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for (i, v) in raw.iter().enumerate() {
        let v = one(v, &format!("{field}[{i}]"))?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(out)
}

/// An absolute http(s) URL with a host and no whitespace.
pub(crate) fn url(raw: &str, field: &str) -> Result<String, ValidationError> {
    let s = raw.trim();
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(|| ValidationError::new(field, "must be an absolute http(s) URL"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || s.len() > 2048 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ValidationError::new(
            field,
            "must be an absolute http(s) URL with a host, without spaces, at most 2048 bytes",
        ));
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_must_not_be_blank() {
        assert_eq!(name("  Spring  ", "n").unwrap(), "Spring");
        assert_eq!(name("   ", "n").unwrap_err().field, "n");
        assert!(name(&"x".repeat(201), "n").is_err());
        assert!(name("a\u{0}b", "n").is_err());
    }

    #[test]
    fn list_errors_name_the_index() {
        let e = list(&["a".into(), " ".into()], "skus", token).unwrap_err();
        assert_eq!(e.field, "skus[1]");
        assert_eq!(
            list(&["a".into(), "a".into()], "skus", token).unwrap(),
            vec!["a"]
        );
    }

    #[test]
    fn urls_need_a_scheme_and_host() {
        assert!(url("https://shop.example/p/1", "u").is_ok());
        assert!(url("ftp://x", "u").is_err());
        assert!(url("https://", "u").is_err());
        assert!(url("https://a b", "u").is_err());
        assert!(url("javascript:alert(1)", "u").is_err());
    }
}
