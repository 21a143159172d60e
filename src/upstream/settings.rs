//! One `[upstream.<id>]` table resolved into what the protocol code needs:
//! the kind's defaults filled in (endpoints, scopes, claim mapping), the
//! secret read (inline or from `client_secret_file`) and the cross-field rules
//! checked. Runs once at startup; no network.
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::Error;
use crate::config::{UpstreamConfig, UpstreamKind};

const GOOGLE_ISSUER: &str = "https://accounts.google.com";
const FACEBOOK_AUTHORIZE: &str = "https://www.facebook.com/v19.0/dialog/oauth";
const FACEBOOK_TOKEN: &str = "https://graph.facebook.com/v19.0/oauth/access_token";
const FACEBOOK_ME: &str = "https://graph.facebook.com/v19.0/me?fields=id,name,email";
const TWITTER_AUTHORIZE: &str = "https://x.com/i/oauth2/authorize";
const TWITTER_TOKEN: &str = "https://api.x.com/2/oauth2/token";
const TWITTER_ME: &str = "https://api.x.com/2/users/me";

/// How the client authenticates at the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenAuth {
    /// HTTP Basic with the url-encoded id and secret (`client_secret_basic`).
    Basic,
    /// `client_id` and `client_secret` in the form body (`client_secret_post`).
    Post,
    /// A public client: `client_id` in the body, PKCE is the only proof.
    None,
}

/// Which protocol the provider speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// OpenID Connect: discovery from this issuer (exact string, the `iss`
    /// the ID tokens must carry), ID token verified through the JWKS.
    Oidc { issuer: String },
    /// Plain OAuth2: the identity comes from the userinfo endpoint.
    OAuth2,
}

/// Where each identity field is read from: dotted JSON paths, tried in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mapping {
    pub subject: Vec<String>,
    pub email: Vec<String>,
    pub email_verified: Vec<String>,
    pub name: Vec<String>,
    pub username: Vec<String>,
}

/// A provider's resolved settings. `Debug` shows no secret (SecretString).
#[derive(Debug)]
pub(crate) struct Settings {
    pub client_id: String,
    pub secret: Option<SecretString>,
    pub protocol: Protocol,
    /// Fixed endpoints (OAuth2 kinds), or overrides of what discovery says.
    pub authorization_url: Option<Url>,
    pub token_url: Option<Url>,
    pub userinfo_url: Option<Url>,
    pub scopes: Vec<String>,
    pub mapping: Mapping,
    pub trust_email: bool,
    /// Token endpoint authentication for the OAuth2 kinds (the OIDC kinds
    /// read it from the provider metadata).
    pub token_auth: TokenAuth,
}

fn url(s: &str) -> Result<Url, Error> {
    Url::parse(s).map_err(|e| Error::Config(format!("built-in URL {s}: {e}")))
}

fn paths(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// A `*_claim` override replaces the default paths.
fn claim(over: &Option<String>, default: &[&str]) -> Vec<String> {
    match over {
        Some(p) => vec![p.clone()],
        None => paths(default),
    }
}

/// The issuer as the exact string tokens carry: `Url` adds a `/` to a bare
/// host, which Google's `iss` (`https://accounts.google.com`) does not have.
pub(crate) fn issuer_string(issuer: &Url) -> String {
    let s = issuer.as_str();
    if issuer.path() == "/" && issuer.query().is_none() && issuer.fragment().is_none() {
        s.trim_end_matches('/').to_owned()
    } else {
        s.to_owned()
    }
}

/// Reads the secret: inline or from a file (trailing whitespace trimmed),
/// never both.
fn read_secret(id: &str, c: &UpstreamConfig) -> Result<Option<SecretString>, Error> {
    match (&c.client_secret, &c.client_secret_file) {
        (Some(_), Some(_)) => {
            Err(Error::Config(format!("upstream {id}: set client_secret or client_secret_file, not both")))
        }
        (Some(s), None) => {
            if s.expose_secret().trim().is_empty() {
                return Err(Error::Config(format!("upstream {id}: client_secret is empty")));
            }
            Ok(Some(s.clone()))
        }
        (None, Some(path)) => {
            // The error names the file, never its content.
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::Config(format!("upstream {id}: client_secret_file {}: {e}", path.display())))?;
            let secret = text.trim_end();
            if secret.is_empty() {
                return Err(Error::Config(format!("upstream {id}: client_secret_file {} is empty", path.display())));
            }
            Ok(Some(SecretString::from(secret.to_owned())))
        }
        (None, None) => Ok(None),
    }
}

