//! `outbox`: mail waiting to be sent, with a lease so that several workers
//! (several instances on PostgreSQL) never send one row at the same time.
//!
//! ```text
//!   enqueue ──► pending ──claim──► leased ──sent──► sent (body emptied)
//!                  ▲                 │
//!                  └──failed (backoff)┤
//!                                    └──failed, attempts used up──► dead
//!   a leased row whose worker died becomes claimable when the lease ends
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

    /// Marks a message sent and drops its body (it may hold a live link).
    pub async fn outbox_sent(&mut self, id: &str, now: i64) -> Result<()> {
        exec!(
            self,
            sqlx::query("update outbox set sent_at = $1, locked_until = 0, body = '', last_error = null where id = $2")
                .bind(now)
                .bind(id)
        )?;
        Ok(())
    }

    /// Records a failed attempt: tried again at `retry_at`, or dead (`None`).
    pub async fn outbox_failed(&mut self, id: &str, error: &str, retry_at: Option<i64>, now: i64) -> Result<()> {
        exec!(
            self,
            sqlx::query(
                "update outbox set locked_until = 0, last_error = $1, \
                 next_attempt_at = coalesce($2, next_attempt_at), \
                 dead_at = case when $2 is null then $3 else null end where id = $4"
            )
            .bind(error)
            .bind(retry_at)
            .bind(now)
            .bind(id)
        )?;
        Ok(())
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

    /// Makes an unsent message (dead or waiting) due now with fresh attempts.
    /// `false`: no such message, or it was sent already.
    pub async fn retry_outbox(&mut self, id: &str, now: i64) -> Result<bool> {
        let n = exec!(
            self,
            sqlx::query(
                "update outbox set dead_at = null, attempts = 0, next_attempt_at = $1, locked_until = 0 \
                 where id = $2 and sent_at is null"
            )
            .bind(now)
            .bind(id)
        )?;
        Ok(n == 1)
    }

    /// Deletes sent messages and dead letters created at or before `before`.
    pub async fn purge_outbox(&mut self, before: i64) -> Result<u64> {
        Ok(exec!(
            self,
            sqlx::query("delete from outbox where (sent_at is not null or dead_at is not null) and created_at <= $1")
                .bind(before)
        )?)
    }

    /// How many messages wait to be sent, and how many are dead.
    pub async fn outbox_depth(&mut self) -> Result<OutboxDepth> {
        let (pending, dead): (i64, i64) = on!(self, |c| sqlx::query_as(
            "select coalesce(sum(case when sent_at is null and dead_at is null then 1 else 0 end), 0), \
             coalesce(sum(case when dead_at is not null then 1 else 0 end), 0) from outbox"
        )
        .fetch_one(c)
        .await)?;
        Ok(OutboxDepth { pending, dead })
    }
}
