//! Click-rate anomalies: a user, an IP prefix (/24 for IPv4, /48 for IPv6) or a placement
//! clicking far more this hour than its own history says it does. Each key keeps its clicks
//! in the current hour and an exponentially weighted mean of its past hours; a click is
//! anomalous when the hour's count passes `multiplier` times that mean, and never below a
//! floor, so a key with no history (a new user, a new placement) gets the floor. Counts are
//! this process's own: with several ad servers, each sees its share of the traffic, so the
//! floors apply per replica.

use moka::sync::Cache;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The limits of [`ClickRates`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClickRateConfig {
    /// Clicks per hour a user may always make.
    pub user_floor: u32,
    /// Clicks per hour an IP prefix may always make (shared networks carry many people).
    pub ip_floor: u32,
    /// Clicks per hour a placement may always take.
    pub placement_floor: u32,
    /// How many times its usual hourly rate a key may click before it is anomalous.
    pub multiplier: f64,
    /// Weight of the latest hour in the mean (the rest is history).
    pub alpha: f64,
}

impl Default for ClickRateConfig {
    fn default() -> Self {
        Self {
            user_floor: 20,
            ip_floor: 300,
            placement_floor: 5_000,
            multiplier: 5.0,
            alpha: 0.2,
        }
    }
}

/// What kind of key clicked too fast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// One user key.
    User,
    /// One IP prefix.
    IpPrefix,
    /// One placement.
    Placement,
}

impl Scope {
    /// Its name in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::IpPrefix => "ip_prefix",
            Scope::Placement => "placement",
        }
    }
}

#[derive(Debug, Default)]
struct Rate {
    /// Hour (since the epoch) `count` belongs to.
    hour: i64,
    count: u32,
    /// Weighted mean clicks per hour before `hour`.
    mean: f64,
}

impl Rate {
    /// Moves to `hour`, folding the finished hours into the mean (hours with no click
    /// count as zero).
    fn roll(&mut self, hour: i64, alpha: f64) {
        if hour <= self.hour {
            return;
        }
        if self.hour > 0 {
            self.mean = alpha * f64::from(self.count) + (1.0 - alpha) * self.mean;
            let idle = (hour - self.hour - 1).clamp(0, 1_000) as i32;
            self.mean *= (1.0 - alpha).powi(idle);
        }
        self.hour = hour;
        self.count = 0;
    }
}

/// Per-key click rates and their history.
pub struct ClickRates {
    config: ClickRateConfig,
    rates: Cache<(Scope, String), Arc<Mutex<Rate>>>,
}

impl std::fmt::Debug for ClickRates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickRates")
            .field("config", &self.config)
            .field("keys", &self.rates.entry_count())
            .finish()
    }
}

