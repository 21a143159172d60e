//! `outbox`: mail waiting to be sent, with a lease so that several workers
//! (several instances on PostgreSQL) never send one row at the same time.
//!
//! ```text
//!   enqueue ──► pending ──claim──► leased ──sent──► sent (body emptied)
//!                  ▲                 │
//!                  └──failed (backoff)┤
//!                                    └──failed, attempts used up──► dead
//!   a leased row whose worker died becomes claimable when the lease ends;
//!   a live worker renews its lease while it sends
//! ```
use sqlx::FromRow;

use super::{Db, Result, exec, on};

/// A message as stored.
#[derive(Debug, Clone, FromRow)]
pub struct OutboxRow {
    pub id: String,
    pub message_id: String,
    pub recipient: String,
    pub kind: String,
    pub subject: String,
    pub body: String,
    pub created_at: i64,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub locked_until: i64,
    pub last_error: Option<String>,
    pub sent_at: Option<i64>,
    pub dead_at: Option<i64>,
}

/// Columns for a new message.
pub struct NewOutbox<'a> {
    pub id: &'a str,
    pub message_id: &'a str,
    pub recipient: &'a str,
    pub kind: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub now: i64,
}

/// Outbox counts by state, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxDepth {
    pub pending: i64,
    pub dead: i64,
}

const OUTBOX_COLUMNS: &str = "id, message_id, recipient, kind, subject, body, created_at, attempts, \
    next_attempt_at, locked_until, last_error, sent_at, dead_at";

