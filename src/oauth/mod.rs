//! The OAuth 2.0 / OpenID Connect protocol engine. No axum in here: functions
//! take plain types and a `now`, and return protocol errors.
pub mod clients;
pub mod error;
pub mod pkce;
pub mod request;
pub mod tokens;

pub use error::{ErrorCode, OAuthError};
