//! How good a CTR model is, on rows it was not trained on: AUC (ranking), log loss
//! (probabilities), and a calibration table by decile of predicted CTR.

use serde::{Deserialize, Serialize};

/// Area under the ROC curve: the chance a random click is scored above a random non-click
/// (ties count half). 0.5 when either class is empty.
pub fn auc(p: &[f64], clicked: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|a, b| p[*a].total_cmp(&p[*b]));
    let positives = clicked.iter().filter(|c| **c).count() as f64;
    let negatives = p.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return 0.5;
    }
    // Mann-Whitney: sum of the (tie-averaged) ranks of the positives.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && p[order[j + 1]] == p[order[i]] {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += order[i..=j].iter().filter(|k| clicked[**k]).count() as f64 * mid;
        i = j + 1;
    }
    (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
}

/// Mean negative log likelihood of the clicks under the probabilities.
pub fn log_loss(p: &[f64], clicked: &[bool]) -> f64 {
    if p.is_empty() {
        return 0.0;
    }
    let sum: f64 = p
        .iter()
        .zip(clicked)
        .map(|(p, y)| {
            let p = p.clamp(1e-15, 1.0 - 1e-15);
            if *y {
                -p.ln()
            } else {
                -(1.0 - p).ln()
            }
        })
        .sum();
    sum / p.len() as f64
}

/// One decile of a calibration table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Decile {
    /// Rows in it.
    pub rows: usize,
    /// Mean predicted CTR.
    pub predicted: f64,
    /// Observed CTR.
    pub observed: f64,
}

/// Rows sorted by prediction, cut into ten equal groups: predicted vs observed in each.
pub fn calibration_table(p: &[f64], clicked: &[bool]) -> Vec<Decile> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|a, b| p[*a].total_cmp(&p[*b]));
    let n = order.len();
    (0..10)
        .filter_map(|d| {
            let rows = &order[d * n / 10..(d + 1) * n / 10];
            (!rows.is_empty()).then(|| Decile {
                rows: rows.len(),
                predicted: rows.iter().map(|i| p[*i]).sum::<f64>() / rows.len() as f64,
                observed: rows.iter().filter(|i| clicked[**i]).count() as f64 / rows.len() as f64,
            })
        })
        .collect()
}

/// How far the mean prediction is from the observed CTR, relative to it (0 is perfect; 1
/// when there are no clicks to compare with).
pub fn calibration_error(p: &[f64], clicked: &[bool]) -> f64 {
    let observed = clicked.iter().filter(|c| **c).count() as f64 / clicked.len().max(1) as f64;
    if observed == 0.0 {
        return 1.0;
    }
    let mean = p.iter().sum::<f64>() / p.len().max(1) as f64;
    (mean - observed).abs() / observed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_ordered_pairs_and_ties_half() {
        assert_eq!(auc(&[0.1, 0.2, 0.3, 0.4], &[false, false, true, true]), 1.0);
        assert_eq!(auc(&[0.4, 0.3, 0.2, 0.1], &[false, false, true, true]), 0.0);
        assert_eq!(auc(&[0.5, 0.5], &[false, true]), 0.5);
        // Pairs (pos, neg): (0.3 > 0.1), (0.3 < 0.4), (0.2 > 0.1), (0.2 < 0.4) -> 2 of 4.
        assert_eq!(auc(&[0.1, 0.3, 0.2, 0.4], &[false, true, true, false]), 0.5);
        assert_eq!(auc(&[0.1, 0.2], &[true, true]), 0.5);
    }

    #[test]
    fn log_loss_and_calibration_read_as_expected() {
        let ll = log_loss(&[0.5, 0.5], &[true, false]);
        assert!((ll - std::f64::consts::LN_2).abs() < 1e-12);
        let p: Vec<f64> = (0..100).map(|i| i as f64 / 100.0).collect();
        let y: Vec<bool> = (0..100).map(|i| i >= 90).collect();
        let t = calibration_table(&p, &y);
        assert_eq!(t.len(), 10);
        assert_eq!(t[9].observed, 1.0);
        assert_eq!(t[0].observed, 0.0);
        assert_eq!(t.iter().map(|d| d.rows).sum::<usize>(), 100);
        assert!((calibration_error(&[0.1; 10], &[true; 10]) - 0.9).abs() < 1e-12);
    }
}
