//! How long each event table keeps its rows, and the job that enforces it. ClickHouse 18.16
//! has no TTL, so retention is a job: partitioned tables lose whole partitions past their
//! retention (cheap, and exact to the day or month of the partition key); the few
//! unpartitioned tables get a `DELETE` mutation. The file event log is rewritten without the
//! old lines.

use crate::{ClickHouseConfig, Event, EventError, Table};
use chrono::{DateTime, Utc};
use std::path::Path;

/// One table's retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// The ClickHouse table (and, for event tables, the file log's table).
    pub table: &'static str,
    /// Days kept, counted back from the run.
    pub days: u32,
    /// Why this long.
    pub why: &'static str,
    /// For tables without date partitions: the time column a `DELETE` mutation filters on,
    /// and whether it holds milliseconds (else a `DateTime`).
    pub delete_by: Option<(&'static str, bool)>,
}

/// Seven years: what finance and tax rules ask of billing and attribution records.
pub const FINANCE_DAYS: u32 = 2_557;
/// Thirteen months: an attribution lookback plus a year-over-year comparison.
pub const BEHAVIOUR_DAYS: u32 = 400;
/// Twenty-five months: two closed years of receipts, to re-run attribution for either.
pub const RECEIPT_DAYS: u32 = 760;

const fn by_partition(table: &'static str, days: u32, why: &'static str) -> Retention {
    Retention {
        table,
        days,
        why,
        delete_by: None,
    }
}

/// Every table's retention except the decision log's, whose days are a setting (see
/// [`policy`]). Documented in docs/ARCHITECTURE.md, "Retention".
pub const FIXED: &[Retention] = &[
    by_partition(
        "impressions",
        BEHAVIOUR_DAYS,
        "attribution lookback and year-over-year delivery",
    ),
    by_partition(
        "clicks",
        BEHAVIOUR_DAYS,
        "attribution lookback and year-over-year delivery",
    ),
    by_partition(
        "exposure_holdouts",
        BEHAVIOUR_DAYS,
        "incrementality of campaigns up to a year long",
    ),
    by_partition(
        "custom_events",
        BEHAVIOUR_DAYS,
        "as impressions and clicks: delivery and attribution of the same ads",
    ),
    by_partition(
        "conversions",
        BEHAVIOUR_DAYS,
        "attribution lookback and year-over-year",
    ),
    by_partition(
        "receipts",
        RECEIPT_DAYS,
        "re-running attribution for either of two closed years",
    ),
    by_partition("receipt_headers", RECEIPT_DAYS, "as receipts"),
    by_partition(
        "charges",
        FINANCE_DAYS,
        "the billing ledger: finance and tax records",
    ),
    by_partition(
        "attribution_credits",
        FINANCE_DAYS,
        "invoiced results: finance records",
    ),
    by_partition(
        "attribution_results",
        FINANCE_DAYS,
        "finance records (unused since migration 3)",
    ),
    by_partition(
        "impressions_v1",
        BEHAVIOUR_DAYS,
        "as impressions (pre-migration-2 rows)",
    ),
    by_partition(
        "clicks_v1",
        BEHAVIOUR_DAYS,
        "as clicks (pre-migration-2 rows)",
    ),
    by_partition(
        "exposure_holdouts_v1",
        BEHAVIOUR_DAYS,
        "as exposure_holdouts (pre-migration-2 rows)",
    ),
    Retention {
        table: "identity_map",
        days: BEHAVIOUR_DAYS,
        why: "links older than the attribution lookback match nothing",
        delete_by: Some(("ts", false)),
    },
    Retention {
        table: "attribution_runs",
        days: FINANCE_DAYS,
        why: "what each invoiced figure was computed from",
        delete_by: Some(("run_at_ms", true)),
    },
    Retention {
        table: "campaign_lift",
        days: FINANCE_DAYS,
        why: "incrementality reported to advertisers",
        delete_by: Some(("computed_at_ms", true)),
    },
];

/// The whole policy: the fixed retentions plus the decision log's `decision_days`.
pub fn policy(decision_days: u32) -> Vec<Retention> {
    let mut all = FIXED.to_vec();
    all.push(by_partition(
        "decisions",
        decision_days,
        "CTR training and debugging (a setting: ENDCAP_DECISION_RETENTION_DAYS)",
    ));
    all
}

/// What one table lost in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enforced {
    /// The table.
    pub table: &'static str,
    /// Partitions dropped (ClickHouse), `YYYYMMDD` or `YYYYMM`.
    pub partitions: Vec<u32>,
    /// Whether a `DELETE` mutation was started (ClickHouse, unpartitioned tables).
    pub mutation: bool,
    /// Lines removed (file log).
    pub lines: u64,
}

