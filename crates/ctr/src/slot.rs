//! The model a serving process scores with, swapped whole when a new artifact loads, and
//! the artifact directory it loads from.
//!
//! An artifact is a directory holding `model.txt` (a LightGBM text model) and `model.json`
//! ([`Manifest`]: version, feature spec, calibration, metrics, the training window's counts
//! per line item and placement); `model.json` is read last, so writers put `model.txt` first
//! and `model.json` last, each renamed into place.

use crate::{
    ColdStart, CtrModel, GbdtModel, HistoryCount, HistoryView, ModelError, Platt, ServingModel,
    UserActivity,
};
use arc_swap::ArcSwap;
use endcap_core::{AdvertiserId, LineItemId};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

/// The version a serving process reports before any trained model loads.
pub const COLD_START_VERSION: &str = "cold-start-v1";

/// The model in use and its version.
pub struct ActiveModel {
    /// Scores candidates.
    pub model: Arc<dyn CtrModel>,
    /// Its version, logged with each decision and shown in metrics.
    pub version: String,
}

/// The active model, swapped atomically; requests never wait for a load.
pub struct ModelSlot {
    current: ArcSwap<ActiveModel>,
    loads: AtomicU64,
    refused: AtomicU64,
    cold: Arc<ColdStart>,
    users: UserActivity,
    explore_share: f64,
}

impl HistoryView for ModelSlot {
    fn line_item(&self, line_item: LineItemId, placement: &str) -> (u64, u64) {
        let c = self.cold.counts(line_item, placement);
        (c.impressions, c.clicks)
    }

    fn user(&self, user_key: &str, advertiser: AdvertiserId, now_ms: i64) -> (u32, u32) {
        self.users.recent(user_key, advertiser, now_ms)
    }
}

impl ModelSlot {
    /// A slot holding `model` at `version` (no cold start around it: for tests and tools).
    pub fn new(model: Arc<dyn CtrModel>, version: &str) -> Self {
        Self {
            current: ArcSwap::from_pointee(ActiveModel {
                model,
                version: version.to_string(),
            }),
            loads: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            cold: Arc::new(ColdStart::new()),
            users: UserActivity::default(),
            explore_share: 0.0,
        }
    }

    /// Counts a tracked impression or click (not test traffic): the cold start's counts of
    /// the line item on its placement, and the user's activity with the advertiser.
    pub fn record(&self, x: &endcap_core::Exposure, now_ms: i64, click: bool) {
        self.cold.record(x.line_item_id, &x.placement, click);
        self.users
            .record(&x.user_key, x.advertiser_id, now_ms, click);
    }

    /// A serving slot: the cold start until an artifact is installed, exploring on at most
    /// `explore_share` (capped at 5%) of slots.
    pub fn serving(explore_share: f64) -> Self {
        let cold = Arc::new(ColdStart::new());
        let model = ServingModel::new(None, cold.clone(), explore_share);
        let mut slot = Self::new(Arc::new(model), COLD_START_VERSION);
        slot.cold = cold;
        slot.explore_share = explore_share;
        slot
    }

    /// The cold start's counts (impressions and clicks feed it; a timer refits it).
    pub fn cold(&self) -> &Arc<ColdStart> {
        &self.cold
    }

    /// Puts a loaded artifact in use: the cold start restarts from its history, and the
    /// trained model scores the line items it knows.
    pub fn install(&self, artifact: LoadedArtifact) {
        let version = artifact.model.version().to_string();
        self.cold.reset(&artifact.history);
        let model = ServingModel::new(Some(artifact.model), self.cold.clone(), self.explore_share);
        self.swap(Arc::new(model), &version);
    }

    /// The model in use now (a request keeps the one it started with).
    pub fn get(&self) -> Arc<ActiveModel> {
        self.current.load_full()
    }

