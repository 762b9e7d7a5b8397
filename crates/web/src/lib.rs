//! HTTP plumbing shared by Endcap's services.
//!
//! Owns the error codes and their one code-to-status table, the error envelope every endpoint
//! answers with (`{"error","field","message"}`), the authenticated [`Caller`], extractors
//! that turn malformed JSON or query strings into that envelope with the offending field
//! named (and the one page query of every listing), what those mean for an OpenAPI document,
//! the middleware that gives each request an id, a tracing span and Prometheus metrics, and
//! the tracing set-up. It starts no servers and reads no environment.
#![warn(missing_docs)]

mod auth;
pub mod config;
mod error;
mod extract;
mod observe;
pub mod openapi;

pub use auth::{bearer_token, Caller};
pub use error::{error_envelope, no_such_route, ApiError, ErrorBody, ErrorCode};
pub use extract::{parse_json, JsonBody, NoFilter, PageQuery, ValidQuery, MAX_JSON_BYTES};
pub use observe::{init_tracing, metrics_server, HttpMetrics, Observe, RequestId};