fn cutoff(now: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    now - chrono::Duration::days(i64::from(days))
}

/// Whether a partition id lies wholly before `cut`: a day (`YYYYMMDD`) before the cut's day,
/// or a month (`YYYYMM`) before the cut's month (a month still holding a kept day stays).
fn partition_is_old(partition: u32, cut: DateTime<Utc>) -> bool {
    let day: u32 = cut.format("%Y%m%d").to_string().parse().unwrap_or(0);
    match partition {
        10_000_000..=99_999_999 => partition < day,
        100_000..=999_999 => partition < day / 100,
        _ => false,
    }
}

/// Applies the policy to a ClickHouse database: tables it does not have are skipped.
pub async fn enforce_clickhouse(
    config: &ClickHouseConfig,
    policy: &[Retention],
    now: DateTime<Utc>,
) -> Result<Vec<Enforced>, EventError> {
    let client = config.client();
    let tables: Vec<String> = client
        .query("SELECT name FROM system.tables WHERE database = ?")
        .bind(&config.database)
        .fetch_all()
        .await?;
    let mut out = Vec::new();
    for r in policy {
        if !tables.iter().any(|t| t == r.table) {
            continue;
        }
        let cut = cutoff(now, r.days);
        let mut done = Enforced {
            table: r.table,
            partitions: Vec::new(),
            mutation: false,
            lines: 0,
        };
        if let Some((column, millis)) = r.delete_by {
            let bound = if millis {
                cut.timestamp_millis().to_string()
            } else {
                format!("toDateTime({})", cut.timestamp())
            };
            let old: u64 = client
                .query(&format!(
                    "SELECT count() FROM {} WHERE {column} < {bound}",
                    r.table
                ))
                .fetch_one()
                .await?;
            if old > 0 {
                client
                    .query(&format!(
                        "ALTER TABLE {} DELETE WHERE {column} < {bound}",
                        r.table
                    ))
                    .execute()
                    .await?;
                done.mutation = true;
            }
        } else {
            let parts: Vec<String> = client
                .query("SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = ? AND active")
                .bind(&config.database)
                .bind(r.table)
                .fetch_all()
                .await?;
            for p in parts {
                let Ok(id) = p.trim_matches('\'').parse::<u32>() else {
                    continue;
                };
                if partition_is_old(id, cut) {
                    client
                        .query(&format!("ALTER TABLE {} DROP PARTITION {id}", r.table))
                        .execute()
                        .await?;
                    done.partitions.push(id);
                }
            }
        }
        out.push(done);
    }
    Ok(out)
}

/// Applies the policy to the file event log in `dir` (tables the file log does not have
/// are skipped). Lines that cannot be read are kept: retention never guesses.
pub fn enforce_files(
    dir: &Path,
    policy: &[Retention],
    now: DateTime<Utc>,
) -> Result<Vec<Enforced>, EventError> {
    let mut out = Vec::new();
    for table in Table::ALL {
        let Some(r) = policy.iter().find(|r| r.table == table.name()) else {
            continue;
        };
        let cut = cutoff(now, r.days).timestamp_millis();
        if !oldest_line_before(&dir.join(format!("{}.ndjson", table.name())), cut)? {
            // Lines are appended in time order (give or take a batch): nothing is old yet,
            // and the file is not rewritten.
            continue;
        }
        let (_, removed) = crate::rewrite_table(dir, table, |line| {
            serde_json::from_str::<Event>(line).map_or(true, |e| e.ts_ms() >= cut)
        })?;
        out.push(Enforced {
            table: r.table,
            partitions: Vec::new(),
            mutation: false,
            lines: removed,
        });
    }
    Ok(out)
}

/// Whether the first readable line of a table file is older than `cut` (ms).
fn oldest_line_before(path: &Path, cut: i64) -> Result<bool, EventError> {
    use std::io::BufRead;
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    for line in std::io::BufReader::new(f).lines() {
        if let Ok(e) = serde_json::from_str::<Event>(&line?) {
            return Ok(e.ts_ms() < cut);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn days_and_months_are_old_only_when_wholly_before_the_cut() {
        let cut = Utc.with_ymd_and_hms(2026, 11, 15, 12, 0, 0).unwrap();
        assert!(partition_is_old(20261114, cut));
        assert!(!partition_is_old(20261115, cut));
        assert!(partition_is_old(202610, cut));
        assert!(
            !partition_is_old(202611, cut),
            "the month still holds kept days"
        );
        assert!(
            !partition_is_old(0, cut),
            "tuple() and odd ids are left alone"
        );
    }

    #[test]
    fn every_event_table_has_a_retention() {
        let p = policy(30);
        for t in Table::ALL {
            assert!(p.iter().any(|r| r.table == t.name()), "{}", t.name());
        }
    }
}
