//! Keeps pacing's traffic curve fresh: every hour, off the request path, the decision log's
//! served decisions of the last four weeks are counted by retailer-local hour of week and
//! turned into the curve the next snapshot paces with.

use crate::Index;
use endcap_auction::TrafficCurve;
use endcap_events::EventTarget;
use std::sync::Arc;
use std::time::Duration;

/// How far back the counts reach: four of each hour of the week.
pub const TRAFFIC_LOOKBACK_DAYS: i64 = 28;
/// Fewest served decisions in the lookback before the learned curve replaces the flat line.
pub const MIN_TRAFFIC_DECISIONS: u64 = 10_000;
/// How often the curve is relearned.
pub const TRAFFIC_REFRESH: Duration = Duration::from_secs(3_600);

/// Learns the curve from the event log now: the flat line when there is too little data.
pub async fn learn_traffic(
    target: &EventTarget,
) -> Result<TrafficCurve, endcap_events::EventError> {
    let since = chrono::Utc::now() - chrono::Duration::days(TRAFFIC_LOOKBACK_DAYS);
    let since_ms = since.timestamp_millis();
    let counts = match target {
        EventTarget::ClickHouse(url) => {
            let cfg = endcap_events::ClickHouseConfig::from_url(url)?;
            endcap_events::hourly_decisions(&cfg, since_ms).await?
        }
        EventTarget::Files(dir) => {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || {
                endcap_events::hourly_decisions_from_log(&dir, since_ms)
            })
            .await
            .map_err(|e| endcap_events::EventError::from(std::io::Error::other(e)))??
        }
    };
    Ok(TrafficCurve::from_counts(&counts, MIN_TRAFFIC_DECISIONS))
}

/// Relearns the curve now and hands it to the index (the next snapshot paces with it); a
/// failure keeps the curve in use.
pub async fn refresh_traffic(index: &Index, target: &EventTarget) {
    let learned = tokio::time::timeout(Duration::from_secs(30), learn_traffic(target)).await;
    match learned.unwrap_or_else(|_| {
        Err(endcap_events::EventError::from(std::io::Error::other(
            "timed out",
        )))
    }) {
        Ok(curve) => {
            tracing::info!(
                learned = curve.is_learned(),
                "pacing traffic curve refreshed"
            );
            index.set_traffic(curve);
        }
        Err(e) => {
            tracing::warn!(error = %e, "pacing traffic curve not refreshed; keeping the one in use")
        }
    }
}

/// Relearns the curve every [`TRAFFIC_REFRESH`] while the process runs.
pub async fn keep_traffic_fresh(index: Arc<Index>, target: EventTarget) {
    loop {
        tokio::time::sleep(TRAFFIC_REFRESH).await;
        refresh_traffic(&index, &target).await;
    }
}
