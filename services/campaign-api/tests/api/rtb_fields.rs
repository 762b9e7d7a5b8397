//! What publishers block by (OpenRTB): advertisers' declared domains, creatives' IAB
//! categories, app and attributes, and line items' deals.

use crate::helpers::*;
use serde_json::json;

async fn advertisers_declare_their_domains(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app
        .post(
            "/v1/advertisers",
            ADMIN_KEY,
            json!({"name": "Brand", "currency": "USD", "domains": ["WWW.Brand.com", "shop.brand.com"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["domains"], json!(["brand.com", "shop.brand.com"]));
    let r = app
        .post(
            "/v1/advertisers",
            ADMIN_KEY,
            json!({"name": "Bad", "currency": "USD", "domains": ["brand.com", "https://brand.com/"]}),
        )
        .await;
    assert_eq!(
        (r.status, r.field()),
        (422, Some("domains[1]")),
        "{}",
        r.text
    );
    // The advertiser changes its own; another advertiser's key sees nothing to change.
    let (id, key) = app.advertiser("Acme").await;
    let (_, other) = app.advertiser("Rival").await;
    let path = format!("/v1/advertisers/{id}");
    let body = json!({"version": 1, "domains": ["acme.com"]});
    let r = app.patch(&path, &other, body.clone()).await;
    assert_eq!(r.status, 404, "{}", r.text);
    let finance = app.staff_key("finance").await;
    assert_eq!(app.patch(&path, &finance, body.clone()).await.status, 403);
    let r = app
        .patch(&path, &key, json!({"version": 1, "domains": ["acme"]}))
        .await;
    assert_eq!(
        (r.status, r.field()),
        (422, Some("domains[0]")),
        "{}",
        r.text
    );
    let r = app.patch(&path, &key, body.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["domains"], json!(["acme.com"]));
    assert_eq!(r.body["version"], 2);
    assert_eq!(
        app.patch(&path, &key, body).await.status,
        409,
        "stale version"
    );
    let r = app
        .patch(&path, &key, json!({"version": 2, "name": "x"}))
        .await;
    assert_eq!(r.status, 400, "only domains may change: {}", r.text);
}

async fn creative_blocking_fields_are_checked_and_a_change_goes_back_to_review(backend: Backend) {
    let app = spawn_app(backend).await;
    let (adv, key) = app.advertiser("Acme").await;
    let cid = app.campaign(&key, &adv).await;
    let lid = app.line_item(&key, &cid).await;
    let path = format!("/v1/line-items/{lid}/creatives");
    let banner = |extra: serde_json::Value| {
        let mut b = json!({"kind": "banner", "image_url": "https://cdn.example/a.png",
            "click_url": "https://acme.example/", "width": 300, "height": 250});
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    for (extra, field) in [
        (
            json!({"iab_categories": ["IAB8", "alcohol"]}),
            "iab_categories[1]",
        ),
        (json!({"iab_categories": ["IAB27"]}), "iab_categories[0]"),
        (json!({"attributes": [6, 18]}), "attributes[1]"),
        (json!({"app_bundle": "com brand"}), "app_bundle"),
    ] {
        let r = app.post(&path, &key, banner(extra.clone())).await;
        assert_eq!(
            (r.status, r.field()),
            (422, Some(field)),
            "{extra}: {}",
            r.text
        );
    }
    let r = app
        .post(
            &path,
            &key,
            banner(
                json!({"iab_categories": ["iab8-5"], "app_bundle": "com.acme.app",
                "attributes": [6, 1, 6]}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["iab_categories"], json!(["IAB8-5"]));
    assert_eq!(r.body["app_bundle"], "com.acme.app");
    assert_eq!(r.body["attributes"], json!([1, 6]));
    let crid = r.id();
    let r = app
        .post(
            &format!("/v1/creatives/{crid}/review"),
            ADMIN_KEY,
            json!({"status": "approved", "version": 1}),
        )
        .await;
    assert_eq!(r.body["review"]["status"], "approved", "{}", r.text);
    let cpath = format!("/v1/creatives/{crid}");
    // The same values: nothing changed, still approved.
    let r = app
        .patch(&cpath, &key, json!({"version": 2, "attributes": [1, 6]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["review"]["status"], "approved");
    // A new category: back to review, so it stops serving until approved again.
    let r = app
        .patch(
            &cpath,
            &key,
            json!({"version": 3, "iab_categories": ["IAB8"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["iab_categories"], json!(["IAB8"]));
    assert_eq!(r.body["review"]["status"], "pending");
    let r = app
        .patch(
            &cpath,
            &key,
            json!({"version": 4, "click_url": "https://x.example/"}),
        )
        .await;
    assert_eq!(r.status, 400, "URLs are not patchable: {}", r.text);
    let (_, other) = app.advertiser("Rival").await;
    let r = app
        .patch(&cpath, &other, json!({"version": 4, "attributes": []}))
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
}

async fn line_items_target_deal_ids(backend: Backend) {
    let app = spawn_app(backend).await;
    let (adv, key) = app.advertiser("Acme").await;
    let cid = app.campaign(&key, &adv).await;
    let path = format!("/v1/campaigns/{cid}/line-items");
    let body = |deals: serde_json::Value| {
        json!({"name": "deal", "pricing": {"model": "cpm", "bid_micros": 5_000_000},
            "targeting": {"placements": ["offsite"], "deals": deals}})
    };
    let r = app.post(&path, &key, body(json!(["deal 1"]))).await;
    assert_eq!(
        (r.status, r.field()),
        (422, Some("targeting.deals[0]")),
        "{}",
        r.text
    );
    let r = app
        .post(&path, &key, body(json!(["deal-1", " deal-1 ", "Deal-2"])))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["targeting"]["deals"], json!(["deal-1", "Deal-2"]));
}

both_backends!(
    advertisers_declare_their_domains,
    creative_blocking_fields_are_checked_and_a_change_goes_back_to_review,
    line_items_target_deal_ids,
);
