//! `pending_authorize_requests`: authorization requests parked while the
//! user signs in, found again by their opaque id until they expire.
use sqlx::FromRow;

use super::{Db, Result, exec, on};

/// Columns for a new parked request.
pub struct NewPending<'a> {
    pub id: &'a str,
    pub client_id: &'a str,
    /// The parameters as a JSON array of `[name, value]` pairs.
    pub params: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

/// A parked request as stored.
#[derive(Debug, Clone, FromRow)]
pub struct PendingRow {
    pub client_id: String,
    pub params: String,
    pub created_at: i64,
}

impl Db<'_> {
    /// Parks a request.
    pub async fn insert_pending_authorize(&mut self, p: &NewPending<'_>) -> Result<()> {
        exec!(
            self,
            sqlx::query(
                "insert into pending_authorize_requests (id, client_id, params, created_at, expires_at) \
                 values ($1, $2, $3, $4, $5)"
            )
            .bind(p.id)
            .bind(p.client_id)
            .bind(p.params)
            .bind(p.now)
            .bind(p.expires_at)
        )?;
        Ok(())
    }

    /// A parked request that has not expired at `now`. Reading does not use
    /// it up: a reload of the resumed page finds it again.
    pub async fn find_pending_authorize(&mut self, id: &str, now: i64) -> Result<Option<PendingRow>> {
        Ok(on!(self, |c| sqlx::query_as::<_, PendingRow>(
            "select client_id, params, created_at from pending_authorize_requests where id = $1 and expires_at > $2"
        )
        .bind(id)
        .bind(now)
        .fetch_optional(c)
        .await)?)
    }

    /// Deletes at most `limit` requests that expired before `before` (one
    /// short statement per batch); the number deleted.
    pub async fn purge_pending_authorize(&mut self, before: i64, limit: i64) -> Result<u64> {
        Ok(exec!(
            self,
            sqlx::query(
                "delete from pending_authorize_requests where id in \
                 (select id from pending_authorize_requests where expires_at < $1 order by expires_at limit $2)"
            )
            .bind(before)
            .bind(limit)
        )?)
    }
}
