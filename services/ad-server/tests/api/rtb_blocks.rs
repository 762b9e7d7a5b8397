//! OpenRTB blocking by declared advertiser domains, IAB categories, apps and creative
//! attributes, and `pmp` deals, over the standard seed plus [`seed_rtb`].

use super::*;
use endcap_core::*;

/// Two more advertisers bidding on `offsite:banner:300x600` only (so the standard seed's
/// answers are unchanged): Globex declares `globex.com` and bids 3.00 CPM with a banner in
/// `IAB8-5`, promoting `com.globex.app`, with attribute 6, and 5.00 CPM through `deal-1`;
/// Initech declares nothing and bids 1.00 CPM with a plain banner on `www.initech.example`.
pub(crate) async fn seed_rtb(app: &TestApp) {
    let store = CampaignStore::connect(&app.db).await.unwrap();
    let now = chrono::Utc::now();
    let advertiser = |name: &str, domains: Vec<String>| {
        let new = AdvertiserInput {
            name: name.into(),
            currency: "USD".into(),
            domains,
            frequency_cap: None,
        }
        .validate()
        .unwrap();
        let store = store.clone();
        async move { store.create_advertiser("t", new, None).await.unwrap().value }
    };
    let globex = advertiser("Globex", vec!["WWW.Globex.com".into()]).await;
    assert_eq!(globex.domains, vec!["globex.com"]);
    let initech = advertiser("Initech", vec![]).await;
    let line_item = |adv: Advertiser, body: Value| {
        let store = store.clone();
        async move {
            let input: CampaignInput = serde_json::from_value(json!({"name": "c",
                "status": "active",
                "budget": {"total_micros": 1_000_000_000, "daily_micros": 100_000_000},
                "start_at": (now - chrono::Duration::days(1)).to_rfc3339(),
                "end_at": (now + chrono::Duration::days(30)).to_rfc3339()}))
            .unwrap();
            let c = store
                .create_campaign("t", adv.id, None, |_| Ok(input.validate()?))
                .await
                .unwrap()
                .value;
            let input: LineItemInput = serde_json::from_value(body).unwrap();
            store
                .create_line_item("t", c.id, None, |c| Ok(input.validate(c)?))
                .await
                .unwrap()
                .value
        }
    };
    let creative = |li: LineItemId, extra: Value| {
        let store = store.clone();
        async move {
            let mut body = json!({"kind": "banner", "image_url": "https://cdn.example/t.png",
                "width": 300, "height": 600, "click_url": "https://retailer.example/p"});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            let input: CreativeInput = serde_json::from_value(body).unwrap();
            let cr = store
                .create_creative("t", li, None, |li| Ok(input.validate(li)?))
                .await
                .unwrap()
                .value;
            store.approve_creative("t", &cr).await.unwrap();
        }
    };
    let tall = json!(["offsite:banner:300x600"]);
    let open = line_item(
        globex.clone(),
        json!({"name": "globex", "status": "active",
        "pricing": {"model": "cpm", "bid_micros": 3_000_000}, "targeting": {"placements": tall}}),
    )
    .await;
    creative(
        open.id,
        json!({"iab_categories": ["iab8-5"], "app_bundle": "com.globex.app", "attributes": [6]}),
    )
    .await;
    let deal = line_item(
        globex,
        json!({"name": "globex-deal", "status": "active",
        "pricing": {"model": "cpm", "bid_micros": 5_000_000},
        "targeting": {"placements": tall, "deals": ["deal-1"]}}),
    )
    .await;
    creative(deal.id, json!({})).await;
    let low = line_item(
        initech,
        json!({"name": "initech", "status": "active",
        "pricing": {"model": "cpm", "bid_micros": 1_000_000}, "targeting": {"placements": tall}}),
    )
    .await;
    creative(
        low.id,
        json!({"click_url": "https://www.initech.example/offer"}),
    )
    .await;
    app.index.refresh().await.unwrap();
}

