//! A trained model as the auction uses it: a LightGBM model read by [`Gbdt`] whose feature
//! names are exactly those of the feature spec it names, scoring candidates at the
//! reference position.

use crate::score_cache::{ScoreCache, SCORE_CACHE_SLOTS};
use crate::{CtrModel, FeatureSpec, Features, Gbdt, ModelError, Platt, REFERENCE_POSITION};
use endcap_core::LineItemId;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A LightGBM model bound to its feature spec, with its calibration and the line items it
/// was trained on.
#[derive(Debug, Clone)]
pub struct GbdtModel {
    gbdt: Gbdt,
    spec: FeatureSpec,
    version: String,
    calibration: Platt,
    /// `None`: the model does not tell line items apart, so it knows them all.
    seen: Option<HashSet<LineItemId>>,
    /// Raw scores of rows already walked, shared by the model's clones.
    cache: Arc<ScoreCache>,
}

impl GbdtModel {
    /// Binds a model text to a spec version: refused unless the spec is known and the model's
    /// features are that spec's columns, in order.
    pub fn load(model_text: &str, spec_version: &str, version: &str) -> Result<Self, ModelError> {
        let spec = FeatureSpec::parse(spec_version)
            .ok_or_else(|| ModelError::Format(format!("unknown feature spec {spec_version:?}")))?;
        let gbdt = Gbdt::parse(model_text)?;
        if gbdt
            .features()
            .iter()
            .map(String::as_str)
            .ne(spec.names().iter().copied())
        {
            return Err(ModelError::Format(format!(
                "the model's features {:?} are not {}'s {:?}",
                gbdt.features(),
                spec.version(),
                spec.names()
            )));
        }
        Ok(Self {
            gbdt,
            spec,
            version: version.to_string(),
            calibration: Platt::IDENTITY,
            seen: None,
            cache: Arc::new(ScoreCache::new(SCORE_CACHE_SLOTS)),
        })
    }

    /// Applies `calibration` to every probability the model gives.
    pub fn with_calibration(mut self, calibration: Platt) -> Self {
        self.calibration = calibration;
        self
    }

    /// Records the line items the model was trained on (only for specs that tell line items
    /// apart: for the others the model's score is as good for any line item).
    pub fn with_trained_line_items(mut self, items: impl IntoIterator<Item = LineItemId>) -> Self {
        if self.spec.has_line_item() {
            self.seen = Some(items.into_iter().collect());
        }
        self
    }

    /// Whether the model was trained on this line item (a row without one is known).
    pub fn knows(&self, line_item: Option<LineItemId>) -> bool {
        match (&self.seen, line_item) {
            (Some(seen), Some(li)) => seen.contains(&li),
            _ => true,
        }
    }

    /// The feature spec it reads.
    pub fn spec(&self) -> FeatureSpec {
        self.spec
    }

    /// The model's version (shown in metrics and logged with each decision).
    pub fn version(&self) -> &str {
        &self.version
    }
}

