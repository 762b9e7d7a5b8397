//! The fields publishers block and deals target by (OpenRTB 2.6): advertiser domains, IAB
//! content categories, app bundles, creative attributes and deal ids, checked on the way in
//! so serving compares normalized values only.

use crate::ValidationError;

/// Most domains one advertiser declares.
pub const MAX_DOMAINS: usize = 20;
/// Most IAB categories one creative carries.
pub const MAX_CATEGORIES: usize = 10;
/// Most deal ids one line item targets.
pub const MAX_DEALS: usize = 100;
/// The highest OpenRTB creative attribute id (list 5.3 of OpenRTB 2.5, "Creative
/// Attributes": 1 audio auto-play ... 17 "Custom Survey").
pub const MAX_ATTRIBUTE: u8 = 17;

/// A host name as advertisers declare it and publishers block it: trimmed, lower-case,
/// without a leading `www.`; dot-separated labels of letters, digits and inner hyphens, at
/// least two of them, 253 bytes at most (no scheme, path, port or IP address).
pub fn domain(raw: &str, field: &str) -> Result<String, ValidationError> {
    let d = raw.trim().to_ascii_lowercase();
    let d = d.strip_prefix("www.").unwrap_or(&d).to_string();
    let bad = || {
        ValidationError::new(
            field,
            "must be a host name such as brand.com (no scheme, path or port)",
        )
    };
    if d.is_empty() || d.len() > 253 {
        return Err(bad());
    }
    let labels: Vec<&str> = d.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    // The top-level label is never all digits: that is an IP address, not a domain.
    let tld_ok = labels
        .last()
        .is_some_and(|t| t.bytes().any(|b| b.is_ascii_alphabetic()));
    if labels.len() < 2 || !labels.iter().all(label_ok) || !tld_ok {
        return Err(bad());
    }
    Ok(d)
}

/// An advertiser's declared domains: each a [`domain`], repeats dropped, at most
/// [`MAX_DOMAINS`].
pub fn domains(raw: &[String], field: &str) -> Result<Vec<String>, ValidationError> {
    bounded(raw.len(), MAX_DOMAINS, field)?;
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for (i, d) in raw.iter().enumerate() {
        let d = domain(d, &format!("{field}[{i}]"))?;
        if !out.contains(&d) {
            out.push(d);
        }
    }
    Ok(out)
}

/// An IAB Content Taxonomy 1.0 id (`IAB8`, `IAB8-5`): `IAB`, a tier-1 number 1..=26, and
/// optionally `-` and a tier-2 number 1..=99; stored with `IAB` in upper case.
pub fn iab_category(raw: &str, field: &str) -> Result<String, ValidationError> {
    let c = raw.trim().to_ascii_uppercase();
    let number = |s: &str, max: u32| {
        !s.is_empty()
            && !s.starts_with('0')
            && s.len() <= 2
            && s.parse::<u32>().is_ok_and(|n| (1..=max).contains(&n))
    };
    let ok = c.strip_prefix("IAB").is_some_and(|rest| {
        let (top, sub) = rest
            .split_once('-')
            .map_or((rest, None), |(t, s)| (t, Some(s)));
        number(top, 26) && sub.is_none_or(|s| number(s, 99))
    });
    if !ok {
        return Err(ValidationError::new(
            field,
            "must be an IAB Content Taxonomy 1.0 id such as IAB8 or IAB8-5",
        ));
    }
    Ok(c)
}

/// A creative's IAB categories: each an [`iab_category`], repeats dropped, at most
/// [`MAX_CATEGORIES`].
pub fn iab_categories(raw: &[String], field: &str) -> Result<Vec<String>, ValidationError> {
    bounded(raw.len(), MAX_CATEGORIES, field)?;
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for (i, c) in raw.iter().enumerate() {
        let c = iab_category(c, &format!("{field}[{i}]"))?;
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

/// Whether the IAB category `cat` is `blocked` or under it (`IAB8` blocks `IAB8-5`); both
/// upper-case.
pub fn category_under(cat: &str, blocked: &str) -> bool {
    cat.strip_prefix(blocked)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
}

/// The app a creative promotes, as OpenRTB's `bundle` names it: an Android package
/// (`com.brand.app`) or an App Store id (`id123456789` or the bare number), 1..=255 bytes of
/// letters, digits, `.`, `_` and `-`; stored as given, compared case-insensitively.
pub fn app_bundle(raw: &str, field: &str) -> Result<String, ValidationError> {
    let b = raw.trim();
    if b.is_empty()
        || b.len() > 255
        || !b
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c))
    {
        return Err(ValidationError::new(
            field,
            "must be an app bundle id such as com.brand.app or 123456789",
        ));
    }
    Ok(b.to_string())
}

