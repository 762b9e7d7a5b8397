//! The search-term report against real ClickHouse: which searches matched which keyword,
//! with impressions, clicks, spend and attributed sales per decision; advertisers see only
//! their own, and a term made by fewer shoppers than the privacy minimum as `(other)`.

use crate::helpers::*;
use endcap_core::*;
use endcap_events::{
    AdEvent, Arm, BatchWriter, ChargeReason, ChargeRecord, ChargeSource, ClickHouseWriter,
    CreditRow, DecisionRecord, Event, ReceiptHeaderEvent, RunRow,
};
use uuid::Uuid;

const DAY_MS: i64 = 86_400_000;

/// 2026-11-10, 12:00 UTC, in ms.
fn noon() -> i64 {
    let d = chrono::NaiveDate::from_ymd_opt(2026, 11, 10).unwrap() - chrono::NaiveDate::default();
    d.num_days() * DAY_MS + DAY_MS / 2
}

struct Ids {
    advertiser: AdvertiserId,
    campaign: CampaignId,
    line_item: LineItemId,
}

async fn ids(app: &TestApp, key: &str, advertiser: &str) -> Ids {
    let campaign = app.campaign(key, advertiser).await;
    let line_item = app.line_item(key, &campaign).await;
    Ids {
        advertiser: AdvertiserId::parse(advertiser).unwrap(),
        campaign: CampaignId::parse(&campaign).unwrap(),
        line_item: LineItemId::parse(&line_item).unwrap(),
    }
}

fn exposure(ids: &Ids, user: usize, at_ms: i64) -> Exposure {
    Exposure {
        decision_id: DecisionId::generate(),
        decided_at_ms: at_ms,
        user_key: format!("{user:064x}"),
        advertiser_id: ids.advertiser,
        campaign_id: ids.campaign,
        line_item_id: ids.line_item,
        creative_id: CreativeId::generate(),
        channel: AdChannel::Onsite,
        placement: "search-top".into(),
        position: 0,
        sku: Some("sku-1".into()),
        pricing: PricingModel::Cpc,
        price_micros: 2_000_000,
        bid_cpm_micros: 0,
    }
}

fn decision(x: &Exposure, arm: Arm, query: &str, keyword: &str, how: &str) -> Event {
    Event::Decision(Box::new(DecisionRecord {
        exposure: x.clone(),
        request_id: Uuid::now_v7(),
        arm,
        slot_id: "search-top".into(),
        slot_count: 1,
        bid_micros: 3_000_000,
        pctr: 0.01,
        ecpm_micros: 30_000_000,
        promoted_skus: vec!["sku-1".into()],
        keywords: vec![],
        categories: vec![],
        store_id: String::new(),
        page_type: "search".into(),
        device: String::new(),
        local_hour: 12,
        local_weekday: 1,
        segments: vec![],
        features: "{}".into(),
        model_version: "prior".into(),
        explored: false,
        query: query.into(),
        matched_keyword: keyword.into(),
        match_type: how.into(),
        bid_multiplier_bps: 15_000,
    }))
}

fn seen(x: &Exposure, click: bool) -> Event {
    let e = AdEvent::new(x.clone(), x.decided_at_ms + 1_000, vec!["sku-1".into()]);
    if click {
        Event::Click(e)
    } else {
        Event::Impression(e)
    }
}

fn charge(x: &Exposure, reason: ChargeReason, nanos: i64) -> Event {
    Event::Charge(ChargeRecord {
        decision_id: x.decision_id.as_uuid(),
        source: ChargeSource::Click,
        reason,
        ts_ms: x.decided_at_ms + 2_000,
        accounting_day: (x.decided_at_ms / DAY_MS) as i32,
        advertiser_id: x.advertiser_id.as_uuid(),
        campaign_id: x.campaign_id.as_uuid(),
        line_item_id: x.line_item_id.as_uuid(),
        charge_nanos: nanos,
        media_cost_nanos: 0,
        currency: "USD".into(),
        channel: "onsite".into(),
    })
}

