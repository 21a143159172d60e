//! Upstream identity providers (issue 7): sign-in through Google, Facebook,
//! Twitter/X, any OpenID provider (discovery) or any OAuth2 provider (claim
//! mapping). Protocol only, no axum and no storage: `accounts::linking`
//! keeps the pending flow ([`Pending`]) bound to the browser and hands it
//! back here at the callback.
//!
//! ```text
//! start(redirect_uri) ── state, nonce (OIDC), PKCE S256 ──▶ authorization URL
//!        │                         (the browser goes there, signs in, comes back)
//! finish(redirect_uri, code, pending)
//!        ├─ token endpoint: code + code_verifier, client auth   (exchange.rs)
//!        ├─ OIDC: ID token checked against discovery + JWKS     (oidc.rs)
//!        │        userinfo only when the token lacks the email
//!        ├─ OAuth2: userinfo with the access token              (exchange.rs)
//!        └─ claim mapping → Identity                            (claims.rs)
//! ```
//!
//! Per kind defaults and secrets are resolved once at startup (settings.rs).
//! `oidc`, `oauth2` and `twitter` may run without a secret (a public client):
//! PKCE then binds the code to the flow. Google and Facebook need one.
//!
//! Owns: the upstream protocol (start, callback, claims).
//! Must not import: `store`, `accounts`, `oauth`, `http`, `cli`, axum.
use std::collections::BTreeMap;
use std::sync::Arc;

use openidconnect::{CsrfToken, Nonce, PkceCodeChallenge};
use url::Url;

use crate::clock::Clock;
use crate::config::{UpstreamConfig, UpstreamKind};

mod claims;
mod exchange;
#[cfg(test)]
mod fuzz;
mod oidc;
mod settings;
#[cfg(test)]
mod tests;

