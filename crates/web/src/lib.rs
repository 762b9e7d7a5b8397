//! HTTP plumbing shared by Endcap's services.
//!
//! Owns the error envelope every endpoint answers with (`{"error","field","message"}`),
//! extractors that turn malformed JSON or query strings into that envelope with the
//! offending field named, the middleware that gives each request an id, a tracing span and
//! Prometheus metrics, and the tracing set-up. It starts no servers and reads no environment.
#![warn(missing_docs)]

mod auth;
pub mod config;
mod error;
mod extract;
mod observe;

pub use auth::{authenticate, bearer_token};
pub use error::ApiError;
pub use extract::{parse_json, JsonBody, ValidQuery, MAX_JSON_BYTES};
pub use observe::{init_tracing, metrics_server, HttpMetrics, Observe, RequestId};
