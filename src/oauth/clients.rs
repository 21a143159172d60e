//! Client (relying party) registration rules: RFC 6749 §2 (client types and
//! identifiers), §3.1.2 (redirection endpoint), RFC 8252 §7 (native apps).
//! Secrets are 256-bit random values, so a SHA-256 hash is enough to store
//! them (no password stretching needed for high-entropy secrets).
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::clock::Clock;
use crate::security::token;
use crate::store::{self, ClientRow, NewClient, Store};

/// Grant types a client may be registered for.
pub const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];
/// Default grant types (INTERFACE.md).
pub const DEFAULT_GRANT_TYPES: [&str; 2] = ["authorization_code", "refresh_token"];
/// Default scope (INTERFACE.md).
pub const DEFAULT_SCOPE: &str = "openid profile email offline_access";
/// Shortest secret accepted from an operator.
pub const MIN_SECRET_LEN: usize = 32;

/// Registration errors; each says which input is wrong and why.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("a client with id {0:?} already exists")]
    Exists(String),
    #[error("no client with id {0:?}")]
    Unknown(String),
    #[error("storage failed")]
    Store(#[from] store::Error),
}

/// What an operator asks for.
#[derive(Debug, Default)]
pub struct ClientSpec {
    pub client_id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scope: Option<String>,
    pub public: bool,
    pub secret: Option<SecretString>,
    pub skip_consent: bool,
}

/// A registered client, and the generated secret when one was made (shown once).
pub struct Registered {
    pub client: ClientRow,
    pub generated_secret: Option<SecretString>,
}

/// How long an authenticated client's row is reused before it is read again.
/// Token, introspection and revocation requests authenticate the client every
/// time; this spares them a database round trip. A client deleted (or its
/// secret changed) through another process or instance is refused at most
/// this long later; a delete through this instance takes effect at once.
pub const CLIENT_CACHE_MILLIS: i128 = 1_000;
/// Upper bound on cached rows; only authenticated clients get in, so this
/// guards memory, not correctness.
const CLIENT_CACHE_CAP: usize = 10_000;

/// Client management over the store.
#[derive(Clone)]
pub struct Clients {
    store: Store,
    clock: Arc<dyn Clock>,
    cache: Arc<Mutex<HashMap<String, (ClientRow, i128)>>>,
}

