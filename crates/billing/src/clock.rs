//! The retailer's accounting day: budgets, pacing and caps count days in its time zone.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// Turns UTC instants into the retailer's local calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetailerClock {
    tz: Tz,
}

impl Default for RetailerClock {
    fn default() -> Self {
        Self { tz: Tz::UTC }
    }
}

/// An instant as the retailer's calendar sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalTime {
    /// The accounting date.
    pub date: NaiveDate,
    /// Days since 1970-01-01 of that date (a compact key for counters).
    pub day: i32,
    /// Share of the local day already elapsed, in [0, 1) (a 23- or 25-hour DST day counts
    /// its real length).
    pub day_fraction: f64,
    /// Local hour, 0..24.
    pub hour: u8,
    /// Local day of week, Monday 0 .. Sunday 6.
    pub weekday: u8,
}

impl RetailerClock {
    /// A clock for a time zone.
    pub fn new(tz: Tz) -> Self {
        Self { tz }
    }

    /// A clock for an IANA zone name such as `Europe/Paris`; `None` when unknown.
    pub fn parse(name: &str) -> Option<Self> {
        name.parse::<Tz>().ok().map(|tz| Self { tz })
    }

    /// The zone's name.
    pub fn name(&self) -> &'static str {
        self.tz.name()
    }

    /// Where `now` falls in the retailer's calendar.
    pub fn local(&self, now: DateTime<Utc>) -> LocalTime {
        let local = now.with_timezone(&self.tz);
        let date = local.date_naive();
        let start = self.start_of(date);
        let end = self.start_of(date.succ_opt().unwrap_or(date));
        let len = (end - start).num_seconds().max(1) as f64;
        let into = (now - start).num_seconds().max(0) as f64;
        LocalTime {
            date,
            day: (date - NaiveDate::default()).num_days() as i32,
            day_fraction: (into / len).min(0.999_999),
            hour: local.hour() as u8,
            weekday: date.weekday().num_days_from_monday() as u8,
        }
    }

    /// The UTC instant the local `date` begins (the earliest one when midnight repeats; the
    /// first instant after the gap when midnight does not exist).
    fn start_of(&self, date: NaiveDate) -> DateTime<Utc> {
        let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
        for h in 0..3 {
            let t = midnight + chrono::Duration::hours(h);
            if let Some(dt) = self.tz.from_local_datetime(&t).earliest() {
                return dt.with_timezone(&Utc);
            }
        }
        Utc.from_utc_datetime(&midnight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accounting_day_is_the_retailers_not_utcs() {
        let ny = RetailerClock::parse("America/New_York").unwrap();
        // 03:00 UTC on the 25th is 22:00 on the 24th in New York.
        let t = Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap();
        let l = ny.local(t);
        assert_eq!(l.date, NaiveDate::from_ymd_opt(2026, 11, 24).unwrap());
        assert_eq!(l.hour, 22);
        assert!((l.day_fraction - 22.0 / 24.0).abs() < 1e-9);
        assert_eq!(RetailerClock::default().local(t).hour, 3);
        assert!(RetailerClock::parse("Mars/Olympus").is_none());
    }

    #[test]
    fn a_dst_day_counts_its_real_length() {
        let paris = RetailerClock::parse("Europe/Paris").unwrap();
        // 2026-03-29 has 23 hours in Paris; noon local is 10:00 UTC, 11 hours in.
        let t = Utc.with_ymd_and_hms(2026, 3, 29, 10, 0, 0).unwrap();
        let l = paris.local(t);
        assert!(
            (l.day_fraction - 11.0 / 23.0).abs() < 1e-9,
            "{}",
            l.day_fraction
        );
    }
}
