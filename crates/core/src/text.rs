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

/// Which schemes a URL may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// https only: anything a publisher's page loads (images, pixels).
    Https,
    /// http or https: a landing page the browser navigates to.
    HttpOrHttps,
}

/// Characters a URL that ends up in HTML or JSON markup must not carry, even escaped by a
/// parser: quotes and angle brackets break out of attributes, the rest have no business in
/// an ad's URL.
const FORBIDDEN: &[char] = &['"', '\'', '<', '>', '`', '\\', '{', '}', '|', '^'];

/// An absolute URL with a host, parsed by the WHATWG rules browsers use (the `url` crate):
/// no whitespace, control or markup characters, no user:password part, at most 2048
/// bytes; returned in its normalized form.
pub(crate) fn url(raw: &str, field: &str, scheme: Scheme) -> Result<String, ValidationError> {
    let s = raw.trim();
    let schemes = match scheme {
        Scheme::Https => "https",
        Scheme::HttpOrHttps => "http(s)",
    };
    if s.len() > 2048 {
        return Err(ValidationError::new(field, "must be at most 2048 bytes"));
    }
    if let Some(c) = s
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || FORBIDDEN.contains(c))
    {
        return Err(ValidationError::new(
            field,
            format!(
                "must not contain {c:?} (whitespace, control and markup characters are refused)"
            ),
        ));
    }
    let parsed = url::Url::parse(s).map_err(|e| {
        ValidationError::new(field, format!("must be an absolute {schemes} URL: {e}"))
    })?;
    let scheme_ok = match scheme {
        Scheme::Https => parsed.scheme() == "https",
        Scheme::HttpOrHttps => matches!(parsed.scheme(), "http" | "https"),
    };
    if !scheme_ok {
        return Err(ValidationError::new(
            field,
            format!("must be an absolute {schemes} URL"),
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(ValidationError::new(field, "must have a host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ValidationError::new(
            field,
            "must not carry a user name or password",
        ));
    }
    // The parser decodes percent-escapes in the host (`x%22y` is `x"y`): what is stored is
    // the normalized form, so it must pass the same check, and a host is plain DNS letters.
    let normalized = parsed.to_string();
    let host = parsed.host_str().unwrap_or_default();
    if normalized
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || FORBIDDEN.contains(&c))
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err(ValidationError::new(
            field,
            "must have a plain host name (letters, digits, - and .) and no markup characters",
        ));
    }
    Ok(normalized)
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
    fn urls_need_a_scheme_and_host_and_no_markup() {
        let ok = |u: &str, s| url(u, "u", s);
        assert_eq!(
            ok("https://shop.example/p/1", Scheme::Https).unwrap(),
            "https://shop.example/p/1"
        );
        assert_eq!(
            ok("HTTPS://Shop.Example", Scheme::Https).unwrap(),
            "https://shop.example/",
            "normalized as a browser would"
        );
        assert!(ok("http://shop.example/p/1", Scheme::HttpOrHttps).is_ok());
        for bad in [
            "http://shop.example/a.png",
            "ftp://x",
            "https://",
            "https://a b",
            "javascript:alert(1)",
            "https://c.x/a.png\"onerror=\"alert(1)",
            "https://c.x/a.png'onerror='alert(1)",
            "https://c.x/<script>",
            "https://user:pw@c.x/a.png",
            "data:image/png;base64,AAAA",
            "//c.x/a.png",
            "https://x%22onerror%3D%22alert(1)%22.example/a.png",
            "https://[::1]/a.png",
        ] {
            let e = ok(bad, Scheme::Https).unwrap_err();
            assert_eq!(e.field, "u", "{bad}");
        }
        assert!(ok(&format!("https://c.x/{}", "a".repeat(2100)), Scheme::Https).is_err());
    }
}
