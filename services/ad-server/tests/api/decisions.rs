//! Decisions and OpenRTB bids over a seeded campaign store.

use super::*;
use endcap_core::*;

pub(crate) struct Seeded {
    pub(crate) search: LineItemId,
    pub(crate) held_campaign: CampaignId,
    pub(crate) held_line_item: LineItem,
}

pub(crate) async fn seed(app: &TestApp, holdout: u8, daily_micros: i64) -> Seeded {
    let store = CampaignStore::connect(&app.db).await.unwrap();
    let adv = acme(&store).await;
    let now = chrono::Utc::now();
    let campaign_json = |h: u8| {
        json!({"name": "c", "status": "active", "holdout_percent": h,
               "budget": {"total_micros": daily_micros * 10, "daily_micros": daily_micros},
               "start_at": (now - chrono::Duration::days(1)).to_rfc3339(),
               "end_at": (now + chrono::Duration::days(30)).to_rfc3339()})
    };
    let mk_campaign = |h: u8| {
        let input: CampaignInput = serde_json::from_value(campaign_json(h)).unwrap();
        let store = store.clone();
        async move {
            store
                .create_campaign("t", adv.id, None, |_| Ok(input.validate()?))
                .await
                .unwrap()
                .value
        }
    };
    let c = mk_campaign(0).await;
    let held = mk_campaign(holdout).await;
    let mk_li = |c: Campaign, body: Value| {
        let store = store.clone();
        async move {
            let input: LineItemInput = serde_json::from_value(body).unwrap();
            store
                .create_line_item("t", c.id, None, |c| Ok(input.validate(c)?))
                .await
                .unwrap()
                .value
        }
    };
    let search = mk_li(
        c.clone(),
        json!({"name": "search", "status": "active", "promoted_skus": ["sku-1"],
        "pricing": {"model": "cpc", "bid_micros": 1_000_000},
        "targeting": {"placements": ["search-top"], "keywords": ["milk"]}}),
    )
    .await;
    let banner = mk_li(c.clone(), json!({"name": "banner", "status": "active",
        "pricing": {"model": "cpm", "bid_micros": 2_000_000},
        "targeting": {"placements": ["offsite:banner:300x250", "offsite:banner:728x90", "offsite:native"]}})).await;
    let ghosted = mk_li(
        held.clone(),
        json!({"name": "held", "status": "active",
        "pricing": {"model": "cpm", "bid_micros": 50_000_000},
        "targeting": {"placements": ["home"]}}),
    )
    .await;
    let mk_cr = |li: LineItemId, body: Value| {
        let store = store.clone();
        async move {
            let input: CreativeInput = serde_json::from_value(body).unwrap();
            let cr = store
                .create_creative("t", li, None, |li| Ok(input.validate(li)?))
                .await
                .unwrap()
                .value;
            // Only approved creatives serve.
            store.approve_creative("t", &cr).await.unwrap();
        }
    };
    mk_cr(search.id, json!({"kind": "sponsored_product", "sku": "sku-1", "click_url": "https://shop.example/p/sku-1"})).await;
    for (w, h) in [(300, 250), (728, 90)] {
        mk_cr(banner.id, json!({"kind": "banner", "image_url": "https://cdn.example/b.png", "width": w, "height": h, "click_url": "https://acme.example/spring"})).await;
    }
    mk_cr(banner.id, json!({"kind": "native", "image_url": "https://cdn.example/n.png", "width": 1200, "height": 627,
        "click_url": "https://acme.example/spring",
        "native": {"title": "Spring picks from Acme", "sponsored_by": "Acme",
            "description": "Fresh produce and pantry staples, delivered from your local store",
            "icon_url": "https://cdn.example/icon.png", "icon_width": 100, "icon_height": 100,
            "cta_text": "Shop now", "price": "$4.99"}})).await;
    mk_cr(ghosted.id, json!({"kind": "sponsored_product", "sku": "sku-1", "click_url": "https://shop.example/p/sku-1"})).await;
    app.index.refresh().await.unwrap();
    Seeded {
        search: search.id,
        held_campaign: held.id,
        held_line_item: ghosted,
    }
}

