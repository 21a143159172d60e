//! The OAuth 2.0 / OpenID Connect protocol engine. Must not import axum,
//! `accounts`, `http` or `cli`, and no store rows leave it: services hand out domain types ([`clients::Client`],
//! [`scope::Scope`], token responses). Pure functions take `now: i64`; the
//! services' public entry points read the `Clock` once per call and pass
//! that `now` down.
//!
//! ```text
//! request.rs    authorization request validation (RFC 6749 §4.1.1, OIDC §3.1.2)
//! authorize.rs  the /authorize decision: sign in, consent, issue, refuse
//! logout.rs     the RP-initiated logout target (post_logout_redirect_uri)
//! scope.rs      the Scope set, the one space-delimited parser
//! clients/      the Clients service and the domain Client
//! tokens/       codes, grants, minting, revocation, consent, introspection
//! pkce.rs       RFC 7636 S256
//! error.rs      wire error codes, GrantError
//! ```
pub mod authorize;
pub mod clients;
pub mod error;
pub mod logout;
pub mod pkce;
pub mod request;
pub mod scope;
pub mod tokens;

pub use error::{ErrorCode, GrantError, OAuthError};
