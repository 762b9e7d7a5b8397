//! The money rules end to end: hard budgets, the ledger, duplicates, invalid clicks, and
//! spend that survives a restart.

use super::*;
use endcap_core::*;

/// A campaign with one line item and one creative, in the app's store.
pub(crate) struct One {
    pub(crate) campaign: Campaign,
    pub(crate) line_item: LineItem,
    pub(crate) creative: CreativeId,
}

pub(crate) async fn seed_one(db: &str, pricing: Value, daily: i64, total: i64) -> One {
    let store = CampaignStore::connect(db).await.unwrap();
    let adv = acme(&store).await;
    let now = chrono::Utc::now();
    let input: CampaignInput = serde_json::from_value(json!({"name": "c", "status": "active",
        "budget": {"total_micros": total, "daily_micros": daily},
        "start_at": (now - chrono::Duration::days(1)).to_rfc3339(),
        "end_at": (now + chrono::Duration::days(30)).to_rfc3339()}))
    .unwrap();
    let campaign = store
        .create_campaign("t", adv.id, None, |_| Ok(input.validate()?))
        .await
        .unwrap()
        .value;
    let li: LineItemInput = serde_json::from_value(json!({"name": "li", "status": "active",
        "promoted_skus": ["sku-9"], "pricing": pricing, "targeting": {"placements": ["money"]}}))
    .unwrap();
    let line_item = store
        .create_line_item("t", campaign.id, None, |c| Ok(li.validate(c)?))
        .await
        .unwrap()
        .value;
    let cr: CreativeInput = serde_json::from_value(json!({"kind": "sponsored_product",
        "sku": "sku-9", "click_url": "https://shop.example/p/sku-9"}))
    .unwrap();
    let creative = store
        .create_creative("t", line_item.id, None, |li| Ok(cr.validate(li)?))
        .await
        .unwrap()
        .value;
    // Only approved creatives serve.
    let creative = store.approve_creative("t", &creative).await.unwrap().id;
    One {
        campaign,
        line_item,
        creative,
    }
}

/// A fresh exposure of the seeded line item at `price` (what a decision would sign).
pub(crate) fn served(one: &One, price: i64) -> Exposure {
    Exposure {
        decision_id: DecisionId::generate(),
        decided_at_ms: chrono::Utc::now().timestamp_millis(),
        user_key: "12".repeat(32),
        advertiser_id: one.campaign.advertiser_id,
        campaign_id: one.campaign.id,
        line_item_id: one.line_item.id,
        creative_id: one.creative,
        channel: AdChannel::Onsite,
        placement: "money".into(),
        position: 0,
        sku: Some("sku-9".into()),
        pricing: one.line_item.pricing.model,
        price_micros: price,
        bid_cpm_micros: 0,
    }
}

fn sum_reason(ledger: &[Event], reason: ChargeReason) -> i64 {
    charges(ledger)
        .iter()
        .filter(|c| c.reason == reason)
        .map(|c| c.charge_nanos)
        .sum()
}

#[actix_web::test]
async fn a_budget_is_never_billed_past_its_limit_and_the_rest_is_recorded() {
    let app = spawn(false).await;
    // $1.00 a day; clicks at $0.30: three and a third clicks are billable.
    let one = seed_one(
        &app.db,
        json!({"model": "cpc", "bid_micros": 300_000}),
        1_000_000,
        5_000_000,
    )
    .await;
    app.index.refresh().await.unwrap();
    for _ in 0..10 {
        let t = token(TokenKind::Click, &served(&one, 300_000));
        assert_eq!(
            app.get(&format!("/v1/events/click?t={t}")).await.status,
            302
        );
    }
    let ledger = app.logged(Table::Charges).await;
    assert_eq!(
        billable_nanos(&ledger),
        1_000_000_000,
        "exactly the daily budget"
    );
    assert_eq!(sum_reason(&ledger, ChargeReason::OverBudget), 2_000_000_000);
    let split: Vec<(ChargeReason, i64)> = charges(&ledger)
        .iter()
        .filter(|c| c.charge_nanos == 100_000_000 || c.charge_nanos == 200_000_000)
        .map(|c| (c.reason, c.charge_nanos))
        .collect();
    assert!(
        split.contains(&(ChargeReason::Billable, 100_000_000))
            && split.contains(&(ChargeReason::OverBudget, 200_000_000)),
        "the click that crossed the line is split: {split:?}"
    );
    let clicks = app.logged(Table::Clicks).await;
    let logged: i64 = clicks.iter().map(|e| ad(e).charge_nanos).sum();
    assert_eq!(
        logged, 1_000_000_000,
        "click rows carry their billable part"
    );
    let day = charges(&ledger)[0].accounting_day;
    assert_eq!(
        day,
        (chrono::Utc::now().date_naive() - chrono::NaiveDate::default()).num_days() as i32,
        "the accounting day (UTC by default)"
    );
}

