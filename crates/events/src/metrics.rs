//! Counters of the event pipeline, rendered for Prometheus.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// What the sink did: every event is queued, then written, spooled (and later replayed), or
/// — only if even the disk refuses — dropped.
#[derive(Debug, Default)]
pub struct SinkMetrics {
    /// Events accepted by `send`.
    pub queued: AtomicU64,
    /// Events the writer stored.
    pub written: AtomicU64,
    /// Events put in the disk spool.
    pub spooled: AtomicU64,
    /// Spooled events later stored.
    pub replayed: AtomicU64,
    /// Events lost (spool unwritable). Must stay 0.
    pub dropped: AtomicU64,
    /// Events that found the queue full and went through the overflow path.
    pub overflowed: AtomicU64,
    /// Spool files found torn or corrupt and set aside.
    pub corrupt_spool_files: AtomicU64,
    /// Spool files set aside because the writer kept refusing them while storing others.
    pub failed_spool_files: AtomicU64,
    /// Failed writer calls.
    pub write_errors: AtomicU64,
    /// Writer calls that succeeded.
    pub write_batches: AtomicU64,
    /// Total time of successful writer calls, microseconds.
    pub write_micros: AtomicU64,
}

impl SinkMetrics {
    /// Adds `n` to a counter.
    pub(crate) fn add(c: &AtomicU64, n: usize) {
        c.fetch_add(n as u64, Relaxed);
    }

    /// Reads a counter.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Relaxed)
    }

    /// Renders the counters in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, help, c) in [
            ("queued", "events accepted", &self.queued),
            ("written", "events stored by the writer", &self.written),
            ("spooled", "events put in the disk spool", &self.spooled),
            ("replayed", "spooled events stored later", &self.replayed),
            ("dropped", "events lost; must stay 0", &self.dropped),
            (
                "overflowed",
                "events that found the queue full",
                &self.overflowed,
            ),
            (
                "corrupt_spool_files",
                "spool files set aside as corrupt",
                &self.corrupt_spool_files,
            ),
            (
                "failed_spool_files",
                "spool files set aside after the writer kept refusing them",
                &self.failed_spool_files,
            ),
            ("write_errors", "failed writes", &self.write_errors),
            ("write_batches", "successful writes", &self.write_batches),
            (
                "write_micros",
                "time spent in successful writes",
                &self.write_micros,
            ),
        ] {
            let _ = writeln!(out, "# HELP endcap_events_{name}_total {help}.");
            let _ = writeln!(out, "# TYPE endcap_events_{name}_total counter");
            let _ = writeln!(out, "endcap_events_{name}_total {}", Self::get(c));
        }
        out
    }
}
