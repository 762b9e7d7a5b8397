//! Black-box tests of the campaign API: each test starts the service on a random port
//! against a fresh SQLite file and again against a fresh database on the real PostgreSQL.
//! One test binary (fast to link on small machines).

mod helpers;

mod access;
mod bids;
mod binary;
mod contract;
mod crud;
mod idempotency;
mod operations;
mod reports;
mod rtb_fields;
mod search_terms;
mod uploads;
mod validation;
