//! Budgets and even pacing.

use chrono::{DateTime, Timelike, Utc};
use endcap_core::{Campaign, CampaignId};
use std::collections::HashMap;
use std::sync::Mutex;

/// Spend per campaign: today (UTC) and over the flight.
pub trait SpendTracker: Send + Sync {
    /// (spent today, spent in total), micros.
    fn spent(&self, campaign: CampaignId, now: DateTime<Utc>) -> (i64, i64);
    /// Adds a charge.
    fn record(&self, campaign: CampaignId, micros: i64, now: DateTime<Utc>);
}

/// In-process spend counters (one replica's view).
#[derive(Default)]
pub struct MemorySpend {
    by_campaign: Mutex<HashMap<CampaignId, (i64, i64, i64)>>,
}

fn day(now: DateTime<Utc>) -> i64 {
    now.timestamp() / 86_400
}

impl SpendTracker for MemorySpend {
    fn spent(&self, campaign: CampaignId, now: DateTime<Utc>) -> (i64, i64) {
        let m = self.by_campaign.lock().unwrap_or_else(|p| p.into_inner());
        match m.get(&campaign) {
            Some((d, today, total)) if *d == day(now) => (*today, *total),
            Some((_, _, total)) => (0, *total),
            None => (0, 0),
        }
    }

    fn record(&self, campaign: CampaignId, micros: i64, now: DateTime<Utc>) {
        let mut m = self.by_campaign.lock().unwrap_or_else(|p| p.into_inner());
        let e = m.entry(campaign).or_insert((day(now), 0, 0));
        if e.0 != day(now) {
            *e = (day(now), 0, e.2);
        }
        e.1 = e.1.saturating_add(micros);
        e.2 = e.2.saturating_add(micros);
    }
}

/// Share of the daily budget over which throttling ramps from none to full once spend is
/// ahead of the even line (a hard edge would make spend oscillate).
const PACING_SLACK: f64 = 0.05;

/// Whether a campaign may serve now: `Err("budget")` when a budget is spent, `Err("pacing")`
/// when it is ahead of an even spend across the UTC day and the draw throttles it.
pub fn pacing_allows(
    campaign: &Campaign,
    spent_today: i64,
    spent_total: i64,
    now: DateTime<Utc>,
    draw: f64,
) -> Result<(), &'static str> {
    let daily = campaign.budget.daily_micros.get();
    if spent_total >= campaign.budget.total_micros.get() || spent_today >= daily {
        return Err("budget");
    }
    let elapsed = f64::from(now.num_seconds_from_midnight()) / 86_400.0;
    let target = daily as f64 * elapsed;
    let ahead = spent_today as f64 - target;
    if ahead <= 0.0 {
        return Ok(());
    }
    // The further ahead of the line, the more requests are skipped; a full slack ahead
    // skips all of them.
    let serve_probability = (1.0 - ahead / (daily as f64 * PACING_SLACK)).max(0.0);
    if draw < serve_probability {
        Ok(())
    } else {
        Err("pacing")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use endcap_core::*;

    fn campaign(daily: i64, total: i64) -> Campaign {
        let t = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let input: CampaignInput = serde_json::from_value(serde_json::json!({
            "name": "c", "budget": {"total_micros": total, "daily_micros": daily},
            "start_at": "2026-11-01T00:00:00Z", "end_at": "2026-12-01T00:00:00Z"
        }))
        .unwrap();
        let n = input.validate().unwrap();
        Campaign {
            id: CampaignId::generate(),
            advertiser_id: AdvertiserId::generate(),
            name: n.name,
            status: Status::Active,
            currency: Currency::parse("USD", "c").unwrap(),
            budget: n.budget,
            start_at: n.start_at,
            end_at: n.end_at,
            attribution: n.attribution,
            holdout_percent: 0,
            version: 1,
            created_at: t,
            updated_at: t,
        }
    }

    #[test]
    fn spent_budgets_stop_serving() {
        let c = campaign(100, 1_000);
        let noon = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        assert_eq!(pacing_allows(&c, 100, 500, noon, 0.0), Err("budget"));
        assert_eq!(pacing_allows(&c, 10, 1_000, noon, 0.0), Err("budget"));
    }

    #[test]
    fn an_even_day_serves_behind_the_line_and_throttles_ahead_of_it() {
        let c = campaign(1_000_000, 100_000_000);
        let six = Utc.with_ymd_and_hms(2026, 11, 24, 6, 0, 0).unwrap();
        // At 06:00 the even line is 25% of the day's budget: 250,000.
        assert_eq!(pacing_allows(&c, 200_000, 200_000, six, 0.99), Ok(()));
        // 25,000 ahead (half the 5% ramp): half the requests are skipped.
        assert_eq!(pacing_allows(&c, 275_000, 275_000, six, 0.4), Ok(()));
        assert_eq!(pacing_allows(&c, 275_000, 275_000, six, 0.6), Err("pacing"));
        // A full ramp ahead: nothing serves until the clock catches up.
        assert_eq!(pacing_allows(&c, 300_000, 300_000, six, 0.0), Err("pacing"));
        let later = Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap();
        assert_eq!(pacing_allows(&c, 300_000, 300_000, later, 0.99), Ok(()));
    }

    #[test]
    fn a_simulated_day_spends_close_to_the_daily_budget_and_never_more() {
        let c = campaign(1_000_000, 100_000_000);
        let spend = MemorySpend::default();
        let start = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap();
        // One request a second, each worth 100 micros when served: demand is 8.6x budget.
        for s in 0..86_400i64 {
            let now = start + chrono::Duration::seconds(s);
            let (today, total) = spend.spent(c.id, now);
            let draw = ((s * 7919) % 1000) as f64 / 1000.0;
            if pacing_allows(&c, today, total, now, draw).is_ok() {
                spend.record(c.id, 100, now);
            }
            if s == 43_200 {
                let (half, _) = spend.spent(c.id, now);
                assert!((500_000..=550_000).contains(&half), "half a day: {half}");
            }
        }
        let (today, _) = spend.spent(c.id, start + chrono::Duration::seconds(86_399));
        assert!((950_000..=1_000_000).contains(&today), "whole day: {today}");
    }
}
