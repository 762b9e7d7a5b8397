//! Retention of the campaign store's tables that grow with use (the event log's own
//! retention is in `endcap_events`).

use crate::{CampaignStore, Result};

/// Days the campaign store keeps what ages out (docs/ARCHITECTURE.md, "Retention").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreRetention {
    /// Idempotency keys: a client retries within minutes; a week is generous.
    pub idempotency_days: u32,
    /// Identity links not refreshed for this long match nothing in attribution.
    pub identity_link_days: u32,
    /// The audit log: who changed what, kept as long as the finance records it explains.
    pub audit_days: u32,
    /// User-sync pairs (exchange user id to our user key) not refreshed for this long:
    /// exchanges re-sync active users within days, and a stale id names nobody we still see.
    pub exchange_uid_days: u32,
}

impl Default for StoreRetention {
    fn default() -> Self {
        Self {
            idempotency_days: 7,
            identity_link_days: 400,
            audit_days: 2_557,
            exchange_uid_days: 90,
        }
    }
}

/// Rows one retention run deleted, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionRun {
    /// Idempotency keys.
    pub idempotency_keys: u64,
    /// Identity links.
    pub identity_links: u64,
    /// Audit entries.
    pub audit_entries: u64,
    /// User-sync pairs.
    pub exchange_uids: u64,
}

impl CampaignStore {
    /// Deletes what is past its retention, as of `now`.
    pub async fn enforce_retention(
        &self,
        policy: StoreRetention,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<RetentionRun> {
        let before = |days: u32| crate::micros(now - chrono::Duration::days(i64::from(days)));
        let mut run = RetentionRun::default();
        for (sql, days, count) in [
            (
                "DELETE FROM idempotency_keys WHERE created_at < $1",
                policy.idempotency_days,
                &mut run.idempotency_keys,
            ),
            (
                "DELETE FROM identity_links WHERE updated_at < $1",
                policy.identity_link_days,
                &mut run.identity_links,
            ),
            (
                "DELETE FROM audit_log WHERE at < $1",
                policy.audit_days,
                &mut run.audit_entries,
            ),
            (
                "DELETE FROM exchange_user_ids WHERE updated_at < $1",
                policy.exchange_uid_days,
                &mut run.exchange_uids,
            ),
        ] {
            *count = sqlx::query(sql)
                .bind(before(days))
                .execute(self.pool())
                .await?
                .rows_affected();
        }
        Ok(run)
    }
}
