//! Endcap's click-through model.
//!
//! [`Gbdt`] reads a LightGBM text model and scores rows in Rust, with LightGBM's split,
//! missing-value and default-left rules, so that serving needs no C++ booster (not `Send`,
//! and a global lock on its single-row path). Not built yet (issue 9 continues): the feature
//! specification shared by training and serving, training with lightgbm3, calibration, the
//! cold-start prior and exploration, hot reload in the ad server.
#![warn(missing_docs)]

mod gbdt;

pub use gbdt::{Gbdt, ModelError};
