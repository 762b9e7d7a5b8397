//! Create, read, update and list every object through the API.

use crate::helpers::*;
use serde_json::json;

async fn a_campaign_tree_round_trips(backend: Backend) {
    let app = spawn_app(backend).await;
    let (adv, key) = app.advertiser("Acme Dairy").await;

    // An advertiser key implies its advertiser.
    let mut body = campaign_body(&adv);
    body.as_object_mut().unwrap().remove("advertiser_id");
    let c = app.post("/v1/campaigns", &key, body).await;
    assert_eq!(c.status, 201, "{}", c.text);
    assert_eq!(c.body["advertiser_id"], adv.as_str());
    assert_eq!(c.body["currency"], "USD");
    assert_eq!(c.body["status"], "draft");
    assert_eq!(c.body["version"], 1);
    assert_eq!(c.body["budget"]["daily_micros"], 500_000_000);
    assert_eq!(c.body["attribution"]["scope"], "brand");
    assert_eq!(c.body["attribution"]["model"], "last_touch");
    let cid = c.id();
    let got = app.get(&format!("/v1/campaigns/{cid}"), &key).await;
    assert_eq!((got.status, &got.body), (200, &c.body));

    let p = app
        .patch(&format!("/v1/campaigns/{cid}"), &key,
            json!({"version": 1, "name": "Holiday dairy v2", "status": "active", "budget": {"daily_micros": 400_000_000}}))
        .await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(p.body["version"], 2);
    assert_eq!(p.body["status"], "active");
    assert_eq!(p.body["budget"]["daily_micros"], 400_000_000);
    assert_eq!(
        p.body["budget"]["total_micros"], 10_000_000_000i64,
        "untouched fields stay"
    );

    let li = app
        .post(
            &format!("/v1/campaigns/{cid}/line-items"),
            &key,
            line_item_body(),
        )
        .await;
    assert_eq!(li.status, 201, "{}", li.text);
    assert_eq!(
        li.body["targeting"]["keywords"],
        json!([{"text": "milk", "match": "broad"}]),
        "a plain string is a broad-match keyword"
    );
    assert_eq!(li.body["campaign_id"], cid.as_str());
    let lid = li.id();
    let lp = app
        .patch(&format!("/v1/line-items/{lid}"), &key,
            json!({"version": 1, "frequency_cap": null, "pricing": {"model": "cpm", "bid_micros": 8_000_000}}))
        .await;
    assert_eq!(lp.status, 200, "{}", lp.text);
    assert_eq!(lp.body["frequency_cap"], json!(null));
    assert_eq!(lp.body["pricing"]["model"], "cpm");
    assert_eq!(
        app.get(&format!("/v1/line-items/{lid}"), &key).await.body,
        lp.body
    );

    let cr = app
        .post(
            &format!("/v1/line-items/{lid}/creatives"),
            &key,
            creative_body(),
        )
        .await;
    assert_eq!(cr.status, 201, "{}", cr.text);
    let crid = cr.id();
    assert_eq!(
        app.get(&format!("/v1/creatives/{crid}"), &key).await.body,
        cr.body
    );
    // A native creative's sponsor defaults to the advertiser's name; one given is kept.
    let native = |assets: serde_json::Value| {
        json!({"kind": "native", "image_url": "https://cdn.example/n.jpg", "width": 1200,
            "height": 627, "click_url": "https://shop.example/spring", "native": assets})
    };
    let n = app
        .post(
            &format!("/v1/line-items/{lid}/creatives"),
            &key,
            native(json!({"title": " Spring picks ", "cta_text": "Shop now"})),
        )
        .await;
    assert_eq!(n.status, 201, "{}", n.text);
    assert_eq!(
        n.body["native"],
        json!({"title": "Spring picks", "cta_text": "Shop now", "sponsored_by": "Acme Dairy"})
    );
    let n = app
        .post(
            &format!("/v1/line-items/{lid}/creatives"),
            &key,
            native(json!({"sponsored_by": "Acme Farms"})),
        )
        .await;
    assert_eq!(n.body["native"]["sponsored_by"], "Acme Farms", "{}", n.text);

    let lis = app
        .get(&format!("/v1/campaigns/{cid}/line-items"), &key)
        .await;
    assert_eq!(lis.body["items"].as_array().unwrap().len(), 1);
    let crs = app
        .get(&format!("/v1/line-items/{lid}/creatives"), &key)
        .await;
    assert_eq!(crs.body["items"][0]["id"], crid.as_str());
}