/// The prefix a network shares: /24 of IPv4, /48 of IPv6.
pub fn ip_prefix(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

impl ClickRates {
    /// Remembers up to `capacity` keys (the least used are forgotten first).
    pub fn new(config: ClickRateConfig, capacity: u64) -> Self {
        Self {
            config,
            rates: Cache::builder().max_capacity(capacity).build(),
        }
    }

    /// Counts a click and says which of its keys, if any, is clicking anomalously fast.
    pub fn click(
        &self,
        user: &str,
        ip: Option<IpAddr>,
        placement: &str,
        now_ms: i64,
    ) -> Option<Scope> {
        let hour = now_ms.div_euclid(3_600_000).max(1);
        let c = self.config;
        let keys = [
            (!user.is_empty()).then(|| (Scope::User, user.to_string(), c.user_floor)),
            ip.map(|ip| (Scope::IpPrefix, ip_prefix(ip), c.ip_floor)),
            (!placement.is_empty())
                .then(|| (Scope::Placement, placement.to_string(), c.placement_floor)),
        ];
        // Judged first, counted after: a click found anomalous is not counted, so a burst
        // of refused clicks does not raise the key's usual rate and buy the next hour.
        let entries: Vec<(Scope, Arc<Mutex<Rate>>, u32)> = keys
            .into_iter()
            .flatten()
            .map(|(scope, key, floor)| {
                (
                    scope,
                    self.rates.get_with((scope, key), Default::default),
                    floor,
                )
            })
            .collect();
        let mut first = None;
        for (scope, entry, floor) in &entries {
            let mut r = entry.lock().unwrap_or_else(|p| p.into_inner());
            r.roll(hour, c.alpha);
            let limit = (c.multiplier * r.mean).max(f64::from(*floor));
            if f64::from(r.count.saturating_add(1)) > limit {
                first = Some(*scope);
                break;
            }
        }
        if first.is_none() {
            for (_, entry, _) in &entries {
                let mut r = entry.lock().unwrap_or_else(|p| p.into_inner());
                r.count = r.count.saturating_add(1);
            }
        }
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn rates() -> ClickRates {
        ClickRates::new(
            ClickRateConfig {
                user_floor: 3,
                ip_floor: 10,
                placement_floor: 100,
                ..ClickRateConfig::default()
            },
            1_000,
        )
    }

    #[test]
    fn a_user_past_the_floor_in_one_hour_is_anomalous_and_the_next_hour_starts_over() {
        let r = rates();
        let t = 1_000 * HOUR;
        for _ in 0..3 {
            assert_eq!(r.click("u", None, "p", t), None);
        }
        assert_eq!(r.click("u", None, "p", t), Some(Scope::User));
        assert_eq!(r.click("someone-else", None, "p", t), None);
        assert_eq!(r.click("u", None, "p", t + HOUR), None, "a new hour");
    }

    #[test]
    fn a_key_is_judged_against_its_own_history() {
        let r = ClickRates::new(
            ClickRateConfig {
                placement_floor: 500,
                ..ClickRateConfig::default()
            },
            100_000,
        );
        // A busy placement: 400 clicks an hour for thirty hours.
        let mut t = 1_000 * HOUR;
        for _ in 0..30 {
            for i in 0..400 {
                assert_eq!(r.click(&format!("u{i}"), None, "home", t), None);
            }
            t += HOUR;
        }
        // 1,000 in an hour is within five times its usual rate; 2,500 is not.
        let mut flagged = 0;
        for i in 0..2_500 {
            if r.click(&format!("v{i}"), None, "home", t) == Some(Scope::Placement) {
                flagged += 1;
            }
        }
        assert!((400..=600).contains(&flagged), "{flagged}");
        // A quiet placement is held to its floor.
        let quiet: usize = (0..600)
            .filter(|i| r.click(&format!("w{i}"), None, "footer", t).is_some())
            .count();
        assert_eq!(quiet, 100);
    }

    #[test]
    fn refused_clicks_do_not_buy_the_next_hour() {
        let r = rates();
        let t = 1_000 * HOUR;
        // A bot clicks 1,000 times in an hour; all but its floor of 3 are refused.
        let refused = (0..1_000)
            .filter(|_| r.click("bot", None, "p", t).is_some())
            .count();
        assert_eq!(refused, 997);
        // Its usual rate is what it was allowed, so the next hour holds it to the floor again.
        let next = (0..1_000)
            .filter(|_| r.click("bot", None, "p", t + HOUR).is_some())
            .count();
        assert_eq!(next, 997);
    }

    #[test]
    fn a_network_is_its_prefix() {
        let r = rates();
        let t = 1_000 * HOUR;
        let hits = (1..=12u8)
            .filter(|i| {
                let ip: IpAddr = format!("203.0.113.{i}").parse().unwrap();
                r.click(&format!("user-{i}"), Some(ip), "p", t) == Some(Scope::IpPrefix)
            })
            .count();
        assert_eq!(hits, 2, "eleven and twelve pass the /24's floor of ten");
        assert_eq!(
            ip_prefix("2001:db8:1:2::9".parse().unwrap()),
            "2001:db8:1::/48"
        );
    }
}
