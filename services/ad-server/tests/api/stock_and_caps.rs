//! Inventory-aware serving and frequency caps above the line item, through the ad server.

use super::*;
use endcap_core::*;

/// A campaign of Acme's with one line item on `pdp` promoting `skus`, a creative per SKU.
async fn seed_pdp(app: &TestApp, skus: &[&str]) -> (Campaign, LineItem) {
    let store = CampaignStore::connect(&app.db).await.unwrap();
    let adv = acme(&store).await;
    let now = chrono::Utc::now();
    let input: CampaignInput = serde_json::from_value(json!({
        "name": "c", "status": "active",
        "budget": {"total_micros": 1_000_000_000, "daily_micros": 100_000_000},
        "start_at": (now - chrono::Duration::days(1)).to_rfc3339(),
        "end_at": (now + chrono::Duration::days(30)).to_rfc3339()}))
    .unwrap();
    let c = store
        .create_campaign("t", adv.id, None, |_| Ok(input.validate()?))
        .await
        .unwrap()
        .value;
    let input: LineItemInput = serde_json::from_value(json!({
        "name": "pdp", "status": "active", "promoted_skus": skus,
        "pricing": {"model": "cpm", "bid_micros": 5_000_000},
        "targeting": {"placements": ["pdp"]}}))
    .unwrap();
    let li = store
        .create_line_item("t", c.id, None, |c| Ok(input.validate(c)?))
        .await
        .unwrap()
        .value;
    for sku in skus {
        let input: CreativeInput = serde_json::from_value(json!({"kind": "sponsored_product",
            "sku": sku, "click_url": format!("https://shop.example/p/{sku}")}))
        .unwrap();
        let cr = store
            .create_creative("t", li.id, None, |li| Ok(input.validate(li)?))
            .await
            .unwrap()
            .value;
        store.approve_creative("t", &cr).await.unwrap();
    }
    app.index.refresh().await.unwrap();
    (c, li)
}

fn pdp(store: &str, on_page: &str) -> Value {
    json!({"placements": [{"id": "pdp"}],
           "context": {"store_id": store, "skus_on_page": [on_page]}})
}

#[actix_web::test]
async fn a_product_out_of_stock_at_the_shoppers_store_is_not_advertised_there() {
    let app = spawn(false).await;
    let (_, li) = seed_pdp(&app, &["sku-a", "sku-b"]).await;
    let store = CampaignStore::connect(&app.db).await.unwrap();
    let fact = |sku: &str, store: &str, in_stock: bool| endcap_store::Availability {
        sku: sku.into(),
        store_id: store.into(),
        in_stock,
    };
    let sku_shown = |r: &Resp| r.body["placements"][0]["ads"][0]["creative"]["sku"].clone();
    // Before any upload: the product on the page is shown.
    let r = app
        .send("POST", "/v1/decisions", None, Some(pdp("s1", "sku-a")))
        .await;
    assert_eq!(sku_shown(&r), json!("sku-a"), "{}", r.body);

    store
        .set_availability(&[fact("sku-a", "s1", false)])
        .await
        .unwrap();
    app.index.refresh_if_changed().await.unwrap();
    let r = app
        .send("POST", "/v1/decisions", None, Some(pdp("s1", "sku-a")))
        .await;
    assert_eq!(
        sku_shown(&r),
        json!("sku-b"),
        "the line item's other product, in stock at s1: {}",
        r.body
    );
    let r = app
        .send("POST", "/v1/decisions", None, Some(pdp("s2", "sku-a")))
        .await;
    assert_eq!(sku_shown(&r), json!("sku-a"), "in stock at s2 (unknown)");

    store
        .set_availability(&[fact("sku-b", "s1", false)])
        .await
        .unwrap();
    app.index.refresh_if_changed().await.unwrap();
    let r = app
        .send(
            "POST",
            "/v1/decisions?debug=1",
            Some(ADMIN),
            Some(pdp("s1", "sku-a")),
        )
        .await;
    assert_eq!(r.body["placements"][0]["ads"], json!([]), "{}", r.body);
    let why = r.body["debug"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["line_item_id"] == li.id.to_string())
        .cloned();
    assert_eq!(
        why,
        Some(json!({"slot_id": "pdp", "line_item_id": li.id.to_string(),
                    "outcome": "filtered", "detail": "out_of_stock"})),
        "{}",
        r.body
    );

    // Back in stock: it serves at s1 again.
    store
        .set_availability(&[fact("sku-a", "s1", true)])
        .await
        .unwrap();
    app.index.refresh_if_changed().await.unwrap();
    let r = app
        .send("POST", "/v1/decisions", None, Some(pdp("s1", "sku-a")))
        .await;
    assert_eq!(sku_shown(&r), json!("sku-a"), "{}", r.body);
}

