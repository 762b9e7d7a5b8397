//! Keyword bids and placement multipliers through the line item API: stored and answered
//! as sent (multipliers as factors), bad ones refused naming the field, nothing written.

use crate::helpers::*;
use serde_json::json;

async fn keyword_bids_and_multipliers_are_checked_and_kept(backend: Backend) {
    let app = spawn_app(backend).await;
    let (adv, key) = app.advertiser("Brand").await;
    let campaign = app.campaign(&key, &adv).await;
    let path = format!("/v1/campaigns/{campaign}/line-items");
    let body = |keywords: serde_json::Value, multipliers: serde_json::Value| {
        let mut b = line_item_body();
        b["targeting"]["placements"] = json!(["search-top", "home"]);
        b["targeting"]["keywords"] = keywords;
        b["placement_multipliers"] = multipliers;
        b
    };
    let r = app
        .post(
            &path,
            &key,
            body(
                json!(["milk", {"text": "Whole Milk", "match": "exact", "bid_micros": 2_500_000}]),
                json!({"Search-Top": 1.5, "home": 0.75}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.body["targeting"]["keywords"][1],
        json!({"text": "whole milk", "match": "exact", "bid_micros": 2_500_000})
    );
    assert_eq!(
        r.body["placement_multipliers"],
        json!({"search-top": 1.5, "home": 0.75})
    );
    let id = r.id();
    let got = app.get(&format!("/v1/line-items/{id}"), &key).await;
    assert_eq!(
        got.body["placement_multipliers"],
        r.body["placement_multipliers"]
    );

    for (keywords, multipliers, field) in [
        (
            json!([{"text": "milk", "bid_micros": 0}]),
            json!({}),
            "targeting.keywords[0].bid_micros",
        ),
        (
            json!([{"text": "milk", "match": "negative", "bid_micros": 1}]),
            json!({}),
            "targeting.keywords[0].bid_micros",
        ),
        (
            json!([{"text": "milk", "bid_micros": 1_000_000_000_000_001_i64}]),
            json!({}),
            "targeting.keywords[0].bid_micros",
        ),
        (
            json!(["milk"]),
            json!({"pdp": 1.5}),
            "placement_multipliers.pdp",
        ),
        (
            json!(["milk"]),
            json!({"home": 10.5}),
            "placement_multipliers.home",
        ),
        (
            json!(["milk"]),
            json!({"home": 0.05}),
            "placement_multipliers.home",
        ),
        (
            json!(["milk"]),
            json!({"home": 1.23456}),
            "placement_multipliers.home",
        ),
    ] {
        let r = app.post(&path, &key, body(keywords, multipliers)).await;
        assert_eq!((r.status, r.field()), (422, Some(field)), "{}", r.text);
    }
    let list = app.get(&path, &key).await;
    assert_eq!(
        list.body["items"].as_array().map(Vec::len),
        Some(1),
        "nothing half-written: {}",
        list.text
    );

    // Targeting that drops a placement with a multiplier is refused; the patch that drops
    // both is taken.
    let patch = |v: i64, b: serde_json::Value| {
        let mut b = b;
        b["version"] = json!(v);
        b
    };
    let r = app
        .patch(
            &format!("/v1/line-items/{id}"),
            &key,
            patch(1, json!({"targeting": {"placements": ["search-top"]}})),
        )
        .await;
    assert_eq!(
        (r.status, r.field()),
        (422, Some("placement_multipliers.home")),
        "{}",
        r.text
    );
    let r = app
        .patch(
            &format!("/v1/line-items/{id}"),
            &key,
            patch(
                1,
                json!({"targeting": {"placements": ["search-top"]},
                       "placement_multipliers": {"search-top": 2}}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["placement_multipliers"], json!({"search-top": 2.0}));

    // Keyword bids are in the line item's pricing model: a new model without the keywords
    // re-priced is refused (2.5 dollars a click must not become 2.5 dollars a thousand, nor
    // the reverse), and nothing is written; with targeting sent along it is taken.
    let r = app
        .patch(
            &format!("/v1/line-items/{id}"),
            &key,
            patch(
                2,
                json!({"targeting": {"placements": ["search-top"], "keywords": [
                    "milk", {"text": "whole milk", "match": "exact", "bid_micros": 2_500_000}]}}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .patch(
            &format!("/v1/line-items/{id}"),
            &key,
            patch(
                3,
                json!({"pricing": {"model": "cpm", "bid_micros": 4_000_000}}),
            ),
        )
        .await;
    assert_eq!(
        (r.status, r.field()),
        (422, Some("targeting.keywords[1].bid_micros")),
        "{}",
        r.text
    );
    let got = app.get(&format!("/v1/line-items/{id}"), &key).await;
    assert_eq!(got.body["pricing"]["model"], json!("cpc"), "{}", got.text);
    let r = app
        .patch(
            &format!("/v1/line-items/{id}"),
            &key,
            patch(
                3,
                json!({"pricing": {"model": "cpm", "bid_micros": 4_000_000},
                       "targeting": {"placements": ["search-top"], "keywords": [
                           {"text": "whole milk", "match": "exact", "bid_micros": 6_000_000}]}}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["pricing"]["model"], json!("cpm"));
}

both_backends!(keyword_bids_and_multipliers_are_checked_and_kept);
