//! Health, readiness, metrics, request ids and the OpenAPI document.

use crate::helpers::*;

async fn health_readiness_and_metrics_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let h = app.send("GET", "/healthz", None, None).await;
    assert_eq!((h.status, h.body["status"].as_str()), (200, Some("ok")));
    let r = app.send("GET", "/readyz", None, None).await;
    assert_eq!((r.status, r.body["status"].as_str()), (200, Some("ready")));
    app.advertiser("Acme").await;
    let m = app.send("GET", "/metrics", None, None).await;
    assert_eq!(m.status, 200);
    assert!(
        m.text.contains(r#"endcap_http_requests_total{method="POST",route="/v1/advertisers/{id}/api-keys",status="201"} 1"#),
        "{}",
        m.text
    );
    assert!(m
        .text
        .contains("endcap_http_request_duration_seconds_bucket"));
}

async fn every_response_carries_a_request_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app
        .raw(
            "GET",
            "/healthz",
            None,
            None,
            &[("X-Request-Id", "trace-abc-123")],
        )
        .await;
    assert_eq!(
        r.headers.get("x-request-id").map(String::as_str),
        Some("trace-abc-123")
    );
    let r = app
        .raw(
            "GET",
            "/healthz",
            None,
            None,
            &[("X-Request-Id", "bad id with spaces")],
        )
        .await;
    let id = r.headers.get("x-request-id").expect("generated id");
    assert_ne!(id, "bad id with spaces");
    assert_eq!(id.len(), 36, "a UUID");
}

both_backends!(
    health_readiness_and_metrics_answer,
    every_response_carries_a_request_id
);

#[actix_web::test]
async fn the_served_openapi_document_matches_the_committed_one() {
    let app = spawn_app(Backend::Sqlite).await;
    let served = app.send("GET", "/openapi.json", None, None).await;
    assert_eq!(served.status, 200);
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../schemas/openapi/campaign-api.json"
    );
    let committed =
        std::fs::read_to_string(path).expect("schemas/openapi/campaign-api.json exists");
    assert!(
        served.text == committed,
        "schemas/openapi/campaign-api.json is stale: regenerate it with \
         `cargo run -p campaign-api -- --print-openapi > schemas/openapi/campaign-api.json`"
    );
    let doc = &served.body;
    assert_eq!(doc["openapi"], "3.1.0");
    for p in [
        "/v1/campaigns",
        "/v1/campaigns/{id}",
        "/v1/line-items/{id}",
        "/v1/creatives/{id}",
        "/v1/advertisers/{id}/api-keys",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} documented");
    }
}