use exchange::{CodeExchange, TokenAnswer};
use oidc::{Checked, Discovery};
use settings::{Protocol, Settings};

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
/// Checks a provider id (the rule lives in `config`, which reads the ids).
pub fn check_id(id: &str) -> Result<(), Error> {
    crate::config::check_upstream_id(id).map_err(|e| Error::Config(e.to_string()))
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
    settings: Settings,
    /// Shared by all providers (one connection pool, redirects off).
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    /// OIDC kinds: discovery and JWKS, fetched at first use.
    discovery: Discovery,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Settings keep the secret in a SecretString, which prints redacted.
        f.debug_struct("Provider").field("id", &self.id).field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl Provider {
    /// The config key, the path segment of `/login/{id}`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The name on the sign-in button.
    pub fn display_name(&self) -> &str {
        &self.display_name
    }

    /// Builds the authorization request: fresh state, nonce (OIDC) and PKCE
    /// (S256), redirecting back to `redirect_uri`. May fetch discovery.
    pub async fn start(&self, redirect_uri: &Url) -> Result<Start, Error> {
        let endpoint = match &self.settings.protocol {
            Protocol::Oidc { issuer } => match &self.settings.authorization_url {
                Some(u) => u.clone(),
                None => self
                    .discovery
                    .metadata(&self.http, issuer, self.clock.unix())
                    .await?
                    .authorization_endpoint()
                    .url()
                    .clone(),
            },
            Protocol::OAuth2 => {
                self.settings.authorization_url.clone().ok_or_else(|| Error::Config("no authorization_url".into()))?
            }
        };
        // 256 random bits each (the library's default state is 128).
        let state = CsrfToken::new_random_len(32).secret().clone();
        let nonce = self.settings.is_oidc().then(|| Nonce::new_random_len(32).secret().clone());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256_len(32);
        let mut url = endpoint;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.settings.client_id)
                .append_pair("redirect_uri", redirect_uri.as_str());
            if !self.settings.scopes.is_empty() {
                q.append_pair("scope", &self.settings.scope());
            }
            q.append_pair("state", &state)
                .append_pair("code_challenge", challenge.as_str())
                .append_pair("code_challenge_method", "S256");
            if let Some(n) = &nonce {
                q.append_pair("nonce", n);
            }
        }
        Ok(Start { url, pending: Pending { state, nonce, pkce_verifier: verifier.secret().clone() } })
    }

    /// RFC 9207 §2.4, a mix-up defence for OpenID providers: an `iss`
    /// parameter on the authorization response must name the issuer the
    /// request went to, and a provider whose discovery says it sends `iss`
    /// must have sent it. A plain OAuth2 provider has no issuer configured;
    /// each provider's own redirect URI (RFC 9207 §1) defends those.
    pub async fn check_response_issuer(&self, iss: Option<&str>) -> Result<(), Error> {
        let Protocol::Oidc { issuer } = &self.settings.protocol else { return Ok(()) };
        match iss {
            Some(got) if got != issuer => {
                Err(Error::Rejected("authorization response: iss names another issuer".into()))
            }
            Some(_) => Ok(()),
            None => {
                let metadata = self.discovery.metadata(&self.http, issuer, self.clock.unix()).await?;
                if metadata.additional_metadata().authorization_response_iss_parameter_supported {
                    Err(Error::Rejected("authorization response: no iss from a provider that sends it".into()))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Redeems `code` and returns the verified identity. OIDC: ID-token
    /// signature (JWKS), `iss`, `aud`/`azp`, `nonce`, `exp`/`iat` against the
    /// Clock. OAuth2: the token, then the userinfo endpoint and the claim
    /// mapping.
    pub async fn finish(&self, redirect_uri: &Url, code: &str, pending: &Pending) -> Result<Identity, Error> {
        let s = &self.settings;
        let metadata = match &s.protocol {
            Protocol::Oidc { issuer } => Some(self.discovery.metadata(&self.http, issuer, self.clock.unix()).await?),
            Protocol::OAuth2 => None,
        };
        let token_url = match (&s.token_url, &metadata) {
            (Some(u), _) => u.clone(),
            (None, Some(m)) => m
                .token_endpoint()
                .map(|t| t.url().clone())
                .ok_or_else(|| Error::Unavailable("discovery: no token endpoint".into()))?,
            (None, None) => return Err(Error::Config("no token_url".into())),
        };
        let auth = match &metadata {
            Some(m) => oidc::token_auth(m, s.secret.is_some()),
            None => s.token_auth,
        };
        let answer = CodeExchange {
            token_url: &token_url,
            client_id: &s.client_id,
            secret: s.secret.as_ref(),
            auth,
            code,
            redirect_uri,
            pkce_verifier: &pending.pkce_verifier,
        }
        .send(&self.http)
        .await?;
        let userinfo_url = s
            .userinfo_url
            .clone()
            .or_else(|| metadata.as_ref().and_then(|m| m.userinfo_endpoint().map(|u| u.url().clone())));
        let Some(metadata) = metadata else {
            let url = userinfo_url.ok_or_else(|| Error::Config("no userinfo_url".into()))?;
            let json = exchange::userinfo(&self.http, &url, &answer.access_token).await?;
            return claims::identity(&self.id, &json, &s.mapping, s.trust_email);
        };
        let mut json = self.verified_claims(metadata, &answer, pending).await?;
        // The ID token may carry only `sub`: ask userinfo for the rest, and
        // make sure it speaks of the same user (OIDC Core §5.3.2).
        let has_email = s.mapping.email.iter().any(|p| claims::lookup(&json, p).is_some());
        if let (false, Some(url)) = (has_email, userinfo_url) {
            let info = exchange::userinfo(&self.http, &url, &answer.access_token).await?;
            if info.get("sub") != json.get("sub") {
                return Err(Error::Rejected("userinfo: sub differs from the ID token".into()));
            }
            json = merge(info, json);
        }
        claims::identity(&self.id, &json, &s.mapping, s.trust_email)
    }

    /// Checks the ID token, fetching the keys once more when it names a key
    /// the cached JWKS lacks.
    async fn verified_claims(
        &self,
        metadata: oidc::Metadata,
        answer: &TokenAnswer,
        pending: &Pending,
    ) -> Result<serde_json::Value, Error> {
        let id_token = answer.id_token.as_deref().ok_or_else(|| Error::Rejected("no ID token in the answer".into()))?;
        let nonce = pending.nonce.as_deref().ok_or_else(|| Error::Rejected("no nonce kept for this flow".into()))?;
        let expect = oidc::Expect { client_id: &self.settings.client_id, nonce, access_token: &answer.access_token };
        if let Checked::Claims(json) = oidc::check(&metadata, id_token, &expect, &self.clock)? {
            return Ok(json);
        }
        let metadata = self.discovery.refresh_keys(&self.http, metadata, self.clock.unix()).await?;
        match oidc::check(&metadata, id_token, &expect, &self.clock)? {
            Checked::Claims(json) => Ok(json),
            Checked::UnknownKey => Err(Error::Rejected("ID token: signed with an unknown key".into())),
        }
    }
}

/// `top` over `base` (objects; ID-token claims win over userinfo).
fn merge(base: serde_json::Value, top: serde_json::Value) -> serde_json::Value {
    match (base, top) {
        (serde_json::Value::Object(mut b), serde_json::Value::Object(t)) => {
            b.extend(t);
            serde_json::Value::Object(b)
        }
        (_, top) => top,
    }
}

/// The button name when the config gives none: the brand for presets, the
/// id for the generic kinds.
fn default_name(id: &str, kind: UpstreamKind) -> String {
    match kind {
        UpstreamKind::Google => "Google".into(),
        UpstreamKind::Facebook => "Facebook".into(),
        UpstreamKind::Twitter => "X".into(),
        UpstreamKind::Oidc | UpstreamKind::Oauth2 => id.to_owned(),
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
        let mut by_id = BTreeMap::new();
        if config.is_empty() {
            return Ok(Self { by_id: Arc::new(by_id) });
        }
        let http = exchange::client()?;
        for (id, c) in config {
            check_id(id)?;
            let settings = Settings::from_config(id, c)?;
            let display_name = c.display_name.clone().unwrap_or_else(|| default_name(id, c.kind));
            let provider = Provider {
                id: id.clone(),
                display_name,
                settings,
                http: http.clone(),
                clock: clock.clone(),
                discovery: Discovery::default(),
            };
            by_id.insert(id.clone(), provider);
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
}
