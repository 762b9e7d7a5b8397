//! Sustained events/s into ClickHouse through the sink, against the raw clickhouse-crate
//! insert rate measured in the same run on the same server (goal: sink >= 0.6x raw).
//!
//!     cargo bench -p endcap-events --bench sink_throughput
//!
//! Needs the ClickHouse that scripts/test.sh starts (ENDCAP_TEST_CLICKHOUSE_URL).
//! ENDCAP_BENCH_EVENTS sets the number of events per measurement (default 500000).

use endcap_events::*;
use std::time::{Duration, Instant};
use uuid::Uuid;

fn ad(i: u64, ts: i64) -> AdEvent {
    use endcap_core::*;
    let x = Exposure {
        decision_id: DecisionId::generate(),
        decided_at_ms: ts,
        user_key: format!("{:064x}", i % 50_000),
        advertiser_id: AdvertiserId::from_uuid(Uuid::from_u128(1)),
        campaign_id: CampaignId::from_uuid(Uuid::from_u128(2 + (i % 20) as u128)),
        line_item_id: LineItemId::from_uuid(Uuid::from_u128(100 + (i % 1000) as u128)),
        creative_id: CreativeId::from_uuid(Uuid::from_u128(5000 + (i % 1000) as u128)),
        channel: AdChannel::Onsite,
        placement: "search-top".into(),
        position: (i % 3) as u16,
        sku: Some("sku-12345".into()),
        pricing: PricingModel::Cpm,
        price_micros: 1_250_000,
        bid_cpm_micros: 0,
    };
    AdEvent::new(
        x,
        ts + (i % 1000) as i64,
        vec!["sku-12345".into(), "sku-67890".into()],
    )
}

async fn fresh() -> ClickHouseConfig {
    let base = std::env::var("ENDCAP_TEST_CLICKHOUSE_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:8123".into());
    let cfg = ClickHouseConfig::from_url(&format!(
        "{base}?database=endcap_bench_{}",
        Uuid::now_v7().simple()
    ))
    .unwrap();
    apply_schema(&cfg).await.unwrap();
    cfg
}

async fn drop_db(cfg: &ClickHouseConfig) {
    let _ = cfg
        .server_client()
        .query(&format!("DROP DATABASE IF EXISTS {}", cfg.database))
        .execute()
        .await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: u64 = std::env::var("ENDCAP_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500_000);
    let ts = chrono::Utc::now().timestamp_millis();
    let events: Vec<Event> = (0..n).map(|i| Event::Impression(ad(i, ts))).collect();

    // Raw: the clickhouse crate's insert, batches of the sink's default size, no queue.
    let raw_cfg = fresh().await;
    let writer = ClickHouseWriter::new(&raw_cfg);
    let batch = SinkConfig::default().max_batch;
    let start = Instant::now();
    for chunk in events.chunks(batch) {
        writer.write(chunk).await.unwrap();
    }
    let raw = start.elapsed();
    drop_db(&raw_cfg).await;

    // Sink: producers call send() one event at a time; measured until all are written.
    let sink_cfg = fresh().await;
    let spool_dir = std::env::temp_dir().join(format!("endcap-bench-spool-{}", Uuid::now_v7()));
    let sink = Sink::start(
        ClickHouseWriter::new(&sink_cfg),
        Spool::open(&spool_dir).unwrap(),
        SinkConfig::default(),
    );
    let start = Instant::now();
    for e in events {
        sink.send(e);
        // Yield now and then so the writer task runs alongside, as in a server.
        if SinkMetrics::get(&sink.metrics().queued).is_multiple_of(10_000) {
            tokio::task::yield_now().await;
        }
    }
    sink.flush().await;
    while SinkMetrics::get(&sink.metrics().written) + SinkMetrics::get(&sink.metrics().replayed) < n
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let through_sink = start.elapsed();
    let m = sink.metrics();
    let stored: u64 = sink_cfg
        .client()
        .query("SELECT count() FROM impressions")
        .fetch_one()
        .await
        .unwrap();
    drop_db(&sink_cfg).await;
    let _ = std::fs::remove_dir_all(&spool_dir);

    let raw_rate = n as f64 / raw.as_secs_f64();
    let sink_rate = n as f64 / through_sink.as_secs_f64();
    println!("events per measurement: {n}");
    println!(
        "raw clickhouse insert : {raw_rate:>10.0} events/s ({:.2} s)",
        raw.as_secs_f64()
    );
    println!(
        "through the sink      : {sink_rate:>10.0} events/s ({:.2} s)",
        through_sink.as_secs_f64()
    );
    println!("ratio sink/raw        : {:.2}", sink_rate / raw_rate);
    println!(
        "sink counters         : written {} spooled {} overflowed {} dropped {}; rows stored {stored}",
        SinkMetrics::get(&m.written),
        SinkMetrics::get(&m.spooled),
        SinkMetrics::get(&m.overflowed),
        SinkMetrics::get(&m.dropped)
    );
}