    /// Puts a newly loaded model in use.
    pub fn swap(&self, model: Arc<dyn CtrModel>, version: &str) {
        self.current.store(Arc::new(ActiveModel {
            model,
            version: version.to_string(),
        }));
        self.loads.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an artifact that was refused (the model in use stays).
    pub fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Prometheus lines: the version in use, loads and refusals.
    pub fn render(&self) -> String {
        let version = self.get().version.replace(['"', '\\', '\n'], "_");
        format!(
            "# TYPE endcap_model_info gauge\nendcap_model_info{{version=\"{version}\"}} 1\n\
             # TYPE endcap_model_loads_total counter\nendcap_model_loads_total {}\n\
             # TYPE endcap_model_refused_total counter\nendcap_model_refused_total {}\n",
            self.loads.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed)
        )
    }
}

/// `model.json`: what a model is and how it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The model's version (logged with each decision).
    pub version: String,
    /// The feature spec it reads.
    pub feature_spec: String,
    /// Calibration applied to its probabilities (none: the identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Platt>,
    /// Training and evaluation figures (for people; serving does not read them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<serde_json::Value>,
    /// Impressions and clicks per line item and placement in the training window: the
    /// line items the model knows, and the cold start's counts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<HistoryCount>,
}

/// A checked artifact, ready to serve.
pub struct LoadedArtifact {
    /// The model, calibrated and knowing its line items.
    pub model: GbdtModel,
    /// The training window's counts.
    pub history: Vec<HistoryCount>,
}

/// Writes an artifact into `dir` (created if missing): `model.txt`, then `model.json`, each
/// written aside and renamed into place so a watcher never reads half a file.
pub fn write_artifact(dir: &Path, model_text: &str, manifest: &Manifest) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_string_pretty(manifest).map_err(std::io::Error::other)?;
    for (name, body) in [("model.txt", model_text), ("model.json", json.as_str())] {
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, body)?;
        std::fs::rename(&tmp, dir.join(name))?;
    }
    Ok(())
}

/// Reads and checks the artifact in `dir`: the manifest, the model text, the model bound to
/// its feature spec, with its calibration and line items.
pub fn load_artifact(dir: &Path) -> Result<LoadedArtifact, ModelError> {
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .map_err(|e| ModelError::Format(format!("{}: {e}", dir.join(name).display())))
    };
    let manifest: Manifest = serde_json::from_str(&read("model.json")?)
        .map_err(|e| ModelError::Format(format!("model.json: {e}")))?;
    if manifest.version.trim().is_empty() {
        return Err(ModelError::Format("model.json: version is empty".into()));
    }
    if let Some(c) = manifest.calibration {
        // A fitted Platt scaling is near a = 1, b = 0; far outside, it would pin every pCTR
        // at 0 or 1 (and rank every CPC ad above every CPM ad, or below).
        if !(c.a > 0.0 && c.a <= 20.0 && c.b.abs() <= 20.0) {
            return Err(ModelError::Format(format!(
                "model.json: calibration {c:?} needs 0 < a <= 20 and |b| <= 20"
            )));
        }
    }
    if let Some(h) = manifest.history.iter().find(|h| h.clicks > h.impressions) {
        return Err(ModelError::Format(format!(
            "model.json: history of line item {} on {:?} has more clicks than impressions",
            h.line_item, h.placement
        )));
    }
    let model = GbdtModel::load(
        &read("model.txt")?,
        &manifest.feature_spec,
        manifest.version.trim(),
    )?
    .with_calibration(manifest.calibration.unwrap_or_default());
    let model = if manifest.history.is_empty() {
        model
    } else {
        model.with_trained_line_items(manifest.history.iter().map(|h| h.line_item))
    };
    Ok(LoadedArtifact {
        model,
        history: manifest.history,
    })
}

/// When the artifact in `dir` last changed (either file), to notice a new one; `None` when
/// there is none.
pub fn artifact_stamp(dir: &Path) -> Option<(SystemTime, SystemTime, u64, u64)> {
    let m = std::fs::metadata(dir.join("model.json")).ok()?;
    let t = std::fs::metadata(dir.join("model.txt")).ok()?;
    Some((m.modified().ok()?, t.modified().ok()?, m.len(), t.len()))
}
