//! Budgets and pacing: each day's allowance spreads the total budget over the flight by
//! expected traffic, and within the day spend follows the expected-traffic line.

use crate::TrafficCurve;
use endcap_billing::{Budgets, Limits, LocalTime, RetailerClock, Spent};
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

/// Share of the day's allowance over which throttling ramps from none to full once spend is
/// ahead of the expected-traffic line (a hard edge would make spend oscillate).
const PACING_SLACK: f64 = 0.05;

/// Day number (days since 1970-01-01) to day of week, Monday 0 (1970-01-01 was a Thursday).
fn weekday(day: i32) -> u8 {
    (day + 3).rem_euclid(7) as u8
}

/// A campaign's flight in the retailer's calendar: the accounting day it starts on and how
/// many hours into that day, and likewise for its (exclusive) end. Computed off the request
/// path when the snapshot is built.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flight {
    /// Accounting day of `start_at`.
    pub start_day: i32,
    /// Hours into that day `start_at` is (0..24; a DST day's hours are stretched to 24).
    pub start_hours: f64,
    /// Accounting day of `end_at`.
    pub end_day: i32,
    /// Hours into that day `end_at` is.
    pub end_hours: f64,
}

impl Flight {
    /// The campaign's flight in the retailer's calendar.
    pub fn of(campaign: &Campaign, clock: &RetailerClock) -> Self {
        let s = clock.local(campaign.start_at);
        let e = clock.local(campaign.end_at);
        Self {
            start_day: s.day,
            start_hours: s.day_fraction * 24.0,
            end_day: e.day,
            end_hours: e.day_fraction * 24.0,
        }
    }

    /// The part of `day` inside the flight, as hours into the day (empty outside it).
    fn window(&self, day: i32) -> (f64, f64) {
        if day < self.start_day || day > self.end_day {
            return (0.0, 0.0);
        }
        let from = if day == self.start_day {
            self.start_hours
        } else {
            0.0
        };
        let to = if day == self.end_day {
            self.end_hours
        } else {
            24.0
        };
        (from, to.max(from))
    }

    /// Traffic expected on `day` within the flight.
    fn expected(&self, curve: &TrafficCurve, day: i32) -> f64 {
        let (from, to) = self.window(day);
        let wd = weekday(day);
        (curve.through(wd, to) - curve.through(wd, from)).max(0.0)
    }

    /// Traffic expected from the start of `day` to the end of the flight (O(7) whatever the
    /// flight's length: whole weeks in between count as whole weeks).
    fn expected_from(&self, curve: &TrafficCurve, day: i32) -> f64 {
        let first = day.max(self.start_day);
        if first > self.end_day {
            return 0.0;
        }
        if first == self.end_day {
            return self.expected(curve, first);
        }
        let mut sum = self.expected(curve, first) + self.expected(curve, self.end_day);
        let between = i64::from(self.end_day) - i64::from(first) - 1;
        let week: f64 = (0..7).map(|d| curve.day(d)).sum();
        sum += (between / 7) as f64 * week;
        for i in 0..(between % 7) {
            sum += curve.day(weekday(first + 1 + i as i32));
        }
        sum
    }
}

/// What the campaign may spend on accounting day `day`, nanos: the lesser of its daily
/// budget and what was left of its total budget at the start of the day, spread over the
/// flight's remaining days in proportion to their expected traffic (so a total budget is
/// neither spent in the first days nor left unspent; the last day may spend all that is left).
pub fn daily_allowance(
    limits: Limits,
    spent: Spent,
    flight: &Flight,
    curve: &TrafficCurve,
    day: i32,
) -> i64 {
    let left = limits
        .total_nanos
        .saturating_sub(spent.total.saturating_sub(spent.today))
        .max(0);
    let today = flight.expected(curve, day);
    if today <= 0.0 {
        // The day is outside the flight.
        return 0;
    }
    let rest = flight.expected_from(curve, day);
    let spread = if rest <= 0.0 || today >= rest {
        left
    } else {
        ((left as f64 * (today / rest)).round() as i64).clamp(0, left)
    };
    spread.min(limits.daily_nanos.max(0))
}

