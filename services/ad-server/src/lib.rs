//! Endcap's ad server, as wiring: settings, the event sink, and HTTP handlers that verify
//! tracking tokens (`endcap-tracking`) and queue events (`endcap-events`).

pub mod config;
mod decisions;
pub mod index;
mod routes;
mod startup;

pub use startup::{AppState, Application, TrackingMetrics};
