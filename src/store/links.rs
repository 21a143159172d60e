//! `mail_links` (single-use links sent by mail, stored as hashes) and
//! `known_devices` (where a user has signed in from, hashed).
use super::{Db, Result, exec, on};

/// Columns for a new link.
pub struct NewLink<'a> {
    pub id: &'a str,
    pub token_hash: &'a str,
    pub user_id: &'a str,
    pub purpose: &'a str,
    /// The address the link is about (a new address to confirm, an old one to restore).
    pub email: &'a str,
    /// Its normalized key ("" when `email` is).
    pub email_key: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

/// What a spent link was for.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SpentLink {
    pub user_id: String,
    pub email: String,
    /// When the link was made (the event it reports happened then).
    pub created_at: i64,
}

/// Takes the user's row lock for the rest of the transaction (refresh and
/// revocation serialise on it). `pub(crate)` so the index test EXPLAINs it.
pub(crate) const LOCK_USER: &str = "update users set updated_at = updated_at where id = $1";

impl Db<'_> {
    /// Stores a link.
    pub async fn insert_link(&mut self, l: &NewLink<'_>) -> Result<()> {
        exec!(
            self,
            sqlx::query(
                "insert into mail_links (id, token_hash, user_id, purpose, email, email_key, created_at, expires_at) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8)"
            )
            .bind(l.id)
            .bind(l.token_hash)
            .bind(l.user_id)
            .bind(l.purpose)
            .bind(l.email)
            .bind(l.email_key)
            .bind(l.now)
            .bind(l.expires_at)
        )?;
        Ok(())
    }

    /// Spends a live link in one atomic update (of concurrent callers, one
    /// wins). `None`: unknown, used, expired, or made for another purpose.
    pub async fn spend_link(&mut self, token_hash: &str, purpose: &str, now: i64) -> Result<Option<SpentLink>> {
        Ok(on!(self, |c| sqlx::query_as::<_, SpentLink>(
            "update mail_links set used_at = $1 \
             where token_hash = $2 and purpose = $3 and used_at is null and expires_at > $1 \
             returning user_id, email, created_at"
        )
        .bind(now)
        .bind(token_hash)
        .bind(purpose)
        .fetch_optional(c)
        .await)?)
    }

    /// Whether a link is live (for showing its page before the POST spends it).
    pub async fn link_is_live(&mut self, token_hash: &str, purpose: &str, now: i64) -> Result<bool> {
        let n: i64 = on!(self, |c| sqlx::query_scalar(
            "select count(*) from mail_links \
             where token_hash = $1 and purpose = $2 and used_at is null and expires_at > $3"
        )
        .bind(token_hash)
        .bind(purpose)
        .bind(now)
        .fetch_one(c)
        .await)?;
        Ok(n > 0)
    }

    /// Ends every live link of the user for `purpose` (a newer one replaces them).
    pub async fn void_links(&mut self, user_id: &str, purpose: &str, now: i64) -> Result<u64> {
        Ok(exec!(
            self,
            sqlx::query("update mail_links set used_at = $1 where user_id = $2 and purpose = $3 and used_at is null")
                .bind(now)
                .bind(user_id)
                .bind(purpose)
        )?)
    }

    /// Ends every live link of the user whose purpose is in `purposes` (an
    /// account change makes them stale: OWASP Forgot Password Cheat Sheet).
    pub async fn void_links_of(&mut self, user_id: &str, purposes: &[&str], now: i64) -> Result<u64> {
        let mut ended = 0;
        for purpose in purposes {
            ended += self.void_links(user_id, purpose, now).await?;
        }
        Ok(ended)
    }

    /// Links made for the user and `purpose` since `since` (a send-rate limit).
    pub async fn count_links_since(&mut self, user_id: &str, purpose: &str, since: i64) -> Result<i64> {
        Ok(on!(self, |c| sqlx::query_scalar(
            "select count(*) from mail_links where user_id = $1 and purpose = $2 and created_at >= $3"
        )
        .bind(user_id)
        .bind(purpose)
        .bind(since)
        .fetch_one(c)
        .await)?)
    }

    /// Whether a live link of `purpose` for another user than `user_id`
    /// carries the address `email_key` (an address that an undo link may
    /// restore stays reserved for its owner).
    pub async fn email_reserved(&mut self, email_key: &str, purpose: &str, user_id: &str, now: i64) -> Result<bool> {
        let n: i64 = on!(self, |c| sqlx::query_scalar(
            "select count(*) from mail_links \
             where email_key = $1 and purpose = $2 and used_at is null and expires_at > $3 and user_id <> $4"
        )
        .bind(email_key)
        .bind(purpose)
        .bind(now)
        .bind(user_id)
        .fetch_one(c)
        .await)?;
        Ok(n > 0)
    }

    /// Takes the user's row lock for the rest of the transaction, so that
    /// count-then-insert rate limits hold under concurrent requests.
    pub async fn lock_user(&mut self, user_id: &str) -> Result<()> {
        exec!(self, sqlx::query(LOCK_USER).bind(user_id))?;
        Ok(())
    }

    /// Records a sign-in from a device or network; `true` if it was seen before.
    pub async fn touch_known(&mut self, user_id: &str, kind: &str, value_hash: &str, now: i64) -> Result<bool> {
        let seen = exec!(
            self,
            sqlx::query("update known_devices set last_seen = $1 where user_id = $2 and kind = $3 and value_hash = $4")
                .bind(now)
                .bind(user_id)
                .bind(kind)
                .bind(value_hash)
        )?;
        if seen > 0 {
            return Ok(true);
        }
        // Two sign-ins racing here both insert; the loser's row already exists.
        exec!(
            self,
            sqlx::query(
                "insert into known_devices (user_id, kind, value_hash, first_seen, last_seen) \
                 values ($1, $2, $3, $4, $4) on conflict do nothing"
            )
            .bind(user_id)
            .bind(kind)
            .bind(value_hash)
            .bind(now)
        )?;
        Ok(false)
    }

    /// Whether the user has signed in from anywhere before.
    pub async fn has_known(&mut self, user_id: &str) -> Result<bool> {
        let n: i64 = on!(self, |c| sqlx::query_scalar("select count(*) from known_devices where user_id = $1")
            .bind(user_id)
            .fetch_one(c)
            .await)?;
        Ok(n > 0)
    }
}
