//! Security primitives with no HTTP in them: password hashing, random tokens,
//! CSRF tokens, and the tamper-evident audit log.
pub mod audit;
pub mod csrf;
pub mod password;
pub mod token;
pub mod totp;
