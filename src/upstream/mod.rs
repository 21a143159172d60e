//! Upstream identity providers (issue 7): sign-in through Google, Facebook,
//! Twitter/X, any OpenID provider (discovery) or any OAuth2 provider (claim
//! mapping). Protocol only, no axum and no storage: the HTTP layer keeps the
//! pending flow ([`Pending`]) bound to the browser and hands it back here at
//! the callback.
use std::collections::BTreeMap;
use std::sync::Arc;

use url::Url;

use crate::clock::Clock;
use crate::config::UpstreamConfig;

/// Why an upstream step failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration cannot work (bad id, missing secret, unreadable file).
    #[error("upstream config: {0}")]
    Config(String),
    /// The provider could not be reached or answered nonsense (discovery,
    /// JWKS, token or userinfo endpoint): a 502 page.
    #[error("upstream provider unavailable: {0}")]
    Unavailable(String),
    /// The provider's answer failed a check (signature, issuer, audience,
    /// nonce, expiry, missing subject): the sign-in is refused.
    #[error("upstream answer rejected: {0}")]
    Rejected(String),
}

/// Ids become a path segment: `/login/{id}`. These are taken by our own pages.
const RESERVED: &[&str] = &["mfa", "link"];

/// Checks a provider id: 1–32 of `a-z`, `0-9`, `-`, `_`, not a reserved word.
pub fn check_id(id: &str) -> Result<(), Error> {
    let ok = !id.is_empty()
        && id.len() <= 32
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !RESERVED.contains(&id);
    if ok { Ok(()) } else { Err(Error::Config(format!("upstream id {id:?}: use 1-32 of a-z 0-9 - _, not mfa or link"))) }
}

/// What the browser is sent to, and what must be kept until the callback.
pub struct Start {
    /// The provider's authorization URL with every parameter set.
    pub url: Url,
    pub pending: Pending,
}

/// The secrets of one started flow: kept server-side, bound to the browser,
/// used once.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Pending {
    /// The `state` parameter sent (compared by the HTTP layer, which looks the
    /// flow up by it).
    pub state: String,
    /// OIDC `nonce` (None for plain OAuth2).
    pub nonce: Option<String>,
    /// RFC 7636 code verifier.
    pub pkce_verifier: String,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").finish_non_exhaustive()
    }
}

/// Who the provider says signed in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    /// The provider id (config key).
    pub provider: String,
    /// The provider's stable user id (`sub`, Facebook `id`, Twitter `data.id`).
    pub subject: String,
    pub email: Option<String>,
    /// True only when the provider says so (`email_verified`), or the
    /// provider is configured with `trust_email`.
    pub email_verified: bool,
    pub name: Option<String>,
    /// A username suggestion (`preferred_username`, Twitter `username`, …).
    pub username: Option<String>,
}

/// One configured provider.
pub struct Provider {
    id: String,
    display_name: String,
    #[allow(dead_code)]
    config: UpstreamConfig,
}

impl Provider {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn display_name(&self) -> &str {
        &self.display_name
    }

    /// Builds the authorization request: fresh state, nonce (OIDC) and PKCE
    /// (S256), redirecting back to `redirect_uri`. May fetch discovery.
    pub async fn start(&self, redirect_uri: &Url) -> Result<Start, Error> {
        let _ = redirect_uri;
        todo!()
    }

    /// Redeems `code` and returns the verified identity. OIDC: ID-token
    /// signature (JWKS), `iss`, `aud`/`azp`, `nonce`, `exp`/`iat` against the
    /// Clock. OAuth2: the token, then the userinfo endpoint and the claim
    /// mapping.
    pub async fn finish(&self, redirect_uri: &Url, code: &str, pending: &Pending) -> Result<Identity, Error> {
        let _ = (redirect_uri, code, pending);
        todo!()
    }
}

/// Every configured provider, in id order.
#[derive(Clone, Default)]
pub struct Providers {
    by_id: Arc<BTreeMap<String, Provider>>,
}

impl Providers {
    /// Builds the providers from config (reads `client_secret_file`). Makes
    /// no network call: discovery happens at first use and is cached.
    pub fn from_config(config: &BTreeMap<String, UpstreamConfig>, clock: Arc<dyn Clock>) -> Result<Self, Error> {
        let _ = clock;
        let mut by_id = BTreeMap::new();
        for (id, c) in config {
            check_id(id)?;
            let display_name = c.display_name.clone().unwrap_or_else(|| id.clone());
            by_id.insert(id.clone(), Provider { id: id.clone(), display_name, config: c.clone() });
        }
        Ok(Self { by_id: Arc::new(by_id) })
    }

    pub fn get(&self, id: &str) -> Option<&Provider> {
        self.by_id.get(id)
    }

    /// All providers, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Provider> {
        self.by_id.values()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}