/// A sale of `amount` credited to the decision of `x` (last touch).
fn credit(x: &Exposure, receipt: &str, amount: i64) -> CreditRow {
    let ts = x.decided_at_ms + DAY_MS;
    CreditRow {
        run_id: "r1".into(),
        run_at_ms: 1,
        model: "last_touch".into(),
        settings_version: "v1".into(),
        receipt_id: receipt.into(),
        receipt_version: 1,
        line_no: 0,
        customer_key: "customer-1".into(),
        store_id: "s1".into(),
        sales_channel: "online".into(),
        purchase_ts: (ts / 1000) as u32,
        purchase_ts_ms: ts as u64,
        purchase_date: (ts / DAY_MS) as u16,
        sku: "sku-1".into(),
        brand: "Acme".into(),
        category: "dairy".into(),
        line_quantity: 1,
        line_amount_micros: amount,
        exposure_id: x.decision_id.as_uuid(),
        exposure_kind: "click".into(),
        exposure_ts_ms: x.decided_at_ms as u64,
        ad_channel: "onsite".into(),
        advertiser_id: x.advertiser_id.as_uuid(),
        campaign_id: x.campaign_id.as_uuid(),
        line_item_id: x.line_item_id.as_uuid(),
        weight: 1.0,
        attributed_micros: amount,
        attributed_units_micros: 1_000_000,
        direct: 1,
        new_to_brand: 0,
        ntb_lookback_days: 200,
        lag_secs: 86_400,
        scope: "sku".into(),
        window_days: 14,
    }
}

fn col(r: &Resp, name: &str) -> usize {
    r.body["columns"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("column {name}: {}", r.text))
}

/// The row of a search term and keyword.
fn term<'a>(r: &'a Resp, query: &str, keyword: &str) -> &'a Vec<serde_json::Value> {
    let (q, k) = (col(r, "search_term"), col(r, "keyword"));
    r.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_array().unwrap())
        .find(|v| v[q] == query && v[k] == keyword)
        .unwrap_or_else(|| panic!("a row for {query:?} / {keyword:?}: {}", r.text))
}

