//! `attribution-job run --clickhouse` against the real ClickHouse that scripts/test.sh starts
//! (`ENDCAP_TEST_CLICKHOUSE_URL`), on a simulated world: the ClickHouse and file paths give
//! the same results on the same data, reruns and shards replace rather than add, narrower
//! settings withdraw earlier credit, and corrected and voided receipts count as their current
//! version.

use endcap_attribution::TouchKind;
use endcap_events::{
    AdRow, BatchWriter, ClickHouseConfig, ClickHouseWriter, Event, IdentityLink,
    ReceiptHeaderEvent, ReceiptLineEvent,
};
use endcap_sim::{simulate, SimCampaign, SimConfig, World};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use uuid::Uuid;

const START_MS: i64 = 1_789_948_800_000; // 2026-09-21T00:00:00Z
const DAYS: u32 = 30;

fn world() -> World {
    simulate(&SimConfig {
        shoppers: 400,
        days: DAYS,
        start_ms: START_MS,
        base_rate: 0.2,
        top_ctr: 0.05,
        stores: 4,
        campaigns: (0..6u128)
            .map(|i| SimCampaign {
                advertiser_id: Uuid::from_u128(0xa000 + i / 2),
                campaign_id: Uuid::from_u128(0xc000 + i),
                line_item_id: Uuid::from_u128(0xd000 + i),
                sku: format!("sku-{i}"),
                holdout_percent: 10,
                exposure_rate: 0.05,
                lift_rate: 0.01,
                price_micros: 1_000_000 + (i as i64) * 37_000,
            })
            .collect(),
        seed: 7,
    })
}

/// The world as the CSV files of the file path; the flags that name them.
fn write_files(w: &World, dir: &Path) -> Vec<String> {
    endcap_sim::write_csv(w, dir).unwrap();
    [
        ("--exposures", "exposures.csv"),
        ("--receipts", "receipts.csv"),
        ("--catalog", "catalog.csv"),
        ("--identity", "identity.csv"),
    ]
    .iter()
    .flat_map(|(flag, name)| [flag.to_string(), dir.join(name).display().to_string()])
    .collect()
}

fn ad_row(t: &endcap_attribution::Touch) -> AdRow {
    AdRow {
        event_id: t.event_id,
        decision_id: t.event_id,
        ts: (t.ts_ms / 1000) as u32,
        ts_ms: t.ts_ms as u64,
        decision_ts: (t.ts_ms / 1000) as u32,
        user_key: t.user_key.clone(),
        advertiser_id: t.advertiser_id,
        campaign_id: t.campaign_id,
        line_item_id: t.line_item_id,
        creative_id: Uuid::nil(),
        channel: "onsite".into(),
        placement: "search-top".into(),
        position: 1,
        sku: t.skus.first().cloned().unwrap_or_default(),
        pricing: "cpm".into(),
        price_micros: 0,
        bid_cpm_micros: 0,
        charge_nanos: 0,
        promoted_skus: t.skus.clone(),
    }
}

/// Receipt events: a header per (receipt, version), then its lines.
fn receipt_events(lines: &[ReceiptLineEvent]) -> Vec<Event> {
    let mut by: BTreeMap<(String, i64), Vec<&ReceiptLineEvent>> = BTreeMap::new();
    for l in lines {
        by.entry((l.receipt_id.clone(), l.version))
            .or_default()
            .push(l);
    }
    let mut out = Vec::new();
    for ((id, version), ls) in by {
        out.push(Event::ReceiptHeader(ReceiptHeaderEvent {
            receipt_id: id,
            version,
            line_count: ls.len() as u32,
            customer_key: ls[0].customer_key.clone(),
            store_id: ls[0].store_id.clone(),
            channel: ls[0].channel.clone(),
            ts_ms: ls[0].ts_ms,
        }));
        out.extend(ls.into_iter().map(|l| Event::ReceiptLine(l.clone())));
    }
    out
}

async fn load(w: &World, ch: &ClickHouseConfig, store: &endcap_store::CampaignStore) {
    endcap_events::apply_schema(ch).await.unwrap();
    let client = ch.client();
    for (table, kind) in [
        ("impressions", TouchKind::View),
        ("clicks", TouchKind::Click),
    ] {
        let mut ins = client.insert::<AdRow>(table).await.unwrap();
        for t in w.touches.iter().filter(|t| t.kind == kind) {
            ins.write(&ad_row(t)).await.unwrap();
        }
        ins.end().await.unwrap();
    }
    let mut events = receipt_events(&w.receipts);
    events.extend(w.identity.iter().map(|(u, c)| {
        Event::Identity(IdentityLink {
            user_key: u.clone(),
            customer_key: c.clone(),
            ts_ms: START_MS,
        })
    }));
    ClickHouseWriter::new(ch).write(&events).await.unwrap();
    let items: Vec<(String, String, String)> = w
        .catalog
        .iter()
        .map(|(s, p)| (s.clone(), p.brand.clone(), p.category.clone()))
        .collect();
    store.upsert_catalog(&items).await.unwrap();
}

