//! Security primitives with no HTTP in them: password hashing, random tokens,
//! CSRF tokens, brute-force arithmetic and the shared rate limiter, client
//! addresses behind proxies, and IP rules.
pub mod client_ip;
pub mod csrf;
pub mod ip_policy;
pub mod ip_rules;
pub mod limiter;
pub mod lockout;
pub mod password;
pub mod token;
pub mod totp;
