//! Each class of bad input answers a 4xx naming the field, and writes nothing.

use crate::helpers::*;
use serde_json::{json, Value};

fn with(mut base: Value, pointer: &str, v: Value) -> Value {
    *base.pointer_mut(pointer).expect("pointer exists") = v;
    base
}

fn without(mut base: Value, key: &str) -> Value {
    base.as_object_mut().unwrap().remove(key);
    base
}

/// (what, method, path, raw body, status, error code, field)
type Case<'a> = (
    &'a str,
    &'a str,
    String,
    String,
    u16,
    &'a str,
    Option<&'a str>,
);

async fn bad_input_is_named_and_nothing_is_written(backend: Backend) {
    let app = spawn_app(backend).await;
    let (adv, key) = app.advertiser("Acme").await;
    let cid = app.campaign(&key, &adv).await;
    let lid = app.line_item(&key, &cid).await;
    let good = campaign_body(&adv);
    let li = line_item_body();

    let cases: Vec<Case> = vec![
        ("unknown field", "POST", "/v1/campaigns".into(),
            with(good.clone(), "/name", json!("x")).to_string().replacen('{', "{\"colour\":\"red\",", 1),
            400, "unknown_field", Some("colour")),
        ("unknown nested field", "POST", "/v1/campaigns".into(),
            with(good.clone(), "/budget", json!({"total_micros": 1, "daily_micros": 1, "hourly_micros": 1})).to_string(),
            400, "unknown_field", Some("budget.hourly_micros")),
        ("wrong type", "POST", "/v1/campaigns".into(),
            with(good.clone(), "/budget/total_micros", json!("10")).to_string(),
            400, "invalid_type", Some("budget.total_micros")),
        ("money as a float", "POST", "/v1/campaigns".into(),
            with(good.clone(), "/budget/daily_micros", json!(1.5)).to_string(),
            400, "invalid_type", Some("budget.daily_micros")),
        ("negative money", "POST", "/v1/campaigns".into(),
            with(good.clone(), "/budget/total_micros", json!(-5)).to_string(),
            422, "invalid_field", Some("budget.total_micros")),
        ("daily above total", "POST", "/v1/campaigns".into(),
            with(good.clone(), "/budget/daily_micros", json!(20_000_000_000i64)).to_string(),
            422, "invalid_field", Some("budget.daily_micros")),
        ("end before start", "POST", "/v1/campaigns".into(),
            with(good.clone(), "/end_at", json!("2026-11-01T00:00:00Z")).to_string(),
            422, "invalid_field", Some("end_at")),
        ("not a date", "POST", "/v1/campaigns".into(),
            with(good.clone(), "/start_at", json!("next tuesday")).to_string(),
            400, "invalid_type", Some("start_at")),
        ("window 0", "POST", "/v1/campaigns".into(),
            with(good.clone(), "/attribution/click_window_days", json!(0)).to_string(),
            422, "invalid_field", Some("attribution.click_window_days")),
        ("window 91", "POST", "/v1/campaigns".into(),
            with(good.clone(), "/attribution/view_window_days", json!(91)).to_string(),
            422, "invalid_field", Some("attribution.view_window_days")),
        ("unknown scope", "POST", "/v1/campaigns".into(),
            with(good.clone(), "/attribution/scope", json!("aisle")).to_string(),
            400, "invalid_type", Some("attribution.scope")),
        ("holdout too large", "POST", "/v1/campaigns".into(),
            with(good.clone(), "/holdout_percent", json!(80)).to_string(),
            422, "invalid_field", Some("holdout_percent")),
        ("missing name", "POST", "/v1/campaigns".into(),
            without(good.clone(), "name").to_string(),
            400, "missing_field", Some("name")),
        ("blank name", "POST", "/v1/campaigns".into(),
            with(good.clone(), "/name", json!("   ")).to_string(),
            422, "invalid_field", Some("name")),
        ("malformed json", "POST", "/v1/campaigns".into(),
            "{\"name\": ".into(), 400, "malformed_json", None),
        ("empty body", "POST", "/v1/campaigns".into(),
            "".into(), 400, "malformed_json", None),
        ("json array", "POST", "/v1/campaigns".into(),
            "[]".into(), 400, "invalid_type", None),
        ("bad currency", "POST", "/v1/advertisers".into(),
            json!({"name": "X", "currency": "DOLLARS"}).to_string(),
            422, "invalid_field", Some("currency")),
        ("not the marketplace currency", "POST", "/v1/advertisers".into(),
            json!({"name": "X", "currency": "EUR"}).to_string(),
            422, "invalid_field", Some("currency")),
        ("zero bid", "POST", format!("/v1/campaigns/{cid}/line-items"),
            with(li.clone(), "/pricing/bid_micros", json!(0)).to_string(),
            422, "invalid_field", Some("pricing.bid_micros")),
        ("bad placement", "POST", format!("/v1/campaigns/{cid}/line-items"),
            with(li.clone(), "/targeting/placements", json!(["search-top", "offsite:banner:300"])).to_string(),
            422, "invalid_field", Some("targeting.placements[1]")),
        ("unknown device", "POST", format!("/v1/campaigns/{cid}/line-items"),
            with(li.clone(), "/targeting/devices", json!(["fridge"])).to_string(),
            400, "invalid_type", Some("targeting.devices[0]")),
        ("zero cap", "POST", format!("/v1/campaigns/{cid}/line-items"),
            with(li.clone(), "/frequency_cap/max", json!(0)).to_string(),
            422, "invalid_field", Some("frequency_cap.max")),
        ("banner without size", "POST", format!("/v1/line-items/{lid}/creatives"),
            json!({"kind": "banner", "image_url": "https://cdn.example/a.png", "click_url": "https://shop.example"}).to_string(),
            422, "invalid_field", Some("width")),
        ("script url", "POST", format!("/v1/line-items/{lid}/creatives"),
            json!({"kind": "sponsored_product", "sku": "sku-123", "click_url": "javascript:alert(1)"}).to_string(),
            422, "invalid_field", Some("click_url")),
        ("sku not promoted", "POST", format!("/v1/line-items/{lid}/creatives"),
            json!({"kind": "sponsored_product", "sku": "sku-999", "click_url": "https://shop.example"}).to_string(),
            422, "invalid_field", Some("sku")),
        ("native title with markup", "POST", format!("/v1/line-items/{lid}/creatives"),
            json!({"kind": "native", "image_url": "https://cdn.example/a.png", "click_url": "https://shop.example",
                "native": {"title": "<script>alert(1)</script>"}}).to_string(),
            422, "invalid_field", Some("native.title")),
        ("native http icon", "POST", format!("/v1/line-items/{lid}/creatives"),
            json!({"kind": "native", "image_url": "https://cdn.example/a.png", "click_url": "https://shop.example",
                "native": {"icon_url": "http://cdn.example/i.png"}}).to_string(),
            422, "invalid_field", Some("native.icon_url")),
        ("native assets on a banner", "POST", format!("/v1/line-items/{lid}/creatives"),
            json!({"kind": "banner", "image_url": "https://cdn.example/a.png", "width": 300, "height": 250,
                "click_url": "https://shop.example", "native": {"title": "Hi"}}).to_string(),
            422, "invalid_field", Some("native")),
        ("unknown native asset", "POST", format!("/v1/line-items/{lid}/creatives"),
            json!({"kind": "native", "image_url": "https://cdn.example/a.png", "click_url": "https://shop.example",
                "native": {"subtitle": "Hi"}}).to_string(),
            400, "unknown_field", Some("native.subtitle")),
        ("patch without version", "PATCH", format!("/v1/campaigns/{cid}"),
            json!({"name": "x"}).to_string(), 400, "missing_field", Some("version")),
        ("patch of an id", "PATCH", format!("/v1/campaigns/{cid}"),
            json!({"version": 1, "advertiser_id": adv}).to_string(), 400, "unknown_field", Some("advertiser_id")),
        ("patch end before start", "PATCH", format!("/v1/campaigns/{cid}"),
            json!({"version": 1, "end_at": "2026-01-01T00:00:00Z"}).to_string(), 422, "invalid_field", Some("end_at")),
        ("bad role", "POST", format!("/v1/advertisers/{adv}/api-keys"),
            json!({"role": "superuser"}).to_string(), 400, "invalid_type", Some("role")),
    ];

    let before = app.audit_count().await;
    let mut failures = Vec::new();
    for (what, method, path, body, status, code, field) in &cases {
        let r = app
            .raw(
                method,
                path,
                Some(ADMIN_KEY),
                Some(("application/json", body)),
                &[],
            )
            .await;
        if (r.status, r.error(), r.field()) != (*status, Some(*code), *field) {
            failures.push(format!("{what}: got {} {}", r.status, r.text));
        }
        if r.body["message"].as_str().is_none_or(str::is_empty) {
            failures.push(format!("{what}: no message"));
        }
    }
    assert!(
        failures.is_empty(),
        "bad input cases:\n{}",
        failures.join("\n")
    );
    assert_eq!(
        app.audit_count().await,
        before,
        "no bad request wrote anything"
    );
    let c = app.get(&format!("/v1/campaigns/{cid}"), ADMIN_KEY).await;
    assert_eq!(c.body["version"], 1);
}