impl CtrModel for GbdtModel {
    /// Candidates of one request mostly share their columns (spec V1 describes the slot and
    /// the ad's relevance, not the ad itself), so each distinct row is scored once and its
    /// probability copied; rows scored by earlier requests come from the score cache. The
    /// same numbers, a fraction of the tree walks.
    fn predict(&self, rows: &[Features]) -> Vec<f64> {
        let width = self.spec.names().len();
        let mut row = Vec::with_capacity(width);
        let mut bits: Vec<u64> = Vec::with_capacity(rows.len() * width);
        let mut distinct: Vec<f64> = Vec::new();
        let mut walk: Vec<usize> = Vec::new();
        let mut seen: HashMap<&[u64], usize> = HashMap::new();
        // Each row's raw score, or (as `Err`) the index of its distinct row to walk.
        let mut which: Vec<Result<f64, usize>> = Vec::with_capacity(rows.len());
        for f in rows {
            row.clear();
            self.spec.push_row(f, REFERENCE_POSITION, &mut row);
            // Bit patterns as the key: NaN equals NaN here, as it must for a missing value.
            bits.extend(row.iter().map(|v| v.to_bits()));
        }
        for (i, key) in bits.chunks_exact(width).enumerate() {
            if let Some(score) = self.cache.get(key) {
                which.push(Ok(score));
                continue;
            }
            let next = walk.len();
            let d = *seen.entry(key).or_insert_with(|| {
                distinct.extend(key.iter().map(|b| f64::from_bits(*b)));
                walk.push(i);
                next
            });
            which.push(Err(d));
        }
        let mut scores = Vec::with_capacity(walk.len());
        if !walk.is_empty() {
            self.gbdt.predict_batch(&distinct, width, &mut scores);
            for (first, score) in walk.iter().zip(&scores) {
                self.cache
                    .put(&bits[first * width..(first + 1) * width], *score);
            }
        }
        which
            .into_iter()
            .map(|w| self.calibration.apply(w.unwrap_or_else(|d| scores[d])))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use endcap_core::PricingModel;

    /// One tree on `position` (index 8): position <= 1.5 is likelier clicked; one on
    /// `keyword_match` (index 3).
    fn model(names: &str) -> String {
        format!(
            "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=9\n\
             objective=binary sigmoid:1\nfeature_names={names}\n\n\
             Tree=0\nnum_leaves=2\nnum_cat=0\nsplit_feature=8\nthreshold=1.5\ndecision_type=2\n\
             left_child=-1\nright_child=-2\nleaf_value=-1 -3\nshrinkage=1\n\n\
             Tree=1\nnum_leaves=2\nnum_cat=0\nsplit_feature=3\nthreshold=0.5\ndecision_type=2\n\
             left_child=-1\nright_child=-2\nleaf_value=-1 0\nshrinkage=1\n\nend of trees\n"
        )
    }

    fn candidate(keyword_match: bool) -> Features {
        Features {
            placement: "home".into(),
            offsite: false,
            pricing: PricingModel::Cpm,
            keyword_match,
            segment_match: false,
            sku_on_page: false,
            device: None,
            hour: 9,
            line_item: None,
            advertiser: None,
            slot_count: 1,
            page_type: "".into(),
            weekday: 0,
            history: None,
        }
    }

    #[test]
    fn candidates_are_scored_at_the_reference_position() {
        let names = FeatureSpec::V1.names().join(" ");
        let m = GbdtModel::load(&model(&names), crate::SPEC_V1, "m1").unwrap();
        let p = m.predict(&[candidate(true), candidate(false)]);
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        // Position 1 goes left (-1); a keyword match adds 0 instead of -1.
        assert_eq!(p, vec![sig(-1.0), sig(-2.0)]);
        // Repeated candidates get exactly what they get alone.
        let many = m.predict(&[candidate(false), candidate(true), candidate(false)]);
        assert_eq!(many, vec![sig(-2.0), sig(-1.0), sig(-2.0)]);
        assert_eq!(m.version(), "m1");
    }

    #[test]
    fn a_cached_score_is_exactly_the_walked_one_and_calibrated_alike() {
        let names = FeatureSpec::V1.names().join(" ");
        let platt = Platt { a: 1.3, b: -0.2 };
        let load = || {
            GbdtModel::load(&model(&names), crate::SPEC_V1, "m1")
                .unwrap()
                .with_calibration(platt)
        };
        let rows: Vec<Features> = (0..200u32)
            .map(|i| Features {
                hour: i % 24,
                device: [None, Some(endcap_core::Device::Mobile)][(i % 2) as usize],
                ..candidate(i % 3 == 0)
            })
            .collect();
        let warm = load();
        let first = warm.predict(&rows);
        let again = warm.predict(&rows);
        let cold: Vec<f64> = rows
            .iter()
            .map(|r| load().predict(std::slice::from_ref(r))[0])
            .collect();
        assert_eq!(first, cold);
        assert_eq!(again, cold, "hits give the walk's numbers, calibrated");
    }

    #[test]
    fn a_model_for_other_features_or_an_unknown_spec_is_refused() {
        let names = FeatureSpec::V1.names().join(" ");
        assert!(GbdtModel::load(&model(&names), "ctr-features-v9", "m").is_err());
        let renamed = names.replace("position", "slot");
        assert!(GbdtModel::load(&model(&renamed), crate::SPEC_V1, "m").is_err());
    }
}