/// A creative's OpenRTB attributes (list 5.3, ids 1..=[`MAX_ATTRIBUTE`]), sorted, each once.
pub fn attributes(raw: &[u8], field: &str) -> Result<Vec<u8>, ValidationError> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, a) in raw.iter().enumerate() {
        if !(1..=MAX_ATTRIBUTE).contains(a) {
            return Err(ValidationError::new(
                format!("{field}[{i}]"),
                format!("must be an OpenRTB creative attribute id 1..={MAX_ATTRIBUTE}"),
            ));
        }
        out.push(*a);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// The deal ids a line item targets: exchange-issued, so kept as given (trimmed), each a
/// token of at most 128 bytes, repeats dropped, at most [`MAX_DEALS`].
pub fn deal_ids(raw: &[String], field: &str) -> Result<Vec<String>, ValidationError> {
    bounded(raw.len(), MAX_DEALS, field)?;
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for (i, d) in raw.iter().enumerate() {
        let d = crate::text::token(d, &format!("{field}[{i}]"))?;
        if !out.contains(&d) {
            out.push(d);
        }
    }
    Ok(out)
}

fn bounded(n: usize, max: usize, field: &str) -> Result<(), ValidationError> {
    if n > max {
        return Err(ValidationError::new(
            field,
            format!("must have at most {max} entries"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_host_names_lower_cased_without_www() {
        assert_eq!(domain(" WWW.Brand.com ", "d").unwrap(), "brand.com");
        assert_eq!(domain("shop.brand.co.uk", "d").unwrap(), "shop.brand.co.uk");
        for bad in [
            "",
            "brand",
            "https://brand.com",
            "brand.com/x",
            "brand.com:443",
            "-brand.com",
            "bra nd.com",
            "10.0.0.1",
            "brand..com",
        ] {
            assert!(domain(bad, "d").is_err(), "{bad}");
        }
        let many: Vec<String> = (0..21).map(|i| format!("b{i}.com")).collect();
        assert_eq!(domains(&many, "domains").unwrap_err().field, "domains");
        assert_eq!(
            domains(&["a.com".into(), "WWW.a.com".into()], "domains").unwrap(),
            vec!["a.com"]
        );
        assert_eq!(
            domains(&["a.com".into(), "nope".into()], "domains")
                .unwrap_err()
                .field,
            "domains[1]"
        );
    }

    #[test]
    fn iab_categories_have_the_taxonomy_1_shape() {
        assert_eq!(iab_category("iab8-5", "c").unwrap(), "IAB8-5");
        assert_eq!(iab_category("IAB26", "c").unwrap(), "IAB26");
        for bad in [
            "IAB", "IAB0", "IAB27", "IAB8-", "IAB8-0", "IAB08", "IAB8-5-1", "8-5", "IAB8-100",
        ] {
            assert!(iab_category(bad, "c").is_err(), "{bad}");
        }
        assert!(category_under("IAB8-5", "IAB8"));
        assert!(category_under("IAB8", "IAB8"));
        assert!(!category_under("IAB8", "IAB8-5"));
        assert!(
            !category_under("IAB18", "IAB1"),
            "IAB1 is not a prefix category of IAB18"
        );
        assert!(!category_under("IAB1-10", "IAB1-1"));
    }

    #[test]
    fn bundles_attributes_and_deals_are_checked() {
        assert!(app_bundle("com.brand.app", "b").is_ok());
        assert!(app_bundle("123456789", "b").is_ok());
        assert!(app_bundle("com brand", "b").is_err());
        assert!(app_bundle("", "b").is_err());
        assert_eq!(attributes(&[6, 1, 6], "a").unwrap(), vec![1, 6]);
        assert_eq!(attributes(&[1, 18], "a").unwrap_err().field, "a[1]");
        assert_eq!(attributes(&[0], "a").unwrap_err().field, "a[0]");
        assert_eq!(
            deal_ids(&["d-1".into(), " d-1 ".into()], "deals").unwrap(),
            vec!["d-1"]
        );
        assert_eq!(
            deal_ids(&["a b".into()], "deals").unwrap_err().field,
            "deals[0]"
        );
    }
}
