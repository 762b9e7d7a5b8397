//! The training set: logged rows turned into model columns by the same [`FeatureSpec`] that
//! serving uses, in time order, cut into train / validation / calibration / test windows by
//! time (never at random: a model is always used on the future, so it is judged on it).

use crate::{Counts, FeatureSpec, Features};
use endcap_core::LineItemId;
use endcap_events::TrainingRead;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Range;

/// Rows as model columns, with their labels, in decision-time order.
#[derive(Debug, Clone)]
pub struct TrainingSet {
    /// The spec the columns follow.
    pub spec: FeatureSpec,
    /// Row-major feature values, `spec.names().len()` per row.
    pub x: Vec<f64>,
    /// Clicked or not, per row.
    pub y: Vec<bool>,
    /// Decision time per row, ms since the epoch.
    pub ts_ms: Vec<i64>,
    /// The logged features per row (the prior and the cold start read them).
    pub features: Vec<Features>,
    /// Logged rows whose features could not be read (skipped, and reported).
    pub unreadable: usize,
}

/// Impressions and clicks of one line item on one placement in the training window: the
/// history the cold start starts from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryCount {
    /// The line item.
    pub line_item: LineItemId,
    /// The placement.
    pub placement: String,
    /// Impressions.
    pub impressions: u64,
    /// Clicks.
    pub clicks: u64,
}

/// The four time windows of a training set, as row ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Trees are fitted on these.
    pub train: Range<usize>,
    /// Early stopping watches these.
    pub valid: Range<usize>,
    /// Calibration is fitted on these.
    pub calibration: Range<usize>,
    /// Metrics are measured on these, which nothing else saw.
    pub test: Range<usize>,
}

impl TrainingSet {
    /// Builds the set from logged rows (any order; sorted here by decision time). The
    /// position column is the logged rank plus one, so the top slot is position 1.
    pub fn build(spec: FeatureSpec, rows: &[TrainingRead]) -> Self {
        let mut order: Vec<&TrainingRead> = rows.iter().collect();
        order.sort_by_key(|r| (r.ts_ms, r.decision_id));
        let mut set = TrainingSet {
            spec,
            x: Vec::with_capacity(rows.len() * spec.names().len()),
            y: Vec::with_capacity(rows.len()),
            ts_ms: Vec::with_capacity(rows.len()),
            features: Vec::with_capacity(rows.len()),
            unreadable: 0,
        };
        for r in order {
            let Ok(f) = serde_json::from_str::<Features>(&r.features) else {
                set.unreadable += 1;
                continue;
            };
            spec.push_row(&f, r.position.saturating_add(1), &mut set.x);
            set.y.push(r.clicked != 0);
            set.ts_ms.push(r.ts_ms.min(i64::MAX as u64) as i64);
            set.features.push(f);
        }
        set
    }

    /// Rows in the set.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether it has no rows.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Columns per row.
    pub fn width(&self) -> usize {
        self.spec.names().len()
    }

    /// The feature values of a range of rows.
    pub fn rows(&self, r: &Range<usize>) -> &[f64] {
        &self.x[r.start * self.width()..r.end * self.width()]
    }

    /// Clicks in a range of rows.
    pub fn clicks(&self, r: &Range<usize>) -> usize {
        self.y[r.clone()].iter().filter(|c| **c).count()
    }

    /// Cuts the rows, in time order, 70% / 10% / 10% / 10%.
    pub fn split(&self) -> Split {
        let n = self.len();
        let (a, b, c) = (n * 7 / 10, n * 8 / 10, n * 9 / 10);
        Split {
            train: 0..a,
            valid: a..b,
            calibration: b..c,
            test: c..n,
        }
    }

    /// Impressions and clicks per line item and placement over all rows (rows without a
    /// line item, logged before spec v2, are left out).
    pub fn history(&self) -> Vec<HistoryCount> {
        let mut by: BTreeMap<(LineItemId, &str), Counts> = BTreeMap::new();
        for (f, y) in self.features.iter().zip(&self.y) {
            if let Some(li) = f.line_item {
                let c = by.entry((li, &*f.placement)).or_default();
                c.impressions += 1;
                c.clicks += u64::from(*y);
            }
        }
        by.into_iter()
            .map(|((line_item, placement), c)| HistoryCount {
                line_item,
                placement: placement.to_string(),
                impressions: c.impressions,
                clicks: c.clicks,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn read(ts: u64, position: u16, clicked: u8, features: &str) -> TrainingRead {
        TrainingRead {
            decision_id: Uuid::from_u128(u128::from(ts)),
            ts_ms: ts,
            position,
            features: features.into(),
            clicked,
        }
    }

    const F: &str = r#"{"placement":"search-top","offsite":false,"pricing":"cpc","keyword_match":true,
        "segment_match":false,"sku_on_page":false,"device":null,"hour":9,
        "line_item":"00000000-0000-0000-0000-000000000007"}"#;

    #[test]
    fn rows_come_in_time_order_with_one_based_positions_and_bad_rows_counted() {
        let rows = vec![
            read(30, 2, 0, F),
            read(10, 0, 1, F),
            read(20, 1, 0, "{broken"),
        ];
        let set = TrainingSet::build(FeatureSpec::V2, &rows);
        assert_eq!(set.len(), 2);
        assert_eq!(set.unreadable, 1);
        assert_eq!(set.ts_ms, vec![10, 30]);
        assert_eq!(set.y, vec![true, false]);
        let w = set.width();
        assert_eq!(set.x[8], 1.0, "rank 0 is position 1");
        assert_eq!(set.x[w + 8], 3.0);
        let h = set.history();
        assert_eq!(h.len(), 1);
        assert_eq!((h[0].impressions, h[0].clicks), (2, 1));
    }

    #[test]
    fn the_split_is_by_time_and_covers_every_row_once() {
        let rows: Vec<TrainingRead> = (0..100).map(|i| read(i, 0, 0, F)).collect();
        let set = TrainingSet::build(FeatureSpec::V1, &rows);
        let s = set.split();
        assert_eq!(
            (
                s.train.len(),
                s.valid.len(),
                s.calibration.len(),
                s.test.len()
            ),
            (70, 10, 10, 10)
        );
        assert_eq!(s.train.end, s.valid.start);
        assert_eq!(s.calibration.end, s.test.start);
        assert_eq!(s.test.end, 100);
        assert!(set.ts_ms[s.train.end - 1] < set.ts_ms[s.test.start]);
    }
}
