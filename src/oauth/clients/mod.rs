//! Clients (relying parties): the registration service over the store, and
//! the domain [`Client`] it hands out (the store row never leaves this
//! folder, except through [`Clients::find`] for fixtures).
//!
//! ```text
//! mod.rs     the Clients service: register, update, rotate, delete, look up,
//!            the cached set of all web origins (CORS preflights)
//! client.rs  the domain Client (parsed lists, GrantTypes, Scope, origins)
//! rules.rs   registration rules (RFC 6749 §2 and §3.1.2, RFC 8252 §7,
//!            RFC 9700 §2.1, RFC 6454 origins), pure
//! auth.rs    client authentication (RFC 6749 §2.3.1), audited on failure
//! spec.rs    what an operator asks for: a new client, changes to one
//! ```
//!
//! Redirect URIs are compared exactly (RFC 9700 §2.1), so registration
//! refuses what could never match exactly: wildcards and user information.
//! A client may be a resource server for some token audiences, which lets it
//! introspect other clients' access tokens for them (RFC 7662 §4).
//! Secrets are 256-bit random values, so a SHA-256 hash is enough to store
//! them (no password stretching needed for high-entropy secrets).
//!
//! Must not import axum.
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use secrecy::SecretString;
use serde_json::json;

use crate::clock::Clock;
use crate::security::audit::{self, AuditEvent};
use crate::store::{self, ClientRow, NewClient, Store};

mod auth;
mod client;
mod rules;
mod spec;
/// A stored row for unit tests elsewhere in `oauth`.
#[cfg(test)]
pub(crate) use client::tests::row as test_row;

pub use auth::Credentials;
pub use client::{Client, GrantType, GrantTypes, effective_web_origins};
use rules::{Checked, check_client_id, check_name, new_secret, scope};
pub use rules::{check_resource_audiences, check_service_roles, check_web_origin, check_web_origins};
pub use spec::{ClientChanges, ClientSpec, Registered};

/// Grant types a client may be registered for.
pub const GRANT_TYPES: [&str; 4] = ["authorization_code", "refresh_token", "client_credentials", "password"];
/// Default grant types (INTERFACE.md).
pub const DEFAULT_GRANT_TYPES: [&str; 2] = ["authorization_code", "refresh_token"];
/// Default scope (INTERFACE.md).
pub const DEFAULT_SCOPE: &str = "openid profile email offline_access";
/// Shortest secret accepted from an operator.
pub const MIN_SECRET_LEN: usize = 32;

/// Registration errors; each says which input is wrong and why.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A refused setting: `field` names it as the JSON API's client fields
    /// do (`redirect_uris`, `scope`…), `message` says why (CLI wording).
    #[error("{message}")]
    Invalid { field: &'static str, message: String },
    #[error("a client with id {0:?} already exists")]
    Exists(String),
    #[error("no client with id {0:?}")]
    Unknown(String),
    /// An update named a version (`If-Match`) that is no longer current.
    #[error("the client changed since it was read")]
    Stale,
    #[error("storage failed")]
    Store(#[from] store::Error),
}

impl Error {
    /// [`Error::Invalid`] of `field`.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid { field, message: message.into() }
    }
}

/// What a client holds that deleting it removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientUsage {
    /// Unexpired, unrevoked access and refresh tokens.
    pub live_tokens: i64,
    /// Users who consented to it.
    pub consents: i64,
    /// Authorization codes not yet purged.
    pub codes: i64,
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
    /// Client rows by client_id, for the reads every `/token`, `/introspect`
    /// and userinfo call makes (`store::changes` says when they may be stale).
    rows: Arc<store::changes::HotCache<ClientRow>>,
}

/// All clients' web origins, and when (unix milliseconds) they were read.
type OriginSet = (Arc<HashSet<String>>, i128);

