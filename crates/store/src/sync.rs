//! User sync: which of our user keys an exchange's own user id stands for.

use crate::{micros, CampaignStore, Result};
use chrono::Utc;
use sqlx::Row;

impl CampaignStore {
    /// Records that `exchange`'s user id, hashed as `uid_key`, is our `user_key` (a later
    /// sync of the same id replaces the pair and refreshes its age).
    pub async fn upsert_exchange_uid(
        &self,
        exchange: &str,
        uid_key: &str,
        user_key: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO exchange_user_ids (exchange, uid_key, user_key, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (exchange, uid_key) DO UPDATE SET user_key = excluded.user_key, updated_at = excluded.updated_at",
        )
        .bind(exchange)
        .bind(uid_key)
        .bind(user_key)
        .bind(micros(Utc::now()))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Our user key for `exchange`'s user id hashed as `uid_key`, if it was synced.
    pub async fn user_key_for_exchange_uid(
        &self,
        exchange: &str,
        uid_key: &str,
    ) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT user_key FROM exchange_user_ids WHERE exchange = $1 AND uid_key = $2",
        )
        .bind(exchange)
        .bind(uid_key)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(r) => Some(r.try_get::<String, _>(0)?),
            None => None,
        })
    }
}