#[actix_web::test]
async fn a_replayed_click_is_charged_once_and_recorded_as_a_duplicate() {
    let app = spawn(false).await;
    let one = seed_one(
        &app.db,
        json!({"model": "cpc", "bid_micros": 400_000}),
        10_000_000,
        50_000_000,
    )
    .await;
    app.index.refresh().await.unwrap();
    let t = token(TokenKind::Click, &served(&one, 400_000));
    for _ in 0..5 {
        assert_eq!(
            app.get(&format!("/v1/events/click?t={t}")).await.status,
            302
        );
    }
    let ledger = app.logged(Table::Charges).await;
    assert_eq!(billable_nanos(&ledger), 400_000_000);
    assert_eq!(
        charges(&ledger)
            .iter()
            .filter(|c| c.reason == ChargeReason::Duplicate)
            .count(),
        4
    );
}

#[actix_web::test]
async fn clicks_without_a_seen_impression_can_be_refused_for_billing() {
    let app = spawn_with(false, None, &[("ENDCAP_CLICKS_NEED_IMPRESSION", "true")]).await;
    let one = seed_one(
        &app.db,
        json!({"model": "cpc", "bid_micros": 200_000}),
        10_000_000,
        50_000_000,
    )
    .await;
    app.index.refresh().await.unwrap();
    let blind = served(&one, 200_000);
    app.get(&format!(
        "/v1/events/click?t={}",
        token(TokenKind::Click, &blind)
    ))
    .await;
    let seen = served(&one, 200_000);
    app.get(&format!(
        "/v1/events/impression?t={}",
        token(TokenKind::Impression, &seen)
    ))
    .await;
    app.get(&format!(
        "/v1/events/click?t={}",
        token(TokenKind::Click, &seen)
    ))
    .await;
    let ledger = app.logged(Table::Charges).await;
    let rows: Vec<(uuid::Uuid, ChargeReason)> = charges(&ledger)
        .iter()
        .map(|c| (c.decision_id, c.reason))
        .collect();
    assert!(rows.contains(&(blind.decision_id.as_uuid(), ChargeReason::InvalidTraffic)));
    assert!(rows.contains(&(seen.decision_id.as_uuid(), ChargeReason::Billable)));
    assert_eq!(billable_nanos(&ledger), 200_000_000);
    assert!(app
        .metrics()
        .await
        .contains("endcap_tracking_clicks_without_impression_total 1"));
}

#[actix_web::test]
async fn spend_and_dedup_survive_a_restart_on_embedded_defaults() {
    let first = spawn(false).await;
    let one = seed_one(
        &first.db,
        json!({"model": "cpc", "bid_micros": 300_000}),
        1_000_000,
        5_000_000,
    )
    .await;
    first.index.refresh().await.unwrap();
    let tokens: Vec<String> = (0..4)
        .map(|_| token(TokenKind::Click, &served(&one, 300_000)))
        .collect();
    for t in &tokens {
        first.get(&format!("/v1/events/click?t={t}")).await;
    }
    first.sink.flush().await;
    // A second process on the same file log and store: it rebuilds spend from the ledger.
    let again = spawn_on(false, None, &[], first.events.clone(), first.db.clone()).await;
    let r = again
        .send(
            "POST",
            "/v1/decisions?debug=1",
            Some(ADMIN),
            Some(json!({"placements": [{"id": "money"}]})),
        )
        .await;
    assert_eq!(
        r.body["placements"][0]["ads"],
        json!([]),
        "the day's budget is spent"
    );
    assert!(
        r.body["debug"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["outcome"] == "budget"),
        "{}",
        r.body
    );
    // A replayed click is still a duplicate after the restart.
    again
        .get(&format!("/v1/events/click?t={}", tokens[0]))
        .await;
    let ledger = again.logged(Table::Charges).await;
    assert_eq!(billable_nanos(&ledger), 1_000_000_000);
    assert_eq!(
        charges(&ledger)
            .iter()
            .filter(|c| c.reason == ChargeReason::Duplicate && c.decision_id == one_id(&tokens[0]))
            .count(),
        1
    );
}