impl Clients {
    /// Builds the service.
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        let rows = Arc::new(store::changes::HotCache::new(&store, 10_000));
        Self { store, clock, origins: Arc::default(), rows }
    }

    /// A client's row, from memory when it cannot be stale.
    pub(crate) async fn row(&self, client_id: &str) -> Result<Option<ClientRow>, store::Error> {
        self.rows.get_or_load(client_id, async { self.store.conn().await?.db().find_client(client_id).await }).await
    }

    fn now_millis(&self) -> i128 {
        self.clock.now().unix_timestamp_nanos() / 1_000_000
    }

    /// Appends `event` in a transaction of its own (for refusals, which
    /// change nothing else).
    pub(crate) async fn audit(&self, event: &AuditEvent) -> Result<(), Error> {
        audit::record(&self.store, event, self.clock.unix()).await?;
        Ok(())
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
                    set.extend(client.web_origins);
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
        let Some(client) = self.get(client_id).await? else { return Ok(false) };
        Ok(client.allows_origin(origin))
    }

    /// [`Self::register_as`] by the `system` actor (tests and fixtures).
    pub async fn register(&self, spec: ClientSpec) -> Result<Registered, Error> {
        self.register_as(spec, &audit::Context::system()).await
    }

    /// Validates `spec` and stores the client, with `event` (its
    /// `client_created`) in the same transaction.
    pub async fn register_as(&self, spec: ClientSpec, ctx: &audit::Context) -> Result<Registered, Error> {
        let event = ctx.event(audit::AuditAction::ClientCreated, &spec.client_id);
        check_client_id(&spec.client_id)?;
        let name = check_name(&spec.name)?;
        let checked =
            Checked::new(&spec.redirect_uris, &spec.post_logout_redirect_uris, &spec.grant_types, spec.public)?;
        let web_origins = check_web_origins(&spec.web_origins)?;
        let resource_audiences = check_resource_audiences(&spec.resource_audiences)?;
        let service_roles = check_service_roles(&spec.service_roles, spec.public, &checked.grants)?;
        let scope = scope(spec.scope.as_deref().unwrap_or(DEFAULT_SCOPE))?.to_string();
        let (secret_hash, generated_secret) = match (spec.public, spec.secret) {
            (true, Some(_)) => return Err(Error::invalid("public", "a --public client has no secret")),
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
            grant_types: &checked.grants.to_string(),
            scope: &scope,
            skip_consent: spec.skip_consent,
            now: self.clock.unix(),
            web_origins: &web_origins,
            resource_audiences: &resource_audiences,
            service_roles: &service_roles,
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
        Ok(Registered { client: Client::from_row(&client), generated_secret })
    }

    /// All clients.
    pub async fn list(&self) -> Result<Vec<Client>, Error> {
        Ok(self.store.conn().await?.db().list_clients().await?.iter().map(Client::from_row).collect())
    }

    /// Up to `limit` clients after `after` (a client_id), by client_id.
    pub async fn page(&self, after: Option<&str>, limit: i64) -> Result<Vec<Client>, Error> {
        let rows = self.store.conn().await?.db().clients_after(after, limit).await?;
        Ok(rows.iter().map(Client::from_row).collect())
    }

    /// A client by id, if registered.
    pub async fn get(&self, client_id: &str) -> Result<Option<Client>, Error> {
        Ok(self.row(client_id).await?.as_ref().map(Client::from_row))
    }

    /// The stored row of a client (test fixtures and assertions; everything
    /// else uses [`Self::get`]).
    pub async fn find(&self, client_id: &str) -> Result<Option<ClientRow>, Error> {
        Ok(self.store.conn().await?.db().find_client(client_id).await?)
    }

    /// Applies `changes` under the same rules as registration; returns the
    /// client as it is now. A client's type (public or confidential) does not
    /// change: delete and register it again.
    pub async fn update(&self, client_id: &str, changes: ClientChanges, ctx: &audit::Context) -> Result<Client, Error> {
        self.update_if_match(client_id, changes, None, ctx).await
    }

    /// [`Self::update`] guarded by `if_match` (an `If-Match` value): the
    /// update happens only while the client's [`Client::etag`] still matches
    /// it, compared inside the update's transaction ([`Error::Stale`]
    /// otherwise, and nothing changes).
    pub async fn update_if_match(
        &self,
        client_id: &str,
        changes: ClientChanges,
        if_match: Option<&str>,
        ctx: &audit::Context,
    ) -> Result<Client, Error> {
        let event = ctx.event(audit::AuditAction::ClientUpdated, client_id);
        let mut tx = self.store.begin().await?;
        // Read, compare and write under the row lock: two writers holding the
        // same tag cannot both win.
        if !tx.db().lock_client(client_id).await? {
            return Err(Error::Unknown(client_id.to_owned()));
        }
        let old = tx.db().find_client(client_id).await?.ok_or_else(|| Error::Unknown(client_id.to_owned()))?;
        if let Some(given) = if_match
            && !crate::wire::if_match(given, &Client::from_row(&old).etag())
        {
            return Err(Error::Stale);
        }
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
        let grants = changes.grant_types.unwrap_or_else(|| GrantTypes::from_stored(&old.grant_types).names());
        let checked = Checked::new(&redirects, &logouts, &grants, old.public)?;
        let scope = scope(changes.scope.as_deref().unwrap_or(&old.scope))?.to_string();
        let web_origins = match changes.web_origins {
            Some(o) => check_web_origins(&o)?,
            None => old.web_origin_list()?,
        };
        let resource_audiences = match changes.resource_audiences {
            Some(a) => check_resource_audiences(&a)?,
            None => old.resource_audience_list()?,
        };
        let roles = match changes.service_roles {
            Some(r) => r,
            None => old.service_role_list()?,
        };
        let service_roles = check_service_roles(&roles, old.public, &checked.grants)?;
        let new = NewClient {
            id: &old.id,
            client_id,
            name,
            secret_hash: None,
            public: old.public,
            redirect_uris: &redirects,
            post_logout_redirect_uris: &logouts,
            grant_types: &checked.grants.to_string(),
            scope: &scope,
            skip_consent: changes.skip_consent.unwrap_or(old.skip_consent),
            now: self.clock.unix(),
            web_origins: &web_origins,
            resource_audiences: &resource_audiences,
            service_roles: &service_roles,
        };
        if !tx.db().update_client(&new).await? {
            return Err(Error::Unknown(client_id.to_owned()));
        }
        audit::append(&mut tx.db(), &event, new.now).await?;
        let client = tx.db().find_client(client_id).await?.ok_or_else(|| Error::Unknown(client_id.to_owned()))?;
        tx.commit().await?;
        self.forget_origins();
        Ok(Client::from_row(&client))
    }

    /// Gives a confidential client a new secret (`given`, or a generated one,
    /// returned to be shown once); the old one stops working at once.
    pub async fn rotate_secret(
        &self,
        client_id: &str,
        given: Option<SecretString>,
        ctx: &audit::Context,
    ) -> Result<Option<SecretString>, Error> {
        let event = ctx.event(audit::AuditAction::ClientSecretRotated, client_id);
        let mut tx = self.store.begin().await?;
        let client = tx.db().find_client(client_id).await?.ok_or_else(|| Error::Unknown(client_id.to_owned()))?;
        if client.public {
            return Err(Error::invalid(
                "public",
                format!("client {client_id:?} is public: it has no secret to rotate"),
            ));
        }
        let (hash, generated) = new_secret(given)?;
        if !tx.db().set_client_secret(client_id, &hash).await? {
            return Err(Error::Unknown(client_id.to_owned()));
        }
        audit::append(&mut tx.db(), &event, self.clock.unix()).await?;
        tx.commit().await?;
        Ok(generated)
    }

    /// What deleting `client_id` would remove now (for a confirmation page).
    pub async fn usage(&self, client_id: &str) -> Result<ClientUsage, Error> {
        let (live_tokens, consents, codes) =
            self.store.conn().await?.db().client_usage(client_id, self.clock.unix()).await?;
        Ok(ClientUsage { live_tokens, consents, codes })
    }

    /// Deletes a client with every code, token and consent it holds, in one
    /// transaction, so a client registered again with the same id starts
    /// empty and tokens issued before stop working at once.
    pub async fn delete(&self, client_id: &str, ctx: &audit::Context) -> Result<(), Error> {
        let event = ctx.event(audit::AuditAction::ClientDeleted, client_id);
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
