//! The API and its OpenAPI document agree: undeclared methods, page bounds, integral
//! floats, report rules, and the responses the document declares (see TESTING.md for the
//! schemathesis run these complement).

use crate::helpers::*;
use serde_json::{json, Value};

#[actix_web::test]
async fn undeclared_methods_answer_405_in_the_envelope_with_allow() {
    let app = spawn_app(Backend::Sqlite).await;
    for (method, path, allowed) in [
        ("DELETE", "/v1/campaigns", &["GET", "POST"][..]),
        ("PUT", "/healthz", &["GET"]),
        ("TRACE", "/v1/api-keys", &["GET", "POST"]),
        ("PATCH", "/v1/segments/dairy/members", &["PUT", "DELETE"]),
        ("GET", "/v1/receipts", &["POST"]),
    ] {
        let r = app.raw(method, path, Some(ADMIN_KEY), None, &[]).await;
        assert_eq!(
            (r.status, r.error()),
            (405, Some("method_not_allowed")),
            "{method} {path}: {}",
            r.text
        );
        assert!(r.body["message"].as_str().is_some_and(|m| !m.is_empty()));
        let allow = r.headers.get("allow").cloned().unwrap_or_default();
        let mut got: Vec<&str> = allow.split(',').map(str::trim).collect();
        got.sort_unstable();
        let mut want = allowed.to_vec();
        want.sort_unstable();
        assert_eq!(got, want, "{method} {path}");
    }
    // A path that does not exist is still a 404, whatever the method.
    let r = app
        .raw("DELETE", "/v1/nowhere", Some(ADMIN_KEY), None, &[])
        .await;
    assert_eq!((r.status, r.error()), (404, Some("not_found")));
}

#[actix_web::test]
async fn a_page_limit_outside_its_bounds_is_refused_naming_it() {
    let app = spawn_app(Backend::Sqlite).await;
    let (adv, key) = app.advertiser("Acme").await;
    let cid = app.campaign(&key, &adv).await;
    let lid = app.line_item(&key, &cid).await;
    for (path, max) in [
        ("/v1/advertisers".to_string(), 200),
        ("/v1/campaigns".to_string(), 200),
        (format!("/v1/campaigns/{cid}/line-items"), 200),
        (format!("/v1/line-items/{lid}/creatives"), 200),
        ("/v1/audit-log".to_string(), 500),
    ] {
        for bad in [0, max + 1] {
            let r = app.get(&format!("{path}?limit={bad}"), ADMIN_KEY).await;
            assert_eq!(
                (r.status, r.error(), r.field()),
                (400, Some("invalid_parameter"), Some("limit")),
                "{path}?limit={bad}: {}",
                r.text
            );
        }
        let r = app.get(&format!("{path}?limit={max}"), ADMIN_KEY).await;
        assert_eq!(r.status, 200, "{path}?limit={max}: {}", r.text);
        let r = app.get(&format!("{path}?limit=ten"), ADMIN_KEY).await;
        assert_eq!((r.status, r.field()), (400, Some("limit")), "{}", r.text);
    }
}

#[actix_web::test]
async fn integral_floats_are_integers_as_the_document_says() {
    let app = spawn_app(Backend::Sqlite).await;
    let (adv, key) = app.advertiser("Acme").await;
    let mut body = campaign_body(&adv);
    body["budget"] = json!({"total_micros": 10_000_000_000.0, "daily_micros": 5e8});
    body["holdout_percent"] = json!(10.0);
    let r = app.post("/v1/campaigns", &key, body.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["budget"]["total_micros"], 10_000_000_000i64);
    assert_eq!(r.body["budget"]["daily_micros"], 500_000_000);
    body["budget"]["daily_micros"] = json!(500_000_000.5);
    let r = app.post("/v1/campaigns", &key, body).await;
    assert_eq!(
        (r.status, r.error(), r.field()),
        (400, Some("invalid_type"), Some("budget.daily_micros")),
        "{}",
        r.text
    );
}

#[actix_web::test]
async fn report_parameters_malformed_are_400_and_rules_broken_are_422() {
    // The parameters are checked before ClickHouse is needed, so no ClickHouse here (a
    // dimension the delivery report lacks is refused by the report: see reports.rs).
    let app = spawn_app(Backend::Sqlite).await;
    for (query, status, field) in [
        ("from=2026-10-1&to=2026-10-31", 400, "from"),
        ("from=2026-10-01", 400, "to"),
        (
            "from=2026-10-01&to=2026-10-31&group_by=day,,campaign",
            400,
            "group_by",
        ),
        ("from=2026-10-01&to=2026-10-31&model=magic", 400, "model"),
        ("from=2026-10-02&to=2026-10-01", 422, "to"),
        ("from=2025-01-01&to=2026-10-01", 422, "to"),
        (
            "from=2026-10-01&to=2026-10-31&group_by=day,day",
            422,
            "group_by",
        ),
    ] {
        let r = app
            .get(&format!("/v1/reports/delivery?{query}"), ADMIN_KEY)
            .await;
        assert_eq!(
            (r.status, r.field()),
            (status, Some(field)),
            "{query}: {}",
            r.text
        );
    }
}

fn responses(op: &Value) -> Vec<String> {
    op["responses"]
        .as_object()
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default()
}

#[actix_web::test]
async fn the_document_declares_the_answers_the_shared_extractors_give() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = app.send("GET", "/openapi.json", None, None).await.body;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("operations") {
            let what = format!("{method} {path}");
            let got = responses(op);
            let has = |s: &str| got.iter().any(|g| g == s);
            let open = op["security"] == json!([{}]);
            assert!(open || has("401"), "{what} needs a key: 401 declared");
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            for p in &params {
                assert!(
                    ["query", "path", "header"].contains(&p["in"].as_str().unwrap_or("")),
                    "{what}: {p}"
                );
                if p["in"] == "query" {
                    assert!(has("400"), "{what} takes a query: 400 declared");
                }
                if p["in"] == "path" {
                    assert!(has("404"), "{what} names an object: 404 declared");
                }
                if p["name"] == "limit" {
                    assert_eq!(p["schema"]["minimum"], 1, "{what}");
                    assert!(p["schema"]["maximum"].is_u64(), "{what}");
                }
            }
            if let Some(content) = op["requestBody"]["content"].as_object() {
                assert!(has("400") && has("413"), "{what} reads a body");
                if content.contains_key("application/json") {
                    assert!(has("415"), "{what} reads JSON: 415 declared");
                }
            }
            for (status, r) in op["responses"].as_object().expect("responses") {
                if status.starts_with('4') || status.starts_with('5') {
                    let schema = &r["content"]["application/json"]["schema"]["$ref"];
                    assert!(
                        schema == "#/components/schemas/ErrorBody"
                            || schema == "#/components/schemas/UploadSummary",
                        "{what} {status}: {r}"
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 35, "{checked} operations");
    for (path, types) in [
        ("/v1/receipts", &["application/x-ndjson"][..]),
        ("/v1/identity-map", &["application/x-ndjson", "text/csv"]),
        ("/v1/catalog", &["application/x-ndjson", "text/csv"]),
    ] {
        let content = &doc["paths"][path]["post"]["requestBody"]["content"];
        for t in types {
            assert_eq!(content[t]["schema"]["type"][0], "string", "{path} {t}");
        }
    }
    let codes = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("the error codes are listed");
    assert!(codes.contains(&json!("method_not_allowed")));
    assert!(codes.contains(&json!("invalid_parameter")));
}