/// Whether a campaign may serve now. `Err("budget")` when nothing is left of its daily or
/// total budget after spend and reservations; `Err("pacing")` when today's spend and
/// reservations reached the day's allowance ([`daily_allowance`]), or ran ahead of the
/// expected-traffic line (the allowance times the share of the day's expected traffic
/// already past, by the curve) and the draw (uniform in [0, 1)) throttles it: the further
/// ahead, the more requests skip, all of them a full slack ahead.
#[allow(clippy::too_many_arguments)]
pub fn pacing_allows(
    campaign: &Campaign,
    flight: &Flight,
    curve: &TrafficCurve,
    spent: Spent,
    reserved: i64,
    local: &LocalTime,
    draw: f64,
) -> Result<(), &'static str> {
    let limits = Limits::from(&campaign.budget);
    if spent.room(limits) - reserved <= 0 {
        return Err("budget");
    }
    let allowance = daily_allowance(limits, spent, flight, curve, local.day);
    let committed = spent.today.saturating_add(reserved);
    if committed >= allowance {
        return Err("pacing");
    }
    let (from, to) = flight.window(local.day);
    let wd = weekday(local.day);
    let day_total = curve.through(wd, to) - curve.through(wd, from);
    let now = (local.day_fraction * 24.0).clamp(from, to);
    let past = if day_total > 0.0 {
        ((curve.through(wd, now) - curve.through(wd, from)) / day_total).clamp(0.0, 1.0)
    } else {
        1.0
    };
    let ahead = committed as f64 - allowance as f64 * past;
    if ahead <= 0.0 {
        return Ok(());
    }
    let serve_probability = (1.0 - ahead / (allowance as f64 * PACING_SLACK)).max(0.0);
    if draw < serve_probability {
        Ok(())
    } else {
        Err("pacing")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration, TimeZone, Utc};
    use endcap_core::*;

    /// A campaign of `days` days from Monday 2026-11-02 00:00 UTC.
    fn campaign(daily: i64, total: i64, days: i64) -> Campaign {
        let start = Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap();
        let input: CampaignInput = serde_json::from_value(serde_json::json!({
            "name": "c", "budget": {"total_micros": total, "daily_micros": daily},
            "start_at": start.to_rfc3339(), "end_at": (start + Duration::days(days)).to_rfc3339()
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
            created_at: start,
            updated_at: start,
            frequency_cap: None,
        }
    }

    fn utc() -> RetailerClock {
        RetailerClock::default()
    }

    /// `hours` into day `day` of the campaign's flight.
    fn at(c: &Campaign, day: i64, hours: f64) -> (DateTime<Utc>, LocalTime) {
        let t = c.start_at + Duration::days(day) + Duration::seconds((hours * 3_600.0) as i64);
        (t, utc().local(t))
    }

    fn spent(today_micros: i64, total_micros: i64) -> Spent {
        Spent {
            today: today_micros * 1_000,
            total: total_micros * 1_000,
        }
    }

    fn allows(
        c: &Campaign,
        s: Spent,
        reserved: i64,
        local: &LocalTime,
        draw: f64,
    ) -> Result<(), &'static str> {
        pacing_allows(
            c,
            &Flight::of(c, &utc()),
            &TrafficCurve::flat(),
            s,
            reserved,
            local,
            draw,
        )
    }

    fn allowance(c: &Campaign, s: Spent, curve: &TrafficCurve, day: i64) -> i64 {
        let (_, l) = at(c, day, 0.0);
        daily_allowance(
            Limits::from(&c.budget),
            s,
            &Flight::of(c, &utc()),
            curve,
            l.day,
        )
    }

    /// Evenings (18:00-22:00) every day, and Saturdays all day, get the traffic.
    fn evening_and_saturday_curve() -> TrafficCurve {
        let mut counts = [0u64; crate::HOURS_OF_WEEK];
        for d in 0..7 {
            for h in 18..22 {
                counts[d * 24 + h] = 1_000;
            }
        }
        for h in 0..24 {
            counts[5 * 24 + h] += 1_000;
        }
        TrafficCurve::from_counts(&counts, 1_000)
    }

    #[test]
    fn never_over_the_daily_or_total_budget_and_reservations_count() {
        let c = campaign(100, 1_000, 30);
        let (_, noon) = at(&c, 3, 12.0);
        assert_eq!(allows(&c, spent(100, 500), 0, &noon, 0.0), Err("budget"));
        assert_eq!(allows(&c, spent(10, 1_000), 0, &noon, 0.0), Err("budget"));
        // What is held for open decisions is not there to spend.
        assert_eq!(allows(&c, spent(40, 40), 60_000, &noon, 0.0), Err("budget"));
        // The allowance is never above the daily budget nor above what is left.
        let flat = TrafficCurve::flat();
        let big = campaign(100, 1_000_000, 30);
        assert_eq!(allowance(&big, spent(0, 0), &flat, 0), 100_000);
        let last = campaign(1_000, 10_000, 3);
        assert_eq!(allowance(&last, spent(0, 9_950), &flat, 2), 50_000);
        assert_eq!(allowance(&last, spent(0, 10_000), &flat, 2), 0);
        // Reservations reach the day's allowance: pacing holds, whatever the draw.
        let spread = campaign(1_000, 3_000, 30);
        let (_, late) = at(&spread, 0, 23.9);
        assert_eq!(allowance(&spread, spent(0, 0), &flat, 0), 100_000);
        assert_eq!(
            allows(&spread, spent(50, 50), 50_000, &late, 0.0),
            Err("pacing")
        );
    }

    #[test]
    fn the_total_is_spread_over_the_flight_not_spent_in_the_first_days() {
        let flat = TrafficCurve::flat();
        // The daily budget could spend the total in one day; 10 days share it.
        let c = campaign(1_000, 1_000, 10);
        assert_eq!(allowance(&c, spent(0, 0), &flat, 0), 100_000);
        // On day 5 with half spent: the other half over five days.
        assert_eq!(allowance(&c, spent(0, 500), &flat, 5), 100_000);
        // Under-spent so far: what was left over is spread over the days remaining.
        assert_eq!(allowance(&c, spent(0, 200), &flat, 5), 160_000);
        // Today's own spend does not move today's allowance.
        assert_eq!(allowance(&c, spent(70, 270), &flat, 5), 160_000);
        // ...and the daily budget still caps it.
        let capped = campaign(120, 1_000, 10);
        assert_eq!(allowance(&capped, spent(0, 200), &flat, 5), 120_000);
    }

    #[test]
    fn the_end_of_the_flight_spends_what_is_left() {
        let flat = TrafficCurve::flat();
        let c = campaign(1_000, 1_000, 10);
        assert_eq!(allowance(&c, spent(0, 400), &flat, 9), 600_000);
        let curve = evening_and_saturday_curve();
        assert_eq!(allowance(&c, spent(0, 400), &curve, 9), 600_000);
        // Past the flight nothing is allowed (the flight filter stops it anyway).
        assert_eq!(allowance(&c, spent(0, 400), &flat, 10), 0);
    }

    #[test]
    fn a_flight_starting_mid_day_gets_that_days_share_of_its_traffic() {
        let flat = TrafficCurve::flat();
        let mut c = campaign(1_000, 1_000, 10);
        c.start_at += Duration::hours(12);
        // 9.5 days: half a day's share on the first day.
        let (_, l) = at(&c, 0, 0.0);
        let a = daily_allowance(
            Limits::from(&c.budget),
            Spent::default(),
            &Flight::of(&c, &utc()),
            &flat,
            l.day,
        );
        assert_eq!(a, (1_000_000f64 * 0.5 / 9.5).round() as i64);
    }

    #[test]
    fn the_traffic_curve_shapes_the_days_and_the_line() {
        let curve = evening_and_saturday_curve();
        let flat = TrafficCurve::flat();
        let c = campaign(7_000, 7_000, 7);
        // Saturday (day 5) expects more traffic than Monday (day 0): a bigger share.
        let mon = allowance(&c, spent(0, 0), &curve, 0);
        let sat_left = 7_000 - 5 * 700;
        let sat = allowance(&c, spent(0, 5 * 700), &curve, 5);
        assert!(mon < 1_000_000, "{mon}");
        assert!(
            sat > sat_left * 1_000 / 2,
            "Saturday takes most of what is left: {sat}"
        );
        assert_eq!(allowance(&c, spent(0, 0), &flat, 0), 1_000_000);
        // Within Monday: by noon almost none of the day's traffic has come, so spend at a
        // quarter of the allowance is far ahead of the line; on the flat line it is behind.
        let a = allowance(&c, spent(0, 0), &curve, 0);
        let (_, noon) = at(&c, 0, 12.0);
        let quarter = Spent {
            today: a / 4,
            total: a / 4,
        };
        let f = Flight::of(&c, &utc());
        assert_eq!(
            pacing_allows(&c, &f, &curve, quarter, 0, &noon, 0.0),
            Err("pacing")
        );
        let a_flat = allowance(&c, spent(0, 0), &flat, 0);
        let quarter_flat = Spent {
            today: a_flat / 4,
            total: a_flat / 4,
        };
        assert_eq!(
            pacing_allows(&c, &f, &flat, quarter_flat, 0, &noon, 0.99),
            Ok(())
        );
        // After the evening peak the line has caught up.
        let (_, late) = at(&c, 0, 22.5);
        assert_eq!(
            pacing_allows(&c, &f, &curve, quarter, 0, &late, 0.99),
            Ok(())
        );
    }

    #[test]
    fn too_little_data_paces_on_the_flat_line() {
        let mut counts = [0u64; crate::HOURS_OF_WEEK];
        counts[20] = 999;
        let thin = TrafficCurve::from_counts(&counts, 1_000);
        let c = campaign(1_000, 5_000, 10);
        for day in 0..10 {
            assert_eq!(
                allowance(&c, spent(0, day * 500), &thin, day),
                allowance(&c, spent(0, day * 500), &TrafficCurve::flat(), day)
            );
        }
    }

    #[test]
    fn the_ramp_throttles_by_the_draw_in_proportion_to_how_far_ahead() {
        let c = campaign(1_000_000, 100_000_000, 30);
        let (_, quarter) = at(&c, 3, 6.0);
        // At a quarter of the day the line is 250,000 of the 1,000,000 allowance.
        assert_eq!(
            allows(&c, spent(200_000, 200_000), 0, &quarter, 0.99),
            Ok(())
        );
        // 25,000 ahead (half the 5% ramp): draws under 0.5 serve, the rest do not.
        assert_eq!(
            allows(&c, spent(275_000, 275_000), 0, &quarter, 0.4),
            Ok(())
        );
        assert_eq!(
            allows(&c, spent(275_000, 275_000), 0, &quarter, 0.6),
            Err("pacing")
        );
        // With the real draw, about half serve.
        let served = (0..20_000)
            .filter(|_| {
                allows(
                    &c,
                    spent(275_000, 275_000),
                    0,
                    &quarter,
                    crate::uniform_draw(),
                )
                .is_ok()
            })
            .count();
        assert!((9_400..=10_600).contains(&served), "{served}");
        // A full ramp ahead: nothing serves until the clock catches up.
        assert_eq!(
            allows(&c, spent(300_000, 300_000), 0, &quarter, 0.0),
            Err("pacing")
        );
        let (_, later) = at(&c, 3, 9.0);
        assert_eq!(allows(&c, spent(300_000, 300_000), 0, &later, 0.99), Ok(()));
    }

    #[test]
    fn a_simulated_flight_with_the_real_draw_spends_the_total_and_never_more() {
        // 7 days, total 5 units (a daily budget of 2 could spend it in 2.5 days), demand one
        // 100-micro ad a second (over 12 times the budget), pacing by the curve.
        let curve = evening_and_saturday_curve();
        let c = campaign(2_000_000, 5_000_000, 7);
        let f = Flight::of(&c, &utc());
        let mut s = Spent::default();
        let mut day = i32::MIN;
        let mut by_day = Vec::new();
        for step in 0..(7 * 86_400i64) {
            let t = c.start_at + Duration::seconds(step);
            let l = utc().local(t);
            if l.day != day {
                if day != i32::MIN {
                    by_day.push(s.today);
                }
                day = l.day;
                s.today = 0;
            }
            if pacing_allows(&c, &f, &curve, s, 0, &l, crate::uniform_draw()).is_ok() {
                s.today += 100_000;
                s.total += 100_000;
            }
        }
        by_day.push(s.today);
        assert!(
            s.total <= 5_000_000_000,
            "never more than the total: {}",
            s.total
        );
        assert!(s.total >= 4_900_000_000, "the total is spent: {}", s.total);
        assert!(by_day.iter().all(|d| *d <= 2_000_000_000), "{by_day:?}");
        assert!(
            by_day[0] < 2_000_000_000,
            "not all on the first day: {by_day:?}"
        );
        assert!(
            by_day[5] > by_day[1],
            "Saturday's traffic gets more: {by_day:?}"
        );
    }
}
