//! OAuth 2.0 / OpenID Connect error codes as sent on the wire: RFC 6749
//! §4.1.2.1 and §5.2, RFC 6750 §3.1, RFC 7009 §2.2.1, OIDC Core §3.1.2.6.
//! `Display` gives exactly the code; the HTTP layer picks statuses.
//! [`GrantError`] is what the token services return: a wire error for the
//! client, or an internal failure that never reaches the wire as such.
use std::borrow::Cow;

use crate::{keys, store};

/// Failures of a grant: a protocol error for the client, or an internal one.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    #[error("storage failed")]
    Store(#[from] store::Error),
    #[error("signing failed")]
    Keys(#[from] keys::Error),
}

impl GrantError {
    /// RFC 6749 §5.2 `invalid_grant` with a description.
    pub fn invalid_grant(why: &'static str) -> Self {
        Self::OAuth(OAuthError::new(ErrorCode::InvalidGrant, why))
    }

    /// RFC 6750 §3.1 `invalid_token` with a description.
    pub fn invalid_token(why: &'static str) -> Self {
        Self::OAuth(OAuthError::new(ErrorCode::InvalidToken, why))
    }
}

/// A wire error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    ServerError,
    TemporarilyUnavailable,
    InvalidToken,
    /// RFC 6750 §3.1: the token is valid but lacks a scope the resource needs.
    InsufficientScope,
    UnsupportedTokenType,
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    RequestNotSupported,
    RequestUriNotSupported,
}

impl ErrorCode {
    /// The code as registered.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
        }
    }
}

/// A protocol error: a code and an optional human-readable description
/// (RFC 6749 §5.2: ASCII, no `"` or `\`; never secrets or internals).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", code.as_str())]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: Option<Cow<'static, str>>,
}

impl OAuthError {
    /// An error with a description.
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self { code, description: Some(description.into()) }
    }

    /// `invalid_request` with a description.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// The description made safe for the wire (RFC 6749 §5.2 character set).
    pub fn wire_description(&self) -> Option<String> {
        self.description.as_ref().map(|d| {
            d.chars().map(|c| if (' '..='~').contains(&c) && c != '"' && c != '\\' { c } else { '?' }).collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_exactly_the_wire_code() {
        assert_eq!(OAuthError::invalid_request("x").to_string(), "invalid_request");
        assert_eq!(OAuthError::new(ErrorCode::InvalidGrant, "y").to_string(), "invalid_grant");
    }

    #[test]
    fn descriptions_keep_to_the_rfc_6749_5_2_character_set() {
        let e = OAuthError::invalid_request("bad \"quote\" \\ and é");
        assert_eq!(e.wire_description().unwrap(), "bad ?quote? ? and ?");
    }
}
