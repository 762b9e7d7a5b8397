//! Finance reports against real ClickHouse: spend equals the ledger's billable rows to the
//! micro, advertisers see only their own figures, closed months never change and late
//! charges are posted to the next open month, attribution shows gross, returns and net,
//! direct and halo, new-to-brand and ROAS, and the receipt explanation is staff-only.

use crate::helpers::*;
use endcap_core::*;
use endcap_events::{
    AdEvent, BatchWriter, ChargeReason, ChargeRecord, ChargeSource, ClickHouseWriter, CreditRow,
    Event, ReceiptHeaderEvent, RunRow,
};
use uuid::Uuid;

const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 of a date.
fn day(y: i32, m: u32, d: u32) -> i32 {
    (chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap() - chrono::NaiveDate::default()).num_days()
        as i32
}

struct Ids {
    advertiser: Uuid,
    campaign: Uuid,
    line_item: Uuid,
}

fn charge(ids: &Ids, on: i32, reason: ChargeReason, nanos: i64, media: i64) -> Event {
    Event::Charge(ChargeRecord {
        decision_id: Uuid::now_v7(),
        source: ChargeSource::Impression,
        reason,
        ts_ms: i64::from(on) * DAY_MS + 3_600_000,
        accounting_day: on,
        advertiser_id: ids.advertiser,
        campaign_id: ids.campaign,
        line_item_id: ids.line_item,
        charge_nanos: nanos,
        media_cost_nanos: media,
        currency: "USD".into(),
        channel: "onsite".into(),
    })
}

fn impression(ids: &Ids, on: i32) -> Event {
    let ts = i64::from(on) * DAY_MS + 3_600_000;
    Event::Impression(AdEvent::new(
        Exposure {
            decision_id: DecisionId::generate(),
            decided_at_ms: ts,
            user_key: format!("{:064x}", 7),
            advertiser_id: AdvertiserId::parse(&ids.advertiser.to_string()).unwrap(),
            campaign_id: CampaignId::parse(&ids.campaign.to_string()).unwrap(),
            line_item_id: LineItemId::parse(&ids.line_item.to_string()).unwrap(),
            creative_id: CreativeId::generate(),
            channel: AdChannel::Onsite,
            placement: "search-top".into(),
            position: 1,
            sku: Some("sku-1".into()),
            pricing: PricingModel::Cpm,
            price_micros: 1_000_000,
            bid_cpm_micros: 0,
        },
        ts,
        vec!["sku-1".into()],
    ))
}

async fn ids(app: &TestApp, key: &str, advertiser: &str) -> Ids {
    let campaign = app.campaign(key, advertiser).await;
    let line_item = app.line_item(key, &campaign).await;
    Ids {
        advertiser: advertiser.parse().unwrap(),
        campaign: campaign.parse().unwrap(),
        line_item: line_item.parse().unwrap(),
    }
}

/// A credit of `amount` (of a line of `line_amount`) to `ids`.
fn credit(
    ids: &Ids,
    receipt: &str,
    line_no: u32,
    amount: i64,
    direct: bool,
    ntb: bool,
) -> CreditRow {
    let ts = i64::from(day(2026, 11, 10)) * DAY_MS + 15 * 3_600_000;
    CreditRow {
        run_id: "r1".into(),
        run_at_ms: 1,
        model: "last_touch".into(),
        settings_version: "v1".into(),
        receipt_id: receipt.into(),
        receipt_version: 1,
        line_no,
        customer_key: "customer-1".into(),
        store_id: "s1".into(),
        sales_channel: "in_store".into(),
        purchase_ts: (ts / 1000) as u32,
        purchase_ts_ms: ts as u64,
        purchase_date: day(2026, 11, 10) as u16,
        sku: "sku-1".into(),
        brand: "Acme".into(),
        category: "dairy".into(),
        line_quantity: if amount < 0 { -1 } else { 1 },
        line_amount_micros: amount,
        exposure_id: Uuid::now_v7(),
        exposure_kind: "click".into(),
        exposure_ts_ms: (ts - DAY_MS) as u64,
        ad_channel: "onsite".into(),
        advertiser_id: ids.advertiser,
        campaign_id: ids.campaign,
        line_item_id: ids.line_item,
        weight: 1.0,
        attributed_micros: amount,
        attributed_units_micros: if amount < 0 { -1_000_000 } else { 1_000_000 },
        direct: u8::from(direct),
        new_to_brand: u8::from(ntb),
        ntb_lookback_days: 200,
        lag_secs: 86_400,
        scope: "brand".into(),
        window_days: 14,
    }
}