#[actix_web::test]
async fn search_terms_show_what_each_search_and_keyword_delivered_within_privacy() {
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

    // A: 50 shoppers searched "organic milk" and A's broad "milk" matched; each saw the
    // ad, two clicked (2.00 each billed; one more click over budget, not billed), and the
    // first one's click was credited a 7.50 sale. One shopper searched "rare cheese", an
    // exact keyword of A's: clicked, billed 1.00.
    let mut events = Vec::new();
    let milk: Vec<Exposure> = (0..50)
        .map(|u| exposure(&a, u, noon() + u as i64))
        .collect();
    for (i, x) in milk.iter().enumerate() {
        events.push(decision(x, Arm::Served, "organic milk", "milk", "broad"));
        events.push(seen(x, false));
        if i < 2 {
            events.push(seen(x, true));
            events.push(charge(x, ChargeReason::Billable, 2_000_000_000));
        }
        if i == 2 {
            events.push(charge(x, ChargeReason::OverBudget, 2_000_000_000));
        }
    }
    let rare = exposure(&a, 99, noon());
    events.extend([
        decision(&rare, Arm::Served, "rare cheese", "rare cheese", "exact"),
        seen(&rare, false),
        seen(&rare, true),
        charge(&rare, ChargeReason::Billable, 1_000_000_000),
    ]);
    // Not counted: a ghost, a search the day before the report, a decision no keyword
    // matched (run of site on a search page).
    let ghost = exposure(&a, 1, noon());
    let before = exposure(&a, 1, noon() - DAY_MS);
    let unmatched = exposure(&a, 1, noon());
    events.extend([
        decision(&ghost, Arm::Ghost, "organic milk", "milk", "broad"),
        decision(&before, Arm::Served, "organic milk", "milk", "broad"),
        seen(&before, false),
        decision(&unmatched, Arm::Served, "organic milk", "", ""),
        seen(&unmatched, false),
    ]);
    // B: the same search on B's own keyword.
    let xb = exposure(&b, 7, noon());
    events.extend([
        decision(&xb, Arm::Served, "organic milk", "organic milk", "phrase"),
        seen(&xb, false),
    ]);
    let writer = ClickHouseWriter::new(&ch);
    writer.write(&events).await.unwrap();
    writer
        .write(&[Event::ReceiptHeader(ReceiptHeaderEvent {
            receipt_id: "r1".into(),
            version: 1,
            line_count: 1,
            customer_key: "customer-1".into(),
            store_id: "s1".into(),
            channel: "online".into(),
            ts_ms: noon() + DAY_MS,
        })])
        .await
        .unwrap();
    endcap_events::write_run(
        &ch,
        &[credit(&milk[0], "r1", 7_500_000)],
        &RunRow {
            run_id: "r1".into(),
            run_at_ms: 1,
            model: "last_touch".into(),
            settings_version: "v1".into(),
            from_ts: 0,
            to_ts: 1_800_000_000,
            shard_index: 0,
            shard_count: 1,
            lines: 1,
            credited_lines: 1,
            exposures: 1,
        },
    )
    .await
    .unwrap();

    let q = "/v1/reports/search-terms?from=2026-11-10&to=2026-11-10";
    // Finance sees every term, exact figures.
    let r = app
        .get(&format!("{q}&campaign_id={}", a.campaign), &finance)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["report"], "search_terms");
    assert_eq!(
        r.body["rows"].as_array().unwrap().len(),
        2,
        "milk and cheese only: {}",
        r.text
    );
    let m = term(&r, "organic milk", "milk");
    assert_eq!(m[0], a.campaign.to_string(), "grouped by campaign first");
    assert_eq!(m[col(&r, "match_type")], "broad");
    assert_eq!(m[col(&r, "impressions")], 50);
    assert_eq!(m[col(&r, "clicks")], 2);
    assert_eq!(m[col(&r, "advertiser_charge")], "4.000000");
    assert_eq!(m[col(&r, "cpc")], "2.000000");
    assert_eq!(m[col(&r, "attributed_sales")], "7.500000");
    assert_eq!(m[col(&r, "roas")], 1.875);
    let c = term(&r, "rare cheese", "rare cheese");
    assert_eq!(c[col(&r, "match_type")], "exact");
    assert_eq!(c[col(&r, "advertiser_charge")], "1.000000");
    assert_eq!(r.body["totals"][col(&r, "advertiser_charge")], "5.000000");

    // The advertiser: its own rows; the one-shopper term folded into (other).
    let r = app.get(q, &key_a).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["rows"].as_array().unwrap().len(), 2, "{}", r.text);
    assert_eq!(term(&r, "organic milk", "milk")[col(&r, "impressions")], 50);
    let other = term(&r, "(other)", "rare cheese");
    assert_eq!(other[col(&r, "clicks")], 1);
    assert!(
        !r.body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|row| row[col(&r, "search_term")] == "rare cheese"),
        "{}",
        r.text
    );
    // B sees its phrase match only (one shopper: folded too).
    let r = app.get(&format!("{q}&group_by="), &key_b).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["rows"].as_array().unwrap().len(), 1, "{}", r.text);
    assert_eq!(
        term(&r, "(other)", "organic milk")[col(&r, "impressions")],
        1
    );
    // Another advertiser's campaign is 404; bad parameters name the field.
    let r = app
        .get(&format!("{q}&campaign_id={}", a.campaign), &key_b)
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = app
        .get(&format!("{q}&group_by=sales_channel"), &finance)
        .await;
    assert_eq!((r.status, r.field()), (400, Some("group_by")), "{}", r.text);
    let r = app
        .get("/v1/reports/search-terms?to=2026-11-10", &finance)
        .await;
    assert_eq!((r.status, r.field()), (400, Some("from")), "{}", r.text);
    let r = app
        .get(
            "/v1/reports/search-terms?from=2026-11-11&to=2026-11-10",
            &finance,
        )
        .await;
    assert_eq!((r.status, r.field()), (422, Some("to")), "{}", r.text);
    // Grouped by day and line item; CSV.
    let r = app
        .get(&format!("{q}&group_by=day,line_item&format=csv"), &finance)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let lines: Vec<&str> = r.text.lines().collect();
    assert!(
        lines[0].starts_with("day,line_item,search_term,keyword,match_type,impressions"),
        "{}",
        r.text
    );
    assert!(
        lines.iter().any(|l| l.starts_with(&format!(
            "2026-11-10,{},organic milk,milk,broad,50,2,",
            a.line_item
        ))),
        "{}",
        r.text
    );
}
