//! Decision-log counts by retailer-local hour of week: what the ad server's pacing curve is
//! learned from (`endcap_auction::TrafficCurve`). Read off the request path.

use crate::{Arm, ClickHouseConfig, EventError, Table};
use serde::Deserialize;
use std::io::{BufRead, Seek};
use std::path::Path;

/// Hours in a week: the counts' length, Monday 00:00 (retailer-local) first.
pub const WEEK_HOURS: usize = 168;

/// Most bytes of the file log's decisions read for the counts: the end of the file, so the
/// read stays bounded however long the log (the file log is not rotated).
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

fn slot(weekday: u8, hour: u8) -> Option<usize> {
    (weekday < 7 && hour < 24).then(|| usize::from(weekday) * 24 + usize::from(hour))
}

/// Served decisions (filled slots) per local hour of week decided at or after `since_ms`,
/// from ClickHouse (the hour and weekday each row was logged with). Read without `FINAL`,
/// so a replayed batch not yet merged counts twice: it only nudges a weight.
pub async fn hourly_decisions(
    config: &ClickHouseConfig,
    since_ms: i64,
) -> Result<[u64; WEEK_HOURS], EventError> {
    let rows = config
        .client()
        .query(
            "SELECT local_weekday, local_hour, count() FROM decisions \
             WHERE arm = 'served' AND ts_ms >= ? GROUP BY local_weekday, local_hour",
        )
        .bind(since_ms.max(0) as u64)
        .fetch_all::<(u8, u8, u64)>()
        .await?;
    let mut counts = [0u64; WEEK_HOURS];
    for (d, h, n) in rows {
        if let Some(i) = slot(d, h) {
            counts[i] += n;
        }
    }
    Ok(counts)
}

/// The same counts from a file event log (`decisions.ndjson` in `dir`, its last
/// [`MAX_FILE_BYTES`] at most); unreadable lines are skipped.
pub fn hourly_decisions_from_log(
    dir: &Path,
    since_ms: i64,
) -> Result<[u64; WEEK_HOURS], EventError> {
    /// The fields the counts need (the rest of the row is skipped unparsed).
    #[derive(Deserialize)]
    struct Row {
        kind: String,
        decided_at_ms: i64,
        arm: Arm,
        local_hour: u8,
        local_weekday: u8,
    }
    let mut counts = [0u64; WEEK_HOURS];
    let path = dir.join(format!("{}.ndjson", Table::Decisions.name()));
    let mut file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(counts),
        Err(e) => return Err(e.into()),
    };
    let len = file.metadata()?.len();
    let skip_partial = len > MAX_FILE_BYTES;
    if skip_partial {
        file.seek(std::io::SeekFrom::Start(len - MAX_FILE_BYTES))?;
    }
    let mut lines = std::io::BufReader::new(file).lines();
    if skip_partial {
        // The first line read is cut by the seek.
        let _ = lines.next();
    }
    for line in lines {
        let Ok(line) = line else { continue };
        let Ok(r) = serde_json::from_str::<Row>(&line) else {
            continue;
        };
        if r.kind != "decision" || r.arm != Arm::Served || r.decided_at_ms < since_ms {
            continue;
        }
        if let Some(i) = slot(r.local_weekday, r.local_hour) {
            counts[i] += 1;
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_log_counts_served_decisions_by_local_hour_of_week_since_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let row = |ts: i64, arm: &str, d: u8, h: u8| {
            format!(
                r#"{{"kind":"decision","decided_at_ms":{ts},"arm":"{arm}","local_weekday":{d},"local_hour":{h},"other":1}}"#
            )
        };
        let lines = [
            row(2_000, "served", 0, 9),
            row(3_000, "served", 0, 9),
            row(3_000, "served", 6, 23),
            row(3_000, "ghost", 0, 9),
            row(500, "served", 0, 9),
            row(3_000, "served", 7, 1),
            "not json".to_string(),
        ];
        std::fs::write(dir.path().join("decisions.ndjson"), lines.join("\n")).unwrap();
        let counts = hourly_decisions_from_log(dir.path(), 1_000).unwrap();
        assert_eq!(
            counts[9], 2,
            "served since the cut, ghosts and older rows left out"
        );
        assert_eq!(counts[6 * 24 + 23], 1);
        assert_eq!(counts.iter().sum::<u64>(), 3);
        let none = hourly_decisions_from_log(&dir.path().join("missing"), 0).unwrap();
        assert_eq!(none.iter().sum::<u64>(), 0);
    }
}
