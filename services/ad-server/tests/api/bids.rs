//! Keyword bids and placement multipliers through `/v1/decisions`: the price answered with
//! `include_pricing`, the charge in the ledger and the decision log's bid all follow the
//! effective bid (keyword or line item bid x the placement's multiplier).

use super::*;
use endcap_core::*;

/// Two advertisers' CPM line items on `search-top` and `home`. A bids 1.00, 5.00 on the
/// exact search "whole milk", and x1.5 on `search-top`; B bids 4.00 everywhere.
async fn seed_bids(app: &TestApp) -> (LineItemId, LineItemId) {
    let store = CampaignStore::connect(&app.db).await.unwrap();
    let now = chrono::Utc::now();
    let mut ids = Vec::new();
    for (name, li) in [
        (
            "A",
            json!({"name": "a", "status": "active", "promoted_skus": ["sku-a"],
                "pricing": {"model": "cpm", "bid_micros": 1_000_000},
                "targeting": {"placements": ["search-top", "home"], "keywords": [
                    {"text": "Whole Milk", "match": "exact", "bid_micros": 5_000_000}, "milk"]},
                "placement_multipliers": {"Search-Top": 1.5}}),
        ),
        (
            "B",
            json!({"name": "b", "status": "active", "promoted_skus": ["sku-b"],
                "pricing": {"model": "cpm", "bid_micros": 4_000_000},
                "targeting": {"placements": ["search-top", "home"]}}),
        ),
    ] {
        let adv = store
            .create_advertiser(
                "t",
                AdvertiserInput {
                    name: name.into(),
                    currency: "USD".into(),
                    frequency_cap: None,
                    domains: vec![],
                }
                .validate()
                .unwrap(),
                None,
            )
            .await
            .unwrap()
            .value;
        let input: CampaignInput = serde_json::from_value(json!({"name": "c", "status": "active",
            "budget": {"total_micros": 1_000_000_000, "daily_micros": 100_000_000},
            "start_at": (now - chrono::Duration::days(1)).to_rfc3339(),
            "end_at": (now + chrono::Duration::days(30)).to_rfc3339()}))
        .unwrap();
        let c = store
            .create_campaign("t", adv.id, None, |_| Ok(input.validate()?))
            .await
            .unwrap()
            .value;
        let input: LineItemInput = serde_json::from_value(li).unwrap();
        let li = store
            .create_line_item("t", c.id, None, |c| Ok(input.validate(c)?))
            .await
            .unwrap()
            .value;
        let sku = li.promoted_skus[0].clone();
        let cr: CreativeInput = serde_json::from_value(json!({"kind": "sponsored_product",
            "sku": sku, "click_url": format!("https://shop.example/p/{sku}")}))
        .unwrap();
        let cr = store
            .create_creative("t", li.id, None, |li| Ok(cr.validate(li)?))
            .await
            .unwrap()
            .value;
        store.approve_creative("t", &cr).await.unwrap();
        ids.push(li.id);
    }
    app.index.refresh().await.unwrap();
    (ids[0], ids[1])
}

