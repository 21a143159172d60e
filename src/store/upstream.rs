//! `upstream_identities` (which provider accounts belong to which user) and
//! `upstream_flows` (flows in progress, bound to a browser, used once).
use sqlx::FromRow;

use super::{Db, Result, exec, on};

/// One linked upstream account.
#[derive(Debug, Clone, FromRow)]
pub struct IdentityRow {
    pub provider: String,
    pub subject: String,
    pub user_id: String,
    pub email: String,
    pub created_at: i64,
    pub last_used_at: i64,
}

/// Columns for a new flow.
pub struct NewFlow<'a> {
    pub id: &'a str,
    /// `start` or `link`.
    pub purpose: &'a str,
    pub key_hash: &'a str,
    pub browser_hash: &'a str,
    pub provider: &'a str,
    pub secret: &'a str,
    pub next: &'a str,
    pub link_user_id: Option<&'a str>,
    pub now: i64,
    pub expires_at: i64,
}

/// A flow taken out of the table (it is gone once read).
#[derive(Clone, FromRow)]
pub struct FlowRow {
    pub provider: String,
    pub secret: String,
    pub next: String,
    pub link_user_id: Option<String>,
    pub created_at: i64,
}

impl std::fmt::Debug for FlowRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `secret` holds the PKCE verifier and nonce.
        f.debug_struct("FlowRow").field("provider", &self.provider).finish_non_exhaustive()
    }
}

impl Db<'_> {
    /// The user an upstream account is linked to.
    pub async fn upstream_identity(&mut self, provider: &str, subject: &str) -> Result<Option<IdentityRow>> {
        Ok(on!(self, |c| sqlx::query_as::<_, IdentityRow>(
            "select provider, subject, user_id, email, created_at, last_used_at from upstream_identities \
             where provider = $1 and subject = $2"
        )
        .bind(provider)
        .bind(subject)
        .fetch_optional(c)
        .await)?)
    }

    /// A user's linked upstream accounts, by provider.
    pub async fn user_upstream_identities(&mut self, user_id: &str) -> Result<Vec<IdentityRow>> {
        Ok(on!(self, |c| sqlx::query_as::<_, IdentityRow>(
            "select provider, subject, user_id, email, created_at, last_used_at from upstream_identities \
             where user_id = $1 order by provider, created_at"
        )
        .bind(user_id)
        .fetch_all(c)
        .await)?)
    }

    /// Links an upstream account; `Error::Conflict` if it is linked already.
    pub async fn insert_upstream_identity(
        &mut self,
        provider: &str,
        subject: &str,
        user_id: &str,
        email: &str,
        now: i64,
    ) -> Result<()> {
        exec!(
            self,
            sqlx::query(
                "insert into upstream_identities (provider, subject, user_id, email, created_at, last_used_at) \
                 values ($1, $2, $3, $4, $5, $5)"
            )
            .bind(provider)
            .bind(subject)
            .bind(user_id)
            .bind(email)
            .bind(now)
        )?;
        Ok(())
    }

    /// Notes a sign-in through a linked account.
    pub async fn touch_upstream_identity(&mut self, provider: &str, subject: &str, now: i64) -> Result<()> {
        exec!(
            self,
            sqlx::query("update upstream_identities set last_used_at = $1 where provider = $2 and subject = $3")
                .bind(now)
                .bind(provider)
                .bind(subject)
        )?;
        Ok(())
    }

    /// Unlinks every account of `provider` from the user; the number removed.
    pub async fn delete_upstream_identities(&mut self, user_id: &str, provider: &str) -> Result<u64> {
        Ok(exec!(
            self,
            sqlx::query("delete from upstream_identities where user_id = $1 and provider = $2")
                .bind(user_id)
                .bind(provider)
        )?)
    }

    pub async fn insert_upstream_flow(&mut self, f: &NewFlow<'_>) -> Result<()> {
        exec!(
            self,
            sqlx::query(
                "insert into upstream_flows (id, purpose, key_hash, browser_hash, provider, secret, next, \
                 link_user_id, created_at, expires_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            )
            .bind(f.id)
            .bind(f.purpose)
            .bind(f.key_hash)
            .bind(f.browser_hash)
            .bind(f.provider)
            .bind(f.secret)
            .bind(f.next)
            .bind(f.link_user_id)
            .bind(f.now)
            .bind(f.expires_at)
        )?;
        Ok(())
    }

    /// Takes a live flow out of the table: it must match its purpose, key,
    /// browser and provider. The delete makes it single-use, even across
    /// instances racing for it.
    pub async fn take_upstream_flow(
        &mut self,
        purpose: &str,
        key_hash: &str,
        browser_hash: &str,
        provider: Option<&str>,
        now: i64,
    ) -> Result<Option<FlowRow>> {
        Ok(on!(self, |c| sqlx::query_as::<_, FlowRow>(
            "delete from upstream_flows where purpose = $1 and key_hash = $2 and browser_hash = $3 \
             and ($4 is null or provider = $4) and expires_at > $5 \
             returning provider, secret, next, link_user_id, created_at"
        )
        .bind(purpose)
        .bind(key_hash)
        .bind(browser_hash)
        .bind(provider)
        .bind(now)
        .fetch_optional(c)
        .await)?)
    }

    /// Reads a live flow without taking it (the link confirmation page).
    pub async fn peek_upstream_flow(
        &mut self,
        purpose: &str,
        key_hash: &str,
        browser_hash: &str,
        now: i64,
    ) -> Result<Option<FlowRow>> {
        Ok(on!(self, |c| sqlx::query_as::<_, FlowRow>(
            "select provider, secret, next, link_user_id, created_at from upstream_flows where purpose = $1 \
             and key_hash = $2 and browser_hash = $3 and expires_at > $4"
        )
        .bind(purpose)
        .bind(key_hash)
        .bind(browser_hash)
        .bind(now)
        .fetch_optional(c)
        .await)?)
    }
}
