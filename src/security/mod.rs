//! Security primitives with no HTTP in them: password hashing, the password
//! policy and its breached-password list, random tokens, CSRF tokens,
//! brute-force arithmetic and the shared rate limiter, client addresses behind
//! proxies, IP rules, TOTP, and the tamper-evident audit log.
//!
//! Owns: the primitives and their arithmetic, and the audit log's chain and
//! its [`audit::Context`]. Must not import: `accounts`, `oauth`, `http`,
//! `cli`, `mail`, axum.
pub mod audit;
pub mod audit_log;
pub mod breached;
pub mod client_ip;
pub mod csrf;
pub mod hash_pool;
pub mod ip_denials;
pub mod ip_policy;
pub mod ip_rules;
pub mod limiter;
pub mod lockout;
pub mod password;
pub mod policy;
pub mod stats;
pub mod token;
pub mod totp;