impl Db<'_> {
    /// Queues a message; due at once.
    pub async fn insert_outbox(&mut self, m: &NewOutbox<'_>) -> Result<()> {
        exec!(
            self,
            sqlx::query(
                "insert into outbox (id, message_id, recipient, kind, subject, body, created_at, next_attempt_at) \
                 values ($1, $2, $3, $4, $5, $6, $7, $7)"
            )
            .bind(m.id)
            .bind(m.message_id)
            .bind(m.recipient)
            .bind(m.kind)
            .bind(m.subject)
            .bind(m.body)
            .bind(m.now)
        )?;
        Ok(())
    }

    /// Claims the oldest due message until `lease_until` and counts the
    /// attempt. The outer `where` repeats the lease test: on PostgreSQL two
    /// workers may pick the same id in the subquery, and the one that waits
    /// on the row lock re-checks only the outer condition against the row
    /// the other just leased, so it updates nothing.
    pub async fn claim_outbox(&mut self, now: i64, lease_until: i64) -> Result<Option<OutboxRow>> {
        let due = "sent_at is null and dead_at is null and next_attempt_at <= $2 and locked_until <= $2";
        let sql = format!(
            "update outbox set locked_until = $1, attempts = attempts + 1 \
             where {due} and id = (select id from outbox where {due} order by next_attempt_at, id limit 1) \
             returning {OUTBOX_COLUMNS}"
        );
        Ok(on!(self, |c| sqlx::query_as::<_, OutboxRow>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(lease_until)
            .bind(now)
            .fetch_optional(c)
            .await)?)
    }

    /// Extends the lease `lease` on a message being sent to `until` (never
    /// shortening it). `None`: the lease is no longer ours (it ran out and
    /// another worker claimed the row, or the row was sent or retried).
    pub async fn renew_outbox(&mut self, id: &str, lease: i64, until: i64) -> Result<Option<i64>> {
        let until = until.max(lease);
        let n = exec!(
            self,
            sqlx::query("update outbox set locked_until = $1 where id = $2 and locked_until = $3 and sent_at is null")
                .bind(until)
                .bind(id)
                .bind(lease)
        )?;
        Ok((n == 1).then_some(until))
    }

    /// Marks a message sent and drops its body (it may hold a live link).
    /// Only the worker still holding the lease `lease` may; `false` means the
    /// lease ran out and another worker took the row.
    pub async fn outbox_sent(&mut self, id: &str, lease: i64, now: i64) -> Result<bool> {
        let n = exec!(
            self,
            sqlx::query(
                "update outbox set sent_at = $1, locked_until = 0, body = '', last_error = null \
                 where id = $2 and locked_until = $3 and sent_at is null"
            )
            .bind(now)
            .bind(id)
            .bind(lease)
        )?;
        Ok(n == 1)
    }

    /// Records a failed attempt: tried again at `retry_at`, or dead (`None`).
    /// Like [`Db::outbox_sent`], only under the lease `lease`.
    pub async fn outbox_failed(
        &mut self,
        id: &str,
        lease: i64,
        error: &str,
        retry_at: Option<i64>,
        now: i64,
    ) -> Result<bool> {
        let n = exec!(
            self,
            sqlx::query(
                "update outbox set locked_until = 0, last_error = $1, \
                 next_attempt_at = coalesce($2, next_attempt_at), \
                 dead_at = case when $2 is null then $3 else null end \
                 where id = $4 and locked_until = $5 and sent_at is null"
            )
            .bind(error)
            .bind(retry_at)
            .bind(now)
            .bind(id)
            .bind(lease)
        )?;
        Ok(n == 1)
    }

    /// Messages, newest first; `unsent_only` leaves out what was sent.
    pub async fn list_outbox(&mut self, unsent_only: bool, limit: i64) -> Result<Vec<OutboxRow>> {
        let filter = if unsent_only { "where sent_at is null" } else { "" };
        let sql = format!("select {OUTBOX_COLUMNS} from outbox {filter} order by created_at desc, id desc limit $1");
        Ok(on!(self, |c| sqlx::query_as::<_, OutboxRow>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(limit)
            .fetch_all(c)
            .await)?)
    }

    /// Up to `limit` messages in `state` (`pending`, `sent`, `dead`, or any
    /// when `None`), newest first, after the key `(created_at, id)` of the
    /// last one of the previous page.
    pub async fn outbox_page(
        &mut self,
        state: Option<&str>,
        after: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<OutboxRow>> {
        let which = match state {
            Some("pending") => "sent_at is null and dead_at is null",
            Some("sent") => "sent_at is not null",
            Some("dead") => "sent_at is null and dead_at is not null",
            _ => "1 = 1",
        };
        let keyset = if after.is_some() { "and (created_at, id) < ($1, $2)" } else { "and $1 = $1 and $2 = $2" };
        let (at, id) = after.unwrap_or((0, ""));
        let sql = format!(
            "select {OUTBOX_COLUMNS} from outbox where {which} {keyset} \
             order by created_at desc, id desc limit $3"
        );
        Ok(on!(self, |c| sqlx::query_as::<_, OutboxRow>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(at)
            .bind(id)
            .bind(limit)
            .fetch_all(c)
            .await)?)
    }

    /// One message.
    pub async fn find_outbox(&mut self, id: &str) -> Result<Option<OutboxRow>> {
        let sql = format!("select {OUTBOX_COLUMNS} from outbox where id = $1");
        Ok(on!(self, |c| sqlx::query_as::<_, OutboxRow>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id)
            .fetch_optional(c)
            .await)?)
    }

    /// Makes an unsent message (dead or waiting) due now with fresh attempts.
    /// `false`: no such message, it was sent already, or a worker is sending
    /// it right now (its lease is not taken away).
    pub async fn retry_outbox(&mut self, id: &str, now: i64) -> Result<bool> {
        let n = exec!(
            self,
            sqlx::query(
                "update outbox set dead_at = null, attempts = 0, next_attempt_at = $1 \
                 where id = $2 and sent_at is null and locked_until <= $1"
            )
            .bind(now)
            .bind(id)
        )?;
        Ok(n == 1)
    }

    /// Deletes sent messages (and dead letters too, if `dead`) created at or
    /// before `before`.
    pub async fn purge_outbox(&mut self, before: i64, dead: bool) -> Result<u64> {
        let which = if dead { "(sent_at is not null or dead_at is not null)" } else { "sent_at is not null" };
        let sql = format!("delete from outbox where {which} and created_at <= $1");
        Ok(exec!(self, sqlx::query(sqlx::AssertSqlSafe(sql)).bind(before))?)
    }

    /// Messages of `kind` queued for `recipient` since `since` (a send-rate limit).
    pub async fn count_outbox_since(&mut self, recipient: &str, kind: &str, since: i64) -> Result<i64> {
        Ok(on!(self, |c| sqlx::query_scalar(
            "select count(*) from outbox where recipient = $1 and kind = $2 and created_at >= $3"
        )
        .bind(recipient)
        .bind(kind)
        .bind(since)
        .fetch_one(c)
        .await)?)
    }

    /// How many messages wait to be sent, and how many are dead.
    pub async fn outbox_depth(&mut self) -> Result<OutboxDepth> {
        // Both counts read only unsent rows (the partial index), however many
        // sent rows wait to be purged.
        let (pending, dead): (i64, i64) = on!(self, |c| sqlx::query_as(
            "select coalesce(sum(case when dead_at is null then 1 else 0 end), 0), \
             coalesce(sum(case when dead_at is not null then 1 else 0 end), 0) from outbox where sent_at is null"
        )
        .fetch_one(c)
        .await)?;
        Ok(OutboxDepth { pending, dead })
    }
}
