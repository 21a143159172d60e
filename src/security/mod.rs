//! Security primitives with no HTTP in them: password hashing, random tokens,
//! CSRF tokens, client addresses behind proxies, and IP rules.
pub mod client_ip;
pub mod csrf;
pub mod ip_policy;
pub mod ip_rules;
pub mod password;
pub mod token;
