//! `refresh_tokens`: opaque, stored hashed, rotated on every use. A family is
//! every token descended from one authorization; replaying a spent member
//! revokes the family (OAuth 2.0 Security BCP, RFC 9700 §4.14.2).
use sqlx::FromRow;

use super::{Db, Result, exec, on};

/// A refresh token as stored.
#[derive(Debug, Clone, FromRow)]
pub struct RefreshRow {
    pub id: String,
    pub family_id: String,
    pub client_id: String,
    pub user_id: String,
    pub session_id: Option<String>,
    pub scope: String,
    pub auth_time: i64,
    pub amr: String,
    /// When this token was issued (unix seconds).
    pub created_at: i64,
    pub expires_at: i64,
    pub family_expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// Granted for `offline_access`: outlives its session (OIDC Core §11).
    pub offline: bool,
}

/// Columns for a new refresh token.
pub struct NewRefresh<'a> {
    pub id: &'a str,
    pub token_hash: &'a str,
    pub family_id: &'a str,
    pub code_id: Option<&'a str>,
    pub client_id: &'a str,
    pub user_id: &'a str,
    pub session_id: Option<&'a str>,
    pub scope: &'a str,
    pub auth_time: i64,
    pub amr: &'a str,
    pub now: i64,
    pub expires_at: i64,
    pub family_expires_at: i64,
    pub offline: bool,
}

/// The columns of [`RefreshRow`], as a literal so that `concat!` can build whole statements from it.
macro_rules! refresh_columns {
    () => {
        "id, family_id, client_id, user_id, session_id, scope, auth_time, amr, created_at, \
         expires_at, family_expires_at, used_at, revoked_at, offline"
    };
}

/// Spends a refresh token by hash (the refresh grant). `pub(crate)` so the
/// index test EXPLAINs the statements the store runs.
pub(crate) const SPEND_REFRESH: &str = concat!(
    "update refresh_tokens set used_at = $1 \
     where token_hash = $2 and used_at is null and revoked_at is null returning ",
    refresh_columns!()
);

/// A refresh token by hash, in any state (refresh, introspection, revocation).
pub(crate) const FIND_REFRESH: &str =
    concat!("select ", refresh_columns!(), " from refresh_tokens where token_hash = $1");

/// Revokes a family's refresh tokens (replay, revocation).
pub(crate) const REVOKE_FAMILY_REFRESH: &str =
    "update refresh_tokens set revoked_at = $1 where family_id = $2 and revoked_at is null";

/// Revokes a family's access tokens.
pub(crate) const REVOKE_FAMILY_ACCESS: &str =
    "update access_tokens set revoked_at = $1 where family_id = $2 and revoked_at is null";

