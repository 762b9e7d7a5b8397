//! Endcap's ad server, as wiring: settings, the serving pipeline (`endcap-serving`) and
//! HTTP handlers that parse, call it once and serialize.

pub mod config;
mod routes;
mod startup;

pub use startup::{AppState, Application};