/// The one ad of a decision on `placement` for the search `query`, with its price.
async fn ask(app: &TestApp, placement: &str, query: &str) -> Value {
    let r = app
        .send(
            "POST",
            "/v1/decisions",
            None,
            Some(
                json!({"placements": [{"id": placement}], "include_pricing": true,
                "context": {"query": query}}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["placements"][0]["ads"][0].clone()
}

#[actix_web::test]
async fn keyword_bids_and_placement_multipliers_set_the_price_the_charge_and_the_logged_bid() {
    // A 6.00 reserve on search-top: A's 5.00 keyword bid clears it only through x1.5.
    let app = spawn_with(
        false,
        None,
        &[("ENDCAP_PLACEMENT_FLOORS", "search-top:6000000")],
    )
    .await;
    let (a, b) = seed_bids(&app).await;

    // search-top, "whole milk": A bids 5.00 x 1.5 = 7.50, B's 4.00 is under the reserve;
    // A pays the reserve, never more than its effective bid.
    let ad = ask(&app, "search-top", "Whole  milk").await;
    assert_eq!(ad["line_item_id"], a.to_string(), "{ad}");
    assert_eq!(ad["pricing"]["price_micros"], 6_000_000, "{ad}");
    let top_decision = ad["decision_id"].as_str().unwrap().to_string();
    let imp = app
        .get(&path_of(ad["impression_url"].as_str().unwrap()))
        .await;
    assert_eq!(imp.status, 204);

    // home, "whole milk": no multiplier; the keyword's 5.00 beats B's 4.00, pays 4.00.
    let ad = ask(&app, "home", "whole milk").await;
    assert_eq!(ad["line_item_id"], a.to_string(), "{ad}");
    assert_eq!(ad["pricing"]["price_micros"], 4_000_000, "{ad}");
    let imp = app
        .get(&path_of(ad["impression_url"].as_str().unwrap()))
        .await;
    assert_eq!(imp.status, 204);

    // home, "organic milk": A's broad "milk" has no bid of its own, so A bids its line
    // item's 1.00 and B wins, paying A's 1.00.
    let ad = ask(&app, "home", "organic milk").await;
    assert_eq!(ad["line_item_id"], b.to_string(), "{ad}");
    assert_eq!(ad["pricing"]["price_micros"], 1_000_000, "{ad}");

    // The ledger bills the answered prices (CPM: N micros per mille is N nanos per
    // impression), nothing else.
    let ledger = app.logged(Table::Charges).await;
    let mut billed: Vec<i64> = charges(&ledger)
        .iter()
        .filter(|c| c.billable())
        .map(|c| c.charge_nanos)
        .collect();
    billed.sort_unstable();
    assert_eq!(billed, vec![4_000_000, 6_000_000], "{ledger:?}");

    // The decision log records the effective bid, the multiplier, the search and the
    // keyword that matched.
    let log = app.logged(Table::Decisions).await;
    let rows: Vec<&endcap_events::DecisionRecord> = log
        .iter()
        .map(|e| match e {
            Event::Decision(d) => d.as_ref(),
            other => panic!("not a decision: {other:?}"),
        })
        .collect();
    let top = rows
        .iter()
        .find(|d| d.exposure.decision_id.to_string() == top_decision)
        .expect("the search-top decision is logged");
    assert_eq!(
        (
            top.bid_micros,
            top.bid_multiplier_bps,
            top.exposure.price_micros
        ),
        (7_500_000, 15_000, 6_000_000)
    );
    assert_eq!(
        (
            top.query.as_str(),
            top.matched_keyword.as_str(),
            top.match_type.as_str()
        ),
        ("whole milk", "whole milk", "exact")
    );
    let won_by_b = rows
        .iter()
        .find(|d| d.exposure.line_item_id == b)
        .expect("B's decision is logged");
    assert_eq!(
        (won_by_b.bid_micros, won_by_b.bid_multiplier_bps),
        (4_000_000, 10_000)
    );
    assert!(won_by_b.matched_keyword.is_empty(), "B targets no keyword");
}

#[actix_web::test]
async fn a_multiplier_below_one_can_lose_the_slot_to_the_reserve() {
    let app = spawn_with(false, None, &[("ENDCAP_PLACEMENT_FLOORS", "money:1200000")]).await;
    let store = CampaignStore::connect(&app.db).await.unwrap();
    let one = super::money::seed_one(
        &app.db,
        json!({"model": "cpm", "bid_micros": 2_000_000}),
        100_000_000,
        1_000_000_000,
    )
    .await;
    let set = |m: Value| {
        let store = store.clone();
        let id = one.line_item.id;
        async move {
            let cur = store.get::<LineItem>(&id.to_string()).await.unwrap();
            let patch: LineItemPatch =
                serde_json::from_value(json!({"version": cur.version, "placement_multipliers": m}))
                    .unwrap();
            store
                .update_line_item("t", id, cur.version, |cur, c| Ok(patch.apply(cur, c)?))
                .await
                .unwrap();
        }
    };
    let decide = || async {
        app.index.refresh().await.unwrap();
        app.send(
            "POST",
            "/v1/decisions",
            None,
            Some(json!({"placements": [{"id": "money"}], "include_pricing": true})),
        )
        .await
        .body["placements"][0]["ads"]
            .clone()
    };
    // The seeded line item targets the `money` placement: x0.5 there makes its 2.00 a 1.00,
    // under the 1.20 reserve.
    set(json!({"money": 0.5})).await;
    assert_eq!(decide().await, json!([]));
    // Multipliers removed: 2.00 clears the reserve and pays it.
    set(json!({})).await;
    let ads = decide().await;
    assert_eq!(ads[0]["pricing"]["price_micros"], 1_200_000, "{ads}");
}
