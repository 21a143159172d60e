//! Security primitives with no HTTP in them: password hashing, the password
//! policy and its breached-password list, random tokens, CSRF tokens.
pub mod breached;
pub mod csrf;
pub mod password;
pub mod policy;
pub mod token;