#[actix_web::test]
async fn a_campaign_cap_counts_the_impressions_of_all_its_line_items() {
    let app = spawn(false).await;
    let (c, first) = seed_pdp(&app, &["sku-a"]).await;
    let store = CampaignStore::connect(&app.db).await.unwrap();
    let input: LineItemInput = serde_json::from_value(json!({
        "name": "second", "status": "active", "promoted_skus": ["sku-b"],
        "pricing": {"model": "cpm", "bid_micros": 4_000_000},
        "targeting": {"placements": ["pdp"]}}))
    .unwrap();
    let second = store
        .create_line_item("t", c.id, None, |c| Ok(input.validate(c)?))
        .await
        .unwrap()
        .value;
    let cr: CreativeInput = serde_json::from_value(json!({"kind": "sponsored_product",
        "sku": "sku-b", "click_url": "https://shop.example/p/sku-b"}))
    .unwrap();
    let cr = store
        .create_creative("t", second.id, None, |li| Ok(cr.validate(li)?))
        .await
        .unwrap()
        .value;
    store.approve_creative("t", &cr).await.unwrap();
    // One ad of the campaign a day per user, whichever line item shows it.
    let patch: CampaignPatch = serde_json::from_value(
        json!({"version": c.version, "frequency_cap": {"max": 1, "per": "day"}}),
    )
    .unwrap();
    store
        .update_campaign("t", c.id, c.version, |cur| Ok(patch.apply(cur)?))
        .await
        .unwrap();
    app.index.refresh().await.unwrap();
    let ask = |user: &str| json!({"user_key": user, "placements": [{"id": "pdp"}]});
    let user = "1".repeat(64);
    let r = app
        .send("POST", "/v1/decisions", None, Some(ask(&user)))
        .await;
    let ad = &r.body["placements"][0]["ads"][0];
    assert_eq!(
        ad["line_item_id"],
        first.id.to_string(),
        "the higher bid: {}",
        r.body
    );
    // The ad is shown: its impression counts toward the line item, campaign and advertiser.
    let mut shown = app
        .client
        .get(ad["impression_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(shown.status().as_u16(), 204, "{:?}", shown.body().await);
    let r = app
        .send(
            "POST",
            "/v1/decisions?debug=1",
            Some(ADMIN),
            Some(ask(&user)),
        )
        .await;
    assert_eq!(r.body["placements"][0]["ads"], json!([]), "{}", r.body);
    for li in [first.id, second.id] {
        let why = r.body["debug"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["line_item_id"] == li.to_string())
            .map(|e| (e["outcome"].clone(), e["detail"].clone()));
        assert_eq!(
            why,
            Some((json!("frequency_cap"), json!("campaign"))),
            "{}",
            r.body
        );
    }
    let r = app
        .send("POST", "/v1/decisions", None, Some(ask(&"2".repeat(64))))
        .await;
    assert_eq!(
        r.body["placements"][0]["ads"][0]["line_item_id"],
        first.id.to_string(),
        "caps are per user"
    );
}
