//! Applies `schemas/clickhouse/*.sql` in order, recording applied versions in ClickHouse.

use crate::{ClickHouseConfig, EventError};
use clickhouse::Row;
use serde::Deserialize;

struct Migration {
    version: u32,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: include_str!("../../../schemas/clickhouse/0001_events.sql"),
    },
    Migration {
        version: 2,
        sql: include_str!("../../../schemas/clickhouse/0002_decisions_and_charges.sql"),
    },
    Migration {
        version: 3,
        sql: include_str!("../../../schemas/clickhouse/0003_attribution.sql"),
    },
    Migration {
        version: 4,
        sql: include_str!("../../../schemas/clickhouse/0004_explored.sql"),
    },
    Migration {
        version: 5,
        sql: include_str!("../../../schemas/clickhouse/0005_custom_events.sql"),
    },
    Migration {
        version: 6,
        sql: include_str!("../../../schemas/clickhouse/0006_search_terms.sql"),
    },
];

#[derive(Row, Deserialize)]
struct Applied {
    version: u32,
    checksum: String,
}

fn checksum(sql: &str) -> String {
    format!("{:08x}", crc32fast::hash(sql.as_bytes()))
}

/// Creates the database if needed and applies every migration not yet applied. Returns the
/// versions applied now.
pub async fn apply_schema(config: &ClickHouseConfig) -> Result<Vec<u32>, EventError> {
    config
        .server_client()
        .query(&format!(
            "CREATE DATABASE IF NOT EXISTS {}",
            config.database
        ))
        .execute()
        .await?;
    let client = config.client();
    client
        .query(
            "CREATE TABLE IF NOT EXISTS endcap_schema_migrations \
             (version UInt32, checksum String, applied_at DateTime('UTC')) \
             ENGINE = ReplacingMergeTree() ORDER BY version",
        )
        .execute()
        .await?;
    let applied: Vec<Applied> = client
        .query("SELECT version, checksum FROM endcap_schema_migrations FINAL")
        .fetch_all()
        .await?;
    let mut now = Vec::new();
    for m in MIGRATIONS {
        let sum = checksum(m.sql);
        if let Some(a) = applied.iter().find(|a| a.version == m.version) {
            if a.checksum != sum {
                return Err(EventError::MigrationChanged(m.version));
            }
            continue;
        }
        // ClickHouse takes one statement per request; ours are separated by ';' lines.
        for stmt in m.sql.split("\n;").map(str::trim).filter(|s| !s.is_empty()) {
            let body: String = stmt
                .lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n");
            if body.trim().is_empty() {
                continue;
            }
            client.query(&body).execute().await?;
        }
        client
            .query("INSERT INTO endcap_schema_migrations (version, checksum, applied_at) VALUES (?, ?, now())")
            .bind(m.version)
            .bind(&sum)
            .execute()
            .await?;
        tracing::info!(version = m.version, "applied clickhouse migration");
        now.push(m.version);
    }
    Ok(now)
}
