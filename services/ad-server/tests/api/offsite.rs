//! Offsite money: bids at the advertiser's value, billing notices with a distrusted
//! `${AUCTION_PRICE}`, media cost and take rate, loss notices, test traffic, currencies.

use super::*;

fn banner(extra: Value) -> Value {
    let mut b = json!({"id": "req-1", "imp": [{"id": "1", "banner": {"w": 300, "h": 250}, "bidfloor": 0.5}], "tmax": 80});
    if let (Some(b), Some(e)) = (b.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    b
}

fn with_price(url: &str, price: &str) -> String {
    path_of(url).replace("${AUCTION_PRICE}", price)
}

fn offsite_rows(ledger: &[Event]) -> Vec<(ChargeReason, i64, i64)> {
    charges(ledger)
        .iter()
        .map(|c| (c.reason, c.charge_nanos, c.media_cost_nanos))
        .collect()
}

#[actix_web::test]
async fn a_billing_notice_records_media_cost_and_charges_the_advertiser_once() {
    let app = spawn(false).await;
    decisions::seed(&app, 0, 100_000_000).await;
    let r = app
        .send("POST", "/openrtb2/bid", None, Some(banner(json!({}))))
        .await;
    let bid = &r.body["seatbid"][0]["bid"][0];
    assert_eq!(bid["price"], 2.0);
    assert!(
        bid.get("nurl").is_none(),
        "only the billing URL carries the price"
    );
    let burl = bid["burl"].as_str().unwrap();
    for (bad, why) in [
        ("2.5", "above our bid"),
        ("${AUCTION_PRICE}", "never substituted"),
        ("abc", "not a number"),
        ("-1", "negative"),
    ] {
        let r = app.get(&with_price(burl, bad)).await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (400, Some("price")),
            "{why}"
        );
    }
    assert!(app
        .metrics()
        .await
        .contains("endcap_tracking_bad_prices_total 4"));
    assert_eq!(app.get(&with_price(burl, "1.2")).await.status, 204);
    assert_eq!(
        app.get(&with_price(burl, "1.2")).await.status,
        204,
        "a replay is answered"
    );
    // The render pixel in adm counts the impression but never charges.
    let adm = bid["adm"].as_str().unwrap();
    let pixel = adm
        .split("src=\"")
        .filter_map(|s| s.split('"').next())
        .find(|u| u.contains("/v1/events/impression"))
        .unwrap()
        .replace("&amp;", "&");
    assert_eq!(app.get(&path_of(&pixel)).await.status, 200);
    let ledger = app.logged(Table::Charges).await;
    // Media 1.20 CPM = 1,200,000 nanos per impression; at a 20% take the advertiser pays
    // 1,500,000 (under its 2.00 CPM bid).
    assert_eq!(
        offsite_rows(&ledger),
        vec![
            (ChargeReason::Billable, 1_500_000, 1_200_000),
            (ChargeReason::Duplicate, 1_500_000, 1_200_000)
        ]
    );
    assert_eq!(app.logged(Table::Impressions).await.len(), 1);
}

#[actix_web::test]
async fn loss_notices_release_the_reservation_and_test_traffic_is_never_billed() {
    let app = spawn(false).await;
    // A daily budget of 3,000 micros holds one reservation of a 2.00 CPM impression
    // (2,000 micros) at a time.
    decisions::seed(&app, 0, 3_000).await;
    let first = app
        .send("POST", "/openrtb2/bid", None, Some(banner(json!({}))))
        .await;
    assert_eq!(first.status, 200);
    let second = app
        .send("POST", "/openrtb2/bid", None, Some(banner(json!({}))))
        .await;
    assert_eq!(second.status, 204, "no bid while the budget is reserved");
    let lurl = first.body["seatbid"][0]["bid"][0]["lurl"].as_str().unwrap();
    assert_eq!(app.get(&path_of(lurl)).await.status, 204);
    let third = app
        .send("POST", "/openrtb2/bid", None, Some(banner(json!({}))))
        .await;
    assert_eq!(third.status, 200, "the loss gave the reservation back");
    app.get(&path_of(
        third.body["seatbid"][0]["bid"][0]["lurl"].as_str().unwrap(),
    ))
    .await;
    let test = app
        .send(
            "POST",
            "/openrtb2/bid",
            None,
            Some(banner(json!({"test": 1}))),
        )
        .await;
    assert_eq!(test.status, 200, "test traffic is answered");
    let burl = test.body["seatbid"][0]["bid"][0]["burl"].as_str().unwrap();
    assert_eq!(app.get(&with_price(burl, "1.0")).await.status, 204);
    let ledger = app.logged(Table::Charges).await;
    assert_eq!(billable_nanos(&ledger), 0);
    assert_eq!(charges(&ledger)[0].reason, ChargeReason::TestTraffic);
    assert!(app.logged(Table::Decisions).await.len() >= 2);
    assert!(
        app.logged(Table::Impressions).await.is_empty(),
        "test traffic is not delivery"
    );
}

