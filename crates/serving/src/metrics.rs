//! Counters of the tracking endpoints, rendered for Prometheus.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// Counters of the tracking endpoints.
#[derive(Default)]
pub struct TrackingMetrics {
    logged: Mutex<BTreeMap<&'static str, u64>>,
    /// Events seen again inside their token's lifetime (not logged or charged again).
    pub duplicates: AtomicU64,
    /// Clicks whose impression was never seen.
    pub clicks_without_impression: AtomicU64,
    /// Billing notices refused for their price.
    pub bad_prices: AtomicU64,
    /// Fields of decision requests the server did not know and ignored.
    pub ignored_fields: AtomicU64,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
    invalid: Mutex<BTreeMap<&'static str, u64>>,
}

fn bump(m: &Mutex<BTreeMap<&'static str, u64>>, k: &'static str) {
    *m.lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(k)
        .or_default() += 1;
}

impl TrackingMetrics {
    /// Counts a logged event of `kind`.
    pub fn logged(&self, kind: &'static str) {
        bump(&self.logged, kind);
    }

    /// Counts a refused token.
    pub fn rejected(&self, reason: &'static str) {
        bump(&self.rejected, reason);
    }

    /// Counts an impression or click filtered as invalid traffic.
    pub fn invalid(&self, why: endcap_tracking::Invalid) {
        bump(&self.invalid, why.as_str());
    }

    /// Counts fields of a decision request that were ignored.
    pub fn ignored_fields(&self, n: usize) {
        self.ignored_fields.fetch_add(n as u64, Relaxed);
    }

    /// Renders the counters for Prometheus.
    pub fn render(&self) -> String {
        let mut out = String::from("# TYPE endcap_tracking_events_total counter\n");
        for (k, v) in self.logged.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "endcap_tracking_events_total{{kind=\"{k}\"}} {v}");
        }
        for (name, v) in [
            ("endcap_tracking_duplicates_total", &self.duplicates),
            (
                "endcap_tracking_clicks_without_impression_total",
                &self.clicks_without_impression,
            ),
            ("endcap_tracking_bad_prices_total", &self.bad_prices),
            ("endcap_decision_ignored_fields_total", &self.ignored_fields),
        ] {
            let _ = writeln!(out, "# TYPE {name} counter\n{name} {}", v.load(Relaxed));
        }
        out.push_str("# TYPE endcap_tracking_rejected_total counter\n");
        for (k, v) in self
            .rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(out, "endcap_tracking_rejected_total{{reason=\"{k}\"}} {v}");
        }
        out.push_str("# TYPE endcap_invalid_traffic_total counter\n");
        for (k, v) in self
            .invalid
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(out, "endcap_invalid_traffic_total{{reason=\"{k}\"}} {v}");
        }
        out
    }
}