impl Clients {
    /// Builds the service.
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock, cache: Arc::default() }
    }

    fn now_millis(&self) -> i128 {
        self.clock.now().unix_timestamp_nanos() / 1_000_000
    }

    fn cached(&self, client_id: &str) -> Option<ClientRow> {
        let now = self.now_millis();
        let cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.get(client_id).filter(|(_, at)| now - at < CLIENT_CACHE_MILLIS && now >= *at).map(|(row, _)| row.clone())
    }

    fn remember(&self, row: &ClientRow) {
        let now = self.now_millis();
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= CLIENT_CACHE_CAP {
            cache.clear();
        }
        cache.insert(row.client_id.clone(), (row.clone(), now));
    }

    fn forget(&self, client_id: &str) {
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(client_id);
    }

    /// Validates `spec` and stores the client.
    pub async fn register(&self, spec: ClientSpec) -> Result<Registered, Error> {
        check_client_id(&spec.client_id)?;
        let name = spec.name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(Error::Invalid("--name must be 1 to 100 printable characters".into()));
        }
        if spec.redirect_uris.is_empty() {
            return Err(Error::Invalid("at least one --redirect-uri is required".into()));
        }
        for uri in spec.redirect_uris.iter().chain(&spec.post_logout_redirect_uris) {
            check_redirect_uri(uri)?;
        }
        let grants = grant_types(&spec.grant_types, spec.public)?;
        let scope = scope(spec.scope.as_deref().unwrap_or(DEFAULT_SCOPE))?;
        let (secret_hash, generated_secret) = match (spec.public, spec.secret) {
            (true, Some(_)) => return Err(Error::Invalid("a --public client has no secret".into())),
            (true, None) => (None, None),
            (false, Some(secret)) => {
                if secret.expose_secret().chars().count() < MIN_SECRET_LEN {
                    return Err(Error::Invalid(format!("the secret must be at least {MIN_SECRET_LEN} characters")));
                }
                (Some(token::hash_secret(secret.expose_secret())), None)
            }
            (false, None) => {
                let secret = token::new_secret();
                (Some(token::hash_secret(&secret)), Some(SecretString::from(secret)))
            }
        };
        let id = store::new_id();
        let new = NewClient {
            id: &id,
            client_id: &spec.client_id,
            name,
            secret_hash: secret_hash.as_deref(),
            public: spec.public,
            redirect_uris: &spec.redirect_uris,
            post_logout_redirect_uris: &spec.post_logout_redirect_uris,
            grant_types: &grants,
            scope: &scope,
            skip_consent: spec.skip_consent,
            now: self.clock.unix(),
        };
        let mut conn = self.store.conn().await?;
        match conn.db().insert_client(&new).await {
            Err(store::Error::Conflict(_)) => return Err(Error::Exists(spec.client_id)),
            other => other?,
        }
        let client = conn.db().find_client(&spec.client_id).await?.ok_or_else(|| Error::Unknown(spec.client_id))?;
        Ok(Registered { client, generated_secret })
    }

    /// All clients.
    pub async fn list(&self) -> Result<Vec<ClientRow>, Error> {
        Ok(self.store.conn().await?.db().list_clients().await?)
    }

    /// Deletes a client.
    pub async fn delete(&self, client_id: &str) -> Result<(), Error> {
        self.forget(client_id);
        if self.store.conn().await?.db().delete_client(client_id).await? {
            Ok(())
        } else {
            Err(Error::Unknown(client_id.to_owned()))
        }
    }
}

/// How a client presented itself at the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug)]
pub enum Credentials {
    /// `client_secret_basic` or `client_secret_post`.
    Secret { client_id: String, secret: SecretString },
    /// A public client: just its id (`none`).
    Public { client_id: String },
}

impl Credentials {
    /// The `client_id` the request claims.
    pub fn client_id(&self) -> &str {
        match self {
            Credentials::Secret { client_id, .. } | Credentials::Public { client_id } => client_id,
        }
    }
}

impl Clients {
    /// Authenticates a client. Every failure is the same `invalid_client`, so
    /// nothing tells an unknown id from a wrong secret.
    pub async fn authenticate(&self, creds: &Credentials) -> Result<ClientRow, crate::oauth::tokens::GrantError> {
        use subtle::ConstantTimeEq;
        let fail =
            || crate::oauth::OAuthError::new(crate::oauth::ErrorCode::InvalidClient, "client authentication failed");
        let id = creds.client_id();
        let client = match self.cached(id) {
            Some(row) => row,
            None => match self.store.conn().await?.db().find_client(id).await? {
                Some(row) => row,
                None => return Err(fail().into()),
            },
        };
        let ok = match (creds, &client.secret_hash, client.public) {
            (Credentials::Public { .. }, None, true) => true,
            (Credentials::Secret { secret, .. }, Some(stored), false) => {
                let given = token::hash_secret(secret.expose_secret());
                bool::from(given.as_bytes().ct_eq(stored.as_bytes()))
            }
            _ => false,
        };
        if ok {
            self.remember(&client);
            Ok(client)
        } else {
            Err(fail().into())
        }
    }

    /// A client by id, if registered.
    pub async fn find(&self, client_id: &str) -> Result<Option<ClientRow>, Error> {
        Ok(self.store.conn().await?.db().find_client(client_id).await?)
    }
}

