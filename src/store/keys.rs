//! `signing_keys`: token signing keys and their rotation state.
use sqlx::FromRow;

use super::{Db, Result, exec, on};

/// A signing key as stored (private part still encrypted).
#[derive(Clone, FromRow)]
pub struct KeyRow {
    pub id: String,
    pub alg: String,
    pub state: String,
    pub public_jwk: String,
    pub private_key: String,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retiring_at: Option<i64>,
}

impl std::fmt::Debug for KeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRow").field("id", &self.id).field("state", &self.state).finish_non_exhaustive()
    }
}

impl Db<'_> {
    /// Every key not yet retired, oldest first.
    pub async fn live_keys(&mut self) -> Result<Vec<KeyRow>> {
        Ok(on!(self, |c| sqlx::query_as::<_, KeyRow>(
            "select id, alg, state, public_jwk, private_key, created_at, activated_at, retiring_at \
             from signing_keys where state <> 'retired' order by created_at, id"
        )
        .fetch_all(c)
        .await)?)
    }

    /// Every key, newest first (for operators).
    pub async fn all_keys(&mut self) -> Result<Vec<KeyRow>> {
        Ok(on!(self, |c| sqlx::query_as::<_, KeyRow>(
            "select id, alg, state, public_jwk, private_key, created_at, activated_at, retiring_at \
             from signing_keys order by created_at desc, id desc"
        )
        .fetch_all(c)
        .await)?)
    }

    /// Up to `limit` keys, newest first, after the key `(created_at, id)`
    /// of the last one of the previous page.
    pub async fn keys_page(&mut self, after: Option<(i64, &str)>, limit: i64) -> Result<Vec<KeyRow>> {
        let keyset = if after.is_some() { "where (created_at, id) < ($1, $2)" } else { "where $1 = $1 and $2 = $2" };
        let (at, id) = after.unwrap_or((0, ""));
        let sql = format!(
            "select id, alg, state, public_jwk, private_key, created_at, activated_at, retiring_at \
             from signing_keys {keyset} order by created_at desc, id desc limit $3"
        );
        Ok(on!(self, |c| sqlx::query_as::<_, KeyRow>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(at)
            .bind(id)
            .bind(limit)
            .fetch_all(c)
            .await)?)
    }

    /// Stores a new key; a second `next` or `current` is `Error::Conflict`.
    pub async fn insert_key(&mut self, k: &KeyRow) -> Result<()> {
        exec!(
            self,
            sqlx::query(
                "insert into signing_keys (id, alg, state, public_jwk, private_key, created_at, activated_at) \
                 values ($1, $2, $3, $4, $5, $6, $7)"
            )
            .bind(&k.id)
            .bind(&k.alg)
            .bind(&k.state)
            .bind(&k.public_jwk)
            .bind(&k.private_key)
            .bind(k.created_at)
            .bind(k.activated_at)
        )?;
        Ok(())
    }

    /// Moves a key from state `from` to `to`, stamping the matching time
    /// column; false if it was no longer in `from` (another instance won).
    pub async fn move_key(&mut self, id: &str, from: &str, to: &str, now: i64) -> Result<bool> {
        let moved = exec!(
            self,
            sqlx::query(
                "update signing_keys set state = $3, \
                 activated_at = case when $3 = 'current' then $4 else activated_at end, \
                 retiring_at = case when $3 = 'retiring' then $4 else retiring_at end, \
                 retired_at = case when $3 = 'retired' then $4 else retired_at end \
                 where id = $1 and state = $2"
            )
            .bind(id)
            .bind(from)
            .bind(to)
            .bind(now)
        )?;
        Ok(moved == 1)
    }
}
