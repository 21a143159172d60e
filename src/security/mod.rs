//! Security primitives with no HTTP in them: password hashing, random tokens,
//! CSRF tokens,
//! brute-force arithmetic and the shared rate limiter.
pub mod csrf;
pub mod limiter;
pub mod lockout;
pub mod password;
pub mod token;
pub mod totp;
