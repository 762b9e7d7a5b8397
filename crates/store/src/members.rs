//! Segment members in the shared store: the embedded default's stand-in for Redis, so a
//! segment uploaded to the campaign API reaches every ad server on the same database.

use crate::{CampaignStore, Result, StoreError};
use endcap_core::ValidationError;
use sqlx::Row;

/// Rows per multi-row statement: 2 parameters each, far under SQLite's and PostgreSQL's
/// parameter limits.
const ROWS_PER_STATEMENT: usize = 500;

impl CampaignStore {
    /// Adds users to a segment in one transaction, refusing (and writing nothing) if the
    /// segment would pass `max_members`. Returns how many were new.
    pub async fn add_segment_members(
        &self,
        segment: &str,
        users: &[String],
        max_members: u64,
    ) -> Result<u64> {
        let mut tx = self.pool().begin().await?;
        let mut added = 0;
        for chunk in users.chunks(ROWS_PER_STATEMENT) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
                .collect();
            let sql = format!(
                "INSERT INTO segment_members (segment_id, user_key) VALUES {} ON CONFLICT DO NOTHING",
                values.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for u in chunk {
                q = q.bind(segment).bind(u);
            }
            added += q.execute(&mut *tx).await?.rows_affected();
        }
        let size = count(&mut tx, segment).await?;
        if size > max_members {
            tx.rollback().await?;
            return Err(StoreError::Invalid(ValidationError::new(
                "members",
                format!("a segment holds at most {max_members} members; this upload would make it {size}"),
            )));
        }
        tx.commit().await?;
        Ok(added)
    }

    /// Removes users from a segment; returns how many were members.
    pub async fn remove_segment_members(&self, segment: &str, users: &[String]) -> Result<u64> {
        let mut tx = self.pool().begin().await?;
        let mut removed = 0;
        for chunk in users.chunks(ROWS_PER_STATEMENT) {
            let list: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "DELETE FROM segment_members WHERE segment_id = $1 AND user_key IN ({})",
                list.join(", ")
            );
            let mut q = sqlx::query(&sql).bind(segment);
            for u in chunk {
                q = q.bind(u);
            }
            removed += q.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(removed)
    }

    /// The segments a user belongs to, sorted (the decision-time lookup, by index).
    pub async fn segments_of_user(&self, user: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT segment_id FROM segment_members WHERE user_key = $1 ORDER BY segment_id",
        )
        .bind(user)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>(0)?))
            .collect()
    }

    /// Every member of a segment.
    pub async fn segment_members(&self, segment: &str) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT user_key FROM segment_members WHERE segment_id = $1")
            .bind(segment)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>(0)?))
            .collect()
    }

    /// Number of members of a segment.
    pub async fn segment_size(&self, segment: &str) -> Result<u64> {
        let mut conn = self.pool().acquire().await?;
        count(&mut conn, segment).await
    }
}

async fn count(conn: &mut sqlx::AnyConnection, segment: &str) -> Result<u64> {
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM segment_members WHERE segment_id = $1")
        .bind(segment)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    Ok(u64::try_from(n).unwrap_or(0))
}
