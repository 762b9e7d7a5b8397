//! The model a serving process scores with, swapped whole when a new artifact loads, and
//! the artifact directory it loads from.
//!
//! An artifact is a directory holding `model.txt` (a LightGBM text model) and `model.json`
//! (`{"version": "...", "feature_spec": "ctr-features-v1"}`); `model.json` is read last, so
//! writers put `model.txt` first and `model.json` last (rename into place).

use crate::{CtrModel, GbdtModel, ModelError};
use arc_swap::ArcSwap;
use serde::Deserialize;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

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
}

impl ModelSlot {
    /// A slot holding `model` at `version`.
    pub fn new(model: Arc<dyn CtrModel>, version: &str) -> Self {
        Self {
            current: ArcSwap::from_pointee(ActiveModel {
                model,
                version: version.to_string(),
            }),
            loads: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    version: String,
    feature_spec: String,
}

/// Reads and checks the artifact in `dir`: the manifest, the model text, the model bound to
/// its feature spec.
pub fn load_artifact(dir: &Path) -> Result<GbdtModel, ModelError> {
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .map_err(|e| ModelError::Format(format!("{}: {e}", dir.join(name).display())))
    };
    let manifest: Manifest = serde_json::from_str(&read("model.json")?)
        .map_err(|e| ModelError::Format(format!("model.json: {e}")))?;
    if manifest.version.trim().is_empty() {
        return Err(ModelError::Format("model.json: version is empty".into()));
    }
    GbdtModel::load(
        &read("model.txt")?,
        &manifest.feature_spec,
        manifest.version.trim(),
    )
}

/// When the artifact in `dir` last changed (either file), to notice a new one; `None` when
/// there is none.
pub fn artifact_stamp(dir: &Path) -> Option<(SystemTime, SystemTime, u64, u64)> {
    let m = std::fs::metadata(dir.join("model.json")).ok()?;
    let t = std::fs::metadata(dir.join("model.txt")).ok()?;
    Some((m.modified().ok()?, t.modified().ok()?, m.len(), t.len()))
}
