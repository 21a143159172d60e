//! Client (relying party) registration rules: RFC 6749 §2 (client types and
//! identifiers), §3.1.2 (redirection endpoint), RFC 8252 §7 (native apps),
//! and the web origins (RFC 6454) a browser app may call us from (CORS).
//! Redirect URIs are compared exactly (RFC 9700 §2.1), so registration
//! refuses what could never match exactly: wildcards and user information.
//! A client may be a resource server for some token audiences, which lets it
//! introspect other clients' access tokens for them (RFC 7662 §4).
//! Secrets are 256-bit random values, so a SHA-256 hash is enough to store
//! them (no password stretching needed for high-entropy secrets).
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use serde_json::json;

use crate::clock::Clock;
use crate::security::audit::{self, AuditEvent};
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
    /// Origins (`scheme://host[:port]`) a browser app calls the token,
    /// userinfo and revocation endpoints from; see [`check_web_origin`].
    pub web_origins: Vec<String>,
    /// Audiences (`aud`) this client is a resource server for: it may
    /// introspect access tokens issued for them (RFC 7662 §4).
    pub resource_audiences: Vec<String>,
}

/// A registered client, and the generated secret when one was made (shown once).
pub struct Registered {
    pub client: ClientRow,
    pub generated_secret: Option<SecretString>,
}

/// What `client update` may change; `None` keeps the registered value.
#[derive(Debug, Default)]
pub struct ClientChanges {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub scope: Option<String>,
    pub skip_consent: Option<bool>,
    pub web_origins: Option<Vec<String>>,
    /// `Some(vec![])` clears the list.
    pub resource_audiences: Option<Vec<String>>,
}

/// How long the set of all clients' web origins (for CORS preflights) is
/// reused before it is read again; changes through this instance show at once.
pub const ORIGIN_CACHE_MILLIS: i128 = 1_000;

/// Client management over the store. Every change is audited in its own
/// transaction. Authentication reads the client's row on every request: a
/// client deleted or given a new secret by another process or instance is
/// refused at once.
#[derive(Clone)]
pub struct Clients {
    store: Store,
    clock: Arc<dyn Clock>,
    /// Every registered client's web origins, and when they were read: CORS
    /// preflights carry no client_id, so they are checked against all of them.
    origins: Arc<Mutex<Option<OriginSet>>>,
}

/// All clients' web origins, and when (unix milliseconds) they were read.
type OriginSet = (Arc<HashSet<String>>, i128);

