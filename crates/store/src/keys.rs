//! API keys: generated here, stored only as SHA-256, resolved to a [`Principal`].

use crate::{micros, objects, CampaignStore, Result, StoreError};
use chrono::{DateTime, Utc};
use endcap_core::{Advertiser, AdvertiserId, ApiKeyId, Principal, Role};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

/// A freshly generated API key: shown to its owner once, never stored.
#[derive(Clone)]
pub struct ApiKeySecret(String);

impl ApiKeySecret {
    /// 32 random bytes from the OS, hex encoded with an `ek_` prefix (so leaked keys are
    /// easy to grep for).
    pub fn generate() -> std::result::Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(Self(format!("ek_{}", hex::encode(bytes))))
    }

    /// Wraps a key that came from configuration (the bootstrap admin key).
    pub fn from_config(key: &str) -> Self {
        Self(key.to_string())
    }

    /// The key text, to show the caller once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKeySecret(..)")
    }
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// An API key's public record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    /// Its id (appears in the audit log).
    pub id: ApiKeyId,
    /// What it may do.
    pub role: Role,
    /// The advertiser an `advertiser` key is bound to.
    pub advertiser_id: Option<AdvertiserId>,
    /// Free-text label.
    pub label: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Its first characters, to tell keys apart (the rest is never stored).
    pub prefix: Option<String>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// How much of a key its record keeps: `ek_` and 8 hex digits of a generated key (32 of its
/// 256 random bits), 4 characters of a configured one.
fn prefix_of(secret: &str) -> String {
    let n = if secret.starts_with("ek_") { 11 } else { 4 };
    secret.chars().take(n).collect()
}

fn from_micros(v: Option<i64>) -> Option<DateTime<Utc>> {
    v.and_then(DateTime::from_timestamp_micros)
}