#[actix_web::test]
async fn a_search_decision_returns_a_signed_ad_that_tracks() {
    let app = spawn(false).await;
    let s = seed(&app, 0, 100_000_000).await;
    let user = "ab".repeat(32);
    let r = app
        .send(
            "POST",
            "/v1/decisions",
            None,
            Some(json!({"user_key": user,
            "placements": [{"id": "search-top", "count": 2}, {"id": "pdp-carousel"}],
            "context": {"keywords": ["Organic  Milk", "milk"], "device": "mobile"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ads = r.body["placements"][0]["ads"].as_array().unwrap();
    assert_eq!(ads.len(), 1);
    assert_eq!(ads[0]["line_item_id"], s.search.to_string());
    assert_eq!(ads[0]["creative"]["sku"], "sku-1");
    assert_eq!(
        r.body["placements"][1]["ads"],
        json!([]),
        "no eligible ad is an empty list"
    );
    let imp = app
        .get(&path_of(ads[0]["impression_url"].as_str().unwrap()))
        .await;
    assert_eq!(imp.status, 204);
    let click = app
        .get(&path_of(ads[0]["click_url"].as_str().unwrap()))
        .await;
    assert_eq!(
        (
            click.status,
            click.headers.get("location").map(String::as_str)
        ),
        (302, Some("https://shop.example/p/sku-1"))
    );
    let decision = ads[0]["decision_id"].as_str().unwrap();
    let imps = app.logged(Table::Impressions).await;
    assert_eq!(ad(&imps[0]).exposure.decision_id.to_string(), decision);
    let clicks = app.logged(Table::Clicks).await;
    let c = ad(&clicks[0]);
    assert_eq!(
        (
            c.exposure.user_key.as_str(),
            c.exposure.decision_id.to_string().as_str()
        ),
        (user.as_str(), decision)
    );
    assert!(
        c.exposure.price_micros > 0 && c.exposure.price_micros <= 1_000_000,
        "a CPC price within the bid"
    );
    assert_eq!(
        c.charge_nanos,
        c.exposure.price_micros * 1_000,
        "charged in nanos"
    );
    // The decision log has the context and the model's view; the tokens do not.
    let log = app.logged(Table::Decisions).await;
    let Event::Decision(d) = &log[0] else {
        panic!("{log:?}")
    };
    assert_eq!(d.exposure.decision_id.to_string(), decision);
    assert_eq!(
        (d.arm, d.slot_count, d.keywords.clone()),
        (
            endcap_events::Arm::Served,
            2,
            vec!["organic milk".to_string(), "milk".to_string()]
        )
    );
    assert!(
        d.features.contains("\"keyword_match\":true"),
        "{}",
        d.features
    );
    assert_eq!(d.device, "mobile");
    for url in [&ads[0]["impression_url"], &ads[0]["click_url"]] {
        let t = url.as_str().unwrap().split("t=").nth(1).unwrap();
        let payload = t.split('.').nth(1).unwrap();
        // Binary ids and numbers, and the few strings of the exposure.
        let bytes =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("keyword") && !text.contains("feature") && bytes.len() < 300,
            "tokens carry ids and prices only: {text}"
        );
    }
}

#[actix_web::test]
async fn bad_decision_requests_are_named_4xx() {
    // An OpenRTB request with more impressions than one page has: refused, named.
    let app_ = spawn(false).await;
    let imps: Vec<serde_json::Value> = (0..21)
        .map(|i| json!({"id": format!("i{i}"), "banner": {"w": 300, "h": 250}}))
        .collect();
    let r = app_
        .send(
            "POST",
            "/openrtb2/bid",
            None,
            Some(json!({"id": "r1", "imp": imps})),
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (400, Some("imp")),
        "{:?}",
        r.body
    );
    let app = spawn(false).await;
    for (body, status, field) in [
        (
            json!({"user_key": "u".repeat(257), "placements": [{"id": "home"}]}),
            422,
            Some("user_key"),
        ),
        (
            json!({"user_key": "  ", "placements": [{"id": "home"}]}),
            422,
            Some("user_key"),
        ),
        (json!({"placements": []}), 422, Some("placements")),
        (
            json!({"placements": [{"id": "Home Page"}]}),
            422,
            Some("placements[0].id"),
        ),
        (
            json!({"placements": [{"id": "home", "count": 0}]}),
            422,
            Some("placements[0].count"),
        ),
        // A malformed value of a known field is still named, inside an unknown neighbour.
        (
            json!({"placements": [{"id": "home", "size": "xl"}], "context": {"url": "https://x", "device": "fridge"}}),
            400,
            Some("context.device"),
        ),
        (
            json!({"placements": [{"id": "home"}], "context": {"device": "fridge"}}),
            400,
            Some("context.device"),
        ),
        // Abuse limits: lists and strings are capped, named.
        (
            json!({"placements": [{"id": "home"}], "context": {"keywords": vec!["milk"; 51]}}),
            422,
            Some("context.keywords"),
        ),
        (
            json!({"placements": [{"id": "home"}], "context": {"categories": ["a", "b", "x".repeat(201)]}}),
            422,
            Some("context.categories[2]"),
        ),
        (
            json!({"placements": [{"id": "home"}], "context": {"skus_on_page": vec!["s"; 201]}}),
            422,
            Some("context.skus_on_page"),
        ),
        (
            json!({"placements": [{"id": "home"}], "context": {"store_id": "s".repeat(201)}}),
            422,
            Some("context.store_id"),
        ),
        (
            json!({"placements": [{"id": "home"}], "context": {"products": [{"sku": "a", "score": 0.9}, {"sku": " "}]}}),
            422,
            Some("context.products[1].sku"),
        ),
    ] {
        let r = app
            .send("POST", "/v1/decisions", None, Some(body.clone()))
            .await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (status, field),
            "{body}"
        );
    }
}

#[actix_web::test]
async fn the_decision_api_forgives_unknown_fields_raw_user_keys_and_case() {
    let app = spawn(false).await;
    let s = seed(&app, 0, 100_000_000).await;
    // A retailer adds fields we do not know, sends its own user ids and upper-case
    // placement ids: it still gets its ads, under the ids it sent.
    let ask = |user: &str| {
        json!({"user_key": user, "url": "https://shop.example/search?q=milk", "referrer": "",
               "placements": [{"id": "Search-Top", "count": 1, "lazy": true}],
               "context": {"keywords": ["milk"], "query": "organic milk", "viewport": [390, 844]}})
    };
    let r = app
        .send("POST", "/v1/decisions", None, Some(ask("u-123")))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["placements"][0]["id"], "Search-Top");
    assert_eq!(
        r.body["placements"][0]["ads"][0]["line_item_id"],
        s.search.to_string(),
        "{}",
        r.body
    );
    let metrics = app.metrics().await;
    let ignored = metrics
        .lines()
        .find(|l| l.starts_with("endcap_decision_ignored_fields_total "))
        .unwrap_or_default()
        .to_string();
    assert!(
        ignored.ends_with(" 4"),
        "url, referrer, lazy, viewport: {ignored}"
    );
    // The raw id is hashed, never logged as sent, and the same id maps to the same key.
    app.sink.flush().await;
    let decisions = app.logged(endcap_events::Table::Decisions).await;
    let keys: Vec<String> = decisions
        .iter()
        .filter_map(|e| match e {
            endcap_events::Event::Decision(d) => Some(d.exposure.user_key.clone()),
            _ => None,
        })
        .collect();
    assert!(!keys.is_empty());
    assert!(
        keys.iter().all(|k| k.len() == 64 && k != "u-123"),
        "{keys:?}"
    );
    app.send("POST", "/v1/decisions", None, Some(ask("u-123")))
        .await;
    let again = app.logged(endcap_events::Table::Decisions).await;
    let last = match again.last() {
        Some(endcap_events::Event::Decision(d)) => d.exposure.user_key.clone(),
        _ => String::new(),
    };
    assert_eq!(last, keys[0]);
}

#[actix_web::test]
async fn debug_explains_every_loser_to_admins_only() {
    let app = spawn(false).await;
    let s = seed(&app, 0, 100_000_000).await;
    let body = json!({"placements": [{"id": "search-top"}], "context": {"keywords": ["bread"]}});
    assert_eq!(
        app.send("POST", "/v1/decisions?debug=1", None, Some(body.clone()))
            .await
            .status,
        401
    );
    let r = app
        .send("POST", "/v1/decisions?debug=1", Some(ADMIN), Some(body))
        .await;
    assert_eq!(r.status, 200);
    let debug = r.body["debug"].as_array().unwrap();
    assert!(
        debug
            .iter()
            .any(|e| e["line_item_id"] == s.search.to_string()
                && e["outcome"] == "filtered"
                && e["detail"] == "keyword"),
        "{debug:?}"
    );
    let plain = app
        .send(
            "POST",
            "/v1/decisions",
            None,
            Some(json!({"placements": [{"id": "search-top"}]})),
        )
        .await;
    assert!(plain.body.get("debug").is_none());
}

#[actix_web::test]
async fn holdout_users_see_no_ad_of_the_campaign_and_a_ghost_is_logged() {
    let app = spawn(false).await;
    let s = seed(&app, 50, 100_000_000).await;
    let held_user = (0..1000)
        .map(|i| format!("{i:064x}"))
        .find(|u| endcap_auction::in_holdout(u, s.held_campaign, 50))
        .unwrap();
    let exposed_user = (0..1000)
        .map(|i| format!("{i:064x}"))
        .find(|u| !endcap_auction::in_holdout(u, s.held_campaign, 50))
        .unwrap();
    let ask = |u: &str| json!({"user_key": u, "placements": [{"id": "home"}]});
    let held = app
        .send("POST", "/v1/decisions", None, Some(ask(&held_user)))
        .await;
    assert_eq!(held.body["placements"][0]["ads"], json!([]));
    let exposed = app
        .send("POST", "/v1/decisions", None, Some(ask(&exposed_user)))
        .await;
    assert_eq!(
        exposed.body["placements"][0]["ads"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The same held-out user opting out is served contextually: no holdout arm (the ad
    // shows, no ghost), and nothing logged under the user's key.
    let opted = app
        .send(
            "POST",
            "/v1/decisions",
            None,
            Some(json!({"user_key": held_user, "opt_out": true, "placements": [{"id": "home"}]})),
        )
        .await;
    assert_eq!(
        opted.body["placements"][0]["ads"].as_array().unwrap().len(),
        1,
        "{:?}",
        opted.body
    );
    let opted_decision = opted.body["placements"][0]["ads"][0]["decision_id"]
        .as_str()
        .unwrap()
        .to_string();
    let logged_keys: Vec<String> = app
        .logged(Table::Decisions)
        .await
        .iter()
        .filter_map(|e| match e {
            Event::Decision(d) if d.exposure.decision_id.to_string() == opted_decision => {
                Some(d.exposure.user_key.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(logged_keys, vec![String::new()]);
    let ghosts = app.logged(Table::ExposureHoldouts).await;
    assert_eq!(ghosts.len(), 1);
    let g = ad(&ghosts[0]);
    assert_eq!(
        (
            g.exposure.user_key.as_str(),
            g.exposure.campaign_id,
            g.charge_nanos
        ),
        (held_user.as_str(), s.held_campaign, 0)
    );
    // Both arms are in the decision log, written at decision time.
    let log = app.logged(Table::Decisions).await;
    let arms: Vec<(endcap_events::Arm, CampaignId)> = log
        .iter()
        .map(|e| match e {
            Event::Decision(d) => (d.arm, d.exposure.campaign_id),
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(
        arms.contains(&(endcap_events::Arm::Ghost, s.held_campaign)),
        "{arms:?}"
    );
    assert!(
        arms.contains(&(endcap_events::Arm::Served, s.held_campaign)),
        "{arms:?}"
    );
    let ghost_row = log
        .iter()
        .find_map(|e| match e {
            Event::Decision(d) if d.arm == endcap_events::Arm::Ghost => Some(d),
            _ => None,
        })
        .unwrap();
    assert!(
        ghost_row.features.contains("\"placement\":\"home\""),
        "the model's inputs are kept for ghosts too"
    );
}

#[actix_web::test]
async fn a_spent_budget_stops_serving() {
    // CPM 50.00 on "home", alone, with the reserve at its bid: each impression costs 50,000
    // micros; the daily budget is 100,000.
    let app = spawn_with(
        false,
        None,
        &[("ENDCAP_ONSITE_FLOOR_CPM_MICROS", "50000000")],
    )
    .await;
    seed(&app, 0, 100_000).await;
    let mut served = 0;
    for _ in 0..10 {
        let r = app
            .send(
                "POST",
                "/v1/decisions",
                None,
                Some(json!({"placements": [{"id": "home"}]})),
            )
            .await;
        let ads = r.body["placements"][0]["ads"].as_array().unwrap().clone();
        if ads.is_empty() {
            break;
        }
        served += 1;
        assert_eq!(
            app.get(&path_of(ads[0]["impression_url"].as_str().unwrap()))
                .await
                .status,
            204
        );
    }
    assert!(
        (1..=2).contains(&served),
        "stopped at the budget after {served} impressions"
    );
    let ledger = app.logged(Table::Charges).await;
    assert!(
        billable_nanos(&ledger) <= 100_000 * 1_000,
        "billable charges never pass the daily budget"
    );
}

#[actix_web::test]
async fn decisions_and_bids_need_a_caller_key_unless_open() {
    let site = "site-key-0123456789abcdef";
    let exch = "exchange-key-0123456789";
    let app = spawn_with(
        false,
        None,
        &[
            ("ENDCAP_OPEN_ENDPOINTS", "false"),
            ("ENDCAP_SITE_KEYS", site),
            ("ENDCAP_EXCHANGES", &format!("adx:{exch}:burl:clear")),
        ],
    )
    .await;
    seed(&app, 0, 100_000_000).await;
    let body = json!({"placements": [{"id": "home"}]});
    let r = app
        .send("POST", "/v1/decisions", None, Some(body.clone()))
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (401, Some("X-Endcap-Key"))
    );
    let m = awc::http::Method::POST;
    let mut ok = app
        .client
        .request(m.clone(), format!("{}/v1/decisions", app.base))
        .insert_header(("X-Endcap-Key", site))
        .send_json(&body)
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200, "{:?}", ok.body().await);
    let bid = json!({"id": "r", "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}]});
    let r = app
        .send("POST", "/openrtb2/bid", None, Some(bid.clone()))
        .await;
    assert_eq!(r.status, 401);
    let r = app
        .send(
            "POST",
            &format!("/openrtb2/bid?key={site}"),
            None,
            Some(bid.clone()),
        )
        .await;
    assert_eq!(r.status, 401, "a site key is not an exchange key");
    let r = app
        .send(
            "POST",
            &format!("/openrtb2/bid?key={exch}"),
            None,
            Some(bid),
        )
        .await;
    assert_eq!(r.status, 200);
}

#[actix_web::test]
async fn tracking_links_name_the_address_actually_bound() {
    let app = spawn(false).await;
    seed(&app, 0, 100_000_000).await;
    let r = app
        .send(
            "POST",
            "/v1/decisions",
            None,
            Some(json!({"placements": [{"id": "home"}]})),
        )
        .await;
    let url = r.body["placements"][0]["ads"][0]["impression_url"]
        .as_str()
        .unwrap();
    assert!(
        url.starts_with(&format!(
            "http://127.0.0.1:{}/v1/events/impression?t=",
            app.port
        )),
        "{url}"
    );
}

/// A private Redis this test can kill.
struct PrivateRedis(std::process::Child, u16);

impl PrivateRedis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test.sh)");
        Self(child, port)
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[actix_web::test]
async fn redis_down_after_the_first_sync_still_serves_ads_without_segments() {
    let mut redis = PrivateRedis::start();
    let app = spawn_with(false, Some(format!("redis://127.0.0.1:{}/0", redis.1)), &[]).await;
    seed(&app, 0, 100_000_000).await;
    let ask = json!({"user_key": "cd".repeat(32), "placements": [{"id": "search-top"}], "context": {"keywords": ["milk"]}});
    // A replica serves a campaign only once it has read its shared spend (synced every second).
    let mut served = false;
    for _ in 0..50 {
        let r = app
            .send("POST", "/v1/decisions", None, Some(ask.clone()))
            .await;
        if !r.body["placements"][0]["ads"]
            .as_array()
            .unwrap()
            .is_empty()
        {
            served = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(served, "served after the first sync");
    let _ = redis.0.kill();
    let _ = redis.0.wait();
    let r = app.send("POST", "/v1/decisions", None, Some(ask)).await;
    assert_eq!(r.status, 200);
    let ads = r.body["placements"][0]["ads"].as_array().unwrap();
    assert_eq!(ads.len(), 1, "Redis down: no segments, no error, still ads");
    // And a click is billed against this replica's share of what is left.
    let click = app
        .get(&path_of(ads[0]["click_url"].as_str().unwrap()))
        .await;
    assert_eq!(click.status, 302);
    let ledger = app.logged(Table::Charges).await;
    assert!(billable_nanos(&ledger) > 0, "{ledger:?}");
}

#[actix_web::test]
async fn a_replica_that_never_reached_redis_serves_nothing_it_cannot_budget() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = spawn_with(false, Some(format!("redis://127.0.0.1:{port}/0")), &[]).await;
    seed(&app, 0, 100_000_000).await;
    let r = app
        .send("POST", "/v1/decisions", None, Some(json!({"user_key": "cd".repeat(32), "placements": [{"id": "search-top"}], "context": {"keywords": ["milk"]}})))
        .await;
    assert_eq!(r.status, 200, "an answer, never an error");
    assert_eq!(r.body["placements"][0]["ads"], json!([]));
}

fn conformance_dir() -> String {
    std::env::var("ENDCAP_CONFORMANCE_DIR").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/openrtb").to_string()
    })
}

/// A native bid's `adm` parsed, after checking what every native answer must carry: asset
/// ids, our signed click URL as `link.url`, and our impression pixel as an event tracker
/// (event 1, image) or imp tracker.
fn native_adm(bid: &Value) -> Result<Value, String> {
    let adm: Value = serde_json::from_str(bid["adm"].as_str().ok_or("no adm")?)
        .map_err(|e| format!("adm is not JSON: {e}"))?;
    // Answers to pre-1.1 requests keep the old `native` root.
    let root = adm.get("native").unwrap_or(&adm);
    let assets = root["assets"].as_array().ok_or("no assets")?;
    if assets.is_empty() || assets.iter().any(|a| !a["id"].is_u64()) {
        return Err(format!("assets without ids: {adm}"));
    }
    let click = root["link"]["url"].as_str().unwrap_or_default();
    if !click.contains("/v1/events/click?t=") {
        return Err(format!("link.url is not our click URL: {adm}"));
    }
    let pixel = |u: &Value| {
        u.as_str()
            .is_some_and(|u| u.contains("/v1/events/impression?t="))
    };
    let tracked = root["eventtrackers"].as_array().is_some_and(|t| {
        t.iter()
            .any(|t| t["event"] == 1 && t["method"] == 1 && pixel(&t["url"]))
    }) || root["imptrackers"]
        .as_array()
        .is_some_and(|t| t.iter().any(pixel));
    if !tracked {
        return Err(format!("no impression pixel: {adm}"));
    }
    Ok(adm)
}

/// Whether `got` has everything `want` has: objects key by key (`null`: the key is absent),
/// arrays element by element and of the same length, `"*"` any value, the rest equal.
fn contains(got: &Value, want: &Value) -> bool {
    match want {
        Value::String(s) if s == "*" => !got.is_null(),
        Value::Object(w) => w.iter().all(|(k, v)| match (v, got.get(k)) {
            (Value::Null, g) => g.is_none(),
            (v, Some(g)) => contains(g, v),
            (_, None) => false,
        }),
        Value::Array(w) => got
            .as_array()
            .is_some_and(|g| g.len() == w.len() && g.iter().zip(w).all(|(g, w)| contains(g, w))),
        w => got == w,
    }
}

/// Runs every file of `tests/fixtures/openrtb-edge` (see its README) and checks the answer
/// against the file's `expect`.
#[actix_web::test]
async fn every_edge_case_gets_its_expected_answer() {
    let app = spawn(false).await;
    seed(&app, 0, 100_000_000).await;
    super::rtb_blocks::seed_rtb(&app).await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/openrtb-edge");
    let mut failures = Vec::new();
    let mut cases = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        cases += 1;
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let case: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let (req, want) = (&case["request"], &case["expect"]);
        let r = app
            .send("POST", "/openrtb2/bid", None, Some(req.clone()))
            .await;
        let mut check = |ok: bool, what: String| {
            if !ok {
                failures.push(format!("{name}: {what}; got {} {}", r.status, r.body));
            }
        };
        check(
            want["status"] == r.status,
            format!("status {}", want["status"]),
        );
        if let Some(field) = want.get("field") {
            check(&r.body["field"] == field, format!("field {field}"));
        }
        if let Some(nbr) = want.get("nbr") {
            check(&r.body["nbr"] == nbr, format!("nbr {nbr}"));
        }
        if let Some(cur) = want.get("cur") {
            check(&r.body["cur"] == cur, format!("cur {cur}"));
        }
        if let Some(ids) = want.get("bids") {
            let bids = r.body["seatbid"][0]["bid"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let mut got: Vec<String> = bids
                .iter()
                .map(|b| b["impid"].as_str().unwrap_or_default().to_string())
                .collect();
            let mut want_ids: Vec<String> = ids
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_str().unwrap().to_string())
                .collect();
            got.sort();
            want_ids.sort();
            check(got == want_ids, format!("bids on {want_ids:?}"));
            if let Some(m) = want.get("mtype") {
                check(bids.iter().all(|b| &b["mtype"] == m), format!("mtype {m}"));
            }
            // Fields every bid must carry as given (`null`: absent).
            for (k, v) in want
                .get("bid")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                check(bids.iter().all(|b| &b[k] == v), format!("bid.{k} {v}"));
            }
            for b in bids.iter().filter(|b| b["mtype"] == 4) {
                let adm = native_adm(b);
                check(adm.is_ok(), format!("native markup: {adm:?}"));
                if let (Ok(adm), Some(w)) = (&adm, want.get("adm")) {
                    check(contains(adm, w), format!("adm containing {w}"));
                }
            }
        }
    }
    assert!(cases >= 20, "{cases} edge cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[actix_web::test]
async fn every_iab_example_request_gets_a_valid_answer() {
    let app = spawn(false).await;
    seed(&app, 0, 100_000_000).await;
    let mut bids = 0;
    for entry in std::fs::read_dir(conformance_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let req: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let r = app
            .send("POST", "/openrtb2/bid", None, Some(req.clone()))
            .await;
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        match r.status {
            204 => {}
            200 if r.body.get("nbr").is_some() => assert_eq!(r.body["id"], req["id"], "{name}"),
            200 => {
                bids += 1;
                assert_eq!(r.body["id"], req["id"], "{name}");
                assert_eq!(r.body["cur"], "USD");
                for b in r.body["seatbid"][0]["bid"].as_array().unwrap() {
                    let imp = req["imp"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|i| i["id"] == b["impid"])
                        .expect("bid on an offered imp");
                    assert!(
                        b["price"].as_f64().unwrap() >= imp["bidfloor"].as_f64().unwrap_or(0.0),
                        "{name}: price >= floor"
                    );
                    assert!(b["cid"].as_str().is_some());
                    assert!(
                        b["burl"].as_str().unwrap().contains("/v1/events/bill?t=")
                            && b["burl"]
                                .as_str()
                                .unwrap()
                                .ends_with("price=${AUCTION_PRICE}"),
                        "{name}"
                    );
                    assert!(b["lurl"].as_str().unwrap().contains("/v1/events/loss?t="));
                    let want = if imp.get("native").is_some() { 4 } else { 1 };
                    assert_eq!(b["mtype"], want, "{name}: mtype names the markup");
                    if want == 4 {
                        native_adm(b).unwrap_or_else(|e| panic!("{name}: {e}"));
                    }
                    let adm = b["adm"].as_str().unwrap();
                    assert!(
                        adm.contains("cdn.example") && adm.contains("/v1/events/click?t="),
                        "{name}: {adm}"
                    );
                }
            }
            other => panic!("{name}: status {other}: {}", r.body),
        }
        if name.contains("video") {
            assert!(
                r.status == 204,
                "{name}: video is not bid on, with no reason code (8 is unmatched user)"
            );
        }
        if name.contains("native") {
            // The specification's example elides its native request's assets (`[ ... ]`),
            // so the request is not JSON: the imp is not bid on, and with nothing else
            // offered the answer says the request is invalid (code 2).
            assert_eq!((r.status, &r.body["nbr"]), (200, &json!(2)), "{name}");
        }
    }
    assert!(bids >= 5, "banner and native examples get bids ({bids})");
}

#[actix_web::test]
async fn keywords_match_the_search_text_by_match_type() {
    let app = spawn(false).await;
    // The seeded search line item targets `milk` (broad).
    let s = seed(&app, 0, 100_000_000).await;
    let ask = |query: &str| json!({"placements": [{"id": "search-top"}], "context": {"query": query, "page_type": "search"}});
    let served = |r: &Resp| {
        r.body["placements"][0]["ads"].as_array().is_some_and(|a| {
            a.iter()
                .any(|ad| ad["line_item_id"] == s.search.to_string())
        })
    };
    let r = app
        .send(
            "POST",
            "/v1/decisions",
            None,
            Some(ask("Organic Whole Milks")),
        )
        .await;
    assert!(served(&r), "broad match, plural folded: {}", r.body);
    let r = app
        .send("POST", "/v1/decisions", None, Some(ask("oat drink")))
        .await;
    assert!(!served(&r), "{}", r.body);
    // A negative keyword added to the line item keeps it off chocolate milk.
    let store = CampaignStore::connect(&app.db).await.unwrap();
    let li: LineItem = store.get(&s.search.to_string()).await.unwrap();
    let patch: LineItemPatch = serde_json::from_value(json!({
        "version": li.version,
        "targeting": {"placements": ["search-top"],
                      "keywords": ["milk", {"text": "chocolate", "match": "negative"}]}
    }))
    .unwrap();
    store
        .update_line_item("t", li.id, li.version, |cur, c| Ok(patch.apply(cur, c)?))
        .await
        .unwrap();
    app.index.refresh().await.unwrap();
    let r = app
        .send("POST", "/v1/decisions", None, Some(ask("chocolate milk")))
        .await;
    assert!(!served(&r), "{}", r.body);
    let r = app
        .send("POST", "/v1/decisions", None, Some(ask("milk")))
        .await;
    assert!(served(&r), "{}", r.body);
}

#[actix_web::test]
async fn a_page_can_block_advertisers_and_creatives_and_ask_for_prices() {
    let app = spawn(false).await;
    let s = seed(&app, 0, 100_000_000).await;
    let ask = |extra: Value| {
        let mut b =
            json!({"placements": [{"id": "search-top"}], "context": {"keywords": ["milk"]}});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let r = app
        .send(
            "POST",
            "/v1/decisions",
            None,
            Some(ask(json!({"include_pricing": true}))),
        )
        .await;
    let ad = &r.body["placements"][0]["ads"][0];
    assert_eq!(ad["line_item_id"], s.search.to_string(), "{}", r.body);
    assert_eq!(ad["pricing"]["model"], "cpc");
    assert!(
        ad["pricing"]["price_micros"].as_i64().unwrap() > 0,
        "{}",
        r.body
    );
    let (advertiser, creative) = (ad["advertiser_id"].clone(), ad["creative"]["id"].clone());
    let r = app
        .send("POST", "/v1/decisions", None, Some(ask(json!({}))))
        .await;
    assert!(
        r.body["placements"][0]["ads"][0].get("pricing").is_none(),
        "only when asked"
    );
    for blocked in [
        json!({"blocked_advertisers": [advertiser]}),
        json!({"blocked_creatives": [creative]}),
    ] {
        let r = app
            .send("POST", "/v1/decisions", None, Some(ask(blocked.clone())))
            .await;
        assert_eq!(r.status, 200);
        assert!(
            r.body["placements"][0]["ads"]
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a["line_item_id"] != s.search.to_string()),
            "{blocked}: {}",
            r.body
        );
    }
    let r = app
        .send(
            "POST",
            "/v1/decisions",
            None,
            Some(ask(json!({"blocked_creatives": ["nope"]}))),
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (422, Some("blocked_creatives[0]")),
        "{}",
        r.body
    );
}

#[actix_web::test]
async fn a_declared_placement_is_filled_only_by_creatives_that_fit() {
    let ask = json!({"placements": [{"id": "search-top"}], "context": {"keywords": ["milk"]}});
    for (declared, served) in [
        ("search-top=banner:970x250", false),
        ("search-top=sponsored_product|banner", true),
    ] {
        let app = spawn_with(false, None, &[("ENDCAP_PLACEMENTS", declared)]).await;
        seed(&app, 0, 100_000_000).await;
        app.index.refresh().await.unwrap();
        let r = app
            .send("POST", "/v1/decisions", None, Some(ask.clone()))
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(
            !r.body["placements"][0]["ads"]
                .as_array()
                .unwrap()
                .is_empty(),
            served,
            "{declared}: {}",
            r.body
        );
    }
}

#[actix_web::test]
async fn a_known_spider_gets_no_bid_code_3_and_video_a_plain_no_bid() {
    let app = spawn(false).await;
    seed(&app, 0, 100_000_000).await;
    let banner = |ua: &str| {
        json!({"id": "r-ua", "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}],
               "device": {"ua": ua}, "tmax": 200})
    };
    let r = app
        .send(
            "POST",
            "/openrtb2/bid",
            None,
            Some(banner(
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            )),
        )
        .await;
    assert_eq!(
        (r.status, r.body["nbr"].as_u64(), r.body["id"].as_str()),
        (200, Some(3), Some("r-ua")),
        "{}",
        r.body
    );
    let r = app
        .send(
            "POST",
            "/openrtb2/bid",
            None,
            Some(banner(crate::BROWSER_UA)),
        )
        .await;
    assert_eq!(r.status, 200, "a browser is bid on: {}", r.body);
    assert!(r.body["seatbid"].is_array(), "{}", r.body);
    let video = json!({"id": "r-v", "imp": [{"id": "1", "video": {"mimes": ["video/mp4"], "w": 640, "h": 360}}], "tmax": 200});
    let r = app.send("POST", "/openrtb2/bid", None, Some(video)).await;
    assert_eq!(r.status, 204, "{}", r.body);
}

#[actix_web::test]
async fn openrtb_blocking_floors_and_bad_requests() {
    let app = spawn(false).await;
    seed(&app, 0, 100_000_000).await;
    let banner = |floor: f64, badv: Vec<&str>| json!({"id": "req-1", "imp": [{"id": "1", "banner": {"w": 300, "h": 250}, "bidfloor": floor}], "badv": badv, "tmax": 80});
    let ok = app
        .send("POST", "/openrtb2/bid", None, Some(banner(0.5, vec![])))
        .await;
    assert_eq!(ok.status, 200);
    let bid = &ok.body["seatbid"][0]["bid"][0];
    assert_eq!(
        bid["price"], 2.0,
        "the bid is the advertiser's value (its CPM), not our clearing price"
    );
    let mut first = banner(0.5, vec![]);
    first["at"] = json!(1);
    let r = app.send("POST", "/openrtb2/bid", None, Some(first)).await;
    assert_eq!(
        r.body["seatbid"][0]["bid"][0]["price"], 1.7,
        "first price: the floor plus 80% of the surplus"
    );
    assert_eq!(bid["adomain"], json!(["acme.example"]));
    assert_eq!(
        app.send(
            "POST",
            "/openrtb2/bid",
            None,
            Some(banner(0.5, vec!["acme.example"]))
        )
        .await
        .status,
        204,
        "blocked advertiser"
    );
    for (badv, status) in [
        ("example", 204),
        ("WWW.Acme.Example", 204),
        ("cme.example", 200),
    ] {
        let r = app
            .send("POST", "/openrtb2/bid", None, Some(banner(0.5, vec![badv])))
            .await;
        assert_eq!(
            r.status, status,
            "badv {badv}: subdomain-aware, never a suffix of a name"
        );
    }
    assert_eq!(
        app.send("POST", "/openrtb2/bid", None, Some(banner(5.0, vec![])))
            .await
            .status,
        204,
        "floor above the bid"
    );
    let rushed =
        json!({"id": "r", "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}], "tmax": 0});
    assert_eq!(
        app.send("POST", "/openrtb2/bid", None, Some(rushed))
            .await
            .status,
        204,
        "no time to bid: no-bid, no work"
    );
    let eur = json!({"id": "r", "imp": [{"id": "1", "banner": {"w": 300, "h": 250}, "bidfloorcur": "EUR"}]});
    assert_eq!(
        app.send("POST", "/openrtb2/bid", None, Some(eur))
            .await
            .status,
        204,
        "a floor currency without a rate is not bid on"
    );
    let bad = app
        .send(
            "POST",
            "/openrtb2/bid",
            None,
            Some(json!({"id": "r", "imp": []})),
        )
        .await;
    assert_eq!((bad.status, bad.body["field"].as_str()), (400, Some("imp")));
    let garbage = app
        .client
        .post(format!("{}/openrtb2/bid", app.base))
        .send_body("{not json")
        .await
        .unwrap();
    assert_eq!(garbage.status().as_u16(), 400);
}

#[actix_web::test]
async fn the_holdout_unit_is_the_shopper_through_the_identity_map() {
    let app = spawn(false).await;
    let s = seed(&app, 50, 100_000_000).await;
    let keys: Vec<String> = (0..1000).map(|i| format!("{i:064x}")).collect();
    let shopper = keys
        .iter()
        .find(|k| endcap_auction::in_holdout(k, s.held_campaign, 50))
        .unwrap()
        .clone();
    let devices: Vec<String> = keys
        .iter()
        .filter(|k| !endcap_auction::in_holdout(k, s.held_campaign, 50))
        .take(2)
        .cloned()
        .collect();
    let store = CampaignStore::connect(&app.db).await.unwrap();
    store
        .upsert_identity(
            &devices
                .iter()
                .map(|d| (d.clone(), shopper.clone()))
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    for d in &devices {
        let r = app
            .send(
                "POST",
                "/v1/decisions",
                None,
                Some(json!({"user_key": d, "placements": [{"id": "home"}]})),
            )
            .await;
        assert_eq!(
            r.body["placements"][0]["ads"],
            json!([]),
            "device {d} of a held-out shopper"
        );
    }
    let ghosts = app.logged(Table::ExposureHoldouts).await;
    assert_eq!(
        ghosts.len(),
        2,
        "one ghost per device, both in the held-out arm"
    );
}

#[actix_web::test]
async fn ghosts_count_toward_frequency_caps_like_real_ads() {
    let app = spawn(false).await;
    let store = CampaignStore::connect(&app.db).await.unwrap();
    let s = seed(&app, 50, 100_000_000).await;
    // Cap the held campaign's line item at one ad a day.
    let li = s.held_line_item.clone();
    let patch: LineItemPatch = serde_json::from_value(
        json!({"version": li.version, "frequency_cap": {"max": 1, "per": "day"}}),
    )
    .unwrap();
    store
        .update_line_item("t", li.id, li.version, |cur, c| Ok(patch.apply(cur, c)?))
        .await
        .unwrap();
    app.index.refresh().await.unwrap();
    let held_user = (0..1000)
        .map(|i| format!("{i:064x}"))
        .find(|u| endcap_auction::in_holdout(u, s.held_campaign, 50))
        .unwrap();
    let ask = json!({"user_key": held_user, "placements": [{"id": "home"}]});
    app.send("POST", "/v1/decisions", None, Some(ask.clone()))
        .await;
    let r = app
        .send("POST", "/v1/decisions?debug=1", Some(ADMIN), Some(ask))
        .await;
    let outcome = r.body["debug"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["line_item_id"] == li.id.to_string())
        .map(|e| e["outcome"].clone());
    assert_eq!(outcome, Some(json!("frequency_cap")), "{}", r.body);
    assert_eq!(
        app.logged(Table::ExposureHoldouts).await.len(),
        1,
        "capped after one ghost"
    );
}

#[actix_web::test]
async fn a_native_imp_goes_to_a_creative_that_fills_its_required_assets() {
    let app = spawn(false).await;
    seed(&app, 0, 100_000_000).await;
    // A second advertiser's line item outbids the seed's native creative (2.00 CPM) with two
    // native creatives: one without a headline, one with a headline but no price.
    let store = CampaignStore::connect(&app.db).await.unwrap();
    let adv = store
        .create_advertiser(
            "t",
            AdvertiserInput {
                name: "Brio".into(),
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
    let now = chrono::Utc::now();
    let input: CampaignInput = serde_json::from_value(json!({"name": "brio", "status": "active",
        "budget": {"total_micros": 1_000_000_000, "daily_micros": 100_000_000},
        "start_at": (now - chrono::Duration::days(1)).to_rfc3339(),
        "end_at": (now + chrono::Duration::days(30)).to_rfc3339()}))
    .unwrap();
    let c = store
        .create_campaign("t", adv.id, None, |_| Ok(input.validate()?))
        .await
        .unwrap()
        .value;
    let input: LineItemInput = serde_json::from_value(json!({"name": "brio native",
        "status": "active", "pricing": {"model": "cpm", "bid_micros": 5_000_000},
        "targeting": {"placements": ["offsite:native"]}}))
    .unwrap();
    let li = store
        .create_line_item("t", c.id, None, |c| Ok(input.validate(c)?))
        .await
        .unwrap()
        .value;
    let mut ids = Vec::new();
    for native in [
        json!({"sponsored_by": "Brio"}),
        json!({"title": "Brio oat milk", "sponsored_by": "Brio"}),
    ] {
        let input: CreativeInput = serde_json::from_value(json!({"kind": "native",
            "image_url": "https://cdn.example/brio.png", "width": 1200, "height": 627,
            "click_url": "https://brio.example/oat", "native": native}))
        .unwrap();
        let cr = store
            .create_creative("t", li.id, None, |li| Ok(input.validate(li)?))
            .await
            .unwrap()
            .value;
        store.approve_creative("t", &cr).await.unwrap();
        ids.push(cr.id.to_string());
    }
    app.index.refresh().await.unwrap();
    let ask = |assets: Value| {
        json!({"id": "r", "tmax": 200, "imp": [{"id": "n",
            "native": {"request": json!({"ver": "1.2", "assets": assets}).to_string()}}]})
    };
    let title = json!({"id": 1, "required": 1, "title": {"len": 90}});
    // A required headline: never the creative without one (it would win half the time
    // were creatives not checked against the request before the auction).
    for _ in 0..12 {
        let r = app
            .send(
                "POST",
                "/openrtb2/bid",
                None,
                Some(ask(json!([title.clone()]))),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let bid = &r.body["seatbid"][0]["bid"][0];
        assert_eq!(bid["crid"], ids[1].as_str(), "{}", r.body);
        let adm: Value = serde_json::from_str(bid["adm"].as_str().unwrap()).unwrap();
        assert_eq!(
            adm["assets"],
            json!([{"id": 1, "title": {"text": "Brio oat milk"}}])
        );
    }
    // A required price only the seed's (lower-bidding) creative carries: it wins.
    let price = json!({"id": 2, "required": 1, "data": {"type": 6}});
    let r = app
        .send(
            "POST",
            "/openrtb2/bid",
            None,
            Some(ask(json!([title, price]))),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let bid = &r.body["seatbid"][0]["bid"][0];
    assert_eq!(bid["adomain"], json!(["acme.example"]), "{}", r.body);
    let adm: Value = serde_json::from_str(bid["adm"].as_str().unwrap()).unwrap();
    assert_eq!(
        adm["assets"][1],
        json!({"id": 2, "data": {"value": "$4.99"}})
    );
    // A sponsor of at most 2 characters: nobody's, so no bid.
    let sponsor = json!({"id": 3, "required": 1, "data": {"type": 1, "len": 2}});
    let r = app
        .send("POST", "/openrtb2/bid", None, Some(ask(json!([sponsor]))))
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
}