/// RFC 6749 §2.2: the identifier is a string; we keep it URL- and log-safe.
fn check_client_id(id: &str) -> Result<(), Error> {
    let ok = (1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok { Ok(()) } else { Err(Error::Invalid("--client-id must be 1 to 64 of A-Z a-z 0-9 . _ -".into())) }
}

/// RFC 6749 §3.1.2: absolute URI, no fragment. We also require https, except
/// for loopback http (RFC 8252 §7.3) and private-use schemes (RFC 8252 §7.1).
fn check_redirect_uri(raw: &str) -> Result<(), Error> {
    let bad = |why: &str| Error::Invalid(format!("redirect URI {raw:?} {why}"));
    let url = Url::parse(raw).map_err(|_| bad("is not an absolute URI"))?;
    if url.fragment().is_some() {
        return Err(bad("must not contain a fragment (RFC 6749 §3.1.2)"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" => match url.host() {
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() => Ok(()),
            Some(url::Host::Ipv6(ip)) if ip.is_loopback() => Ok(()),
            Some(url::Host::Domain("localhost")) => Ok(()),
            _ => Err(bad("must use https (http is allowed for loopback only)")),
        },
        // Private-use schemes are reverse domain names (RFC 8252 §7.1).
        scheme if scheme.contains('.') => Ok(()),
        _ => Err(bad("must use https, loopback http, or a reverse-domain private-use scheme")),
    }
}

fn grant_types(asked: &[String], public: bool) -> Result<String, Error> {
    let asked: Vec<&str> =
        if asked.is_empty() { DEFAULT_GRANT_TYPES.to_vec() } else { asked.iter().map(String::as_str).collect() };
    let mut out: Vec<&str> = Vec::new();
    for grant in asked {
        if !GRANT_TYPES.contains(&grant) {
            return Err(Error::Invalid(format!("unknown grant type {grant:?}; use one of {}", GRANT_TYPES.join(", "))));
        }
        if public && grant == "client_credentials" {
            return Err(Error::Invalid("a public client cannot use client_credentials (RFC 6749 §4.4)".into()));
        }
        if !out.contains(&grant) {
            out.push(grant);
        }
    }
    Ok(out.join(" "))
}

/// RFC 6749 §3.3: space-delimited scope tokens of %x21 / %x23-5B / %x5D-7E.
fn scope(raw: &str) -> Result<String, Error> {
    let mut out: Vec<&str> = Vec::new();
    for tok in raw.split(' ').filter(|t| !t.is_empty()) {
        if !tok.bytes().all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b)) {
            return Err(Error::Invalid(format!("scope token {tok:?} has characters RFC 6749 §3.3 forbids")));
        }
        if !out.contains(&tok) {
            out.push(tok);
        }
    }
    if out.is_empty() {
        return Err(Error::Invalid("--scope must name at least one scope".into()));
    }
    Ok(out.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_follow_rfc_6749_3_1_2_and_rfc_8252() {
        for ok in [
            "https://app.example/cb",
            "http://127.0.0.1:9000/cb",
            "http://[::1]/cb",
            "http://localhost/cb",
            "com.example.app:/oauth",
        ] {
            check_redirect_uri(ok).unwrap();
        }
        for bad in
            ["/relative", "https://app.example/cb#frag", "http://app.example/cb", "javascript:alert(1)", "not a uri"]
        {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn grants_default_and_refuse_unknown_or_public_client_credentials() {
        assert_eq!(grant_types(&[], false).unwrap(), "authorization_code refresh_token");
        assert!(grant_types(&["implicit".into()], false).is_err());
        assert!(grant_types(&["client_credentials".into()], true).is_err());
    }

    #[test]
    fn scope_tokens_follow_rfc_6749_3_3() {
        assert_eq!(scope("openid  email openid").unwrap(), "openid email");
        assert!(scope("bad\"quote").is_err());
        assert!(scope("   ").is_err());
    }

    #[test]
    fn client_ids_are_restricted() {
        check_client_id("my-app_1.0").unwrap();
        assert!(check_client_id("").is_err());
        assert!(check_client_id("has space").is_err());
    }
}
