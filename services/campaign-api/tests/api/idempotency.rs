//! `Idempotency-Key`: a retried POST returns the first result and creates nothing new.

use crate::helpers::*;
use serde_json::json;

async fn a_retried_post_returns_the_first_result(backend: Backend) {
    let app = spawn_app(backend).await;
    let (adv, key) = app.advertiser("Acme").await;
    let body = campaign_body(&adv).to_string();
    let send = |k: &'static str| {
        let app = &app;
        let key = key.clone();
        let body = body.clone();
        async move {
            app.raw(
                "POST",
                "/v1/campaigns",
                Some(&key),
                Some(("application/json", &body)),
                &[("Idempotency-Key", k)],
            )
            .await
        }
    };
    let first = send("order-42").await;
    let retry = send("order-42").await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(retry.status, 201);
    assert_eq!(first.body, retry.body, "the same object, version and all");
    assert_eq!(
        retry.headers.get("idempotent-replayed").map(String::as_str),
        Some("true")
    );
    assert!(!first.headers.contains_key("idempotent-replayed"));
    let list = app.get("/v1/campaigns", &key).await;
    assert_eq!(
        list.body["items"].as_array().unwrap().len(),
        1,
        "no duplicate"
    );

    let other = send("order-43").await;
    assert_ne!(other.id(), first.id(), "a new key is a new request");

    // Same key, different body: refused, nothing written.
    let changed = app
        .raw(
            "POST",
            "/v1/campaigns",
            Some(&key),
            Some((
                "application/json",
                &campaign_body(&adv)
                    .to_string()
                    .replace("Holiday dairy", "Other"),
            )),
            &[("Idempotency-Key", "order-42")],
        )
        .await;
    assert_eq!(
        (changed.status, changed.error()),
        (422, Some("idempotency_key_reused"))
    );
    assert_eq!(
        app.get("/v1/campaigns", &key).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

async fn idempotency_keys_belong_to_one_api_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let (adv, key) = app.advertiser("Acme").await;
    let second = app
        .post(&format!("/v1/advertisers/{adv}/api-keys"), &key, json!({}))
        .await;
    let key2 = second.body["key"].as_str().unwrap().to_string();
    let body = campaign_body(&adv).to_string();
    let a = app
        .raw(
            "POST",
            "/v1/campaigns",
            Some(&key),
            Some(("application/json", &body)),
            &[("Idempotency-Key", "k1")],
        )
        .await;
    let b = app
        .raw(
            "POST",
            "/v1/campaigns",
            Some(&key2),
            Some(("application/json", &body)),
            &[("Idempotency-Key", "k1")],
        )
        .await;
    assert_eq!((a.status, b.status), (201, 201));
    assert_ne!(a.id(), b.id());
}

async fn key_creation_refuses_replay_instead_of_minting_twice(backend: Backend) {
    let app = spawn_app(backend).await;
    let (adv, _) = app.advertiser("Acme").await;
    let r = app
        .raw(
            "POST",
            &format!("/v1/advertisers/{adv}/api-keys"),
            Some(ADMIN_KEY),
            Some(("application/json", "{}")),
            &[("Idempotency-Key", "x")],
        )
        .await;
    assert_eq!((r.status, r.field()), (400, Some("Idempotency-Key")));
    let bad = app
        .raw(
            "POST",
            "/v1/campaigns",
            Some(ADMIN_KEY),
            Some(("application/json", &campaign_body(&adv).to_string())),
            &[("Idempotency-Key", "has space")],
        )
        .await;
    assert_eq!((bad.status, bad.field()), (400, Some("Idempotency-Key")));
}

both_backends!(
    a_retried_post_returns_the_first_result,
    idempotency_keys_belong_to_one_api_key,
    key_creation_refuses_replay_instead_of_minting_twice,
);
