//! Security primitives with no HTTP in them: password hashing, random tokens,
//! CSRF tokens.
pub mod csrf;
pub mod password;
pub mod token;
pub mod totp;