impl Clients {
    /// Builds the service.
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock, origins: Arc::default() }
    }

    fn now_millis(&self) -> i128 {
        self.clock.now().unix_timestamp_nanos() / 1_000_000
    }

    fn forget_origins(&self) {
        *self.origins.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// Whether `origin` is a web origin of some registered client (the check a
    /// CORS preflight gets, since it carries no client_id). The set is read at
    /// most once per [`ORIGIN_CACHE_MILLIS`]; changes through this instance
    /// show at once.
    pub async fn is_web_origin(&self, origin: &str) -> Result<bool, Error> {
        let now = self.now_millis();
        let fresh = self
            .origins
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .filter(|(_, at)| now - at < ORIGIN_CACHE_MILLIS && now >= *at)
            .map(|(set, _)| set.clone());
        let set = match fresh {
            Some(set) => set,
            None => {
                let mut set = HashSet::new();
                for client in self.list().await? {
                    set.extend(web_origins(&client)?);
                }
                let set = Arc::new(set);
                *self.origins.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((set.clone(), now));
                set
            }
        };
        Ok(set.contains(origin))
    }

    /// Whether the client `client_id` (taken from a token we issued) may be
    /// called from `origin`; an unknown client may not.
    pub async fn allows_origin_for(&self, client_id: &str, origin: &str) -> Result<bool, Error> {
        let Some(client) = self.find(client_id).await? else { return Ok(false) };
        Ok(allows_origin(&client, origin))
    }

    /// [`Self::register_as`] by the `system` actor (tests and fixtures).
    pub async fn register(&self, spec: ClientSpec) -> Result<Registered, Error> {
        let event = AuditEvent::new(audit::ACTOR_SYSTEM, audit::AuditAction::ClientCreated, &spec.client_id);
        self.register_as(spec, &event).await
    }

    /// Validates `spec` and stores the client, with `event` (its
    /// `client_created`) in the same transaction.
    pub async fn register_as(&self, spec: ClientSpec, event: &AuditEvent) -> Result<Registered, Error> {
        check_client_id(&spec.client_id)?;
        let name = check_name(&spec.name)?;
        let checked =
            Checked::new(&spec.redirect_uris, &spec.post_logout_redirect_uris, &spec.grant_types, spec.public)?;
        let web_origins = check_web_origins(&spec.web_origins)?;
        let resource_audiences = check_resource_audiences(&spec.resource_audiences)?;
        let scope = scope(spec.scope.as_deref().unwrap_or(DEFAULT_SCOPE))?;
        let (secret_hash, generated_secret) = match (spec.public, spec.secret) {
            (true, Some(_)) => return Err(Error::Invalid("a --public client has no secret".into())),
            (true, None) => (None, None),
            (false, given) => {
                let (hash, generated) = new_secret(given)?;
                (Some(hash), generated)
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
            grant_types: &checked.grants,
            scope: &scope,
            skip_consent: spec.skip_consent,
            now: self.clock.unix(),
            web_origins: &web_origins,
            resource_audiences: &resource_audiences,
        };
        let mut tx = self.store.begin().await?;
        match tx.db().insert_client(&new).await {
            Err(store::Error::Conflict(_)) => return Err(Error::Exists(spec.client_id)),
            other => other?,
        }
        let kind = if spec.public { "public" } else { "confidential" };
        audit::append(&mut tx.db(), &event.clone().with_detail(json!({ "kind": kind })), new.now).await?;
        let client = tx.db().find_client(&spec.client_id).await?.ok_or_else(|| Error::Unknown(spec.client_id))?;
        tx.commit().await?;
        self.forget_origins();
        Ok(Registered { client, generated_secret })
    }

    /// All clients.
    pub async fn list(&self) -> Result<Vec<ClientRow>, Error> {
        Ok(self.store.conn().await?.db().list_clients().await?)
    }

    /// Applies `changes` under the same rules as registration; returns the
    /// client as it is now. A client's type (public or confidential) does not
    /// change: delete and register it again.
    pub async fn update(
        &self,
        client_id: &str,
        changes: ClientChanges,
        event: &AuditEvent,
    ) -> Result<ClientRow, Error> {
        let mut tx = self.store.begin().await?;
        let old = tx.db().find_client(client_id).await?.ok_or_else(|| Error::Unknown(client_id.to_owned()))?;
        let name = changes.name.unwrap_or_else(|| old.name.clone());
        let name = check_name(&name)?;
        let redirects = match changes.redirect_uris {
            Some(r) => r,
            None => old.redirect_uri_list()?,
        };
        let logouts = match changes.post_logout_redirect_uris {
            Some(l) => l,
            None => old.post_logout_uri_list()?,
        };
        let grants =
            changes.grant_types.unwrap_or_else(|| old.grant_types.split(' ').map(str::to_owned).collect::<Vec<_>>());
        let checked = Checked::new(&redirects, &logouts, &grants, old.public)?;
        let scope = scope(changes.scope.as_deref().unwrap_or(&old.scope))?;
        let web_origins = match changes.web_origins {
            Some(o) => check_web_origins(&o)?,
            None => old.web_origin_list()?,
        };
        let resource_audiences = match changes.resource_audiences {
            Some(a) => check_resource_audiences(&a)?,
            None => old.resource_audience_list()?,
        };
        let new = NewClient {
            id: &old.id,
            client_id,
            name,
            secret_hash: None,
            public: old.public,
            redirect_uris: &redirects,
            post_logout_redirect_uris: &logouts,
            grant_types: &checked.grants,
            scope: &scope,
            skip_consent: changes.skip_consent.unwrap_or(old.skip_consent),
            now: self.clock.unix(),
            web_origins: &web_origins,
            resource_audiences: &resource_audiences,
        };
        if !tx.db().update_client(&new).await? {
            return Err(Error::Unknown(client_id.to_owned()));
        }
        audit::append(&mut tx.db(), event, new.now).await?;
        let client = tx.db().find_client(client_id).await?.ok_or_else(|| Error::Unknown(client_id.to_owned()))?;
        tx.commit().await?;
        self.forget_origins();
        Ok(client)
    }

    /// Gives a confidential client a new secret (`given`, or a generated one,
    /// returned to be shown once); the old one stops working at once.
    pub async fn rotate_secret(
        &self,
        client_id: &str,
        given: Option<SecretString>,
        event: &AuditEvent,
    ) -> Result<Option<SecretString>, Error> {
        let mut tx = self.store.begin().await?;
        let client = tx.db().find_client(client_id).await?.ok_or_else(|| Error::Unknown(client_id.to_owned()))?;
        if client.public {
            return Err(Error::Invalid(format!("client {client_id:?} is public: it has no secret to rotate")));
        }
        let (hash, generated) = new_secret(given)?;
        if !tx.db().set_client_secret(client_id, &hash).await? {
            return Err(Error::Unknown(client_id.to_owned()));
        }
        audit::append(&mut tx.db(), event, self.clock.unix()).await?;
        tx.commit().await?;
        Ok(generated)
    }

    /// Deletes a client with every code, token and consent it holds, in one
    /// transaction, so a client registered again with the same id starts
    /// empty and tokens issued before stop working at once.
    pub async fn delete(&self, client_id: &str, event: &AuditEvent) -> Result<(), Error> {
        let mut tx = self.store.begin().await?;
        if !tx.db().delete_client(client_id).await? {
            return Err(Error::Unknown(client_id.to_owned()));
        }
        let removed = tx.db().delete_client_grants(client_id).await?;
        audit::append(
            &mut tx.db(),
            &event.clone().with_detail(json!({ "grants_removed": removed })),
            self.clock.unix(),
        )
        .await?;
        tx.commit().await?;
        self.forget_origins();
        Ok(())
    }
}

/// The redirect URIs and grant types of a registration, checked together.
struct Checked {
    grants: String,
}

impl Checked {
    fn new(redirects: &[String], logouts: &[String], grants: &[String], public: bool) -> Result<Self, Error> {
        if redirects.is_empty() {
            return Err(Error::Invalid("at least one --redirect-uri is required".into()));
        }
        for uri in redirects.iter().chain(logouts) {
            check_redirect_uri(uri)?;
        }
        Ok(Self { grants: grant_types(grants, public)? })
    }
}

fn check_name(raw: &str) -> Result<&str, Error> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(Error::Invalid("--name must be 1 to 100 printable characters".into()));
    }
    Ok(name)
}