async fn bad_transport_and_query_input_is_named(backend: Backend) {
    let app = spawn_app(backend).await;
    let (adv, key) = app.advertiser("Acme").await;
    let body = campaign_body(&adv).to_string();

    let r = app
        .raw(
            "POST",
            "/v1/campaigns",
            Some(&key),
            Some(("text/plain", &body)),
            &[],
        )
        .await;
    assert_eq!((r.status, r.error()), (415, Some("unsupported_media_type")));

    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let r = app
        .raw(
            "POST",
            "/v1/campaigns",
            Some(&key),
            Some(("application/json", &huge)),
            &[],
        )
        .await;
    assert_eq!((r.status, r.error()), (413, Some("body_too_large")));

    for (q, field) in [
        ("status=running", "status"),
        ("limit=-1", "limit"),
        ("cursor=abc", "cursor"),
        ("advertiser_id=42", "advertiser_id"),
        ("colour=red", "colour"),
    ] {
        let r = app.get(&format!("/v1/campaigns?{q}"), &key).await;
        assert_eq!((r.status, r.field()), (400, Some(field)), "{q}: {}", r.text);
    }

    let r = app.get("/v1/campaigns/not-a-uuid", &key).await;
    assert_eq!((r.status, r.error()), (404, Some("not_found")));
    let r = app.get("/v1/no-such-route", &key).await;
    assert_eq!((r.status, r.error()), (404, Some("not_found")));
    let r = app
        .raw(
            "POST",
            "/v1/campaigns",
            Some(&key),
            Some(("application/json", &body)),
            &[("Authorization", "Basic abc")],
        )
        .await;
    assert_eq!(r.status, 401);
}

both_backends!(
    bad_input_is_named_and_nothing_is_written,
    bad_transport_and_query_input_is_named
);