fn header(receipt: &str, lines: u32) -> Event {
    Event::ReceiptHeader(ReceiptHeaderEvent {
        receipt_id: receipt.into(),
        version: 1,
        line_count: lines,
        customer_key: "customer-1".into(),
        store_id: "s1".into(),
        channel: "in_store".into(),
        ts_ms: i64::from(day(2026, 11, 10)) * DAY_MS,
    })
}

fn row<'a>(r: &'a Resp, campaign: &Uuid) -> &'a Vec<serde_json::Value> {
    let c = campaign.to_string();
    r.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_array().unwrap())
        .find(|v| v[0] == c.as_str())
        .unwrap_or_else(|| panic!("a row for {c}: {}", r.text))
}

fn col(r: &Resp, name: &str) -> usize {
    r.body["columns"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("column {name}"))
}

#[actix_web::test]
async fn finance_reports_reconcile_close_and_scope() {
    let app = spawn_app_with(
        Backend::Sqlite,
        Extras {
            clickhouse: true,
            redis: false,
        },
    )
    .await;
    let ch = app.clickhouse.clone().unwrap();
    let finance = app.staff_key("finance").await;
    let (adv_a, key_a) = app.advertiser("Brand A").await;
    let (adv_b, key_b) = app.advertiser("Brand B").await;
    let a = ids(&app, &key_a, &adv_a).await;
    let b = ids(&app, &key_b, &adv_b).await;

    let oct = day(2026, 9, 15);
    let nov = day(2026, 10, 10);
    // A: 1.000000500 + 2.25 billable in October, an over-budget and a duplicate row that
    // must not count, and media cost; B: 5 in November.
    let writer = ClickHouseWriter::new(&ch);
    writer
        .write(&[
            charge(&a, oct, ChargeReason::Billable, 1_000_000_500, 400_000_000),
            charge(&a, oct, ChargeReason::Billable, 2_250_000_000, 0),
            charge(&a, oct, ChargeReason::OverBudget, 9_000_000_000, 0),
            charge(&a, oct, ChargeReason::Duplicate, 1_000_000_000, 400_000_000),
            // Filtered: counted for the advertiser to see, never billed.
            charge(&a, oct, ChargeReason::Bot, 1_000_000_000, 0),
            charge(&a, oct, ChargeReason::NoUserAgent, 1_000_000_000, 0),
            charge(&b, nov, ChargeReason::Billable, 5_000_000_000, 0),
            impression(&a, oct),
            impression(&a, oct),
            impression(&b, nov),
        ])
        .await
        .unwrap();

    // Bad input names the field.
    let r = app
        .get("/v1/reports/delivery?to=2026-09-30", &finance)
        .await;
    assert_eq!((r.status, r.field()), (400, Some("from")), "{}", r.text);
    let r = app
        .get(
            "/v1/reports/delivery?from=2026-09-01&to=2026-09-30&group_by=store",
            &finance,
        )
        .await;
    assert_eq!((r.status, r.field()), (400, Some("group_by")), "{}", r.text);
    let r = app
        .get(
            "/v1/reports/delivery?from=2026-09-01&to=2026-09-30&group_by=sales_channel",
            &finance,
        )
        .await;
    assert_eq!((r.status, r.field()), (400, Some("group_by")), "{}", r.text);

    // Spend = billable rows, to the micro (1.000000500 + 2.25 = 3.2500005 -> 3.250000 or
    // 3.250001 by the invoice rule; the sum is made before rounding, once).
    let oct_q = "/v1/reports/delivery?from=2026-09-01&to=2026-09-30&group_by=campaign";
    let r = app.get(oct_q, &finance).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let ra = row(&r, &a.campaign);
    let expect = endcap_billing::nanos_to_micros(3_250_000_500);
    assert_eq!(
        ra[col(&r, "advertiser_charge")],
        format!("3.{:06}", expect - 3_000_000)
    );
    assert_eq!(
        ra[col(&r, "media_cost")],
        "0.400000",
        "the duplicate's media cost is not paid twice"
    );
    assert_eq!(ra[col(&r, "impressions")], 2);
    assert_eq!(ra[col(&r, "invalid_impressions")], 2);
    assert_eq!(ra[col(&r, "invalid_clicks")], 0);
    assert!(r.body["freshness"]["charges"].is_string(), "{}", r.text);
    assert!(r.body["dated_by"]
        .as_str()
        .unwrap()
        .contains("accounting date"));

    // An advertiser sees only its own rows; another's ids are 404.
    let r = app.get(oct_q, &key_b).await;
    assert_eq!(r.status, 200);
    assert!(r.body["rows"].as_array().unwrap().is_empty(), "{}", r.text);
    let r = app
        .get(&format!("{oct_q}&advertiser_id={adv_a}"), &key_b)
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = app
        .get(&format!("{oct_q}&campaign_id={}", a.campaign), &key_b)
        .await;
    assert_eq!(r.status, 404, "{}", r.text);

    // CSV: a header, the rows, a total line.
    let r = app.get(&format!("{oct_q}&format=csv"), &finance).await;
    assert_eq!(r.status, 200);
    assert!(r.headers["content-type"].starts_with("text/csv"));
    let lines: Vec<&str> = r.text.lines().collect();
    assert_eq!(
        lines[0],
        "campaign,impressions,clicks,ctr,advertiser_charge,media_cost,cpc,invalid_impressions,invalid_clicks"
    );
    assert!(
        lines.last().unwrap().starts_with("total,2,0,"),
        "{}",
        r.text
    );

    // Close September; a late September charge leaves September as it was and is posted
    // to October as an itemised adjustment.
    let close = |m: &str| format!("/v1/periods/{m}/close");
    let r = app
        .post(&close("2026-09"), &finance, serde_json::json!({}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .post(&close("2026-09"), &finance, serde_json::json!({}))
        .await;
    assert_eq!(
        (r.status, r.body["closed_now"].as_bool()),
        (200, Some(false))
    );
    // A month that has not ended is well-formed but refused by a rule: 422.
    let r = app
        .post(&close("2099-01"), &finance, serde_json::json!({}))
        .await;
    assert_eq!((r.status, r.field()), (422, Some("period")), "{}", r.text);
    let r = app
        .post(&close("2026-08"), &key_a, serde_json::json!({}))
        .await;
    assert_eq!(r.status, 404, "advertisers cannot close periods");
    let late = |nanos| charge(&a, day(2026, 9, 20), ChargeReason::Billable, nanos, 0);
    writer.write(&[late(700_000_000)]).await.unwrap();
    let september = format!("3.{:06}", expect - 3_000_000);
    // Closing again answers what is frozen, not the ledger now; a month has one spelling.
    let r = app
        .post(&close("2026-09"), &finance, serde_json::json!({}))
        .await;
    assert_eq!(
        r.body["frozen"]["advertiser_charge"],
        september.as_str(),
        "{}",
        r.text
    );
    for odd in ["2026-9", "+2026-09"] {
        let r = app.post(&close(odd), &finance, serde_json::json!({})).await;
        assert_eq!(
            (r.status, r.field()),
            (400, Some("period")),
            "{odd}: {}",
            r.text
        );
    }
    let r = app.get(oct_q, &finance).await;
    assert_eq!(
        row(&r, &a.campaign)[col(&r, "advertiser_charge")],
        september
    );
    let month = |m: &str, last: u32| {
        format!("/v1/reports/delivery?from={m}-01&to={m}-{last}&group_by=campaign")
    };
    let r = app.get(&month("2026-10", 31), &finance).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let adj = &r.body["adjustments"][0];
    assert_eq!(adj["for_period"], "2026-09");
    assert_eq!(adj["posted_to"], "2026-10");
    assert_eq!(adj["charge_micros"], 700_000);
    assert_eq!(
        row(&r, &a.campaign)[col(&r, "advertiser_charge")],
        "0.700000"
    );
    assert_eq!(
        row(&r, &b.campaign)[col(&r, "advertiser_charge")],
        "5.000000"
    );

    // Close October with the adjustment in it: October keeps it, and a later September
    // charge goes to November alone (never the 0.70 again).
    let r = app
        .post(&close("2026-10"), &finance, serde_json::json!({}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    writer.write(&[late(300_000_000)]).await.unwrap();
    let r = app.get(&month("2026-10", 31), &finance).await;
    assert_eq!(
        row(&r, &a.campaign)[col(&r, "advertiser_charge")],
        "0.700000"
    );
    assert_eq!(
        row(&r, &b.campaign)[col(&r, "advertiser_charge")],
        "5.000000"
    );
    let r = app.get(oct_q, &finance).await;
    assert_eq!(
        row(&r, &a.campaign)[col(&r, "advertiser_charge")],
        september
    );
    let r = app.get(&month("2026-11", 30), &finance).await;
    let adjustments = r.body["adjustments"].as_array().unwrap();
    assert_eq!(adjustments.len(), 1, "{}", r.text);
    assert_eq!(adjustments[0]["for_period"], "2026-09");
    assert_eq!(adjustments[0]["posted_to"], "2026-11");
    assert_eq!(adjustments[0]["charge_micros"], 300_000);
    // Over the three months the ledger's billable rows are all there, once.
    let r = app
        .get(
            "/v1/reports/delivery?from=2026-09-01&to=2026-11-30&group_by=",
            &finance,
        )
        .await;
    let total =
        endcap_billing::nanos_to_micros(3_250_000_500 + 700_000_000 + 300_000_000 + 5_000_000_000);
    assert_eq!(
        r.body["totals"][col(&r, "advertiser_charge")],
        format!("{}.{:06}", total / 1_000_000, total % 1_000_000),
        "{}",
        r.text
    );

    // Attribution: a direct new-to-brand sale of 12, a halo sale of 3 and a return of -2
    // for A; ROAS over A's November spend (the posted 0.30 adjustment).
    let credits = vec![
        credit(&a, "r1", 0, 12_000_000, true, true),
        credit(&a, "r1", 1, 3_000_000, false, false),
        credit(&a, "r2", 0, -2_000_000, true, false),
        credit(&b, "r3", 0, 4_000_000, true, false),
    ];
    ClickHouseWriter::new(&ch)
        .write(&[header("r1", 2), header("r2", 1), header("r3", 1)])
        .await
        .unwrap();
    endcap_events::write_run(
        &ch,
        &credits,
        &RunRow {
            run_id: "r1".into(),
            run_at_ms: 1,
            model: "last_touch".into(),
            settings_version: "v1".into(),
            from_ts: 0,
            to_ts: 1_800_000_000,
            shard_index: 0,
            shard_count: 1,
            lines: 4,
            credited_lines: 4,
            exposures: 4,
        },
    )
    .await
    .unwrap();
    let r = app
        .get(
            "/v1/reports/attribution?from=2026-11-01&to=2026-11-30&group_by=campaign",
            &finance,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let ra = row(&r, &a.campaign);
    assert_eq!(
        ra[col(&r, "attributed_orders")],
        1,
        "a return alone is not an order"
    );
    assert_eq!(ra[col(&r, "gross_sales")], "15.000000");
    assert_eq!(ra[col(&r, "returns")], "-2.000000");
    assert_eq!(ra[col(&r, "net_sales")], "13.000000");
    assert_eq!(ra[col(&r, "direct_sales")], "10.000000");
    assert_eq!(ra[col(&r, "halo_sales")], "3.000000");
    assert_eq!(ra[col(&r, "new_to_brand_sales")], "12.000000");
    let roas = ra[col(&r, "roas")].as_f64().unwrap();
    assert!(
        (roas - 13.0 / 0.3).abs() < 1e-5,
        "net 13 over spend 0.30: {roas}"
    );
    assert!(r.body["match_rate"].is_object(), "{}", r.text);
    assert!(r.body["dated_by"]
        .as_str()
        .unwrap()
        .contains("purchase date"));
    let r = app
        .get(
            "/v1/reports/attribution?from=2026-11-01&to=2026-11-30&group_by=sales_channel",
            &key_b,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["rows"].as_array().unwrap().len(),
        1,
        "B's own sales only: {}",
        r.text
    );
    // One customer is under the privacy minimum: the advertiser sees the row exists, not
    // what was bought, and no total that would give it away; finance sees the figures.
    assert_eq!(r.body["rows"][0][col(&r, "suppressed")], true, "{}", r.text);
    assert!(r.body["rows"][0][col(&r, "net_sales")].is_null());
    assert!(r.body["totals"][col(&r, "net_sales")].is_null());
    let r = app
        .get(
            &format!(
                "/v1/reports/attribution?from=2026-11-01&to=2026-11-30&group_by=sales_channel&advertiser_id={adv_b}"
            ),
            &finance,
        )
        .await;
    assert_eq!(
        r.body["rows"][0][col(&r, "net_sales")],
        "4.000000",
        "{}",
        r.text
    );
    assert_eq!(r.body["rows"][0][col(&r, "suppressed")], false);

    // The explanation names exposures and rules, for staff only.
    let r = app
        .get("/v1/reports/attribution/receipts/r1", &finance)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = &r.body["credits"];
    assert_eq!(c.as_array().unwrap().len(), 2);
    assert_eq!(c[0]["scope"], "brand");
    assert_eq!(c[0]["settings_version"], "v1");
    let r = app.get("/v1/reports/attribution/receipts/r1", &key_a).await;
    assert_eq!(r.status, 404);

    // Traffic found invalid after September closed: the 2.25 charge is taken back and
    // credited in November (the next open month), next to the 0.30 posted there before.
    let decision: String = ch
        .client()
        .query("SELECT toString(decision_id) FROM charges WHERE charge_nanos = 2250000000")
        .fetch_one()
        .await
        .unwrap();
    let reverse = |key: String, ids: serde_json::Value| {
        let app = &app;
        async move {
            let body = serde_json::json!({"decision_ids": ids, "reason": "click farm found by the retailer"})
                .to_string();
            app.raw(
                "POST",
                "/v1/invalid-traffic",
                Some(&key),
                Some(("application/json", &body)),
                &[("X-Request-Id", "req-ivt-1")],
            )
            .await
        }
    };
    assert_eq!(
        reverse(key_a.clone(), serde_json::json!([decision]))
            .await
            .status,
        403
    );
    let r = reverse(ADMIN_KEY.to_string(), serde_json::json!([])).await;
    assert_eq!(
        (r.status, r.field()),
        (400, Some("decision_ids")),
        "{}",
        r.text
    );
    let r = reverse(ADMIN_KEY.to_string(), serde_json::json!([decision])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (
            r.body["charges_reversed"].as_u64(),
            r.body["credit_micros"].as_i64()
        ),
        (Some(1), Some(2_250_000))
    );
    let r = reverse(ADMIN_KEY.to_string(), serde_json::json!([decision])).await;
    assert_eq!(r.body["charges_reversed"], 0, "reversed once: {}", r.text);
    let r = app.get(&month("2026-11", 30), &finance).await;
    let adjustments = r.body["adjustments"].as_array().unwrap();
    assert_eq!(
        adjustments[0]["charge_micros"],
        300_000 - 2_250_000,
        "{}",
        r.text
    );
    let r = app.get(oct_q, &finance).await;
    assert_eq!(
        row(&r, &a.campaign)[col(&r, "advertiser_charge")],
        september,
        "the closed month stays as it was"
    );
    let audit = app.get("/v1/audit-log?limit=500", ADMIN_KEY).await;
    assert!(
        audit.text.contains("reverse_invalid") && audit.text.contains("req-ivt-1"),
        "{}",
        audit.text
    );
}

#[actix_web::test]
async fn reports_without_clickhouse_say_so() {
    let app = spawn_app(Backend::Sqlite).await;
    let r = app
        .get(
            "/v1/reports/delivery?from=2026-10-01&to=2026-10-31",
            ADMIN_KEY,
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (503, Some("reports_unavailable")),
        "{}",
        r.text
    );
}