/// The hash to store for a confidential client's secret: `given` (at least
/// [`MIN_SECRET_LEN`] characters) or a generated one, returned to be shown once.
fn new_secret(given: Option<SecretString>) -> Result<(String, Option<SecretString>), Error> {
    match given {
        Some(secret) => {
            if secret.expose_secret().chars().count() < MIN_SECRET_LEN {
                return Err(Error::Invalid(format!("the secret must be at least {MIN_SECRET_LEN} characters")));
            }
            Ok((token::hash_secret(secret.expose_secret()), None))
        }
        None => {
            let secret = token::new_secret();
            Ok((token::hash_secret(&secret), Some(SecretString::from(secret))))
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
        let Some(client) = self.store.conn().await?.db().find_client(id).await? else {
            return Err(fail().into());
        };
        let ok = match (creds, &client.secret_hash, client.public) {
            (Credentials::Public { .. }, None, true) => true,
            (Credentials::Secret { secret, .. }, Some(stored), false) => {
                let given = token::hash_secret(secret.expose_secret());
                bool::from(given.as_bytes().ct_eq(stored.as_bytes()))
            }
            _ => false,
        };
        if ok { Ok(client) } else { Err(fail().into()) }
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
/// Redirect URIs are matched exactly (RFC 9700 §2.1 and §4.1.3), so a
/// wildcard in the host or path can only be a mistake, and user information
/// only a trap (`https://app.example@evil.example/cb` reads like one host and
/// names another): both are refused here, for every way of registering.
fn check_redirect_uri(raw: &str) -> Result<(), Error> {
    let bad = |why: &str| Error::Invalid(format!("redirect URI {raw:?} {why}"));
    // Before the query: the scheme, authority and path (a `*` in a query
    // value is data, matched exactly like the rest).
    let before_query = raw.split(['?', '#']).next().unwrap_or(raw);
    if before_query.contains('*') {
        return Err(bad("must not contain a wildcard; redirect URIs are matched exactly (RFC 9700 §2.1)"));
    }
    let url = Url::parse(raw).map_err(|_| bad("is not an absolute URI"))?;
    if url.fragment().is_some() {
        return Err(bad("must not contain a fragment (RFC 6749 §3.1.2)"));
    }
    // The parser drops an empty user info (`https://@host/`), so look at the
    // authority as written too.
    let authority = before_query.split_once("://").map(|(_, rest)| rest.split('/').next().unwrap_or(rest));
    if !url.username().is_empty() || url.password().is_some() || authority.is_some_and(|a| a.contains('@')) {
        return Err(bad("must not contain user information; redirect URIs are matched exactly (RFC 9700 §4.1.3)"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err(bad("must use https (http is allowed for loopback only)")),
        // Private-use schemes are reverse domain names (RFC 8252 §7.1).
        scheme if scheme.contains('.') => Ok(()),
        _ => Err(bad("must use https, loopback http, or a reverse-domain private-use scheme")),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(host)) => host == "localhost",
        None => false,
    }
}

/// Checks a web origin as an operator writes it: exactly `scheme://host[:port]`
/// (RFC 6454 §6.2, the form a browser sends in `Origin`), with no path (not
/// even `/`), query, fragment, user info or wildcard, over https, or http on
/// loopback as redirect URIs are. Returns it in the browser's serialization
/// (lowercase host, no default port), which is what requests are compared to.
pub fn check_web_origin(raw: &str) -> Result<String, Error> {
    let bad = |why: &str| Error::Invalid(format!("web origin {raw:?} {why}"));
    if raw.contains('*') {
        return Err(bad("must not contain a wildcard; list each origin"));
    }
    let url = Url::parse(raw).map_err(|_| bad("is not scheme://host[:port]"))?;
    let Some((_, authority)) = raw.split_once("://") else {
        return Err(bad("is not scheme://host[:port]"));
    };
    if !url.username().is_empty() || url.password().is_some() || authority.contains('@') {
        return Err(bad("must not contain user info"));
    }
    if url.query().is_some() || authority.contains('?') {
        return Err(bad("must not contain a query"));
    }
    if url.fragment().is_some() || authority.contains('#') {
        return Err(bad("must not contain a fragment"));
    }
    if authority.contains('/') {
        return Err(bad("must not contain a path (not even a trailing /)"));
    }
    match url.scheme() {
        "https" if url.host().is_some() => {}
        "http" if is_loopback(&url) => {}
        "http" => return Err(bad("must use https (http is allowed for loopback only)")),
        _ => return Err(bad("must use https, or http on loopback")),
    }
    Ok(url.origin().ascii_serialization())
}

/// Longest audience accepted.
const MAX_AUDIENCE_LEN: usize = 255;

/// Checks the audiences a client is a resource server for: each one a
/// non-empty string of visible ASCII without spaces (the form of our `aud`
/// values: the issuer, `tokens.audience`, resource URIs), repeats dropped.
pub fn check_resource_audiences(raw: &[String]) -> Result<Vec<String>, Error> {
    let mut out: Vec<String> = Vec::new();
    for aud in raw {
        if aud.is_empty() || aud.len() > MAX_AUDIENCE_LEN || !aud.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::Invalid(format!(
                "resource server audience {aud:?} must be 1 to {MAX_AUDIENCE_LEN} visible ASCII characters without spaces"
            )));
        }
        if !out.contains(aud) {
            out.push(aud.clone());
        }
    }
    Ok(out)
}

/// Checks each listed origin and drops repeats.
pub fn check_web_origins(raw: &[String]) -> Result<Vec<String>, Error> {
    let mut out: Vec<String> = Vec::new();
    for origin in raw {
        let origin = check_web_origin(origin)?;
        if !out.contains(&origin) {
            out.push(origin);
        }
    }
    Ok(out)
}

/// The web origins that count for `client`: the ones it lists; a public
/// client that lists none gets the origins of its http(s) redirect URIs (a
/// browser app's callback is on its own origin). A confidential client has
/// only what it lists.
pub fn web_origins(client: &ClientRow) -> Result<Vec<String>, store::Error> {
    let listed = client.web_origin_list()?;
    if !listed.is_empty() || !client.public {
        return Ok(listed);
    }
    let mut out: Vec<String> = Vec::new();
    for uri in client.redirect_uri_list()? {
        let Ok(url) = Url::parse(&uri) else { continue };
        if matches!(url.scheme(), "http" | "https") {
            let origin = url.origin().ascii_serialization();
            if !out.contains(&origin) {
                out.push(origin);
            }
        }
    }
    Ok(out)
}

/// Whether a browser page on `origin` (the `Origin` header, compared
/// exactly) may call the token, userinfo and revocation endpoints as `client`.
/// A row that cannot be read allows nothing.
pub fn allows_origin(client: &ClientRow, origin: &str) -> bool {
    web_origins(client).is_ok_and(|list| list.iter().any(|o| o == origin))
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
    fn redirect_uris_that_can_never_match_exactly_are_refused_rfc_9700_2_1_and_4_1_3() {
        // A `*` in a query value is data, compared exactly like the rest.
        check_redirect_uri("https://app.example/cb?x=*").unwrap();
        for (bad, why) in [
            ("https://*.example/cb", "wildcard"),
            ("https://app.example/*", "wildcard"),
            ("https://app.example/c*b", "wildcard"),
            ("https://app.*/cb", "wildcard"),
            ("http://127.0.0.1:*/cb", "wildcard"),
            ("com.example.app:/*", "wildcard"),
            ("https://user:pw@app.example/cb", "user information"),
            ("https://user@app.example/cb", "user information"),
            ("https://@app.example/cb", "user information"),
            ("https://app.example@evil.example/cb", "user information"),
            ("http://me@127.0.0.1/cb", "user information"),
            ("https://app.example/cb#", "fragment"),
            ("https://app.example/cb#x", "fragment"),
        ] {
            let err = check_redirect_uri(bad).unwrap_err().to_string();
            assert!(err.contains(why) && err.contains(&format!("{bad:?}")), "{bad}: {err}");
        }
    }

    #[test]
    fn resource_audiences_are_visible_ascii_and_deduplicated() {
        let list = check_resource_audiences(&["https://api.example".into(), "https://api.example".into()]).unwrap();
        assert_eq!(list, ["https://api.example"]);
        for bad in ["", "has space", "tab\t", "é", &"a".repeat(256)] {
            assert!(check_resource_audiences(&[bad.to_owned()]).is_err(), "{bad:?}");
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
    fn web_origins_are_scheme_host_and_port_only() {
        assert_eq!(check_web_origin("https://App.Example").unwrap(), "https://app.example");
        assert_eq!(check_web_origin("https://app.example:443").unwrap(), "https://app.example");
        assert_eq!(check_web_origin("https://app.example:8443").unwrap(), "https://app.example:8443");
        assert_eq!(check_web_origin("http://127.0.0.1:5173").unwrap(), "http://127.0.0.1:5173");
        assert_eq!(check_web_origin("http://localhost:3000").unwrap(), "http://localhost:3000");
        assert_eq!(check_web_origin("http://[::1]:3000").unwrap(), "http://[::1]:3000");
        for (bad, why) in [
            ("https://app.example/", "path"),
            ("https://app.example/app", "path"),
            ("https://app.example?x=1", "query"),
            ("https://app.example#top", "fragment"),
            ("https://user:pw@app.example", "user info"),
            ("https://user@app.example", "user info"),
            ("https://*.app.example", "wildcard"),
            ("*", "wildcard"),
            ("http://app.example", "https"),
            ("app.example", "scheme://host"),
            ("null", "scheme://host"),
            ("ftp://app.example", "https"),
            ("com.example.app:/cb", "scheme://host"),
        ] {
            let err = check_web_origin(bad).unwrap_err().to_string();
            assert!(err.contains(why) && err.contains(&format!("{bad:?}")), "{bad}: {err}");
        }
        let list = check_web_origins(&["https://a.example".into(), "https://A.example:443".into()]).unwrap();
        assert_eq!(list, ["https://a.example"]);
    }

    fn row(public: bool, redirects: &[&str], origins: &[&str]) -> ClientRow {
        ClientRow {
            id: "1".into(),
            client_id: "c".into(),
            name: "C".into(),
            secret_hash: None,
            public,
            redirect_uris: serde_json::to_string(redirects).unwrap(),
            post_logout_redirect_uris: "[]".into(),
            grant_types: "authorization_code".into(),
            scope: "openid".into(),
            skip_consent: false,
            created_at: 0,
            web_origins: serde_json::to_string(origins).unwrap(),
            resource_audiences: "[]".into(),
        }
    }

    #[test]
    fn a_public_client_defaults_to_its_redirect_origins_a_confidential_one_to_none() {
        let redirects = ["http://127.0.0.1:5173/cb", "https://spa.example/cb", "https://spa.example/x", "com.app:/cb"];
        let public = row(true, &redirects, &[]);
        assert_eq!(web_origins(&public).unwrap(), ["http://127.0.0.1:5173", "https://spa.example"]);
        assert!(allows_origin(&public, "https://spa.example"));
        assert!(!allows_origin(&public, "https://spa.example:8443"));
        assert!(!allows_origin(&public, "null"));
        let listed = row(true, &redirects, &["https://other.example"]);
        assert_eq!(web_origins(&listed).unwrap(), ["https://other.example"], "a listed origin replaces the default");
        let confidential = row(false, &redirects, &[]);
        assert!(web_origins(&confidential).unwrap().is_empty());
        let confidential = row(false, &redirects, &["https://spa.example"]);
        assert!(allows_origin(&confidential, "https://spa.example"));
    }

    #[test]
    fn client_ids_are_restricted() {
        check_client_id("my-app_1.0").unwrap();
        assert!(check_client_id("").is_err());
        assert!(check_client_id("has space").is_err());
    }
}