impl Db<'_> {
    /// Stores a refresh token.
    pub async fn insert_refresh(&mut self, r: &NewRefresh<'_>) -> Result<()> {
        exec!(
            self,
            sqlx::query(
                "insert into refresh_tokens (id, token_hash, family_id, code_id, client_id, user_id, session_id, \
                 scope, auth_time, amr, created_at, expires_at, family_expires_at, offline) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
            )
            .bind(r.id)
            .bind(r.token_hash)
            .bind(r.family_id)
            .bind(r.code_id)
            .bind(r.client_id)
            .bind(r.user_id)
            .bind(r.session_id)
            .bind(r.scope)
            .bind(r.auth_time)
            .bind(r.amr)
            .bind(r.now)
            .bind(r.expires_at)
            .bind(r.family_expires_at)
            .bind(r.offline)
        )?;
        Ok(())
    }

    /// Spends a live refresh token in one atomic update: of concurrent
    /// callers, exactly one gets the row. `None`: unknown, spent or revoked.
    pub async fn spend_refresh(&mut self, token_hash: &str, now: i64) -> Result<Option<RefreshRow>> {
        Ok(on!(self, |c| sqlx::query_as::<_, RefreshRow>(SPEND_REFRESH)
            .bind(now)
            .bind(token_hash)
            .fetch_optional(c)
            .await)?)
    }

    /// A refresh token by hash, in any state.
    pub async fn find_refresh(&mut self, token_hash: &str) -> Result<Option<RefreshRow>> {
        Ok(on!(self, |c| sqlx::query_as::<_, RefreshRow>(FIND_REFRESH).bind(token_hash).fetch_optional(c).await)?)
    }

    /// Revokes a family: its refresh tokens and the access tokens issued with them.
    pub async fn revoke_family(&mut self, family_id: &str, now: i64) -> Result<u64> {
        let refresh = exec!(self, sqlx::query(REVOKE_FAMILY_REFRESH).bind(now).bind(family_id))?;
        exec!(self, sqlx::query(REVOKE_FAMILY_ACCESS).bind(now).bind(family_id))?;
        Ok(refresh)
    }

    /// Revokes the families that grew from a code (a replayed code, RFC 6749 §4.1.2).
    pub async fn revoke_families_of_code(&mut self, code_id: &str, now: i64) -> Result<u64> {
        exec!(
            self,
            sqlx::query(
                "update access_tokens set revoked_at = $1 where revoked_at is null and family_id in \
                 (select family_id from refresh_tokens where code_id = $2)"
            )
            .bind(now)
            .bind(code_id)
        )?;
        Ok(exec!(
            self,
            sqlx::query(
                "update refresh_tokens set revoked_at = $1 where revoked_at is null and family_id in \
                 (select family_id from refresh_tokens where code_id = $2)"
            )
            .bind(now)
            .bind(code_id)
        )?)
    }

    /// Revokes what was issued under a browser session: its access tokens,
    /// and its refresh tokens except the `offline_access` ones (OIDC Core §11).
    pub async fn revoke_session_tokens(&mut self, session_id: &str, now: i64) -> Result<()> {
        exec!(
            self,
            sqlx::query(
                "update refresh_tokens set revoked_at = $1 \
                 where session_id = $2 and revoked_at is null and offline = false"
            )
            .bind(now)
            .bind(session_id)
        )?;
        exec!(
            self,
            sqlx::query("update access_tokens set revoked_at = $1 where session_id = $2 and revoked_at is null")
                .bind(now)
                .bind(session_id)
        )?;
        Ok(())
    }

    /// Revokes one access token by jti.
    pub async fn revoke_access(&mut self, jti: &str, now: i64) -> Result<()> {
        exec!(
            self,
            sqlx::query("update access_tokens set revoked_at = $1 where jti = $2 and revoked_at is null")
                .bind(now)
                .bind(jti)
        )?;
        Ok(())
    }

    /// Revokes every refresh token of a user and the access tokens issued
    /// with them (a password change); access tokens of the user's code grants
    /// go with the sessions they belong to.
    pub async fn revoke_user_refresh(&mut self, user_id: &str, now: i64) -> Result<()> {
        exec!(
            self,
            sqlx::query(
                "update access_tokens set revoked_at = $1 where user_id = $2 and revoked_at is null \
                 and family_id is not null"
            )
            .bind(now)
            .bind(user_id)
        )?;
        exec!(
            self,
            sqlx::query("update refresh_tokens set revoked_at = $1 where user_id = $2 and revoked_at is null")
                .bind(now)
                .bind(user_id)
        )?;
        Ok(())
    }

    /// Revokes every refresh family and access token of a user (sign out
    /// everywhere, password reset, block).
    pub async fn revoke_user_tokens(&mut self, user_id: &str, now: i64) -> Result<()> {
        exec!(
            self,
            sqlx::query("update refresh_tokens set revoked_at = $1 where user_id = $2 and revoked_at is null")
                .bind(now)
                .bind(user_id)
        )?;
        exec!(
            self,
            sqlx::query("update access_tokens set revoked_at = $1 where user_id = $2 and revoked_at is null")
                .bind(now)
                .bind(user_id)
        )?;
        Ok(())
    }
}
