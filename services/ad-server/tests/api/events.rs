//! Custom events of placed ads: signed per-event URLs in decisions, logged once per decision
//! and name, never charged.

use super::*;

/// One decision for the seeded search line item; its first ad.
async fn one_ad(app: &TestApp) -> Value {
    decisions::seed(app, 0, 100_000_000).await;
    let r = app
        .send(
            "POST",
            "/v1/decisions",
            None,
            Some(
                json!({"user_key": "ef".repeat(32), "placements": [{"id": "search-top"}],
                "context": {"keywords": ["milk"], "page_type": "search"}}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["placements"][0]["ads"][0].clone()
}

fn custom(e: &Event) -> &endcap_events::CustomEvent {
    match e {
        Event::Custom(c) => c,
        other => panic!("not a custom event: {other:?}"),
    }
}

#[actix_web::test]
async fn each_placed_ad_gets_signed_event_urls_logged_once_per_decision_and_never_charged() {
    let app = spawn(false).await;
    let ad0 = one_ad(&app).await;
    let urls = ad0["event_urls"].as_object().expect("event_urls");
    assert_eq!(
        urls.keys().collect::<Vec<_>>(),
        ["add_to_cart", "view_through"],
        "the default list"
    );
    let cart = path_of(urls["add_to_cart"].as_str().unwrap());
    let view = path_of(urls["view_through"].as_str().unwrap());
    assert!(cart.starts_with("/v1/events/custom?t="), "{cart}");
    assert_eq!(app.get(&cart).await.status, 204);
    let gif = app.get(&format!("{cart}&f=gif")).await;
    assert_eq!(
        (
            gif.status,
            gif.headers.get("content-type").map(String::as_str)
        ),
        (200, Some("image/gif")),
        "a replay is answered like the first"
    );
    assert_eq!(app.get(&view).await.status, 204);
    let logged = app.logged(Table::CustomEvents).await;
    let mut got: Vec<(&str, String)> = logged
        .iter()
        .map(|e| {
            let c = custom(e);
            (c.name.as_str(), c.exposure.decision_id.to_string())
        })
        .collect();
    got.sort();
    let decision = ad0["decision_id"].as_str().unwrap().to_string();
    assert_eq!(
        got,
        [
            ("add_to_cart", decision.clone()),
            ("view_through", decision)
        ],
        "one per decision and name: the replay is not logged"
    );
    assert_ne!(custom(&logged[0]).event_id, custom(&logged[1]).event_id);
    assert!(app
        .metrics()
        .await
        .contains("endcap_tracking_events_total{kind=\"custom\"} 2"));
    assert!(
        app.logged(Table::Charges).await.is_empty(),
        "custom events never charge"
    );
    assert!(app.logged(Table::Impressions).await.is_empty());
}

#[actix_web::test]
async fn event_tokens_are_refused_elsewhere_and_other_tokens_here() {
    let app = spawn(false).await;
    let x = exposure(PricingModel::Cpc, 500_000);
    let ev = KeyRing::parse(KEYS)
        .unwrap()
        .sign(&Claims::custom_event(&x, "add_to_cart"));
    for path in [
        format!("/v1/events/click?t={ev}"),
        format!("/v1/events/impression?t={ev}"),
        format!("/v1/events/custom?t={}", token(TokenKind::Click, &x)),
    ] {
        let r = app.get(&path).await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (403, Some("t")),
            "{path}"
        );
    }
    let r = app.get("/v1/events/custom?t=garbage").await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("malformed_token"))
    );
    assert!(app.logged(Table::CustomEvents).await.is_empty());
    assert!(app.logged(Table::Clicks).await.is_empty());
}

#[actix_web::test]
async fn a_bot_event_is_not_logged_and_does_not_use_up_the_decisions_event() {
    let app = spawn(false).await;
    let x = exposure(PricingModel::Cpm, 1_000_000);
    let t = KeyRing::parse(KEYS)
        .unwrap()
        .sign(&Claims::custom_event(&x, "add_to_cart"));
    let bot = awc::Client::builder()
        .add_default_header((
            "User-Agent",
            "Googlebot/2.1 (+http://www.google.com/bot.html)",
        ))
        .finish();
    let r = bot
        .get(format!("{}/v1/events/custom?t={t}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert!(app.logged(Table::CustomEvents).await.is_empty());
    assert_eq!(
        app.get(&format!("/v1/events/custom?t={t}")).await.status,
        204
    );
    assert_eq!(app.logged(Table::CustomEvents).await.len(), 1);
}

#[actix_web::test]
async fn no_event_urls_when_none_are_configured() {
    let app = spawn_with(false, None, &[("ENDCAP_CUSTOM_EVENTS", "none")]).await;
    let ad0 = one_ad(&app).await;
    assert!(ad0.get("event_urls").is_none(), "{ad0}");
}

#[actix_web::test]
async fn a_restart_remembers_the_events_already_logged() {
    let app = spawn(false).await;
    let x = exposure(PricingModel::Cpm, 1_000_000);
    let t = KeyRing::parse(KEYS)
        .unwrap()
        .sign(&Claims::custom_event(&x, "view_through"));
    assert_eq!(
        app.get(&format!("/v1/events/custom?t={t}")).await.status,
        204
    );
    app.sink.flush().await;
    let again = spawn_on(false, None, &[], app.events.clone(), app.db.clone()).await;
    assert_eq!(
        again.get(&format!("/v1/events/custom?t={t}")).await.status,
        204
    );
    assert_eq!(
        again.logged(Table::CustomEvents).await.len(),
        1,
        "the replay after the restart is a duplicate"
    );
}
