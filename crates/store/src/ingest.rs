//! Segment definitions, the product catalog and the receipt ledger.

use crate::{micros, objects, CampaignStore, Result, StoreError};
use chrono::{DateTime, Utc};
use endcap_core::AdvertiserId;
use serde::Serialize;
use sqlx::Row;
use std::collections::HashMap;

/// An audience segment's definition (its members live in the segment store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Segment {
    /// Its id, a slug such as `dairy-lovers`.
    pub id: String,
    /// Owner; `None` means shared by the retailer with every advertiser.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub advertiser_id: Option<AdvertiserId>,
    /// Display name.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// What the ledger knows of a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// Latest version ingested.
    pub version: i64,
    /// Hash of that version's content.
    pub content_hash: String,
}

/// Most ids put in one `IN (...)` list.
pub(crate) const IN_CHUNK: usize = 500;

pub(crate) fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl CampaignStore {
    /// Creates or renames a segment; its owner cannot change.
    pub async fn upsert_segment(
        &self,
        actor: &str,
        id: &str,
        owner: Option<AdvertiserId>,
        name: &str,
    ) -> Result<Segment> {
        let mut tx = self.pool().begin().await?;
        // Stored as microseconds: keep what is returned equal to what is read back.
        let now = DateTime::from_timestamp_micros(micros(Utc::now())).unwrap_or_default();
        let existing = sqlx::query("SELECT advertiser_id, created_at FROM segments WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let seg = match existing {
            Some(row) => {
                let stored: Option<String> = row.try_get("advertiser_id")?;
                if stored != owner.map(|a| a.to_string()) {
                    return Err(StoreError::NotFound("segment"));
                }
                sqlx::query("UPDATE segments SET name = $1, updated_at = $2 WHERE id = $3")
                    .bind(name)
                    .bind(micros(now))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                let created: i64 = row.try_get("created_at")?;
                Segment {
                    id: id.to_string(),
                    advertiser_id: owner,
                    name: name.to_string(),
                    created_at: DateTime::from_timestamp_micros(created).unwrap_or(now),
                    updated_at: now,
                }
            }
            None => {
                if let Some(a) = owner {
                    objects::fetch::<endcap_core::Advertiser>(&mut tx, &a.to_string())
                        .await?
                        .ok_or(StoreError::NotFound("advertiser"))?;
                }
                sqlx::query(
                    "INSERT INTO segments (id, advertiser_id, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(id)
                .bind(owner.map(|a| a.to_string()))
                .bind(name)
                .bind(micros(now))
                .bind(micros(now))
                .execute(&mut *tx)
                .await?;
                Segment {
                    id: id.to_string(),
                    advertiser_id: owner,
                    name: name.to_string(),
                    created_at: now,
                    updated_at: now,
                }
            }
        };
        let doc = serde_json::to_string(&seg)?;
        objects::audit(&mut tx, actor, "upsert", "segment", id, owner, 1, &doc).await?;
        tx.commit().await?;
        Ok(seg)
    }

    /// Reads a segment's definition.
    pub async fn segment(&self, id: &str) -> Result<Segment> {
        let row = sqlx::query(
            "SELECT id, advertiser_id, name, created_at, updated_at FROM segments WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound("segment"))?;
        let adv: Option<String> = row.try_get("advertiser_id")?;
        let t = |c: &str| -> Result<DateTime<Utc>> {
            Ok(DateTime::from_timestamp_micros(row.try_get::<i64, _>(c)?).unwrap_or_default())
        };
        Ok(Segment {
            id: row.try_get("id")?,
            advertiser_id: adv.as_deref().and_then(AdvertiserId::parse),
            name: row.try_get("name")?,
            created_at: t("created_at")?,
            updated_at: t("updated_at")?,
        })
    }

    /// Creates or replaces catalog entries (sku, brand, category) in one transaction.
    pub async fn upsert_catalog(&self, items: &[(String, String, String)]) -> Result<usize> {
        let mut tx = self.pool().begin().await?;
        let now = micros(Utc::now());
        for (sku, brand, category) in items {
            sqlx::query(
                "INSERT INTO catalog (sku, brand, category, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (sku) DO UPDATE SET brand = excluded.brand, category = excluded.category, updated_at = excluded.updated_at",
            )
            .bind(sku)
            .bind(brand)
            .bind(category)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(items.len())
    }

    /// Records the latest customer key of each online user key (identity links), in one
    /// transaction. Returns how many were written.
    pub async fn upsert_identity(&self, links: &[(String, String)]) -> Result<usize> {
        let mut tx = self.pool().begin().await?;
        let now = micros(Utc::now());
        for (user, customer) in links {
            sqlx::query(
                "INSERT INTO identity_links (user_key, customer_key, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_key) DO UPDATE SET customer_key = excluded.customer_key, updated_at = excluded.updated_at",
            )
            .bind(user)
            .bind(customer)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(links.len())
    }

    /// The user keys linked to a customer key.
    pub async fn user_keys_of(&self, customer_key: &str) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT user_key FROM identity_links WHERE customer_key = $1")
            .bind(customer_key)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>(0)?))
            .collect()
    }

    /// Forgets a person (data-subject deletion): their identity links, and an audit record
    /// that names no key (only how many, and a SHA-256 of the sorted keys, so the request can
    /// be shown to have been carried out without keeping who it was for).
    pub async fn forget_people(
        &self,
        actor: &str,
        user_keys: &[String],
        customer_keys: &[String],
        summary: serde_json::Value,
    ) -> Result<u64> {
        let mut tx = self.pool().begin().await?;
        let mut removed = 0;
        for u in user_keys {
            removed += sqlx::query("DELETE FROM identity_links WHERE user_key = $1")
                .bind(u)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            // The exchanges' ids synced to this user (user sync) go with them.
            sqlx::query("DELETE FROM exchange_user_ids WHERE user_key = $1")
                .bind(u)
                .execute(&mut *tx)
                .await?;
        }
        for c in customer_keys {
            removed += sqlx::query("DELETE FROM identity_links WHERE customer_key = $1")
                .bind(c)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        let mut all: Vec<&String> = user_keys.iter().chain(customer_keys).collect();
        all.sort();
        let mut h = <sha2::Sha256 as sha2::Digest>::new();
        for k in all {
            sha2::Digest::update(&mut h, k.as_bytes());
            sha2::Digest::update(&mut h, b"\n");
        }
        let fingerprint = hex::encode(sha2::Digest::finalize(h));
        let doc = serde_json::json!({
            "keys": user_keys.len() + customer_keys.len(),
            "keys_sha256": fingerprint,
            "identity_links_removed": removed,
            "done": summary,
        });
        let id = uuid::Uuid::now_v7().to_string();
        crate::objects::audit(
            &mut tx,
            actor,
            "delete",
            "data_subject",
            &id,
            None,
            1,
            &doc.to_string(),
        )
        .await?;
        tx.commit().await?;
        Ok(removed)
    }

    /// The customer key linked to an online user key, if any.
    pub async fn customer_key(&self, user_key: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT customer_key FROM identity_links WHERE user_key = $1")
            .bind(user_key)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(r) => Some(r.try_get::<String, _>(0)?),
            None => None,
        })
    }

    /// Rows of `select ... WHERE key IN (keys)`, in chunks that stay under parameter limits.
    async fn select_in<T>(
        &self,
        select_where_key: &str,
        keys: &[String],
        mut each: impl FnMut(&sqlx::any::AnyRow) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for chunk in keys.chunks(IN_CHUNK) {
            let sql = format!("{select_where_key} IN ({})", placeholders(chunk.len()));
            let mut q = sqlx::query(&sql);
            for k in chunk {
                q = q.bind(k.as_str());
            }
            for row in q.fetch_all(self.pool()).await? {
                out.push(each(&row)?);
            }
        }
        Ok(out)
    }

    /// Brand and category of the given SKUs that the catalog knows.
    pub async fn catalog(&self, skus: &[String]) -> Result<HashMap<String, (String, String)>> {
        let rows = self
            .select_in(
                "SELECT sku, brand, category FROM catalog WHERE sku",
                skus,
                |row| {
                    Ok((
                        row.try_get("sku")?,
                        (row.try_get("brand")?, row.try_get("category")?),
                    ))
                },
            )
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// What the ledger knows of the given receipts.
    pub async fn receipt_ledger(&self, ids: &[String]) -> Result<HashMap<String, LedgerEntry>> {
        let rows = self
            .select_in(
                "SELECT receipt_id, version, content_hash FROM receipt_ledger WHERE receipt_id",
                ids,
                |row| {
                    let entry = LedgerEntry {
                        version: row.try_get("version")?,
                        content_hash: row.try_get("content_hash")?,
                    };
                    Ok((row.try_get("receipt_id")?, entry))
                },
            )
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// Records receipts as ingested (id, version, content hash), keeping the highest version.
    pub async fn record_receipts(&self, entries: &[(String, i64, String)]) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        let now = micros(Utc::now());
        for (id, version, hash) in entries {
            sqlx::query(
                "INSERT INTO receipt_ledger (receipt_id, version, content_hash, ingested_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (receipt_id) DO UPDATE SET version = excluded.version, content_hash = excluded.content_hash, \
                 ingested_at = excluded.ingested_at WHERE receipt_ledger.version < excluded.version",
            )
            .bind(id.as_str())
            .bind(*version)
            .bind(hash.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
