//! Training with LightGBM: a binary objective on the training window, early stopping on the
//! validation window, Platt calibration on the calibration window, and metrics on the test
//! window that nothing else saw; the result is an artifact a serving process can load.
//!
//! LightGBM is called through `lightgbm3-sys` (the C API the `lightgbm3` crate wraps) because
//! categorical columns must be declared when a dataset is built, and `lightgbm3::Dataset`
//! builds with no parameters. The unsafe code is the handful of calls below, each checked.

use crate::metrics::{auc, calibration_error, calibration_table, log_loss, Decile};
use crate::{CtrModel, Gbdt, Manifest, Platt, PriorCtr, TrainingSet};
use lightgbm3_sys as sys;
use serde::{Deserialize, Serialize};
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ops::Range;

/// What can go wrong in training.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Too few rows or clicks in a window to train or judge a model.
    #[error("not enough data: {0}")]
    NotEnoughData(String),
    /// LightGBM refused (its own message).
    #[error("LightGBM: {0}")]
    LightGbm(String),
    /// The trained model could not be read back by Endcap's predictor.
    #[error("the trained model does not read back: {0}")]
    Model(#[from] crate::ModelError),
}

/// Training settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Most boosting rounds.
    pub num_iterations: u32,
    /// Leaves per tree.
    pub num_leaves: u32,
    /// Shrinkage.
    pub learning_rate: f64,
    /// Stop after this many rounds without a better validation log loss, and keep the best
    /// round; 0: run every round and keep them all.
    pub early_stopping_rounds: u32,
    /// Least rows per leaf.
    pub min_data_in_leaf: u32,
    /// LightGBM threads (0: its default, all cores).
    pub threads: u32,
    /// Seed, for a repeatable model.
    pub seed: u64,
    /// Share of the training window's non-clicks trained on (1: all). Fewer rows train
    /// faster; the probabilities it inflates are put right by the calibration, which is
    /// fitted on a window that was not sampled.
    pub negative_rate: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            num_iterations: 300,
            num_leaves: 31,
            learning_rate: 0.05,
            early_stopping_rounds: 20,
            min_data_in_leaf: 50,
            threads: 0,
            seed: 1,
            negative_rate: 1.0,
        }
    }
}

/// What a model must reach on the test window to be published.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Floors {
    /// Least AUC.
    pub min_auc: f64,
    /// Largest relative gap between mean pCTR and observed CTR.
    pub max_calibration_error: f64,
}

impl Default for Floors {
    fn default() -> Self {
        Self {
            min_auc: 0.55,
            max_calibration_error: 0.25,
        }
    }
}

/// Rows and clicks of one window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WindowCount {
    /// Rows.
    pub rows: usize,
    /// Clicks.
    pub clicks: usize,
}

/// How the model did, written into the artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Per window.
    pub train: WindowCount,
    /// Per window.
    pub valid: WindowCount,
    /// Per window.
    pub calibration: WindowCount,
    /// Per window.
    pub test: WindowCount,
    /// Logged rows whose features could not be read.
    pub unreadable_rows: usize,
    /// Boosting rounds kept (the best on the validation window).
    pub trees: usize,
    /// Test AUC of the model.
    pub auc: f64,
    /// Test AUC of the documented prior, for comparison.
    pub prior_auc: f64,
    /// Test log loss before calibration.
    pub log_loss_uncalibrated: f64,
    /// Test log loss after calibration.
    pub log_loss: f64,
    /// Test log loss of the prior.
    pub prior_log_loss: f64,
    /// Relative gap of mean pCTR to observed CTR on the test window, after calibration.
    pub calibration_error: f64,
    /// Calibrated predictions vs observed CTR by decile, on the test window.
    pub calibration_table: Vec<Decile>,
    /// Total split gain per feature, largest first.
    pub feature_importance: Vec<(String, f64)>,
}