fn tall_imp(extra: Value) -> Value {
    let mut imp = json!({"id": "1", "banner": {"w": 300, "h": 600}});
    imp.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    imp
}

#[actix_web::test]
async fn a_bid_names_the_declared_domains_and_what_the_creative_is() {
    let app = spawn(false).await;
    seed_rtb(&app).await;
    let r = app
        .send(
            "POST",
            "/openrtb2/bid",
            None,
            Some(json!({"id": "r", "imp": [tall_imp(json!({}))], "tmax": 200})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let bid = &r.body["seatbid"][0]["bid"][0];
    assert_eq!(r.body["seatbid"][0]["seat"], "endcap");
    assert_eq!(bid["adomain"], json!(["globex.com"]));
    assert_eq!(bid["cat"], json!(["IAB8-5"]));
    assert_eq!(bid["cattax"], 1);
    assert_eq!(bid["bundle"], "com.globex.app");
    assert_eq!(bid["attr"], json!([6]));
    assert!(bid.get("dealid").is_none());
}

#[actix_web::test]
async fn declared_domains_changed_later_reach_bids_and_blocks_at_the_next_refresh() {
    let app = spawn(false).await;
    seed_rtb(&app).await;
    let store = CampaignStore::connect(&app.db).await.unwrap();
    let initech = store
        .list_all::<Advertiser>(None)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.name == "Initech")
        .unwrap();
    let bid = |badv: Value| {
        let body = json!({"id": "r", "imp": [tall_imp(json!({}))], "tmax": 200,
            "badv": badv});
        let app = &app;
        async move { app.send("POST", "/openrtb2/bid", None, Some(body)).await }
    };
    // Globex blocked: Initech, which declared nothing, is named by its landing page.
    let r = bid(json!(["globex.com"])).await;
    assert_eq!(
        r.body["seatbid"][0]["bid"][0]["adomain"],
        json!(["initech.example"])
    );
    let patch = AdvertiserPatch {
        version: initech.version,
        domains: Some(vec!["initech.com".into()]),
    };
    store
        .update_advertiser("t", initech.id, initech.version, |a| Ok(patch.apply(a)?))
        .await
        .unwrap();
    assert!(app.index.refresh_if_changed().await.unwrap().is_some());
    let r = bid(json!(["globex.com"])).await;
    assert_eq!(
        r.body["seatbid"][0]["bid"][0]["adomain"],
        json!(["initech.com"])
    );
    // Its landing page's host no longer blocks it; its declared domain does.
    let r = bid(json!(["globex.com", "initech.example"])).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = bid(json!(["globex.com", "initech.com"])).await;
    assert_eq!(r.status, 204, "{}", r.body);
}

#[actix_web::test]
async fn a_deal_bid_clears_its_floor_in_another_currency_and_never_passes_the_value() {
    let app = spawn_with(false, None, &[("ENDCAP_FX_RATES", "EUR:1.25")]).await;
    seed_rtb(&app).await;
    let bid = |floor: f64| {
        let body = json!({"id": "r", "cur": ["EUR"], "tmax": 200, "imp": [tall_imp(json!({
            "pmp": {"private_auction": 1, "deals": [
                {"id": "deal-1", "bidfloor": floor, "bidfloorcur": "EUR"}]}}))]});
        let app = &app;
        async move { app.send("POST", "/openrtb2/bid", None, Some(body)).await }
    };
    // 5.00 USD of value is 4.00 EUR: a 3.50 EUR floor is cleared, at the value.
    let r = bid(3.5).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["cur"], "EUR");
    let b = &r.body["seatbid"][0]["bid"][0];
    assert_eq!(b["dealid"], "deal-1");
    assert_eq!(b["price"], 4.0);
    // At the value exactly: still a bid; a cent above: none.
    assert_eq!(bid(4.0).await.status, 200);
    assert_eq!(bid(4.01).await.status, 204);
}
