//! The token request (RFC 6749 §3.2), parsed once from the form parameters
//! into one typed value per grant: §4.1.3 (authorization code), §6
//! (refresh), §4.4 (client credentials), §4.3 (resource-owner password). A missing `grant_type` or a
//! missing required parameter is `invalid_request`, a grant type we do not
//! implement `unsupported_grant_type` (§5.2). Pure; no I/O.
use secrecy::{ExposeSecret, SecretString};

use crate::oauth::clients::GrantType;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::request::Params;
use crate::oauth::scope::Scope;

/// What the client asks the token endpoint for.
#[derive(Clone, PartialEq, Eq)]
pub enum TokenRequest {
    /// RFC 6749 §4.1.3 (with RFC 7636 §4.5 `code_verifier`).
    AuthorizationCode { code: String, redirect_uri: Option<String>, verifier: Option<String> },
    /// RFC 6749 §6; `scope` may narrow what was granted.
    RefreshToken { token: String, scope: Option<Scope> },
    /// RFC 6749 §4.4.
    ClientCredentials { scope: Option<Scope> },
    /// RFC 6749 §4.3: the user's own credentials. The token endpoint checks
    /// the client ([`Tokens::password_client`](super::Tokens::password_client)),
    /// then the account (`accounts`), then mints
    /// ([`Tokens::password_tokens`](super::Tokens::password_tokens)).
    Password(PasswordRequest),
}

/// The parameters of a password grant request (RFC 6749 §4.3.2).
pub struct PasswordRequest {
    pub username: String,
    pub password: SecretString,
    pub scope: Option<Scope>,
}

impl Clone for PasswordRequest {
    fn clone(&self) -> Self {
        let password = SecretString::from(self.password.expose_secret().to_owned());
        Self { username: self.username.clone(), password, scope: self.scope.clone() }
    }
}

impl PartialEq for PasswordRequest {
    fn eq(&self, other: &Self) -> bool {
        self.username == other.username
            && self.scope == other.scope
            && self.password.expose_secret() == other.password.expose_secret()
    }
}

impl Eq for PasswordRequest {}

impl std::fmt::Debug for TokenRequest {
    // Codes, verifiers and refresh tokens are secrets: only the grant type shows.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRequest").field("grant_type", &self.grant_type().as_str()).finish_non_exhaustive()
    }
}

impl TokenRequest {
    /// Parses the token endpoint's parameters (each at most once already).
    /// Requested scopes are taken as words: a token that is not granted (or
    /// not allowed) is refused by the grant with `invalid_scope`.
    pub fn parse(params: &Params) -> Result<Self, OAuthError> {
        let owned = |name| params.get(name).map(str::to_owned);
        let scope = params.get("scope").map(Scope::words);
        let grant = match params.get("grant_type") {
            None => return Err(OAuthError::invalid_request("grant_type is missing")),
            Some(name) => GrantType::parse(name)
                .ok_or_else(|| OAuthError::new(ErrorCode::UnsupportedGrantType, "unsupported grant_type"))?,
        };
        Ok(match grant {
            GrantType::AuthorizationCode => Self::AuthorizationCode {
                code: owned("code").ok_or_else(|| OAuthError::invalid_request("code is missing"))?,
                redirect_uri: owned("redirect_uri"),
                verifier: owned("code_verifier"),
            },
            GrantType::RefreshToken => Self::RefreshToken {
                token: owned("refresh_token").ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?,
                scope,
            },
            GrantType::ClientCredentials => Self::ClientCredentials { scope },
            GrantType::Password => Self::Password(PasswordRequest {
                username: owned("username").ok_or_else(|| OAuthError::invalid_request("username is missing"))?,
                password: SecretString::from(
                    owned("password").ok_or_else(|| OAuthError::invalid_request("password is missing"))?,
                ),
                scope,
            }),
        })
    }

    /// The grant this request is for.
    pub fn grant_type(&self) -> GrantType {
        match self {
            Self::AuthorizationCode { .. } => GrantType::AuthorizationCode,
            Self::RefreshToken { .. } => GrantType::RefreshToken,
            Self::ClientCredentials { .. } => GrantType::ClientCredentials,
            Self::Password(_) => GrantType::Password,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<TokenRequest, OAuthError> {
        TokenRequest::parse(&Params::from_pairs(pairs.iter().copied()).unwrap())
    }

    #[test]
    fn each_grant_parses_into_its_own_request_rfc_6749_4_1_3_6_4_4() {
        let code = parse(&[("grant_type", "authorization_code"), ("code", "c"), ("redirect_uri", "https://a/cb")]);
        assert_eq!(
            code.unwrap(),
            TokenRequest::AuthorizationCode {
                code: "c".into(),
                redirect_uri: Some("https://a/cb".into()),
                verifier: None
            }
        );
        let refresh = parse(&[("grant_type", "refresh_token"), ("refresh_token", "r"), ("scope", "openid  email")]);
        let TokenRequest::RefreshToken { token, scope } = refresh.unwrap() else { panic!("not a refresh") };
        assert_eq!((token.as_str(), scope.unwrap().to_string()), ("r", "openid email".to_owned()));
        assert_eq!(
            parse(&[("grant_type", "client_credentials")]).unwrap(),
            TokenRequest::ClientCredentials { scope: None }
        );
    }

    #[test]
    fn missing_or_unknown_grants_get_the_rfc_6749_5_2_codes() {
        assert_eq!(parse(&[]).unwrap_err().code, ErrorCode::InvalidRequest);
        assert_eq!(parse(&[("grant_type", "implicit")]).unwrap_err().code, ErrorCode::UnsupportedGrantType);
        let no_code = parse(&[("grant_type", "authorization_code")]).unwrap_err();
        assert_eq!(
            (no_code.code, no_code.description.as_deref()),
            (ErrorCode::InvalidRequest, Some("code is missing"))
        );
        assert_eq!(parse(&[("grant_type", "refresh_token")]).unwrap_err().code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn debug_never_shows_the_secrets() {
        let r = parse(&[("grant_type", "refresh_token"), ("refresh_token", "very-secret")]).unwrap();
        assert!(!format!("{r:?}").contains("very-secret"));
        let p = parse(&[("grant_type", "password"), ("username", "alice"), ("password", "very-secret")]).unwrap();
        assert!(!format!("{p:?}").contains("very-secret"));
    }

    #[test]
    fn the_password_grant_needs_username_and_password_rfc_6749_4_3_2() {
        let p = parse(&[("grant_type", "password"), ("username", "alice"), ("password", "pw"), ("scope", "openid")]);
        let TokenRequest::Password(p) = p.unwrap() else { panic!("not a password request") };
        assert_eq!((p.username.as_str(), p.password.expose_secret()), ("alice", "pw"));
        assert_eq!(p.scope.unwrap().to_string(), "openid");
        for missing in
            [&[("grant_type", "password"), ("username", "a")][..], &[("grant_type", "password"), ("password", "p")]]
        {
            assert_eq!(parse(missing).unwrap_err().code, ErrorCode::InvalidRequest);
        }
    }
}
