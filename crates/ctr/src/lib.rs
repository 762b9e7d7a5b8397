//! Endcap's click-through model.
//!
//! [`CtrModel`] is what the auction scores candidates with ([`PriorCtr`] until a trained model
//! is loaded). [`Gbdt`] reads a LightGBM text model and scores rows in Rust, with LightGBM's
//! split, missing-value and default-left rules, so that serving needs no C++ booster (not
//! `Send`, and a global lock on its single-row path). [`FeatureSpec`] is the one function
//! from a candidate's [`Features`] to model columns, for training and serving alike;
//! [`GbdtModel`] binds a model to its spec, and [`ModelSlot`] swaps models while serving.
//! [`Beta`] is the empirical-Bayes cold start and Thompson draw, and [`explore`] the bounded
//! exploration share (not wired into serving yet). Not built yet (issue 9 continues):
//! training with lightgbm3, calibration.
#![warn(missing_docs)]

mod cold;
mod gbdt;
mod loaded;
mod model;
mod slot;
mod spec;

pub use cold::{explore, Beta, Counts};
pub use gbdt::{Gbdt, ModelError};
pub use loaded::GbdtModel;
pub use model::{CtrModel, Features, PriorCtr};
pub use slot::{artifact_stamp, load_artifact, ActiveModel, ModelSlot};
pub use spec::{FeatureSpec, REFERENCE_POSITION, SPEC_V1};
