//! A small versioned migration runner: embedded SQL files, a `schema_migrations` table, and
//! a checksum so an edited, already-applied migration is caught instead of silently ignored.

use crate::{Backend, StoreError};
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, AnyPool, Row};

/// One migration: version, name, SQL.
struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

/// Every migration, in order. Append only: never edit one that has shipped.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "campaign_store",
        sql: include_str!("../../../schemas/migrations/0001_campaign_store.sql"),
    },
    Migration {
        version: 2,
        name: "segments_receipts_catalog",
        sql: include_str!("../../../schemas/migrations/0002_segments_receipts_catalog.sql"),
    },
    Migration {
        version: 3,
        name: "change_marker_indexes",
        sql: include_str!("../../../schemas/migrations/0003_change_marker_indexes.sql"),
    },
    Migration {
        version: 4,
        name: "identity_links",
        sql: include_str!("../../../schemas/migrations/0004_identity_links.sql"),
    },
    Migration {
        version: 5,
        name: "closed_periods",
        sql: include_str!("../../../schemas/migrations/0005_closed_periods.sql"),
    },
    Migration {
        version: 6,
        name: "api_key_management",
        sql: include_str!("../../../schemas/migrations/0006_api_key_management.sql"),
    },
    Migration {
        version: 7,
        name: "change_sequence",
        sql: include_str!("../../../schemas/migrations/0007_change_sequence.sql"),
    },
    Migration {
        version: 8,
        name: "segment_members_and_retention",
        sql: include_str!("../../../schemas/migrations/0008_segment_members_and_retention.sql"),
    },
    Migration {
        version: 9,
        name: "exchange_user_ids",
        sql: include_str!("../../../schemas/migrations/0009_exchange_user_ids.sql"),
    },
    Migration {
        version: 10,
        name: "stock_outs",
        sql: include_str!("../../../schemas/migrations/0010_stock_outs.sql"),
    },
];

fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

/// Arbitrary, fixed key of the PostgreSQL advisory lock that serializes migrations.
const MIGRATION_LOCK: i64 = 0x656e_6463_6170;

/// Applies every migration not yet applied, each in its own transaction. On PostgreSQL an
/// advisory lock makes replicas that start together take turns instead of racing.
pub(crate) async fn run(pool: &AnyPool, backend: Backend) -> Result<Vec<i64>, StoreError> {
    let mut conn = pool.acquire().await?;
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    let result = apply(&mut conn).await;
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    result
}

async fn apply(conn: &mut AnyConnection) -> Result<Vec<i64>, StoreError> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY,
            name TEXT NOT NULL,
            checksum TEXT NOT NULL,
            applied_at BIGINT NOT NULL
        )",
    )
    .execute(&mut *conn)
    .await?;
    let mut applied_now = Vec::new();
    for m in MIGRATIONS {
        let sum = checksum(m.sql);
        let row = sqlx::query("SELECT checksum FROM schema_migrations WHERE version = $1")
            .bind(m.version)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(row) = row {
            let stored: String = row.try_get("checksum")?;
            if stored != sum {
                return Err(StoreError::MigrationChanged {
                    version: m.version,
                    name: m.name,
                });
            }
            continue;
        }
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::raw_sql(m.sql).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(&sum)
        .bind(chrono::Utc::now().timestamp_micros())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
        applied_now.push(m.version);
    }
    Ok(applied_now)
}