#[actix_web::test]
async fn encrypted_prices_from_a_keyed_exchange_are_decrypted_and_checked() {
    let (ekey, ikey) = (
        "skU7Ax_NL5pPAFyKdkfZjZz2-VhIN8bjj1rVFOaJ_5o",
        "arO23ykdNqUQ5LEoQ0FVmPkBd7xB5CO89PDZlSjpFxo",
    );
    let key = "exchange-key-0123456789";
    let app = spawn_with(
        false,
        None,
        &[
            ("ENDCAP_OPEN_ENDPOINTS", "false"),
            (
                "ENDCAP_EXCHANGES",
                &format!("adx:{key}:nurl:hmac-sha1/{ekey}/{ikey}"),
            ),
        ],
    )
    .await;
    decisions::seed(&app, 0, 100_000_000).await;
    let r = app
        .send(
            "POST",
            &format!("/openrtb2/bid?key={key}"),
            None,
            Some(banner(json!({}))),
        )
        .await;
    let bid = &r.body["seatbid"][0]["bid"][0];
    assert!(
        bid.get("burl").is_none(),
        "this exchange bills through nurl"
    );
    let nurl = bid["nurl"].as_str().unwrap();
    let crypt = endcap_openrtb::HmacSha1Price::from_base64(ekey, ikey).unwrap();
    let good = crypt.encrypt(1_000_000, *b"fedcba9876543210");
    let mut bad = good.clone().into_bytes();
    bad[20] = if bad[20] == b'A' { b'B' } else { b'A' };
    let bad = String::from_utf8(bad).unwrap();
    let r = app.get(&with_price(nurl, &bad)).await;
    assert_eq!((r.status, r.body["field"].as_str()), (400, Some("price")));
    assert_eq!(app.get(&with_price(nurl, &good)).await.status, 204);
    let ledger = app.logged(Table::Charges).await;
    assert_eq!(
        offsite_rows(&ledger),
        vec![(ChargeReason::Billable, 1_250_000, 1_000_000)]
    );
}

#[actix_web::test]
async fn bids_in_another_currency_are_converted_at_the_edge() {
    let app = spawn_with(false, None, &[("ENDCAP_FX_RATES", "EUR:1.25")]).await;
    decisions::seed(&app, 0, 100_000_000).await;
    let mut req = banner(json!({"cur": ["EUR"]}));
    req["imp"][0]["bidfloorcur"] = json!("EUR");
    let r = app.send("POST", "/openrtb2/bid", None, Some(req)).await;
    assert_eq!(r.body["cur"], "EUR");
    let bid = &r.body["seatbid"][0]["bid"][0];
    assert_eq!(bid["price"], 1.6, "2.00 USD is 1.60 EUR");
    let burl = bid["burl"].as_str().unwrap();
    assert_eq!(
        app.get(&with_price(burl, "1.7")).await.status,
        400,
        "above our 1.60 EUR bid"
    );
    assert_eq!(app.get(&with_price(burl, "1.2")).await.status, 204);
    let ledger = app.logged(Table::Charges).await;
    // 1.20 EUR is 1.50 USD of media; at a 20% take 1.875, under the 2.00 bid.
    assert_eq!(
        offsite_rows(&ledger),
        vec![(ChargeReason::Billable, 1_875_000, 1_500_000)]
    );
    assert_eq!(
        charges(&ledger)[0].currency,
        "USD",
        "the ledger is in the marketplace currency"
    );
}

