//! Credit weights per model, and splitting an integer amount by weights exactly.

use endcap_core::AttributionModel;

/// Weights of `n` touches ordered by time (oldest first) under `model`; `lags_secs[i]` is
/// touch i's time before the purchase (for time decay). The weights sum to 1.
pub fn weights(model: AttributionModel, lags_secs: &[i64], half_life_secs: i64) -> Vec<f64> {
    let n = lags_secs.len();
    if n == 0 {
        return Vec::new();
    }
    let mut w = vec![0.0; n];
    match model {
        AttributionModel::LastTouch => w[n - 1] = 1.0,
        AttributionModel::FirstTouch => w[0] = 1.0,
        AttributionModel::Linear => w.iter_mut().for_each(|x| *x = 1.0 / n as f64),
        AttributionModel::TimeDecay => {
            let h = half_life_secs.max(1) as f64;
            for (x, lag) in w.iter_mut().zip(lags_secs) {
                *x = (-(*lag as f64) / h).exp2();
            }
            let sum: f64 = w.iter().sum();
            w.iter_mut().for_each(|x| *x /= sum);
        }
        AttributionModel::PositionBased => match n {
            1 => w[0] = 1.0,
            2 => {
                w[0] = 0.5;
                w[1] = 0.5;
            }
            _ => {
                w[0] = 0.4;
                w[n - 1] = 0.4;
                let middle = 0.2 / (n - 2) as f64;
                w[1..n - 1].iter_mut().for_each(|x| *x = middle);
            }
        },
    }
    w
}

/// Splits an integer `total` (micros, may be negative) by `weights` so that the parts add up
/// to `total` exactly: each part is the truncated share, and what is left is handed out one
/// unit at a time to the largest remainders (ties: the later touch). The documented rounding
/// rule of every attributed amount.
pub fn split_exact(total: i64, weights: &[f64]) -> Vec<i64> {
    if weights.is_empty() {
        return Vec::new();
    }
    let sign = if total < 0 { -1 } else { 1 };
    let abs = total.unsigned_abs() as f64;
    let mut parts: Vec<i64> = weights.iter().map(|w| (abs * w).floor() as i64).collect();
    let assigned: i64 = parts.iter().sum();
    let mut left = total.abs() - assigned;
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = abs * weights[a] - (abs * weights[a]).floor();
        let rb = abs * weights[b] - (abs * weights[b]).floor();
        rb.total_cmp(&ra).then(b.cmp(&a))
    });
    let mut i = 0;
    while left > 0 {
        parts[order[i % order.len()]] += 1;
        left -= 1;
        i += 1;
    }
    // Float truncation can overshoot by a unit on huge totals: take it back from the end.
    while left < 0 {
        let j = order[order.len() - 1 - (i % order.len())];
        if parts[j] > 0 {
            parts[j] -= 1;
            left += 1;
        }
        i += 1;
    }
    parts.into_iter().map(|p| p * sign).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_model_weighs_as_documented() {
        let lags = [300, 200, 100, 0];
        assert_eq!(
            weights(AttributionModel::LastTouch, &lags, 1),
            vec![0.0, 0.0, 0.0, 1.0]
        );
        assert_eq!(
            weights(AttributionModel::FirstTouch, &lags, 1),
            vec![1.0, 0.0, 0.0, 0.0]
        );
        assert_eq!(weights(AttributionModel::Linear, &lags, 1), vec![0.25; 4]);
        assert_eq!(
            weights(AttributionModel::PositionBased, &lags, 1),
            vec![0.4, 0.1, 0.1, 0.4]
        );
        assert_eq!(
            weights(AttributionModel::PositionBased, &lags[..2], 1),
            vec![0.5, 0.5]
        );
        // Half-life 100 s: weights 1/8, 1/4, 1/2, 1 before normalizing.
        let w = weights(AttributionModel::TimeDecay, &lags, 100);
        let expect = [0.125, 0.25, 0.5, 1.0].map(|x| x / 1.875);
        for (a, b) in w.iter().zip(expect) {
            assert!((a - b).abs() < 1e-12);
        }
    }

    #[test]
    fn a_split_adds_up_to_the_amount_exactly() {
        assert_eq!(split_exact(100, &[1.0 / 3.0; 3]), vec![33, 33, 34]);
        assert_eq!(split_exact(-100, &[1.0 / 3.0; 3]), vec![-33, -33, -34]);
        assert_eq!(
            split_exact(4_990_000, &[0.4, 0.2, 0.4]),
            vec![1_996_000, 998_000, 1_996_000]
        );
    }

    proptest! {
        #[test]
        fn splits_always_sum_to_the_total(total in -10_000_000_000i64..10_000_000_000,
                                          raw in proptest::collection::vec(1u32..1000, 1..12)) {
            let sum: u32 = raw.iter().sum();
            let w: Vec<f64> = raw.iter().map(|r| f64::from(*r) / f64::from(sum)).collect();
            let parts = split_exact(total, &w);
            prop_assert_eq!(parts.iter().sum::<i64>(), total);
            for p in &parts {
                prop_assert!(p.abs() <= total.abs());
            }
        }
    }
}