async fn campaigns_page_with_a_cursor_and_filter_by_status(backend: Backend) {
    let app = spawn_app(backend).await;
    let (adv, key) = app.advertiser("Acme").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(app.campaign(&key, &adv).await);
    }
    let first = app.get("/v1/campaigns?limit=2", &key).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let cursor = first.body["next_cursor"]
        .as_str()
        .expect("more pages")
        .to_string();
    let second = app
        .get(&format!("/v1/campaigns?limit=2&cursor={cursor}"), &key)
        .await;
    let mut seen: Vec<String> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second.body["items"].as_array().unwrap())
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(second.body["next_cursor"], json!(null));
    assert_eq!(seen, ids);

    let p = app
        .patch(
            &format!("/v1/campaigns/{}", ids[1]),
            &key,
            json!({"version": 1, "status": "active"}),
        )
        .await;
    assert_eq!(p.status, 200);
    let active = app.get("/v1/campaigns?status=active", &key).await;
    seen = active.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, vec![ids[1].clone()]);
}

async fn a_stale_version_answers_409_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (adv, key) = app.advertiser("Acme").await;
    let cid = app.campaign(&key, &adv).await;
    let path = format!("/v1/campaigns/{cid}");
    let ok = app
        .patch(&path, &key, json!({"version": 1, "name": "First writer"}))
        .await;
    assert_eq!(ok.status, 200);
    let stale = app
        .patch(&path, &key, json!({"version": 1, "name": "Second writer"}))
        .await;
    assert_eq!(stale.status, 409, "{}", stale.text);
    assert_eq!(stale.error(), Some("version_conflict"));
    assert_eq!(stale.field(), Some("version"));
    let now = app.get(&path, &key).await;
    assert_eq!(
        (now.body["name"].as_str(), now.body["version"].as_i64()),
        (Some("First writer"), Some(2))
    );

    let lid = app.line_item(&key, &cid).await;
    let lpath = format!("/v1/line-items/{lid}");
    assert_eq!(
        app.patch(&lpath, &key, json!({"version": 1, "name": "a"}))
            .await
            .status,
        200
    );
    assert_eq!(
        app.patch(&lpath, &key, json!({"version": 1, "name": "b"}))
            .await
            .status,
        409
    );
    assert_eq!(app.get(&lpath, &key).await.body["name"], "a");
}

async fn status_transitions_are_enforced(backend: Backend) {
    let app = spawn_app(backend).await;
    let (adv, key) = app.advertiser("Acme").await;
    let cid = app.campaign(&key, &adv).await;
    let path = format!("/v1/campaigns/{cid}");
    let r = app
        .patch(&path, &key, json!({"version": 1, "status": "paused"}))
        .await;
    assert_eq!(
        (r.status, r.field()),
        (422, Some("status")),
        "a draft cannot be paused"
    );
    let r = app
        .patch(&path, &key, json!({"version": 1, "status": "archived"}))
        .await;
    assert_eq!(r.status, 200);
    let r = app
        .patch(&path, &key, json!({"version": 2, "status": "active"}))
        .await;
    assert_eq!(
        (r.status, r.field()),
        (422, Some("status")),
        "archived is final"
    );
    let r = app
        .post(&format!("{path}/line-items"), &key, line_item_body())
        .await;
    assert_eq!(
        (r.status, r.field()),
        (422, Some("campaign_id")),
        "no new line items in an archived campaign"
    );
}

async fn every_change_is_in_the_audit_log(backend: Backend) {
    let app = spawn_app(backend).await;
    let (adv, key) = app.advertiser("Acme").await;
    let cid = app.campaign(&key, &adv).await;
    app.patch(
        &format!("/v1/campaigns/{cid}"),
        &key,
        json!({"version": 1, "holdout_percent": 20}),
    )
    .await;
    let log = app
        .get(&format!("/v1/audit-log?object_id={cid}"), ADMIN_KEY)
        .await;
    let items = log.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["action"], "create");
    assert_eq!(items[1]["action"], "update");
    assert!(items[1]["actor"]
        .as_str()
        .unwrap()
        .starts_with("advertiser:"));
    assert_eq!(items[1]["doc"]["holdout_percent"], 20);
}