#[actix_web::test]
async fn a_loss_url_cannot_be_turned_into_a_bill() {
    let app = spawn(false).await;
    decisions::seed(&app, 0, 100_000_000).await;
    let r = app
        .send("POST", "/openrtb2/bid", None, Some(banner(json!({}))))
        .await;
    let bid = &r.body["seatbid"][0]["bid"][0];
    assert_eq!(bid["exp"], 60, "the bid lives as long as its reservation");
    let lurl = path_of(bid["lurl"].as_str().unwrap());
    let forged = lurl.replace("/v1/events/loss", "/v1/events/bill") + "&price=2.0";
    let r = app.get(&forged).await;
    assert_eq!(
        (r.status, r.body["message"].as_str()),
        (403, Some("token is for another event type"))
    );
    assert!(app.logged(Table::Charges).await.is_empty());
}

#[actix_web::test]
async fn a_first_price_clearing_at_our_shaded_bid_still_pays_the_take_rate() {
    let app = spawn(false).await;
    decisions::seed(&app, 0, 100_000_000).await;
    let r = app
        .send(
            "POST",
            "/openrtb2/bid",
            None,
            Some(banner(json!({"at": 1}))),
        )
        .await;
    let bid = &r.body["seatbid"][0]["bid"][0];
    assert_eq!(bid["price"], 1.7);
    assert_eq!(
        app.get(&with_price(bid["burl"].as_str().unwrap(), "1.7"))
            .await
            .status,
        204
    );
    let ledger = app.logged(Table::Charges).await;
    // Media 1.70; grossed up by 20% is 2.125, capped at the advertiser's 2.00 value.
    assert_eq!(
        offsite_rows(&ledger),
        vec![(ChargeReason::Billable, 2_000_000, 1_700_000)]
    );
}

/// TC strings consenting to purposes 1-4 and 7, with vendor consent for 755 and for 754 only
/// (written by a bit writer outside the decoder; the decoder's tests read them too).
const CONSENT_755: &str = "CP1R2oAP1R2oAEsAHBENCWEgAPIAAAAAAAYgF5gAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAgAAAA";
const CONSENT_754: &str = "CP1R2oAP1R2oAEsAHBENCWEgAPIAAAAAAAYgF5AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABAAAAA";

#[actix_web::test]
async fn gdpr_bids_use_the_user_only_with_consent_for_our_vendor_id() {
    // Each request logs one decision; its user key says whether the user was used.
    let keys_logged = |events: Vec<Event>| -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Decision(d) => Some(d.exposure.user_key.clone()),
                _ => None,
            })
            .collect()
    };
    let user = "ab".repeat(32);
    let gdpr = |consent: &str| {
        banner(json!({"regs": {"gdpr": 1}, "user": {"buyeruid": user, "consent": consent}}))
    };
    let app = spawn_with(false, None, &[("ENDCAP_TCF_VENDOR_ID", "755")]).await;
    decisions::seed(&app, 0, 100_000_000).await;
    for consent in [CONSENT_755, CONSENT_754, "not-a-tc-string"] {
        let r = app
            .send("POST", "/openrtb2/bid", None, Some(gdpr(consent)))
            .await;
        assert_eq!(
            r.status, 200,
            "contextual requests are still bid: {}",
            r.body
        );
    }
    assert_eq!(
        keys_logged(app.logged(Table::Decisions).await),
        [user.clone(), String::new(), String::new()]
    );
    // Without ENDCAP_TCF_VENDOR_ID no string grants consent.
    let app = spawn(false).await;
    decisions::seed(&app, 0, 100_000_000).await;
    let r = app
        .send("POST", "/openrtb2/bid", None, Some(gdpr(CONSENT_755)))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        keys_logged(app.logged(Table::Decisions).await),
        [String::new()]
    );
}
