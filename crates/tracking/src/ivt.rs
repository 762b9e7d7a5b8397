//! Invalid traffic, filtered before anyone pays: known bots and crawlers by user agent (the
//! open `crawler-user-agents` list from the npm registry, refreshed by
//! `scripts/update-bot-list.sh` and embedded at build time), requests with no user agent
//! (every browser sends one), clicks faster than a person can click after the ad was
//! decided, and click-rate anomalies of a user, an IP prefix or a placement against its own
//! history ([`crate::ClickRates`]). Filtered events are still logged; their charges are recorded non-billable with
//! the reason.

use crate::{ClickRates, Scope};
use regex::RegexSet;
use serde::Deserialize;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// The bundled bot list.
const BUNDLED: &str = include_str!("../data/crawler-user-agents.json");

/// Why an event is invalid traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// The user agent is a known bot or crawler.
    Bot,
    /// The request carried no user agent.
    NoUserAgent,
    /// A click sooner after the decision than a person can click.
    TooFast,
    /// A user, IP prefix or placement clicking far faster than its own history.
    ClickRate(Scope),
}

impl Invalid {
    /// Its name in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Invalid::Bot => "bot",
            Invalid::NoUserAgent => "no_user_agent",
            Invalid::TooFast => "too_fast",
            Invalid::ClickRate(Scope::User) => "click_rate_user",
            Invalid::ClickRate(Scope::IpPrefix) => "click_rate_ip_prefix",
            Invalid::ClickRate(Scope::Placement) => "click_rate_placement",
        }
    }
}

/// A bot list that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TrafficFilterError {
    /// Not the list's JSON.
    #[error("the bot list is not readable: {0}")]
    Format(#[from] serde_json::Error),
    /// A pattern that is not a regular expression.
    #[error("the bot list has a bad pattern: {0}")]
    Pattern(#[from] regex::Error),
}

#[derive(Deserialize)]
struct ListFile {
    version: String,
    patterns: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    pattern: String,
}

/// Judges impressions and clicks.
#[derive(Debug, Clone)]
pub struct TrafficFilter {
    bots: RegexSet,
    version: String,
    min_click: Duration,
    /// User-agent substrings never taken for bots: the retailer's own apps (the list
    /// flags generic HTTP clients such as `okhttp`, which Android apps send).
    apps: Vec<String>,
    /// Click rates per user, IP prefix and placement (none: not judged).
    rates: Option<Arc<ClickRates>>,
}

/// Who clicked, for the click-rate rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clicker<'a> {
    /// The hashed user key ("" when unknown).
    pub user: &'a str,
    /// The client's address, when known.
    pub ip: Option<IpAddr>,
    /// The placement the ad was shown in.
    pub placement: &'a str,
}

impl TrafficFilter {
    /// The bundled bot list; clicks sooner than `min_click` after their decision are invalid.
    /// Compiled once per process (1,500 patterns) and shared.
    pub fn bundled(min_click: Duration) -> Result<Self, TrafficFilterError> {
        static COMPILED: std::sync::OnceLock<TrafficFilter> = std::sync::OnceLock::new();
        if let Some(f) = COMPILED.get() {
            return Ok(Self {
                min_click,
                ..f.clone()
            });
        }
        let f = Self::from_json(BUNDLED, min_click)?;
        Ok(COMPILED.get_or_init(|| f).clone().with_min_click(min_click))
    }

    fn with_min_click(mut self, min_click: Duration) -> Self {
        self.min_click = min_click;
        self
    }

    /// Also judges clicks by their rates (shared by every clone of this filter).
    pub fn with_click_rates(mut self, rates: ClickRates) -> Self {
        self.rates = Some(Arc::new(rates));
        self
    }

    /// Never takes user agents containing one of `apps` for bots (the retailer's apps).
    pub fn allowing(mut self, apps: Vec<String>) -> Self {
        self.apps = apps.into_iter().filter(|a| !a.trim().is_empty()).collect();
        self
    }

    /// A bot list in the bundled file's format.
    pub fn from_json(json: &str, min_click: Duration) -> Result<Self, TrafficFilterError> {
        let file: ListFile = serde_json::from_str(json)?;
        let bots = regex::RegexSetBuilder::new(file.patterns.iter().map(|e| &e.pattern))
            .size_limit(64 << 20)
            .build()?;
        Ok(Self {
            bots,
            version: file.version,
            min_click,
            apps: Vec::new(),
            rates: None,
        })
    }

