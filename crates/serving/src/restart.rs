//! Spend and dedup after a restart without Redis: rebuilt from the charge ledger.

use crate::{Lifetimes, Seen};
use endcap_billing::Budgets;
use endcap_core::CampaignId;
use endcap_events::{ChargeReason, ChargeRecord, ChargeSource};
use endcap_tracking::TokenKind;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The token kind a ledger source was charged through.
pub fn kind_of(source: ChargeSource) -> TokenKind {
    match source {
        ChargeSource::Impression => TokenKind::Impression,
        ChargeSource::Click => TokenKind::Click,
        ChargeSource::Bill => TokenKind::Bill,
    }
}

/// Collects ledger rows from several places (the log, the spool), each row once.
pub struct LedgerReplay<'a> {
    budgets: &'a Budgets,
    seen: &'a Seen,
    lifetimes: Lifetimes,
    now_ms: i64,
    today: i32,
    keys: HashSet<(Uuid, ChargeSource, ChargeReason)>,
    spend: Vec<(CampaignId, i32, i64)>,
}

impl<'a> LedgerReplay<'a> {
    /// A replay into these budgets and this dedup set; `today` is the accounting day now.
    pub fn new(budgets: &'a Budgets, seen: &'a Seen, lifetimes: Lifetimes, today: i32) -> Self {
        Self {
            budgets,
            seen,
            lifetimes,
            now_ms: chrono::Utc::now().timestamp_millis(),
            today,
            keys: HashSet::new(),
            spend: Vec::new(),
        }
    }

    /// Remembers the charged event as seen until its token would have expired.
    pub fn seen(&mut self, decision: Uuid, kind: TokenKind, ts_ms: i64) {
        let left = ts_ms + self.lifetimes.of(kind).as_millis() as i64 - self.now_ms;
        if left > 0 {
            self.seen.preload(
                kind,
                decision,
                Instant::now() + Duration::from_millis(left as u64),
            );
        }
    }

    /// One ledger row (a row read twice, from the log and the spool, counts once).
    pub fn row(&mut self, c: &ChargeRecord) {
        if !self.keys.insert((c.decision_id, c.source, c.reason)) {
            return;
        }
        self.seen(c.decision_id, kind_of(c.source), c.ts_ms);
        if c.billable() {
            self.spend.push((
                CampaignId::from_uuid(c.campaign_id),
                c.accounting_day,
                c.charge_nanos,
            ));
        }
    }

    /// Billable spend already summed by (campaign, day) (from ClickHouse).
    pub fn spend(&mut self, campaign: Uuid, day: i32, nanos: i64) {
        self.spend
            .push((CampaignId::from_uuid(campaign), day, nanos));
    }

    /// Applies what was collected; returns the number of spend entries.
    pub fn finish(self) -> usize {
        let n = self.spend.len();
        self.budgets.rebuild(self.spend, self.today);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use endcap_core::CampaignId;

    fn row(campaign: CampaignId, reason: ChargeReason, nanos: i64) -> ChargeRecord {
        ChargeRecord {
            decision_id: Uuid::now_v7(),
            source: ChargeSource::Click,
            reason,
            ts_ms: chrono::Utc::now().timestamp_millis(),
            accounting_day: 7,
            advertiser_id: Uuid::now_v7(),
            campaign_id: campaign.as_uuid(),
            line_item_id: Uuid::now_v7(),
            charge_nanos: nanos,
            media_cost_nanos: 0,
            currency: "USD".into(),
            channel: "onsite".into(),
        }
    }

    #[tokio::test]
    async fn billable_rows_count_once_and_their_tokens_stay_seen() {
        let budgets = Budgets::local();
        let seen = Seen::new(100, None, Duration::from_millis(5));
        let c = CampaignId::generate();
        let billed = row(c, ChargeReason::Billable, 300);
        let over = row(c, ChargeReason::OverBudget, 900);
        let mut r = LedgerReplay::new(&budgets, &seen, Lifetimes::default(), 7);
        r.row(&billed);
        r.row(&billed);
        r.row(&over);
        r.finish();
        assert_eq!(budgets.spent(c, 7).map(|s| s.today), Some(300));
        let later = chrono::Utc::now().timestamp_millis() + 60_000;
        assert!(
            !seen
                .first(TokenKind::Click, billed.decision_id, later)
                .await
        );
    }
}
