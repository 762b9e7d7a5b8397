//! A small versioned migration runner: embedded SQL files, a `schema_migrations` table, and
//! a checksum so an edited, already-applied migration is caught instead of silently ignored.

use crate::StoreError;
use sha2::{Digest, Sha256};
use sqlx::{AnyPool, Row};

/// One migration: version, name, SQL.
struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

/// Every migration, in order. Append only: never edit one that has shipped.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "campaign_store",
    sql: include_str!("../../../schemas/migrations/0001_campaign_store.sql"),
}];

fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

/// Applies every migration not yet applied, each in its own transaction.
pub(crate) async fn run(pool: &AnyPool) -> Result<Vec<i64>, StoreError> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY,
            name TEXT NOT NULL,
            checksum TEXT NOT NULL,
            applied_at BIGINT NOT NULL
        )",
    )
    .execute(pool)
    .await?;
    let mut applied_now = Vec::new();
    for m in MIGRATIONS {
        let sum = checksum(m.sql);
        let row = sqlx::query("SELECT checksum FROM schema_migrations WHERE version = $1")
            .bind(m.version)
            .fetch_optional(pool)
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
        let mut tx = pool.begin().await?;
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
