//! Month-end close: which accounting months are closed and the figures frozen at close.

use crate::{CampaignStore, Result};
use sqlx::Row;

/// A closed accounting month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedPeriod {
    /// `YYYY-MM`, in the retailer's time zone.
    pub period: String,
    /// When it was closed, microseconds since the epoch.
    pub closed_at_micros: i64,
    /// The key that closed it.
    pub closed_by: String,
    /// The frozen figures (JSON, owned by the reports crate).
    pub cells: String,
}

impl CampaignStore {
    /// Closes a month with its frozen figures. Returns `false` (and changes nothing) when it
    /// was already closed: a closed month's figures never change.
    pub async fn close_period(&self, p: &ClosedPeriod) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO closed_periods (period, closed_at, closed_by, cells) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (period) DO NOTHING",
        )
        .bind(p.period.as_str())
        .bind(p.closed_at_micros)
        .bind(p.closed_by.as_str())
        .bind(p.cells.as_str())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every closed month, oldest first.
    pub async fn closed_periods(&self) -> Result<Vec<ClosedPeriod>> {
        let rows = sqlx::query(
            "SELECT period, closed_at, closed_by, cells FROM closed_periods ORDER BY period",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ClosedPeriod {
                    period: r.try_get("period")?,
                    closed_at_micros: r.try_get("closed_at")?,
                    closed_by: r.try_get("closed_by")?,
                    cells: r.try_get("cells")?,
                })
            })
            .collect()
    }
}