fn one_id(t: &str) -> uuid::Uuid {
    let now = chrono::Utc::now().timestamp_millis();
    KeyRing::parse(KEYS)
        .unwrap()
        .verify(t, TokenKind::Click, now, 3_600_000, 60_000)
        .unwrap()
        .exposure
        .decision_id
        .as_uuid()
}

#[actix_web::test]
async fn with_clickhouse_and_no_redis_spend_survives_a_restart_too() {
    let base = std::env::var("ENDCAP_TEST_CLICKHOUSE_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:8123".into());
    let url = format!("{base}?database=endcap_t_{}", uuid::Uuid::now_v7().simple());
    let env = [("ENDCAP_CLICKHOUSE", url.as_str())];
    let first = spawn_with(false, None, &env).await;
    let one = seed_one(
        &first.db,
        json!({"model": "cpc", "bid_micros": 300_000}),
        1_000_000,
        5_000_000,
    )
    .await;
    first.index.refresh().await.unwrap();
    let t = token(TokenKind::Click, &served(&one, 300_000));
    first.get(&format!("/v1/events/click?t={t}")).await;
    for _ in 0..3 {
        let t = token(TokenKind::Click, &served(&one, 300_000));
        first.get(&format!("/v1/events/click?t={t}")).await;
    }
    first.sink.flush().await;
    let again = spawn_on(false, None, &env, first.events.clone(), first.db.clone()).await;
    let r = again
        .send(
            "POST",
            "/v1/decisions?debug=1",
            Some(ADMIN),
            Some(json!({"placements": [{"id": "money"}]})),
        )
        .await;
    assert_eq!(
        r.body["placements"][0]["ads"],
        json!([]),
        "the day's budget is spent: {}",
        r.body
    );
    again.get(&format!("/v1/events/click?t={t}")).await;
    again.sink.flush().await;
    let cfg = endcap_events::ClickHouseConfig::from_url(&url).unwrap();
    let (billable, duplicates): (i64, u64) = cfg
        .client()
        .query("SELECT sumIf(charge_nanos, billable = 1), countIf(reason = 'duplicate') FROM charges FINAL")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(
        billable, 1_000_000_000,
        "never past the budget across the restart"
    );
    assert_eq!(
        duplicates, 1,
        "the replayed click is a duplicate after the restart"
    );
}

