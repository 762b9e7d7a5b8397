//! Budgets and even pacing.

use endcap_billing::{Budgets, Limits, Spent};
use endcap_core::{Campaign, CampaignId};
use uuid::Uuid;

/// What a decision may read of a campaign's spend and reserve against its budget.
pub trait BudgetView: Send + Sync {
    /// Billable spend so far in accounting day `day`; `None` when unknown (a replica that has
    /// not read the shared counters yet does not serve the campaign).
    fn spent(&self, campaign: CampaignId, day: i32) -> Option<Spent>;
    /// Nanos held by open decisions.
    fn reserved(&self, campaign: CampaignId) -> i64;
    /// Holds `nanos` of the budget for decision `id`, if it fits.
    fn reserve(&self, id: Uuid, campaign: CampaignId, limits: Limits, day: i32, nanos: i64)
        -> bool;
    /// Gives a hold back (a decision that will not be served after all).
    fn release(&self, id: Uuid);
}

/// How long a decision's reservation holds when neither its impression nor a loss notice
/// arrives.
pub const RESERVATION_TTL: std::time::Duration = std::time::Duration::from_secs(60);

impl BudgetView for Budgets {
    fn spent(&self, campaign: CampaignId, day: i32) -> Option<Spent> {
        Budgets::spent(self, campaign, day)
    }
    fn reserved(&self, campaign: CampaignId) -> i64 {
        Budgets::reserved(self, campaign)
    }
    fn reserve(
        &self,
        id: Uuid,
        campaign: CampaignId,
        limits: Limits,
        day: i32,
        nanos: i64,
    ) -> bool {
        Budgets::reserve(self, id, campaign, limits, day, nanos, RESERVATION_TTL)
    }
    fn release(&self, id: Uuid) {
        Budgets::release(self, id)
    }
}

/// Share of the daily budget over which throttling ramps from none to full once spend is
/// ahead of the even line (a hard edge would make spend oscillate).
const PACING_SLACK: f64 = 0.05;

/// Whether a campaign may serve now: `Err("budget")` when nothing is left of its daily or
/// total budget after spend and reservations, `Err("pacing")` when it is ahead of an even
/// spend across the retailer's day (`day_fraction` elapsed) and the draw throttles it.
pub fn pacing_allows(
    campaign: &Campaign,
    spent: Spent,
    reserved: i64,
    day_fraction: f64,
    draw: f64,
) -> Result<(), &'static str> {
    let limits = Limits::from(&campaign.budget);
    if spent.room(limits) - reserved <= 0 {
        return Err("budget");
    }
    let daily = limits.daily_nanos as f64;
    let target = daily * day_fraction;
    let ahead = (spent.today + reserved) as f64 - target;
    if ahead <= 0.0 {
        return Ok(());
    }
    // The further ahead of the line, the more requests are skipped; a full slack ahead
    // skips all of them.
    let serve_probability = (1.0 - ahead / (daily * PACING_SLACK)).max(0.0);
    if draw < serve_probability {
        Ok(())
    } else {
        Err("pacing")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
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

    fn spent(today_micros: i64, total_micros: i64) -> Spent {
        Spent {
            today: today_micros * 1_000,
            total: total_micros * 1_000,
        }
    }

    #[test]
    fn spent_budgets_stop_serving() {
        let c = campaign(100, 1_000);
        assert_eq!(
            pacing_allows(&c, spent(100, 500), 0, 0.5, 0.0),
            Err("budget")
        );
        assert_eq!(
            pacing_allows(&c, spent(10, 1_000), 0, 0.5, 0.0),
            Err("budget")
        );
        // Reservations count: what is held for open decisions is not there to spend.
        assert_eq!(
            pacing_allows(&c, spent(40, 40), 60_000, 0.99, 0.0),
            Err("budget")
        );
    }

    #[test]
    fn an_even_day_serves_behind_the_line_and_throttles_ahead_of_it() {
        let c = campaign(1_000_000, 100_000_000);
        // At a quarter of the day the even line is 25% of the day's budget: 250,000.
        assert_eq!(
            pacing_allows(&c, spent(200_000, 200_000), 0, 0.25, 0.99),
            Ok(())
        );
        // 25,000 ahead (half the 5% ramp): half the requests are skipped.
        assert_eq!(
            pacing_allows(&c, spent(275_000, 275_000), 0, 0.25, 0.4),
            Ok(())
        );
        assert_eq!(
            pacing_allows(&c, spent(275_000, 275_000), 0, 0.25, 0.6),
            Err("pacing")
        );
        // A full ramp ahead: nothing serves until the clock catches up.
        assert_eq!(
            pacing_allows(&c, spent(300_000, 300_000), 0, 0.25, 0.0),
            Err("pacing")
        );
        assert_eq!(
            pacing_allows(&c, spent(300_000, 300_000), 0, 0.375, 0.99),
            Ok(())
        );
    }

    #[test]
    fn a_simulated_day_with_the_real_draw_spends_close_to_the_daily_budget_and_never_more() {
        let c = campaign(1_000_000, 100_000_000);
        let mut s = Spent::default();
        // One request a second, each worth 100 micros when served: demand is 8.6x budget.
        for sec in 0..86_400i64 {
            let frac = sec as f64 / 86_400.0;
            if pacing_allows(&c, s, 0, frac, crate::uniform_draw()).is_ok() {
                s.today += 100_000;
                s.total += 100_000;
            }
            if sec == 43_200 {
                assert!(
                    (500_000_000..=550_000_000).contains(&s.today),
                    "half a day: {}",
                    s.today
                );
            }
        }
        assert!(
            (950_000_000..=1_000_000_000).contains(&s.today),
            "whole day: {}",
            s.today
        );
    }
}