impl CampaignStore {
    /// Stores a new key for `role` (bound to `advertiser_id` for advertiser keys).
    pub async fn create_api_key(
        &self,
        actor: &str,
        role: Role,
        advertiser_id: Option<AdvertiserId>,
        secret: &ApiKeySecret,
        label: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<ApiKey> {
        let mut tx = self.pool().begin().await?;
        if let Some(a) = advertiser_id {
            objects::fetch::<Advertiser>(&mut tx, &a.to_string())
                .await?
                .ok_or(StoreError::NotFound("advertiser"))?;
        }
        let key = ApiKey {
            id: ApiKeyId::generate(),
            role,
            advertiser_id,
            label: label.to_string(),
            created_at: Utc::now(),
            prefix: Some(prefix_of(secret.expose())),
            expires_at,
            revoked_at: None,
        };
        sqlx::query(
            "INSERT INTO api_keys (id, key_hash, role, advertiser_id, label, created_at, key_prefix, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(key.id.to_string())
        .bind(hash(secret.expose()))
        .bind(role.as_str())
        .bind(advertiser_id.map(|a| a.to_string()))
        .bind(label)
        .bind(micros(key.created_at))
        .bind(key.prefix.clone())
        .bind(expires_at.map(micros))
        .execute(&mut *tx)
        .await?;
        let doc = serde_json::to_string(&key)?;
        objects::audit(
            &mut tx,
            actor,
            "create",
            "api_key",
            &key.id.to_string(),
            advertiser_id,
            1,
            &doc,
        )
        .await?;
        tx.commit().await?;
        Ok(key)
    }

    /// Makes sure a configured key (bootstrap admin, demo) exists; a no-op when it does.
    pub async fn ensure_api_key(
        &self,
        role: Role,
        advertiser_id: Option<AdvertiserId>,
        secret: &ApiKeySecret,
        label: &str,
    ) -> Result<Principal> {
        if let Some(p) = self.authenticate(secret.expose()).await? {
            return Ok(p);
        }
        // A configured key that was revoked (rotated away, then configured again: a rollback)
        // is reinstated, audited, rather than stored twice.
        let revoked =
            sqlx::query("SELECT id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NOT NULL")
                .bind(hash(secret.expose()))
                .fetch_optional(self.pool())
                .await?;
        if let Some(row) = revoked {
            let id: String = row.try_get("id")?;
            let mut tx = self.pool().begin().await?;
            sqlx::query("UPDATE api_keys SET revoked_at = NULL WHERE id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            let doc = serde_json::json!({"id": id, "label": label, "reason": "configured again"});
            objects::audit(
                &mut tx,
                "system",
                "reinstate",
                "api_key",
                &id,
                advertiser_id,
                1,
                &doc.to_string(),
            )
            .await?;
            tx.commit().await?;
            if let Some(p) = self.authenticate(secret.expose()).await? {
                return Ok(p);
            }
        }
        let key = self
            .create_api_key("system", role, advertiser_id, secret, label, None)
            .await?;
        Ok(Principal {
            key_id: key.id,
            role,
            advertiser_id,
        })
    }

    /// Revokes every other live admin key with `label` (a rotated bootstrap key retires the
    /// one before), each revocation audited; how many were revoked.
    pub async fn retire_other_keys(&self, actor: &str, label: &str, keep: ApiKeyId) -> Result<u64> {
        let mut tx = self.pool().begin().await?;
        let rows = sqlx::query(
            "SELECT id FROM api_keys WHERE label = $1 AND id <> $2 AND revoked_at IS NULL \
             AND role = 'admin' AND advertiser_id IS NULL",
        )
        .bind(label)
        .bind(keep.to_string())
        .fetch_all(&mut *tx)
        .await?;
        let now = micros(Utc::now());
        let mut n = 0;
        for row in rows {
            let id: String = row.try_get("id")?;
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            let doc =
                serde_json::json!({"id": id, "label": label, "reason": "replaced by a new key"});
            objects::audit(
                &mut tx,
                actor,
                "revoke",
                "api_key",
                &id,
                None,
                1,
                &doc.to_string(),
            )
            .await?;
            n += 1;
        }
        tx.commit().await?;
        Ok(n)
    }

    /// The keys `scope` may see (an advertiser's own; everyone's for `None`), newest first,
    /// at most 500; their records only, never a secret.
    pub async fn list_api_keys(&self, scope: Option<AdvertiserId>) -> Result<Vec<ApiKey>> {
        let rows = sqlx::query(
            "SELECT id, role, advertiser_id, label, created_at, key_prefix, expires_at, revoked_at \
             FROM api_keys WHERE ($1 IS NULL OR advertiser_id = $1) ORDER BY created_at DESC LIMIT 500",
        )
        .bind(scope.map(|a| a.to_string()))
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let id: String = row.try_get("id")?;
            let role: String = row.try_get("role")?;
            let (Some(id), Some(role)) = (ApiKeyId::parse(&id), Role::parse(&role)) else {
                continue;
            };
            let adv: Option<String> = row.try_get("advertiser_id")?;
            out.push(ApiKey {
                id,
                role,
                advertiser_id: adv.as_deref().and_then(AdvertiserId::parse),
                label: row.try_get("label")?,
                created_at: from_micros(row.try_get("created_at")?).unwrap_or_default(),
                prefix: row.try_get("key_prefix")?,
                expires_at: from_micros(row.try_get("expires_at")?),
                revoked_at: from_micros(row.try_get("revoked_at")?),
            });
        }
        Ok(out)
    }

    /// Revokes a key (it answers 401 from now on), audited; `scope` limits it to one
    /// advertiser's keys. `false` when there is no such live key in scope.
    pub async fn revoke_api_key(
        &self,
        actor: &str,
        id: ApiKeyId,
        scope: Option<AdvertiserId>,
    ) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL \
             AND ($3 IS NULL OR advertiser_id = $3)",
        )
        .bind(micros(Utc::now()))
        .bind(id.to_string())
        .bind(scope.map(|a| a.to_string()))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done == 0 {
            return Ok(false);
        }
        let doc = serde_json::json!({"id": id, "reason": "revoked"});
        objects::audit(
            &mut tx,
            actor,
            "revoke",
            "api_key",
            &id.to_string(),
            scope,
            1,
            &doc.to_string(),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Resolves a presented key to its principal; `None` for unknown or revoked keys.
    pub async fn authenticate(&self, presented: &str) -> Result<Option<Principal>> {
        let row = sqlx::query(
            "SELECT id, role, advertiser_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(hash(presented))
        .bind(micros(Utc::now()))
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id: String = row.try_get("id")?;
        let role: String = row.try_get("role")?;
        let adv: Option<String> = row.try_get("advertiser_id")?;
        // A row we cannot read back is treated as no key: fail closed.
        let (Some(key_id), Some(role)) = (ApiKeyId::parse(&id), Role::parse(&role)) else {
            tracing::error!(key_id = %id, "unreadable api key row");
            return Ok(None);
        };
        let advertiser_id = adv.as_deref().and_then(AdvertiserId::parse);
        // An advertiser key without a readable advertiser would be scoped to nobody, and a
        // listing without a scope shows everyone's: such a key is no key.
        if role == Role::Advertiser && advertiser_id.is_none() {
            tracing::error!(key_id = %id, "advertiser key without a readable advertiser id");
            return Ok(None);
        }
        Ok(Some(Principal {
            key_id,
            role,
            advertiser_id,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_advertiser_key_whose_advertiser_cannot_be_read_fails_closed() {
        let store = crate::testing::fresh_store(None).await.unwrap();
        // (The foreign key keeps a garbled advertiser id out; a missing one is possible.)
        for (advertiser, label) in [(None::<&str>, "none")] {
            let secret = format!("ek_broken_{label}_0123456789");
            sqlx::query(
                "INSERT INTO api_keys (id, key_hash, role, advertiser_id, label, created_at) \
                 VALUES ($1, $2, 'advertiser', $3, $4, 0)",
            )
            .bind(ApiKeyId::generate().to_string())
            .bind(hash(&secret))
            .bind(advertiser)
            .bind(label)
            .execute(store.pool())
            .await
            .unwrap();
            assert!(
                store.authenticate(&secret).await.unwrap().is_none(),
                "{label}"
            );
        }
    }
}
