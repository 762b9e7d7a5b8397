//! Offsite identity: user sync with exchanges, and bid requests' users found through it.

use super::*;

const ADX_KEY: &str = "exchange-key-0123456789";
const EXCHANGES: (&str, &str) = (
    "ENDCAP_EXCHANGES",
    "adx:exchange-key-0123456789:burl:clear,other:exchange-key-9876543210:burl:clear",
);
const SYNC_URLS: (&str, &str) = (
    "ENDCAP_EXCHANGE_SYNC_URLS",
    "adx=https://sync.adx.example/setuid?bidder=endcap&uid=${UID}&gdpr=${GDPR}&us=${US_PRIVACY}",
);

async fn synced_app() -> TestApp {
    spawn_with(false, None, &[EXCHANGES, SYNC_URLS]).await
}

/// A sync call sending `cookie` as our cookie: (status, location, set-cookie).
async fn sync(app: &TestApp, query: &str, cookie: Option<&str>) -> Resp {
    let mut req = app.client.get(format!("{}/v1/usersync?{query}", app.base));
    if let Some(c) = cookie {
        req = req.insert_header(("Cookie", format!("other=1; endcap_uid={c}")));
    }
    let mut res = req.send().await.unwrap();
    let bytes = res.body().await.unwrap();
    Resp {
        status: res.status().as_u16(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        headers: res
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
    }
}

fn uid_in_cookie(r: &Resp) -> Option<String> {
    let c = r.headers.get("set-cookie")?;
    let uid = c
        .strip_prefix("endcap_uid=")?
        .split(';')
        .next()?
        .to_string();
    Some(uid)
}

async fn stored(app: &TestApp, exchange: &str, uid: &str) -> Option<String> {
    CampaignStore::connect(&app.db)
        .await
        .unwrap()
        .user_key_for_exchange_uid(
            exchange,
            &endcap_serving::exchange_uid_key("", exchange, uid),
        )
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_sync_mints_our_id_stores_the_pair_and_redirects_with_our_id_in_the_macro() {
    let app = synced_app().await;
    let r = sync(&app, "exchange=adx&uid=their-1&us_privacy=1YNN", None).await;
    assert_eq!(r.status, 302, "{:?}", r.body);
    let ours = uid_in_cookie(&r).expect("our cookie is set");
    assert_eq!(ours.len(), 64);
    let cookie = &r.headers["set-cookie"];
    for attr in [
        "Max-Age=34560000",
        "Secure",
        "HttpOnly",
        "SameSite=None",
        "Path=/",
    ] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    assert_eq!(
        r.headers["location"],
        format!("https://sync.adx.example/setuid?bidder=endcap&uid={ours}&gdpr=&us=1YNN")
    );
    assert_eq!(stored(&app, "adx", "their-1").await, Some(ours.clone()));
    assert_eq!(stored(&app, "other", "their-1").await, None);

    // A browser that has our cookie keeps its id.
    let again = sync(&app, "exchange=adx&uid=their-2", Some(&ours)).await;
    assert_eq!(uid_in_cookie(&again).as_deref(), Some(ours.as_str()));
    assert_eq!(stored(&app, "adx", "their-2").await, Some(ours.clone()));

    // No sync URL: a pixel that still sets our cookie and stores the pair.
    let px = sync(&app, "exchange=other&uid=o-1", Some(&ours)).await;
    assert_eq!((px.status, uid_in_cookie(&px)), (204, Some(ours.clone())));
    let gif = sync(&app, "exchange=other&uid=o-1&f=gif", Some(&ours)).await;
    assert_eq!(
        gif.headers.get("content-type").map(String::as_str),
        Some("image/gif")
    );
    assert_eq!(stored(&app, "other", "o-1").await, Some(ours));
}

#[actix_web::test]
async fn bad_parameters_are_refused_naming_them() {
    let app = synced_app().await;
    let long = "x".repeat(257);
    for (query, field) in [
        ("uid=a", "exchange"),
        ("exchange=nope&uid=a", "exchange"),
        ("exchange=adx&uid=a&gdpr=2", "gdpr"),
        ("exchange=adx&uid=a&gpp_sid=2,x", "gpp_sid"),
        (&format!("exchange=adx&uid={long}"), "uid"),
    ] {
        let r = sync(&app, query, None).await;
        assert_eq!(
            (r.status, r.body["error"].as_str(), r.body["field"].as_str()),
            (400, Some("invalid_parameter"), Some(field)),
            "{query}"
        );
        assert!(!r.headers.contains_key("set-cookie"));
    }
}

#[actix_web::test]
async fn privacy_signals_that_forbid_it_store_nothing_and_hand_out_no_id() {
    let app = synced_app().await;
    for (i, privacy) in [
        // GDPR applies and we have no vendor id, so no string can consent.
        "gdpr=1&gdpr_consent=CPzHq4APzHq4AAHABBENDECgAP_AAH_AAAAAAAAAAAAA",
        "us_privacy=1YYN",
        "gpp_sid=7",
    ]
    .iter()
    .enumerate()
    {
        let uid = format!("blocked-{i}");
        let r = sync(&app, &format!("exchange=adx&uid={uid}&{privacy}"), None).await;
        assert_eq!(r.status, 204, "{privacy}");
        assert!(!r.headers.contains_key("set-cookie"), "{privacy}");
        assert!(!r.headers.contains_key("location"), "{privacy}");
        assert_eq!(stored(&app, "adx", &uid).await, None, "{privacy}");
    }
}

fn bid_request(user: Value) -> Value {
    json!({"id": "req-1", "imp": [{"id": "1", "banner": {"w": 300, "h": 250}, "bidfloor": 0.5}],
           "tmax": 80, "user": user})
}

/// The user key the decision log recorded for the latest offsite decision.
async fn last_user_key(app: &TestApp) -> String {
    let logged = app.logged(Table::Decisions).await;
    match logged.last() {
        Some(Event::Decision(d)) => d.exposure.user_key.clone(),
        other => panic!("no decision: {other:?}"),
    }
}

#[actix_web::test]
async fn bid_requests_find_their_user_through_the_synced_pairs() {
    let app = synced_app().await;
    decisions::seed(&app, 0, 100_000_000).await;
    let r = sync(&app, "exchange=adx&uid=their-1", None).await;
    let ours = uid_in_cookie(&r).unwrap();
    let bid = |user: Value| {
        let app = &app;
        async move {
            let r = app
                .send(
                    "POST",
                    &format!("/openrtb2/bid?key={ADX_KEY}"),
                    None,
                    Some(bid_request(user)),
                )
                .await;
            assert_eq!(r.status, 200, "{:?}", r.body);
            last_user_key(app).await
        }
    };
    assert_eq!(
        bid(json!({"buyeruid": ours})).await,
        ours,
        "our id as we sent it"
    );
    assert_eq!(
        bid(json!({"buyeruid": "their-1"})).await,
        ours,
        "the exchange's own id in buyeruid"
    );
    assert_eq!(
        bid(json!({"id": "their-1"})).await,
        ours,
        "the exchange's own id in user.id"
    );
    assert_eq!(
        bid(json!({"buyeruid": "never-synced", "id": "nor-this"})).await,
        "",
        "a miss is no user, never an error"
    );
    // Another exchange's id of the same value names nobody here.
    let r = app
        .send(
            "POST",
            "/openrtb2/bid?key=exchange-key-9876543210",
            None,
            Some(bid_request(json!({"buyeruid": "their-1"}))),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(last_user_key(&app).await, "");
}

#[actix_web::test]
async fn an_eid_the_identity_map_links_makes_the_request_its_customer() {
    let app = synced_app().await;
    decisions::seed(&app, 0, 100_000_000).await;
    let customer = "cc".repeat(32);
    let uid2 = endcap_core::HashedKey::external_id("", "uidapi.com", "uid2-token-1");
    CampaignStore::connect(&app.db)
        .await
        .unwrap()
        .upsert_identity(&[(uid2.as_str().to_string(), customer.clone())])
        .await
        .unwrap();
    let ours = "ab".repeat(32);
    let bid = |user: Value| {
        let app = &app;
        async move {
            let r = app
                .send(
                    "POST",
                    &format!("/openrtb2/bid?key={ADX_KEY}"),
                    None,
                    Some(bid_request(user)),
                )
                .await;
            assert_eq!(r.status, 200, "{:?}", r.body);
            last_user_key(app).await
        }
    };
    let eids = json!([{"source": "liveramp.com", "uids": [{"id": "not-linked"}]},
                      {"source": "uidapi.com", "uids": [{"id": "uid2-token-1", "atype": 3}]}]);
    assert_eq!(
        bid(json!({"eids": eids, "buyeruid": ours})).await,
        customer,
        "a linked eid wins over buyeruid"
    );
    assert_eq!(
        bid(json!({"ext": {"eids": eids}})).await,
        customer,
        "2.5's user.ext.eids"
    );
    assert_eq!(
        bid(json!({"eids": [{"source": "uidapi.com", "uids": [{"id": "someone-else"}]}], "buyeruid": ours})).await,
        ours,
        "an unlinked eid falls back to buyeruid"
    );
    // Without consent nothing identifies the user, eids included.
    let r = app
        .send(
            "POST",
            &format!("/openrtb2/bid?key={ADX_KEY}"),
            None,
            Some(json!({"id": "req-2", "imp": [{"id": "1", "banner": {"w": 300, "h": 250}, "bidfloor": 0.5}],
                "tmax": 80, "user": {"eids": eids}, "regs": {"us_privacy": "1YYN"}})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(last_user_key(&app).await, "");
}
