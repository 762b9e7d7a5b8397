//! Endcap's click-through model.
//!
//! [`CtrModel`] is what the auction scores candidates with ([`PriorCtr`] until a trained model
//! is loaded). [`Gbdt`] reads a LightGBM text model and scores rows in Rust, with LightGBM's
//! split, missing-value and default-left rules, so that serving needs no C++ booster (not
//! `Send`, and a global lock on its single-row path). [`FeatureSpec`] is the one function
//! from a candidate's [`Features`] to model columns, for training and serving alike;
//! [`GbdtModel`] binds a model to its spec, and [`ModelSlot`] swaps models while serving.
//! [`Beta`] is the empirical-Bayes cold start and Thompson draw, [`explore`] the bounded
//! exploration share, and [`ServingModel`] puts them together for the auction.
//! [`TrainingSet`] turns the decision log into training rows; [`Platt`] calibrates; the
//! [`metrics`] judge a model on rows it never saw; with the `train` feature, [`train`]
//! fits a model with LightGBM and makes an artifact.
#![warn(missing_docs)]

mod calibrate;
mod cold;
mod dataset;
mod gbdt;
mod loaded;
pub mod metrics;
mod model;
mod score_cache;
mod serve;
mod slot;
mod spec;
#[cfg(feature = "train")]
pub mod train;

pub use calibrate::Platt;
pub use cold::{explore, Beta, Counts};
pub use dataset::{HistoryCount, Split, TrainingSet};
pub use gbdt::{Gbdt, ModelError};
pub use loaded::GbdtModel;
pub use model::{CtrModel, Features, History, HistoryView, NoHistory, PriorCtr, Scored};
pub use score_cache::{ScoreCache, SCORE_CACHE_SLOTS};
pub use serve::{ColdStart, ServingModel, UserActivity};
pub use slot::{
    artifact_stamp, load_artifact, write_artifact, ActiveModel, LoadedArtifact, Manifest,
    ModelSlot, COLD_START_VERSION,
};
pub use spec::{FeatureSpec, REFERENCE_POSITION, SPEC_V1, SPEC_V2, SPEC_V3};