impl Metrics {
    /// Why the model must not be published, if it misses a floor.
    pub fn below(&self, floors: &Floors) -> Option<String> {
        if self.auc.is_nan() || self.auc < floors.min_auc {
            return Some(format!(
                "test AUC {:.4} is below the floor {:.4}",
                self.auc, floors.min_auc
            ));
        }
        if self.calibration_error.is_nan() || self.calibration_error > floors.max_calibration_error
        {
            return Some(format!(
                "calibration error {:.4} is above the ceiling {:.4}",
                self.calibration_error, floors.max_calibration_error
            ));
        }
        None
    }
}

/// A trained, calibrated, measured model.
#[derive(Debug, Clone)]
pub struct Trained {
    /// The LightGBM text model.
    pub model_text: String,
    /// Its `model.json`.
    pub manifest: Manifest,
    /// Its figures (also in the manifest).
    pub metrics: Metrics,
}

fn last_error() -> String {
    // SAFETY: LightGBM returns a pointer to a thread-local, NUL-terminated message.
    unsafe {
        let p = sys::LGBM_GetLastError();
        if p.is_null() {
            "unknown error".into()
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

fn check(code: c_int) -> Result<(), TrainError> {
    if code == 0 {
        Ok(())
    } else {
        Err(TrainError::LightGbm(last_error()))
    }
}

/// A LightGBM dataset, freed on drop.
struct Dataset(sys::DatasetHandle);

impl Drop for Dataset {
    fn drop(&mut self) {
        // SAFETY: the handle came from LGBM_DatasetCreateFromMat and is freed once.
        unsafe {
            sys::LGBM_DatasetFree(self.0);
        }
    }
}

/// A LightGBM booster, freed on drop.
struct Booster(sys::BoosterHandle);

impl Drop for Booster {
    fn drop(&mut self) {
        // SAFETY: the handle came from LGBM_BoosterCreate and is freed once.
        unsafe {
            sys::LGBM_BoosterFree(self.0);
        }
    }
}

fn dataset(
    set: &TrainingSet,
    x: &[f64],
    y: &[bool],
    params: &CStr,
    reference: Option<&Dataset>,
) -> Result<Dataset, TrainError> {
    let labels: Vec<f32> = y.iter().map(|c| if *c { 1.0 } else { 0.0 }).collect();
    let n = i32::try_from(y.len())
        .map_err(|_| TrainError::NotEnoughData("more rows than LightGBM takes".into()))?;
    let width = set.width() as i32;
    let mut handle: sys::DatasetHandle = std::ptr::null_mut();
    // SAFETY: `x` holds n * width f64s, row-major; `labels` n f32s; the names outlive the
    // call; LightGBM copies what it keeps.
    unsafe {
        check(sys::LGBM_DatasetCreateFromMat(
            x.as_ptr() as *const c_void,
            sys::C_API_DTYPE_FLOAT64 as c_int,
            n,
            width,
            1,
            params.as_ptr(),
            reference.map_or(std::ptr::null_mut(), |r| r.0),
            &mut handle,
        ))?;
        let ds = Dataset(handle);
        let field = CString::new("label").unwrap_or_default();
        check(sys::LGBM_DatasetSetField(
            ds.0,
            field.as_ptr(),
            labels.as_ptr() as *const c_void,
            n,
            sys::C_API_DTYPE_FLOAT32 as c_int,
        ))?;
        let names: Vec<CString> = set
            .spec
            .names()
            .iter()
            .map(|s| CString::new(*s).unwrap_or_default())
            .collect();
        let mut ptrs: Vec<*const c_char> = names.iter().map(|c| c.as_ptr()).collect();
        check(sys::LGBM_DatasetSetFeatureNames(
            ds.0,
            ptrs.as_mut_ptr(),
            ptrs.len() as c_int,
        ))?;
        Ok(ds)
    }
}

fn params(set: &TrainingSet, cfg: &TrainConfig) -> CString {
    let categorical: Vec<String> = set
        .spec
        .categorical()
        .iter()
        .filter_map(|c| set.spec.names().iter().position(|n| n == c))
        .map(|i| i.to_string())
        .collect();
    let mut p = format!(
        "objective=binary metric=binary_logloss num_leaves={} learning_rate={} \
         min_data_in_leaf={} seed={} deterministic=true force_row_wise=true verbosity=-1 \
         categorical_feature={}",
        cfg.num_leaves,
        cfg.learning_rate,
        cfg.min_data_in_leaf,
        cfg.seed,
        categorical.join(",")
    );
    if cfg.threads > 0 {
        p.push_str(&format!(" num_threads={}", cfg.threads));
    }
    CString::new(p).unwrap_or_default()
}

fn window(set: &TrainingSet, r: &Range<usize>) -> WindowCount {
    WindowCount {
        rows: r.len(),
        clicks: set.clicks(r),
    }
}

/// Trains, calibrates and measures a model on `set`; `progress` hears each boosting round
/// (round, most rounds). The model is not judged against floors here: see [`Metrics::below`].
pub fn train(
    set: &TrainingSet,
    cfg: &TrainConfig,
    version: &str,
    progress: &mut dyn FnMut(u32, u32),
) -> Result<Trained, TrainError> {
    let split = set.split();
    for (name, r) in [
        ("train", &split.train),
        ("validation", &split.valid),
        ("calibration", &split.calibration),
        ("test", &split.test),
    ] {
        let clicks = set.clicks(r);
        if clicks == 0 || clicks == r.len() {
            return Err(TrainError::NotEnoughData(format!(
                "the {name} window has {} rows and {clicks} clicks; it needs both clicks and non-clicks \
                 ({} rows in all)",
                r.len(),
                set.len()
            )));
        }
    }
    let p = params(set, cfg);
    let (train_x, train_y) = sample_negatives(set, &split.train, cfg);
    let train_ds = dataset(set, &train_x, &train_y, &p, None)?;
    drop((train_x, train_y));
    let valid_ds = dataset(
        set,
        set.rows(&split.valid),
        &set.y[split.valid.clone()],
        &p,
        Some(&train_ds),
    )?;
    let mut handle: sys::BoosterHandle = std::ptr::null_mut();
    // SAFETY: both datasets live until the booster is dropped (declared after them, so
    // dropped first).
    let booster = unsafe {
        check(sys::LGBM_BoosterCreate(train_ds.0, p.as_ptr(), &mut handle))?;
        let b = Booster(handle);
        check(sys::LGBM_BoosterAddValidData(b.0, valid_ds.0))?;
        b
    };
    let (mut best, mut best_round, mut since, mut last) = (f64::INFINITY, 0u32, 0u32, 0u32);
    for round in 1..=cfg.num_iterations {
        let mut finished: c_int = 0;
        let mut out_len: c_int = 0;
        let mut eval = [0f64; 4];
        // SAFETY: one metric is configured, so GetEval writes one value into `eval`.
        unsafe {
            check(sys::LGBM_BoosterUpdateOneIter(booster.0, &mut finished))?;
            check(sys::LGBM_BoosterGetEval(
                booster.0,
                1,
                &mut out_len,
                eval.as_mut_ptr(),
            ))?;
        }
        progress(round, cfg.num_iterations);
        last = round;
        if eval[0] < best {
            (best, best_round, since) = (eval[0], round, 0);
        } else {
            since += 1;
        }
        let stop = cfg.early_stopping_rounds > 0 && since >= cfg.early_stopping_rounds;
        if finished != 0 || stop {
            break;
        }
    }
    if cfg.early_stopping_rounds == 0 {
        best_round = last;
    }
    let model_text = save(&booster, best_round)?;
    let importance = importance(&booster, best_round, set)?;
    drop(booster);

    // Read back with Endcap's predictor: what serving will compute.
    let gbdt = Gbdt::parse(&model_text)?;
    let width = set.width();
    let predict = |r: &Range<usize>| {
        let mut out = Vec::with_capacity(r.len());
        gbdt.predict_batch(set.rows(r), width, &mut out);
        out
    };
    let cal_p = predict(&split.calibration);
    let calibration = Platt::fit(&cal_p, &set.y[split.calibration.clone()]);
    let test_y = &set.y[split.test.clone()];
    let raw = predict(&split.test);
    let calibrated: Vec<f64> = raw.iter().map(|p| calibration.apply(*p)).collect();
    let prior = PriorCtr.predict(&set.features[split.test.clone()]);
    let metrics = Metrics {
        train: window(set, &split.train),
        valid: window(set, &split.valid),
        calibration: window(set, &split.calibration),
        test: window(set, &split.test),
        unreadable_rows: set.unreadable,
        trees: gbdt.trees(),
        auc: auc(&calibrated, test_y),
        prior_auc: auc(&prior, test_y),
        log_loss_uncalibrated: log_loss(&raw, test_y),
        log_loss: log_loss(&calibrated, test_y),
        prior_log_loss: log_loss(&prior, test_y),
        calibration_error: calibration_error(&calibrated, test_y),
        calibration_table: calibration_table(&calibrated, test_y),
        feature_importance: importance,
    };
    let manifest = Manifest {
        version: version.to_string(),
        feature_spec: set.spec.version().to_string(),
        calibration: Some(calibration),
        metrics: serde_json::to_value(&metrics).ok(),
        history: set.history(),
    };
    Ok(Trained {
        model_text,
        manifest,
        metrics,
    })
}

/// The training window with a `negative_rate` share of its non-clicks (chosen by a seeded
/// hash of the row, so the same set and seed give the same sample).
fn sample_negatives(
    set: &TrainingSet,
    r: &Range<usize>,
    cfg: &TrainConfig,
) -> (Vec<f64>, Vec<bool>) {
    let rate = cfg.negative_rate.clamp(0.0, 1.0);
    let width = set.width();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in r.clone() {
        let keep = set.y[i] || rate >= 1.0 || {
            let h =
                endcap_core::fnv1a64(&[cfg.seed.to_le_bytes(), (i as u64).to_le_bytes()].concat());
            ((h >> 11) as f64 / (1u64 << 53) as f64) < rate
        };
        if keep {
            x.extend_from_slice(&set.x[i * width..(i + 1) * width]);
            y.push(set.y[i]);
        }
    }
    (x, y)
}

fn save(booster: &Booster, rounds: u32) -> Result<String, TrainError> {
    let mut len: i64 = 0;
    let mut buf: Vec<u8> = vec![0; 1 << 20];
    // LightGBM writes at most `buffer_len` bytes and reports the length it needs: a second
    // call with a buffer that large gets the whole text.
    for _ in 0..2 {
        // SAFETY: `buf` holds `buf.len()` writable bytes.
        unsafe {
            check(sys::LGBM_BoosterSaveModelToString(
                booster.0,
                0,
                rounds as c_int,
                0,
                buf.len() as i64,
                &mut len,
                buf.as_mut_ptr() as *mut c_char,
            ))?;
        }
        if len as usize <= buf.len() {
            break;
        }
        buf = vec![0; len as usize];
    }
    let text = CStr::from_bytes_until_nul(&buf)
        .map_err(|e| TrainError::LightGbm(format!("model text: {e}")))?;
    Ok(text.to_string_lossy().into_owned())
}

fn importance(
    booster: &Booster,
    rounds: u32,
    set: &TrainingSet,
) -> Result<Vec<(String, f64)>, TrainError> {
    let mut gains = vec![0f64; set.width()];
    // SAFETY: one value per feature is written into `gains`.
    unsafe {
        check(sys::LGBM_BoosterFeatureImportance(
            booster.0,
            rounds as c_int,
            sys::C_API_FEATURE_IMPORTANCE_GAIN as c_int,
            gains.as_mut_ptr(),
        ))?;
    }
    let mut out: Vec<(String, f64)> = set
        .spec
        .names()
        .iter()
        .map(|n| n.to_string())
        .zip(gains)
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(out)
}