impl Settings {
    /// Resolves one config table. Google and Facebook need a secret; the
    /// other kinds may run as a public client, since PKCE (always on) binds
    /// the code to this server's flow.
    pub(crate) fn from_config(id: &str, c: &UpstreamConfig) -> Result<Self, Error> {
        if c.client_id.trim().is_empty() {
            return Err(Error::Config(format!("upstream {id}: client_id is empty")));
        }
        let secret = read_secret(id, c)?;
        if secret.is_none() && matches!(c.kind, UpstreamKind::Google | UpstreamKind::Facebook) {
            return Err(Error::Config(format!("upstream {id}: this kind needs client_secret or client_secret_file")));
        }
        let auth_with_secret = |preferred: TokenAuth| if secret.is_some() { preferred } else { TokenAuth::None };
        let (protocol, auth, token, userinfo, scopes, mapping, token_auth) = match c.kind {
            UpstreamKind::Google | UpstreamKind::Oidc => {
                let issuer = match (&c.issuer, c.kind) {
                    (Some(i), _) => issuer_string(i),
                    (None, UpstreamKind::Google) => GOOGLE_ISSUER.to_owned(),
                    (None, _) => return Err(Error::Config(format!("upstream {id}: kind oidc needs issuer"))),
                };
                // The OIDC subject is always `sub` (with `iss`, the stable id;
                // OIDC Core §2), so subject_claim does not apply.
                let mapping = Mapping {
                    subject: paths(&["sub"]),
                    email: claim(&c.email_claim, &["email"]),
                    email_verified: claim(&c.email_verified_claim, &["email_verified"]),
                    name: claim(&c.name_claim, &["name"]),
                    username: claim(&c.username_claim, &["preferred_username"]),
                };
                let scopes = paths(&["openid", "email", "profile"]);
                (Protocol::Oidc { issuer }, None, None, None, scopes, mapping, TokenAuth::Basic)
            }
            UpstreamKind::Facebook => {
                let mapping = Mapping {
                    subject: claim(&c.subject_claim, &["id"]),
                    email: claim(&c.email_claim, &["email"]),
                    // Facebook sends no such claim: only trust_email verifies.
                    email_verified: claim(&c.email_verified_claim, &[]),
                    name: claim(&c.name_claim, &["name"]),
                    username: claim(&c.username_claim, &[]),
                };
                (
                    Protocol::OAuth2,
                    Some(url(FACEBOOK_AUTHORIZE)?),
                    Some(url(FACEBOOK_TOKEN)?),
                    Some(url(FACEBOOK_ME)?),
                    paths(&["email", "public_profile"]),
                    mapping,
                    // The Graph API token endpoint takes the secret as a parameter.
                    TokenAuth::Post,
                )
            }
            UpstreamKind::Twitter => {
                let mapping = Mapping {
                    subject: claim(&c.subject_claim, &["data.id"]),
                    email: claim(&c.email_claim, &[]),
                    email_verified: claim(&c.email_verified_claim, &[]),
                    name: claim(&c.name_claim, &["data.name"]),
                    username: claim(&c.username_claim, &["data.username"]),
                };
                (
                    Protocol::OAuth2,
                    Some(url(TWITTER_AUTHORIZE)?),
                    Some(url(TWITTER_TOKEN)?),
                    Some(url(TWITTER_ME)?),
                    paths(&["users.read", "tweet.read"]),
                    mapping,
                    auth_with_secret(TokenAuth::Basic),
                )
            }
            UpstreamKind::Oauth2 => {
                let need = |u: &Option<Url>, name: &str| {
                    u.clone().ok_or_else(|| Error::Config(format!("upstream {id}: kind oauth2 needs {name}")))
                };
                let (a, t, u) = (
                    need(&c.authorization_url, "authorization_url")?,
                    need(&c.token_url, "token_url")?,
                    need(&c.userinfo_url, "userinfo_url")?,
                );
                let mapping = Mapping {
                    // GitHub and Facebook call it `id` (a number), GitHub's
                    // handle is `login`.
                    subject: claim(&c.subject_claim, &["sub", "id"]),
                    username: claim(&c.username_claim, &["preferred_username", "login"]),
                    email: claim(&c.email_claim, &["email"]),
                    email_verified: claim(&c.email_verified_claim, &["email_verified"]),
                    name: claim(&c.name_claim, &["name"]),
                };
                (Protocol::OAuth2, Some(a), Some(t), Some(u), Vec::new(), mapping, auth_with_secret(TokenAuth::Basic))
            }
        };
        Ok(Self {
            client_id: c.client_id.clone(),
            secret,
            protocol,
            // Overrides win over the preset and over discovery.
            authorization_url: c.authorization_url.clone().or(auth),
            token_url: c.token_url.clone().or(token),
            userinfo_url: c.userinfo_url.clone().or(userinfo),
            scopes: c.scopes.clone().unwrap_or(scopes),
            mapping,
            trust_email: c.trust_email,
            token_auth,
        })
    }

    /// The `scope` parameter: space-separated (RFC 6749 §3.3).
    pub(crate) fn scope(&self) -> String {
        self.scopes.join(" ")
    }

    pub(crate) fn is_oidc(&self) -> bool {
        matches!(self.protocol, Protocol::Oidc { .. })
    }
}
