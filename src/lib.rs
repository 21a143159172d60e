//! gatehouse: an OAuth 2.0 / OpenID Connect authorization server.
//!
//! The README's "Code map" names each module's job and what it must not
//! import; `tests/api/layers.rs` enforces it.
pub mod accounts;
pub mod app;
pub mod branding;
pub mod cli;
pub mod clock;
pub mod config;
pub mod http;
pub mod janitor;
pub mod keys;
pub mod mail;
pub mod metrics;
pub mod oauth;
pub mod security;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod upstream;
pub mod wire;

/// Property-based fuzzing of the parsers (tests only; see its docs).
#[cfg(test)]
mod fuzz;