#[actix_web::test]
async fn bots_bare_requests_and_instant_clicks_are_logged_but_never_billed() {
    let app = spawn_with(false, None, &[("ENDCAP_MIN_CLICK_MS", "1000")]).await;
    let one = seed_one(
        &app.db,
        json!({"model": "cpc", "bid_micros": 200_000}),
        10_000_000,
        50_000_000,
    )
    .await;
    app.index.refresh().await.unwrap();
    // A client that sends no user agent at all.
    let bare = awc::Client::builder().disable_redirects().finish();
    let hit = |kind: TokenKind, x: &Exposure, ua: Option<&'static str>| {
        let path = match kind {
            TokenKind::Click => "click",
            _ => "impression",
        };
        let url = format!("{}/v1/events/{path}?t={}", app.base, token(kind, x));
        let req = match ua {
            Some(ua) => app.client.get(url).insert_header(("User-Agent", ua)),
            None => bare.get(url),
        };
        async move {
            let status = req.send().await.unwrap().status().as_u16();
            assert!(status == 204 || status == 302, "{status}");
        }
    };
    let earlier = |mut x: Exposure| {
        x.decided_at_ms -= 5_000;
        x
    };
    let bot = earlier(served(&one, 200_000));
    let fast = served(&one, 200_000);
    let blank = earlier(served(&one, 200_000));
    let person = earlier(served(&one, 200_000));
    for (x, ua) in [
        (
            &bot,
            Some("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
        ),
        (&fast, Some(crate::BROWSER_UA)),
        (&blank, None),
        (&person, Some(crate::BROWSER_UA)),
    ] {
        hit(TokenKind::Impression, x, Some(crate::BROWSER_UA)).await;
        hit(TokenKind::Click, x, ua).await;
    }
    let ledger = app.logged(Table::Charges).await;
    let reason_of = |x: &Exposure| {
        charges(&ledger)
            .iter()
            .find(|c| {
                c.decision_id == x.decision_id.as_uuid()
                    && c.source == endcap_events::ChargeSource::Click
            })
            .map(|c| c.reason)
    };
    assert_eq!(reason_of(&bot), Some(ChargeReason::Bot));
    assert_eq!(reason_of(&fast), Some(ChargeReason::TooFast));
    assert_eq!(reason_of(&blank), Some(ChargeReason::NoUserAgent));
    assert_eq!(reason_of(&person), Some(ChargeReason::Billable));
    assert_eq!(
        billable_nanos(&ledger),
        200_000_000,
        "only the person's click is billed"
    );
    // Filtered clicks are in the ledger with their reason, not in the click table that
    // attribution and delivery read.
    assert_eq!(app.logged(Table::Clicks).await.len(), 1);
    // A bot's or a bare request's sighting does not use up its decision: the person clicking
    // later is billed. A click too fast does: sent again later it is a duplicate, never billed.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    hit(TokenKind::Click, &blank, Some(crate::BROWSER_UA)).await;
    hit(TokenKind::Click, &fast, Some(crate::BROWSER_UA)).await;
    let ledger = app.logged(Table::Charges).await;
    assert_eq!(billable_nanos(&ledger), 400_000_000);
    // A bot replaying its URL writes one ledger row, not one per replay.
    for _ in 0..3 {
        hit(TokenKind::Click, &bot, Some("Googlebot/2.1")).await;
    }
    let ledger = app.logged(Table::Charges).await;
    let bot_rows = charges(&ledger)
        .iter()
        .filter(|c| c.decision_id == bot.decision_id.as_uuid() && c.reason == ChargeReason::Bot)
        .count();
    assert_eq!(bot_rows, 1);
    let m = app.metrics().await;
    for line in [
        "endcap_invalid_traffic_total{reason=\"bot\"} 4",
        "endcap_invalid_traffic_total{reason=\"too_fast\"} 1",
        "endcap_invalid_traffic_total{reason=\"no_user_agent\"} 1",
    ] {
        assert!(m.contains(line), "{line}\n{m}");
    }
}

#[actix_web::test]
async fn a_user_clicking_past_its_rate_is_filtered_and_not_billed() {
    // A user may click twice an hour before its rate is judged (no history yet).
    let app = spawn_with(false, None, &[("ENDCAP_CLICK_RATE_FLOORS", "2,1000,1000")]).await;
    let one = seed_one(
        &app.db,
        json!({"model": "cpc", "bid_micros": 100_000}),
        10_000_000,
        50_000_000,
    )
    .await;
    app.index.refresh().await.unwrap();
    let mut clicked = Vec::new();
    for _ in 0..4 {
        let x = served(&one, 100_000);
        for kind in [TokenKind::Impression, TokenKind::Click] {
            let path = if kind == TokenKind::Click {
                "click"
            } else {
                "impression"
            };
            let url = format!("{}/v1/events/{path}?t={}", app.base, token(kind, &x));
            let r = app
                .client
                .get(url)
                .insert_header(("User-Agent", crate::BROWSER_UA))
                .send()
                .await
                .unwrap();
            assert!(matches!(r.status().as_u16(), 204 | 302));
        }
        clicked.push(x);
    }
    let ledger = app.logged(Table::Charges).await;
    let reasons: Vec<Option<ChargeReason>> = clicked
        .iter()
        .map(|x| {
            charges(&ledger)
                .iter()
                .find(|c| {
                    c.decision_id == x.decision_id.as_uuid()
                        && c.source == endcap_events::ChargeSource::Click
                })
                .map(|c| c.reason)
        })
        .collect();
    assert_eq!(
        reasons,
        vec![
            Some(ChargeReason::Billable),
            Some(ChargeReason::Billable),
            Some(ChargeReason::ClickRate),
            Some(ChargeReason::ClickRate),
        ]
    );
    assert_eq!(billable_nanos(&ledger), 200_000_000);
    // A refused click sent again (the next hour, another replica) is a duplicate.
    let again = format!(
        "{}/v1/events/click?t={}",
        app.base,
        token(TokenKind::Click, &clicked[3])
    );
    app.client
        .get(again)
        .insert_header(("User-Agent", crate::BROWSER_UA))
        .send()
        .await
        .unwrap();
    let ledger = app.logged(Table::Charges).await;
    assert_eq!(billable_nanos(&ledger), 200_000_000);
}
