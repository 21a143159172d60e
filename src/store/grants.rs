//! `authorization_codes`, `consents`, `access_tokens`: the authorization code
//! grant's state. Codes are consumed with one atomic update (RFC 6749 §10.5:
//! single use), so two concurrent redemptions cannot both succeed.
use sqlx::FromRow;

use super::{Db, Result, exec, on};

/// A code as stored (by hash).
#[derive(Debug, Clone, FromRow)]
pub struct CodeRow {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    pub session_id: Option<String>,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub amr: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// Columns for a new code.
pub struct NewCode<'a> {
    pub id: &'a str,
    pub code_hash: &'a str,
    pub client_id: &'a str,
    pub user_id: &'a str,
    pub session_id: Option<&'a str>,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
    pub nonce: Option<&'a str>,
    pub code_challenge: Option<&'a str>,
    pub auth_time: i64,
    pub amr: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

/// A recorded access token.
#[derive(Debug, Clone, FromRow)]
pub struct AccessRow {
    pub jti: String,
    pub client_id: String,
    pub user_id: Option<String>,
    pub scope: String,
    pub expires_at: i64,
}

/// Columns for a new access token record.
pub struct NewAccess<'a> {
    pub jti: &'a str,
    pub client_id: &'a str,
    pub user_id: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub code_id: Option<&'a str>,
    pub family_id: Option<&'a str>,
    pub scope: &'a str,
    pub expires_at: i64,
}

/// A live access token by jti (introspection, revocation checks).
/// `pub(crate)` so the index test EXPLAINs the statements the store runs.
pub(crate) const LIVE_ACCESS: &str = "select jti, client_id, user_id, scope, expires_at from access_tokens \
     where jti = $1 and revoked_at is null and expires_at > $2";

/// The unblocked user behind a live access token (userinfo, the JSON API).
pub(crate) const LIVE_ACCESS_USER: &str = "select u.id, u.username, u.email, u.email_verified, u.display_name, \
     u.password_hash, u.blocked, u.created_at from access_tokens a join users u on u.id = a.user_id \
     where a.jti = $1 and a.revoked_at is null and a.expires_at > $2 and u.blocked = false";

const CODE_COLUMNS: &str = "id, client_id, user_id, session_id, redirect_uri, scope, nonce, code_challenge, \
    auth_time, amr, expires_at, used_at";

impl Db<'_> {
    /// Stores a new authorization code.
    pub async fn insert_code(&mut self, c: &NewCode<'_>) -> Result<()> {
        exec!(
            self,
            sqlx::query(
                "insert into authorization_codes (id, code_hash, client_id, user_id, session_id, redirect_uri, \
                 scope, nonce, code_challenge, auth_time, amr, created_at, expires_at) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            )
            .bind(c.id)
            .bind(c.code_hash)
            .bind(c.client_id)
            .bind(c.user_id)
            .bind(c.session_id)
            .bind(c.redirect_uri)
            .bind(c.scope)
            .bind(c.nonce)
            .bind(c.code_challenge)
            .bind(c.auth_time)
            .bind(c.amr)
            .bind(c.now)
            .bind(c.expires_at)
        )?;
        Ok(())
    }

    /// Marks the code used and returns it, if it was unused. `None` means
    /// unknown or already used; [`Db::find_code`] tells which.
    pub async fn consume_code(&mut self, code_hash: &str, now: i64) -> Result<Option<CodeRow>> {
        let sql = format!(
            "update authorization_codes set used_at = $1 where code_hash = $2 and used_at is null returning {CODE_COLUMNS}"
        );
        Ok(on!(self, |c| sqlx::query_as::<_, CodeRow>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(now)
            .bind(code_hash)
            .fetch_optional(c)
            .await)?)
    }

    /// A code by hash, used or not.
    pub async fn find_code(&mut self, code_hash: &str) -> Result<Option<CodeRow>> {
        let sql = format!("select {CODE_COLUMNS} from authorization_codes where code_hash = $1");
        Ok(on!(self, |c| sqlx::query_as::<_, CodeRow>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(code_hash)
            .fetch_optional(c)
            .await)?)
    }

    /// The scopes `user_id` has allowed `client_id`, if any.
    pub async fn consent(&mut self, user_id: &str, client_id: &str) -> Result<Option<String>> {
        Ok(on!(self, |c| sqlx::query_scalar("select scope from consents where user_id = $1 and client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .fetch_optional(c)
            .await)?)
    }

    /// Records (or widens) a consent.
    pub async fn save_consent(&mut self, user_id: &str, client_id: &str, scope: &str, now: i64) -> Result<()> {
        exec!(
            self,
            sqlx::query(
                "insert into consents (user_id, client_id, scope, updated_at) values ($1, $2, $3, $4) \
                 on conflict (user_id, client_id) do update set scope = excluded.scope, updated_at = excluded.updated_at"
            )
            .bind(user_id)
            .bind(client_id)
            .bind(scope)
            .bind(now)
        )?;
        Ok(())
    }

    /// Records an issued access token.
    pub async fn insert_access(&mut self, a: &NewAccess<'_>) -> Result<()> {
        exec!(
            self,
            sqlx::query(
                "insert into access_tokens (jti, client_id, user_id, code_id, family_id, scope, expires_at, session_id) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8)"
            )
            .bind(a.jti)
            .bind(a.client_id)
            .bind(a.user_id)
            .bind(a.code_id)
            .bind(a.family_id)
            .bind(a.scope)
            .bind(a.expires_at)
            .bind(a.session_id)
        )?;
        Ok(())
    }

    /// An access token that is recorded, unexpired and not revoked.
    pub async fn live_access(&mut self, jti: &str, now: i64) -> Result<Option<AccessRow>> {
        Ok(on!(self, |c| sqlx::query_as::<_, AccessRow>(LIVE_ACCESS).bind(jti).bind(now).fetch_optional(c).await)?)
    }

    /// The user behind a live access token, in one query: the token is
    /// recorded, unexpired and not revoked, and the user is not blocked.
    pub async fn live_access_user(&mut self, jti: &str, now: i64) -> Result<Option<super::UserRow>> {
        Ok(on!(self, |c| sqlx::query_as::<_, super::UserRow>(LIVE_ACCESS_USER)
            .bind(jti)
            .bind(now)
            .fetch_optional(c)
            .await)?)
    }

    /// Revokes every access token issued from a code (RFC 6749 §4.1.2, replay).
    pub async fn revoke_access_by_code(&mut self, code_id: &str, now: i64) -> Result<u64> {
        Ok(exec!(
            self,
            sqlx::query("update access_tokens set revoked_at = $1 where code_id = $2 and revoked_at is null")
                .bind(now)
                .bind(code_id)
        )?)
    }
}
