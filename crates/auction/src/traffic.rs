//! The expected traffic by hour of week that pacing follows, learned from the decision log.
//!
//! 168 weights, one per retailer-local hour of the week (Monday 00:00 first), with mean 1.
//! They are computed off the request path from recent decision-log counts; with too little
//! data the curve is the flat line (every hour alike), which is the old even pacing.

/// Hours in a week.
pub const HOURS_OF_WEEK: usize = 168;

/// Share of the flat line mixed into a learned curve, so no hour expects zero traffic (an
/// hour the log saw empty can still be paced if shoppers do come).
const FLAT_SHARE: f64 = 0.1;

/// Expected traffic by local hour of week, with running sums within each day.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficCurve {
    /// Weight of each local hour of week, Monday 00:00 first; mean 1.
    weights: [f64; HOURS_OF_WEEK],
    /// `prefix[d][h]`: the weights of hours `0..h` of weekday `d` summed.
    prefix: [[f64; 25]; 7],
    /// Learned from the log (false: the flat line).
    learned: bool,
}

impl Default for TrafficCurve {
    fn default() -> Self {
        Self::flat()
    }
}

impl TrafficCurve {
    /// Every hour alike: even pacing.
    pub fn flat() -> Self {
        Self::from_weights([1.0; HOURS_OF_WEEK], false)
    }

    /// The curve of decision counts per local hour of week (Monday 00:00 first); the flat
    /// line when they add up to fewer than `min_total` (too little data to trust).
    pub fn from_counts(counts: &[u64; HOURS_OF_WEEK], min_total: u64) -> Self {
        let total: u64 = counts.iter().sum();
        if total == 0 || total < min_total {
            return Self::flat();
        }
        let mean = total as f64 / HOURS_OF_WEEK as f64;
        let mut w = [0.0; HOURS_OF_WEEK];
        for (w, c) in w.iter_mut().zip(counts) {
            *w = (1.0 - FLAT_SHARE) * (*c as f64 / mean) + FLAT_SHARE;
        }
        Self::from_weights(w, true)
    }

    fn from_weights(weights: [f64; HOURS_OF_WEEK], learned: bool) -> Self {
        let mut prefix = [[0.0; 25]; 7];
        for (d, p) in prefix.iter_mut().enumerate() {
            for h in 0..24 {
                p[h + 1] = p[h] + weights[d * 24 + h];
            }
        }
        Self {
            weights,
            prefix,
            learned,
        }
    }

    /// Whether it was learned from the log (false: the flat line).
    pub fn is_learned(&self) -> bool {
        self.learned
    }

    /// The 168 weights, Monday 00:00 first (mean 1).
    pub fn weights(&self) -> &[f64; HOURS_OF_WEEK] {
        &self.weights
    }

    /// Expected traffic of weekday `weekday` (Monday 0) from local midnight until `hours`
    /// into the day (0..=24; within an hour, linear).
    pub fn through(&self, weekday: u8, hours: f64) -> f64 {
        let d = usize::from(weekday % 7);
        let h = if hours.is_nan() {
            0.0
        } else {
            hours.clamp(0.0, 24.0)
        };
        let whole = (h.floor() as usize).min(24);
        if whole == 24 {
            return self.prefix[d][24];
        }
        self.prefix[d][whole] + self.weights[d * 24 + whole] * (h - whole as f64)
    }

    /// Expected traffic of a whole weekday.
    pub fn day(&self, weekday: u8) -> f64 {
        self.prefix[usize::from(weekday % 7)][24]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_little_data_is_the_flat_line() {
        let mut counts = [0u64; HOURS_OF_WEEK];
        counts[10] = 500;
        let c = TrafficCurve::from_counts(&counts, 1_000);
        assert!(!c.is_learned());
        assert_eq!(c, TrafficCurve::flat());
        assert!((c.through(2, 6.0) - 6.0).abs() < 1e-12);
        assert!((c.day(6) - 24.0).abs() < 1e-12);
        assert_eq!(TrafficCurve::from_counts(&[0; HOURS_OF_WEEK], 0), c);
    }

    #[test]
    fn a_learned_curve_follows_the_counts_with_a_floor() {
        // Mondays' evenings (18:00-22:00) get all the traffic.
        let mut counts = [0u64; HOURS_OF_WEEK];
        for c in &mut counts[18..22] {
            *c = 1_000;
        }
        let c = TrafficCurve::from_counts(&counts, 1_000);
        assert!(c.is_learned());
        let mean: f64 = c.weights().iter().sum::<f64>() / HOURS_OF_WEEK as f64;
        assert!((mean - 1.0).abs() < 1e-9, "mean {mean}");
        // By noon on Monday little of the day's traffic has passed; by 22:00 nearly all.
        let share_noon = c.through(0, 12.0) / c.day(0);
        let share_22 = c.through(0, 22.0) / c.day(0);
        assert!(share_noon < 0.05, "{share_noon}");
        assert!(share_22 > 0.95, "{share_22}");
        assert!(c.weights()[30] > 0.0, "no hour expects nothing");
        // Within an hour the line is linear.
        let mid = c.through(0, 18.5);
        assert!((mid - (c.through(0, 18.0) + c.through(0, 19.0)) / 2.0).abs() < 1e-9);
        assert!(c.day(0) > c.day(1), "Monday expects more than Tuesday");
    }
}