fn job(args: &[String]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_attribution-job"))
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "attribution-job failed: {err}");
    err
}

/// Per campaign: (orders, sales micros) from the file path's by_campaign.csv.
fn file_totals(dir: &Path) -> BTreeMap<String, (u64, i64)> {
    std::fs::read_to_string(dir.join("by_campaign.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let sales: f64 = f[3].parse().unwrap();
            (
                f[0].to_string(),
                (f[1].parse().unwrap(), (sales * 1e6).round() as i64),
            )
        })
        .collect()
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct Total {
    campaign: String,
    orders: u64,
    sales: i64,
}

/// Per campaign: (orders, sales micros) from `attribution_current`.
async fn ch_totals(ch: &ClickHouseConfig) -> BTreeMap<String, (u64, i64)> {
    let rows: Vec<Total> = ch
        .client()
        .query(
            "SELECT toString(campaign_id) AS campaign, uniqExact(receipt_id) AS orders, \
             sum(attributed_micros) AS sales FROM attribution_current \
             WHERE model = 'last_touch' GROUP BY campaign",
        )
        .fetch_all()
        .await
        .unwrap();
    rows.into_iter()
        .map(|r| (r.campaign, (r.orders, r.sales)))
        .collect()
}

fn day(ms: i64) -> String {
    endcap_sim::iso(ms)[..10].to_string()
}

#[tokio::test]
async fn clickhouse_and_files_agree_and_reruns_replace() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    let base = std::env::var("ENDCAP_TEST_CLICKHOUSE_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:8123".into());
    let url = format!("{base}?database=endcap_t_{}", Uuid::now_v7().simple());
    let ch = ClickHouseConfig::from_url(&url).unwrap();
    let db = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = endcap_store::CampaignStore::connect(&db).await.unwrap();
    load(&w, &ch, &store).await;

    let files = write_files(&w, dir.path());
    let run_files = |extra: &[&str], out: &str| {
        let mut a = vec!["run".to_string()];
        a.extend(files.iter().cloned());
        a.extend(["--out".into(), dir.path().join(out).display().to_string()]);
        a.extend(extra.iter().map(|s| s.to_string()));
        job(&a);
        file_totals(&dir.path().join(out))
    };
    let from = day(START_MS);
    let to = day(START_MS + i64::from(DAYS) * 86_400_000);
    let run_ch = |extra: &[&str]| {
        let mut a: Vec<String> = [
            "run",
            "--clickhouse",
            &url,
            "--database",
            &db,
            "--from",
            &from,
            "--to",
            &to,
            "--quiet",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        job(&a)
    };

    let expected = run_files(&[], "files");
    assert!(
        expected.len() >= 4,
        "the world credits most campaigns: {expected:?}"
    );
    let summary = run_ch(&[]);
    assert!(summary.contains("lines credited"), "{summary}");
    assert_eq!(
        ch_totals(&ch).await,
        expected,
        "ClickHouse path = file path"
    );

    // A rerun of the same dates replaces: nothing doubles.
    run_ch(&[]);
    assert_eq!(ch_totals(&ch).await, expected, "a rerun replaces");

    // Two shards together replace the whole as well.
    run_ch(&["--shard", "1/2"]);
    run_ch(&["--shard", "2/2"]);
    assert_eq!(ch_totals(&ch).await, expected, "shards 1/2 + 2/2 = 1/1");

    // Narrower windows withdraw what the wider ones credited.
    let narrow = run_files(
        &["--view-window-days", "1", "--click-window-days", "1"],
        "narrow",
    );
    run_ch(&["--view-window-days", "1", "--click-window-days", "1"]);
    assert_eq!(ch_totals(&ch).await, narrow, "earlier credit withdrawn");
    assert_ne!(narrow, expected, "the narrower windows change the answer");

    // Correct one credited receipt (version 2, one line at a new amount) and void another:
    // the rerun counts only their current versions.
    let credited: Vec<String> = ch
        .client()
        .query("SELECT DISTINCT receipt_id FROM attribution_current ORDER BY receipt_id LIMIT 2")
        .fetch_all()
        .await
        .unwrap();
    let (fix, void) = (credited[0].clone(), credited[1].clone());
    let mut receipts: Vec<ReceiptLineEvent> = w
        .receipts
        .iter()
        .filter(|l| l.receipt_id != void)
        .cloned()
        .collect();
    let first = receipts.iter().position(|l| l.receipt_id == fix).unwrap();
    let mut corrected = receipts[first].clone();
    corrected.version = 2;
    corrected.line_no = 0;
    corrected.quantity = 1;
    corrected.amount_micros = 123_457;
    receipts.retain(|l| l.receipt_id != fix);
    receipts.push(corrected.clone());
    let v = &w.receipts.iter().find(|l| l.receipt_id == void).unwrap();
    let mut changes = receipt_events(&[corrected]);
    changes.push(Event::ReceiptHeader(ReceiptHeaderEvent {
        receipt_id: void.clone(),
        version: 2,
        line_count: 0,
        customer_key: v.customer_key.clone(),
        store_id: v.store_id.clone(),
        channel: v.channel.clone(),
        ts_ms: v.ts_ms,
    }));
    ClickHouseWriter::new(&ch).write(&changes).await.unwrap();
    let current: u64 = ch
        .client()
        .query("SELECT count() FROM receipts_current")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(
        current as usize,
        receipts.len(),
        "receipts_current: one version each, voids gone"
    );

    let w2 = World {
        receipts,
        ..w.clone()
    };
    let dir2 = tempfile::tempdir().unwrap();
    let files2 = write_files(&w2, dir2.path());
    let mut a = vec!["run".to_string()];
    a.extend(files2);
    a.extend([
        "--out".into(),
        dir2.path().join("out").display().to_string(),
    ]);
    job(&a);
    let expected2 = file_totals(&dir2.path().join("out"));
    run_ch(&[]);
    assert_eq!(ch_totals(&ch).await, expected2, "corrections and voids");
    assert_ne!(expected2, expected);
}

#[tokio::test]
async fn lift_on_clickhouse_is_the_engines_lift_on_the_same_world() {
    use endcap_core::*;
    let dir = tempfile::tempdir().unwrap();
    let base = std::env::var("ENDCAP_TEST_CLICKHOUSE_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:8123".into());
    let url = format!("{base}?database=endcap_t_{}", Uuid::now_v7().simple());
    let ch = ClickHouseConfig::from_url(&url).unwrap();
    let db = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = endcap_store::CampaignStore::connect(&db).await.unwrap();
    let adv = store
        .create_advertiser(
            "test",
            NewAdvertiser {
                name: "Acme".into(),
                currency: Currency::parse("USD", "currency").unwrap(),
                frequency_cap: None,
                domains: vec![],
            },
            None,
        )
        .await
        .unwrap()
        .value;
    let start = chrono::DateTime::from_timestamp_millis(START_MS).unwrap();
    let campaign = store
        .create_campaign("test", adv.id, None, |_| {
            Ok(NewCampaign {
                name: "Milk".into(),
                status: Status::Active,
                budget: Budget {
                    total_micros: Micros::new(100_000_000),
                    daily_micros: Micros::new(10_000_000),
                },
                start_at: start,
                end_at: start + chrono::Duration::days(14),
                attribution: AttributionSettings::default(),
                holdout_percent: 20,
                frequency_cap: None,
            })
        })
        .await
        .unwrap()
        .value;
    let w = simulate(&SimConfig {
        shoppers: 6_000,
        days: 14,
        start_ms: START_MS,
        base_rate: 0.01,
        top_ctr: 0.05,
        stores: 5,
        campaigns: vec![SimCampaign {
            advertiser_id: adv.id.as_uuid(),
            campaign_id: campaign.id.as_uuid(),
            line_item_id: Uuid::from_u128(3),
            sku: "milk-1".into(),
            holdout_percent: 20,
            exposure_rate: 0.3,
            lift_rate: 0.01,
            price_micros: 5_000_000,
        }],
        seed: 1,
    });
    load(&w, &ch, &store).await;
    let mut ins = ch
        .client()
        .insert::<AdRow>("exposure_holdouts")
        .await
        .unwrap();
    for g in &w.ghosts {
        ins.write(&ad_row(g)).await.unwrap();
    }
    ins.end().await.unwrap();

    let summary = job(&[
        "lift".into(),
        "--clickhouse".into(),
        url.clone(),
        "--database".into(),
        db.clone(),
    ]);
    assert!(summary.contains("measured 1 campaigns"), "{summary}");

    let expected = endcap_attribution::lift(
        &endcap_attribution::LiftInput {
            exposures: &w.touches,
            ghosts: &w.ghosts,
            promoted_skus: &["milk-1".to_string()],
            scope: MatchScope::Sku,
            holdout_percent: 20,
            spend_micros: 0,
            min_customers: 50,
        },
        &w.receipts,
        &w.catalog,
        &w.identity,
    );
    let rows: Vec<endcap_events::CampaignLiftRow> = ch
        .client()
        .query("SELECT ?fields FROM campaign_lift")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(
        (r.exposed_customers, r.held_out_customers, r.suppressed),
        (expected.exposed.customers, expected.held_out.customers, 0)
    );
    let i = expected.incremental_sales.unwrap();
    // Equal up to float summation order (the variance sums customers in hash order).
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    assert!(close(r.incremental_sales, i.value), "{r:?} vs {i:?}");
    assert!(close(r.incremental_low, i.low), "{r:?} vs {i:?}");
    assert!(close(r.incremental_high, i.high), "{r:?} vs {i:?}");
    assert!(r.iroas.is_nan(), "no spend, no iROAS");
    let truth = w.true_incremental_micros[&campaign.id.as_uuid()] as f64;
    assert!(i.value > 0.0 && truth > 0.0, "the simulated ads sold more");
}
