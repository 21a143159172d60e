//! `clients`: registered relying parties. URI lists are stored as JSON arrays
//! in a text column (portable across both backends; they are read whole).
use sqlx::{AssertSqlSafe, FromRow};

use super::{Db, Error, Result, exec, on};

/// A client as stored.
#[derive(Debug, Clone, FromRow)]
pub struct ClientRow {
    pub id: String,
    pub client_id: String,
    pub name: String,
    pub secret_hash: Option<String>,
    pub public: bool,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub grant_types: String,
    pub scope: String,
    pub skip_consent: bool,
    pub created_at: i64,
    /// Listed web origins (JSON array), for CORS.
    pub web_origins: String,
    /// Audiences this client is a resource server for (JSON array), for introspection.
    pub resource_audiences: String,
    /// Roles of the client's own tokens (JSON array), for the JSON API.
    pub service_roles: String,
}

impl ClientRow {
    /// Registered redirect URIs.
    pub fn redirect_uri_list(&self) -> Result<Vec<String>> {
        serde_json::from_str(&self.redirect_uris).map_err(|e| Error::Corrupt(e.to_string()))
    }

    /// Registered post-logout redirect URIs.
    pub fn post_logout_uri_list(&self) -> Result<Vec<String>> {
        serde_json::from_str(&self.post_logout_redirect_uris).map_err(|e| Error::Corrupt(e.to_string()))
    }

    /// Listed web origins (only those written down; see `oauth::clients::web_origins`
    /// for the ones that count).
    pub fn web_origin_list(&self) -> Result<Vec<String>> {
        json_list(&self.web_origins)
    }

    /// Audiences (`aud` values) this client is a resource server for.
    pub fn resource_audience_list(&self) -> Result<Vec<String>> {
        json_list(&self.resource_audiences)
    }

    /// Roles the client's `client_credentials` tokens carry.
    pub fn service_role_list(&self) -> Result<Vec<String>> {
        json_list(&self.service_roles)
    }
}

/// A list column stored as a JSON array of strings.
fn json_list(column: &str) -> Result<Vec<String>> {
    serde_json::from_str(column).map_err(|e| Error::Corrupt(e.to_string()))
}

/// Columns for a new client.
pub struct NewClient<'a> {
    pub id: &'a str,
    pub client_id: &'a str,
    pub name: &'a str,
    pub secret_hash: Option<&'a str>,
    pub public: bool,
    pub redirect_uris: &'a [String],
    pub post_logout_redirect_uris: &'a [String],
    pub grant_types: &'a str,
    pub scope: &'a str,
    pub skip_consent: bool,
    pub now: i64,
    /// Web origins, already validated.
    pub web_origins: &'a [String],
    /// Resource-server audiences, already validated.
    pub resource_audiences: &'a [String],
    /// Service roles, already validated.
    pub service_roles: &'a [String],
}

/// The columns of [`ClientRow`], as a literal so that `concat!` can build whole statements from it.
macro_rules! client_columns {
    () => {
        "id, client_id, name, secret_hash, public, redirect_uris, post_logout_redirect_uris, grant_types, scope, \
         skip_consent, created_at, web_origins, resource_audiences, service_roles"
    };
}

const CLIENT_COLUMNS: &str = client_columns!();

/// A client by its public client_id (every token, introspection and
/// authorize request). `pub(crate)` so the index test EXPLAINs it.
pub(crate) const FIND_CLIENT: &str = concat!("select ", client_columns!(), " from clients where client_id = $1");

