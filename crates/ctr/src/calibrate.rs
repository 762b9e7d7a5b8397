//! Calibration: a trained model ranks well but its probabilities drift (boosting overfits
//! the training rows, and the class balance of the training window is not the serving
//! one). Platt scaling on held-out rows, `p' = sigmoid(a * logit(p) + b)`, fixes the scale
//! with two numbers and keeps the order; at its maximum-likelihood fit the mean calibrated
//! pCTR equals the observed CTR of the rows it was fitted on, which is what bid x pCTR needs.

use serde::{Deserialize, Serialize};

/// Platt scaling parameters; the identity is `a = 1, b = 0`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Platt {
    /// Slope on the logit.
    pub a: f64,
    /// Intercept.
    pub b: f64,
}

/// Probabilities are kept this far from 0 and 1, where the logit is infinite.
const EPS: f64 = 1e-9;

fn logit(p: f64) -> f64 {
    let p = p.clamp(EPS, 1.0 - EPS);
    (p / (1.0 - p)).ln()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl Default for Platt {
    fn default() -> Self {
        Self::IDENTITY
    }
}

impl Platt {
    /// Leaves probabilities as they are.
    pub const IDENTITY: Platt = Platt { a: 1.0, b: 0.0 };

    /// Fits `a` and `b` to `(p, clicked)` pairs by Newton's method on the log loss (a tiny
    /// ridge keeps the Hessian invertible when the rows are all alike). Falls back to the
    /// identity when there is nothing to fit (no rows, or no clicks, or no non-clicks).
    pub fn fit(p: &[f64], clicked: &[bool]) -> Self {
        let positives = clicked.iter().filter(|c| **c).count();
        if p.is_empty() || positives == 0 || positives == clicked.len() {
            return Self::IDENTITY;
        }
        let x: Vec<f64> = p.iter().map(|v| logit(*v)).collect();
        let (mut a, mut b) = (1.0, 0.0);
        for _ in 0..100 {
            // Gradient and Hessian of the summed log loss in (a, b).
            let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 1e-9, 0.0, 1e-9);
            for (xi, yi) in x.iter().zip(clicked) {
                let q = sigmoid(a * xi + b);
                let r = q - if *yi { 1.0 } else { 0.0 };
                let w = (q * (1.0 - q)).max(1e-12);
                ga += r * xi;
                gb += r;
                haa += w * xi * xi;
                hab += w * xi;
                hbb += w;
            }
            let det = haa * hbb - hab * hab;
            if det.abs() < 1e-18 {
                break;
            }
            let da = (hbb * ga - hab * gb) / det;
            let db = (haa * gb - hab * ga) / det;
            a -= da;
            b -= db;
            if da.abs() < 1e-12 && db.abs() < 1e-12 {
                break;
            }
        }
        if a.is_finite() && b.is_finite() {
            Platt { a, b }
        } else {
            Self::IDENTITY
        }
    }

    /// The calibrated probability.
    pub fn apply(self, p: f64) -> f64 {
        if self == Self::IDENTITY {
            return p;
        }
        sigmoid(self.a * logit(p) + self.b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fit_moves_an_overconfident_model_to_the_observed_rate() {
        // The model says 20% where 5% click, and 2% where 1% click.
        let mut p = Vec::new();
        let mut y = Vec::new();
        for i in 0..10_000 {
            let high = i % 2 == 0;
            p.push(if high { 0.2 } else { 0.02 });
            y.push(if high { i % 40 == 0 } else { i % 200 == 1 });
        }
        let cal = Platt::fit(&p, &y);
        let mean: f64 = p.iter().map(|v| cal.apply(*v)).sum::<f64>() / p.len() as f64;
        let observed = y.iter().filter(|c| **c).count() as f64 / y.len() as f64;
        assert!((mean - observed).abs() < 1e-6, "{mean} vs {observed}");
        assert!((cal.apply(0.2) - 0.05).abs() < 1e-3, "{}", cal.apply(0.2));
        assert!((cal.apply(0.02) - 0.01).abs() < 1e-3);
        assert!(cal.apply(0.2) > cal.apply(0.02), "order kept");
    }

    #[test]
    fn nothing_to_fit_is_the_identity() {
        assert_eq!(Platt::fit(&[], &[]), Platt::IDENTITY);
        assert_eq!(Platt::fit(&[0.1, 0.2], &[false, false]), Platt::IDENTITY);
        assert_eq!(Platt::IDENTITY.apply(0.123), 0.123);
    }
}
