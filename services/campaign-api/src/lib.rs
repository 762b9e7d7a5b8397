//! Endcap's advertiser API: the wiring of HTTP routes onto the campaign store. Handlers
//! parse, check the caller's access, call `endcap-store` / `endcap-core`, and serialize.

pub mod config;
pub mod openapi;
mod routes;
mod startup;

pub use startup::{AppState, Application};