    /// The bot list's version (shown in metrics).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// How many patterns it holds.
    pub fn patterns(&self) -> usize {
        self.bots.len()
    }

    /// Why an impression pixel request is invalid, if it is.
    pub fn impression(&self, user_agent: Option<&str>) -> Option<Invalid> {
        match user_agent.map(str::trim) {
            None | Some("") => Some(Invalid::NoUserAgent),
            Some(ua) if self.apps.iter().any(|a| ua.contains(a.as_str())) => None,
            Some(ua) if self.bots.is_match(ua) => Some(Invalid::Bot),
            Some(_) => None,
        }
    }

    /// Why a click's pace makes it invalid, if it does: sooner after its decision than a
    /// person can click, or past the click rate of who clicked (judged after the bot rules
    /// and after duplicates are dropped, so only first sightings count toward the rates).
    pub fn click_pace(&self, decided_at_ms: i64, now_ms: i64, who: Clicker<'_>) -> Option<Invalid> {
        let after = now_ms.saturating_sub(decided_at_ms);
        // A click "before" its decision is clock skew between replicas, not a robot.
        if (0..self.min_click.as_millis() as i64).contains(&after) {
            return Some(Invalid::TooFast);
        }
        let rates = self.rates.as_ref()?;
        rates
            .click(who.user, who.ip, who.placement, now_ms)
            .map(Invalid::ClickRate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Full {
        patterns: Vec<Example>,
    }

    #[derive(Deserialize)]
    struct Example {
        example: Option<String>,
    }

    const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";

    #[test]
    fn every_listed_example_is_a_bot_and_browsers_are_not() {
        let f = TrafficFilter::bundled(Duration::from_millis(500)).unwrap();
        assert!(f.patterns() > 1_000, "{}", f.patterns());
        let full: Full = serde_json::from_str(BUNDLED).unwrap();
        let examples: Vec<String> = full
            .patterns
            .into_iter()
            .filter_map(|e| e.example)
            .collect();
        assert!(examples.len() > 1_000);
        for ua in &examples {
            assert_eq!(f.impression(Some(ua)), Some(Invalid::Bot), "{ua}");
        }
        for ua in [CHROME, SAFARI_IPHONE] {
            assert_eq!(f.impression(Some(ua)), None, "{ua}");
        }
        assert_eq!(f.impression(None), Some(Invalid::NoUserAgent));
        assert_eq!(f.impression(Some("  ")), Some(Invalid::NoUserAgent));
    }

    #[test]
    fn a_click_faster_than_a_person_is_invalid() {
        let f = TrafficFilter::bundled(Duration::from_millis(500)).unwrap();
        assert_eq!(
            f.click_pace(1_000, 1_499, Clicker::default()),
            Some(Invalid::TooFast)
        );
        assert_eq!(f.click_pace(1_000, 1_500, Clicker::default()), None);
        assert_eq!(
            f.click_pace(1_000, 900, Clicker::default()),
            None,
            "clock skew, not a robot"
        );
    }

    #[test]
    fn the_retailers_apps_can_be_allowed() {
        let app = "okhttp/4.12.0 RetailerApp/5.2";
        let f = TrafficFilter::bundled(Duration::ZERO).unwrap();
        assert_eq!(
            f.impression(Some(app)),
            Some(Invalid::Bot),
            "the list flags okhttp"
        );
        let f = f.allowing(vec!["RetailerApp/".into()]);
        assert_eq!(f.impression(Some(app)), None);
        assert_eq!(f.impression(Some("okhttp/4.12.0")), Some(Invalid::Bot));
    }

    #[test]
    fn a_broken_list_is_refused() {
        assert!(TrafficFilter::from_json("[]", Duration::ZERO).is_err());
        let bad = r#"{"version": "x", "patterns": [{"pattern": "(unclosed"}]}"#;
        assert!(matches!(
            TrafficFilter::from_json(bad, Duration::ZERO),
            Err(TrafficFilterError::Pattern(_))
        ));
    }
}