impl Db<'_> {
    /// Inserts a client; a taken client_id is `Error::Conflict`.
    pub async fn insert_client(&mut self, n: &NewClient<'_>) -> Result<()> {
        let redirects = serde_json::to_string(n.redirect_uris).map_err(|e| Error::Corrupt(e.to_string()))?;
        let logouts = serde_json::to_string(n.post_logout_redirect_uris).map_err(|e| Error::Corrupt(e.to_string()))?;
        let origins = serde_json::to_string(n.web_origins).map_err(|e| Error::Corrupt(e.to_string()))?;
        let audiences = serde_json::to_string(n.resource_audiences).map_err(|e| Error::Corrupt(e.to_string()))?;
        let roles = serde_json::to_string(n.service_roles).map_err(|e| Error::Corrupt(e.to_string()))?;
        exec!(
            self,
            sqlx::query(
                "insert into clients (id, client_id, name, secret_hash, public, redirect_uris, \
             post_logout_redirect_uris, grant_types, scope, skip_consent, created_at, web_origins, \
             resource_audiences, service_roles) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
            )
            .bind(n.id)
            .bind(n.client_id)
            .bind(n.name)
            .bind(n.secret_hash)
            .bind(n.public)
            .bind(&redirects)
            .bind(&logouts)
            .bind(n.grant_types)
            .bind(n.scope)
            .bind(n.skip_consent)
            .bind(n.now)
            .bind(&origins)
            .bind(&audiences)
            .bind(&roles)
        )?;
        Ok(())
    }

    /// Finds a client by its public client_id.
    pub async fn find_client(&mut self, client_id: &str) -> Result<Option<ClientRow>> {
        Ok(on!(self, |c| sqlx::query_as::<_, ClientRow>(FIND_CLIENT).bind(client_id).fetch_optional(c).await)?)
    }

    /// All clients, by client_id.
    pub async fn list_clients(&mut self) -> Result<Vec<ClientRow>> {
        let sql = format!("select {CLIENT_COLUMNS} from clients order by client_id");
        Ok(on!(self, |c| sqlx::query_as::<_, ClientRow>(AssertSqlSafe(sql.as_str())).fetch_all(c).await)?)
    }

    /// Locks a client's row until the transaction ends (a no-op write: on
    /// PostgreSQL it takes the row lock, so a read-compare-write in the same
    /// transaction cannot interleave with another; SQLite's `BEGIN
    /// IMMEDIATE` serializes writers already). False if there is none.
    pub async fn lock_client(&mut self, client_id: &str) -> Result<bool> {
        Ok(exec!(self, sqlx::query("update clients set name = name where client_id = $1").bind(client_id))? == 1)
    }

    /// Up to `limit` clients after `after` (a client_id), by client_id.
    pub async fn clients_after(&mut self, after: Option<&str>, limit: i64) -> Result<Vec<ClientRow>> {
        let sql = format!("select {CLIENT_COLUMNS} from clients where client_id > $1 order by client_id limit $2");
        Ok(on!(self, |c| sqlx::query_as::<_, ClientRow>(AssertSqlSafe(sql.as_str()))
            .bind(after.unwrap_or(""))
            .bind(limit)
            .fetch_all(c)
            .await)?)
    }

    /// Replaces a client's registration (everything but its id, type,
    /// secret and creation time); returns whether it exists.
    pub async fn update_client(&mut self, n: &NewClient<'_>) -> Result<bool> {
        let redirects = serde_json::to_string(n.redirect_uris).map_err(|e| Error::Corrupt(e.to_string()))?;
        let logouts = serde_json::to_string(n.post_logout_redirect_uris).map_err(|e| Error::Corrupt(e.to_string()))?;
        let origins = serde_json::to_string(n.web_origins).map_err(|e| Error::Corrupt(e.to_string()))?;
        let audiences = serde_json::to_string(n.resource_audiences).map_err(|e| Error::Corrupt(e.to_string()))?;
        let roles = serde_json::to_string(n.service_roles).map_err(|e| Error::Corrupt(e.to_string()))?;
        let done = exec!(
            self,
            sqlx::query(
                "update clients set name = $1, redirect_uris = $2, post_logout_redirect_uris = $3, \
                 grant_types = $4, scope = $5, skip_consent = $6, web_origins = $8, \
                 resource_audiences = $9, service_roles = $10 where client_id = $7"
            )
            .bind(n.name)
            .bind(&redirects)
            .bind(&logouts)
            .bind(n.grant_types)
            .bind(n.scope)
            .bind(n.skip_consent)
            .bind(n.client_id)
            .bind(&origins)
            .bind(&audiences)
            .bind(&roles)
        )?;
        Ok(done == 1)
    }

    /// Replaces a confidential client's secret hash; false if there is no
    /// such confidential client.
    pub async fn set_client_secret(&mut self, client_id: &str, secret_hash: &str) -> Result<bool> {
        let done = exec!(
            self,
            sqlx::query("update clients set secret_hash = $1 where client_id = $2 and public = false")
                .bind(secret_hash)
                .bind(client_id)
        )?;
        Ok(done == 1)
    }

    /// Deletes a client; returns whether it existed. Its grants are
    /// [`Db::delete_client_grants`]'s business, in the same transaction.
    pub async fn delete_client(&mut self, client_id: &str) -> Result<bool> {
        let done = exec!(self, sqlx::query("delete from clients where client_id = $1").bind(client_id))?;
        Ok(done == 1)
    }

    /// Deletes every code, token and consent a client holds, so that a client
    /// registered again under the same id starts empty; returns how many rows.
    pub async fn delete_client_grants(&mut self, client_id: &str) -> Result<u64> {
        let mut n = 0;
        for table in ["authorization_codes", "access_tokens", "refresh_tokens", "consents"] {
            let sql = format!("delete from {table} where client_id = $1");
            n += exec!(self, sqlx::query(AssertSqlSafe(sql.as_str())).bind(client_id))?;
        }
        Ok(n)
    }

    /// What deleting a client would remove: its live (unexpired, unrevoked)
    /// access and refresh tokens, its consents, and its codes.
    pub async fn client_usage(&mut self, client_id: &str, now: i64) -> Result<(i64, i64, i64)> {
        let tokens: i64 = on!(self, |c| {
            sqlx::query_scalar(
            "select (select count(*) from access_tokens where client_id = $1 and expires_at > $2 and revoked_at is null) \
             + (select count(*) from refresh_tokens where client_id = $1 and expires_at > $2 and revoked_at is null \
             and used_at is null)"
        )
        .bind(client_id)
        .bind(now)
        .fetch_one(c)
        .await
        })?;
        let consents: i64 = on!(self, |c| sqlx::query_scalar("select count(*) from consents where client_id = $1")
            .bind(client_id)
            .fetch_one(c)
            .await)?;
        let codes: i64 =
            on!(self, |c| sqlx::query_scalar("select count(*) from authorization_codes where client_id = $1")
                .bind(client_id)
                .fetch_one(c)
                .await)?;
        Ok((tokens, consents, codes))
    }
}
