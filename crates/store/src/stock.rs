//! Per-store availability of SKUs (the inventory upload): only stock-outs are stored, since
//! unknown availability means in stock.

use crate::ingest::{placeholders, IN_CHUNK};
use crate::{micros, objects, CampaignStore, Result};
use chrono::Utc;
use sqlx::Row;

/// One availability fact from an inventory upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Availability {
    /// The SKU.
    pub sku: String,
    /// The store.
    pub store_id: String,
    /// Whether the store has it.
    pub in_stock: bool,
}

impl CampaignStore {
    /// Applies availability facts in one transaction, in order (the last fact about a pair
    /// wins): out of stock is stored, in stock removes the stock-out. Moves the change marker,
    /// so ad servers rebuild their snapshot with it. Returns how many facts were applied.
    pub async fn set_availability(&self, facts: &[Availability]) -> Result<usize> {
        if facts.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool().begin().await?;
        objects::bump_change_seq(&mut tx).await?;
        let now = micros(Utc::now());
        for f in facts {
            let sku = f.sku.to_ascii_lowercase();
            if f.in_stock {
                sqlx::query("DELETE FROM stock_outs WHERE sku = $1 AND store_id = $2")
                    .bind(sku)
                    .bind(f.store_id.as_str())
                    .execute(&mut *tx)
                    .await?;
            } else {
                sqlx::query(
                    "INSERT INTO stock_outs (sku, store_id, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (sku, store_id) DO UPDATE SET updated_at = excluded.updated_at",
                )
                .bind(sku)
                .bind(f.store_id.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(facts.len())
    }

    /// The stock-outs (`(sku, store_id)`, SKU in lower case) of the given SKUs (compared
    /// case-insensitively), at most `limit` of them.
    pub async fn stock_outs(&self, skus: &[String], limit: usize) -> Result<Vec<(String, String)>> {
        let mut lower: Vec<String> = skus.iter().map(|s| s.to_ascii_lowercase()).collect();
        lower.sort_unstable();
        lower.dedup();
        let mut out = Vec::new();
        for chunk in lower.chunks(IN_CHUNK) {
            let left = limit.saturating_sub(out.len());
            if left == 0 {
                break;
            }
            let sql = format!(
                "SELECT sku, store_id FROM stock_outs WHERE sku IN ({}) ORDER BY sku, store_id LIMIT {left}",
                placeholders(chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for k in chunk {
                q = q.bind(k.as_str());
            }
            for row in q.fetch_all(self.pool()).await? {
                out.push((row.try_get("sku")?, row.try_get("store_id")?));
            }
        }
        Ok(out)
    }
}