async fn a_creative_is_pending_until_an_admin_reviews_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let (adv, key) = app.advertiser("Acme").await;
    let cid = app.campaign(&key, &adv).await;
    let lid = app.line_item(&key, &cid).await;
    let crid = app.creative(&key, &lid).await;
    let cr = app.get(&format!("/v1/creatives/{crid}"), &key).await;
    assert_eq!(cr.body["review"]["status"], "pending", "{}", cr.text);
    let path = format!("/v1/creatives/{crid}/review");

    // Advertisers cannot approve their own ads.
    let r = app
        .post(&path, &key, json!({"status": "approved", "version": 1}))
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    // Rejecting needs a reason; pending is not a decision; a stale version changes nothing.
    for (body, status, field) in [
        (json!({"status": "rejected", "version": 1}), 422, "reason"),
        (json!({"status": "pending", "version": 1}), 422, "status"),
        (json!({"status": "approved", "version": 7}), 409, ""),
    ] {
        let r = app.post(&path, ADMIN_KEY, body.clone()).await;
        assert_eq!(r.status, status, "{body}: {}", r.text);
        if !field.is_empty() {
            assert_eq!(r.body["field"], field, "{}", r.text);
        }
    }
    let r = app
        .post(
            &path,
            ADMIN_KEY,
            json!({"status": "rejected", "reason": "blurry image", "version": 1}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["review"]["status"], "rejected");
    assert_eq!(r.body["review"]["reason"], "blurry image");
    assert!(r.body["review"]["reviewed_by"]
        .as_str()
        .unwrap()
        .starts_with("admin"));
    let r = app
        .post(
            &path,
            ADMIN_KEY,
            json!({"status": "approved", "version": 2}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["review"]["status"], "approved");
    // The owner sees the decision.
    let cr = app.get(&format!("/v1/creatives/{crid}"), &key).await;
    assert_eq!(cr.body["review"]["status"], "approved");
}

async fn creative_urls_are_parsed_strictly(backend: Backend) {
    let app = spawn_app(backend).await;
    let (adv, key) = app.advertiser("Acme").await;
    let cid = app.campaign(&key, &adv).await;
    let lid = app.line_item(&key, &cid).await;
    let path = format!("/v1/line-items/{lid}/creatives");
    for (image, click, field) in [
        (
            "https://c.x/a.png\"onerror=\"alert(1)",
            "https://acme.example/",
            "image_url",
        ),
        ("http://c.x/a.png", "https://acme.example/", "image_url"),
        ("https://c.x/a.png", "javascript:alert(1)", "click_url"),
        (
            "https://c.x/a.png",
            "https://acme.example/<script>",
            "click_url",
        ),
        (
            "https://u:p@c.x/a.png",
            "https://acme.example/",
            "image_url",
        ),
    ] {
        let r = app
            .post(
                &path,
                &key,
                json!({"kind": "banner", "image_url": image, "click_url": click,
                "width": 300, "height": 250}),
            )
            .await;
        assert_eq!(r.status, 422, "{image} {click}: {}", r.text);
        assert_eq!(r.body["field"], field, "{}", r.text);
    }
    let r = app
        .post(
            &path,
            &key,
            json!({"kind": "banner", "image_url": "https://CDN.example/a.png",
            "click_url": "http://acme.example", "width": 300, "height": 250}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.body["image_url"], "https://cdn.example/a.png",
        "normalized"
    );
    assert_eq!(r.body["click_url"], "http://acme.example/");
}

both_backends!(
    a_creative_is_pending_until_an_admin_reviews_it,
    creative_urls_are_parsed_strictly,
    a_campaign_tree_round_trips,
    campaigns_page_with_a_cursor_and_filter_by_status,
    a_stale_version_answers_409_and_changes_nothing,
    status_transitions_are_enforced,
    every_change_is_in_the_audit_log,
);
