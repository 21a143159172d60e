//! Bounded deletes of expired rows, for the janitor (issue 13). Each
//! [`Purge`] names one table and the instant before which its rows are dead;
//! [`Db::purge`] deletes at most `limit` of them in one statement (so each
//! batch is its own short transaction and no table stays locked), in the
//! portable form `delete from t where id in (select id from t where … limit $n)`
//! (row values for composite keys). The SQL's indexes are in migration 0014.
//!
//! [`Store::janitor_lock`] keeps janitors on several instances from running
//! at once on PostgreSQL (a session-level advisory lock on a connection of
//! its own).
use std::sync::Arc;

use sqlx::postgres::PgConnection;
use sqlx::{ConnectOptions, Connection};

use super::{Db, Pool, Result, Store, exec};

/// Every table a [`Purge`] deletes from, in the janitor's order.
pub const PURGED_TABLES: [&str; 15] = [
    "authorization_codes",
    "access_tokens",
    "refresh_tokens",
    "mail_links",
    "upstream_flows",
    "mfa_challenges",
    "pending_authorize_requests",
    "sessions",
    "known_devices",
    "signing_keys",
    "rate_counters",
    "lockouts",
    "outbox",
    "login_activity",
    "ip_denials",
];

/// One table's purge, with the cutoffs it needs (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purge {
    /// Codes never used and past expiry, and used codes whose expiry is
    /// older than `ended_before` (a replay of one still revokes what it
    /// issued, RFC 6749 §4.1.2).
    AuthorizationCodes { now: i64, ended_before: i64 },
    /// Access-token records past expiry (an unknown jti is as inactive as an
    /// expired one, RFC 7662 §2.2).
    AccessTokens { now: i64 },
    /// Refresh tokens of families that have been dead since `ended_before`:
    /// see [`Db::purge`] for why a spent token stays while its family lives.
    RefreshTokens { ended_before: i64 },
    /// Mail links expired or used before `ended_before`.
    MailLinks { ended_before: i64 },
    /// Upstream flows expired before `ended_before`.
    UpstreamFlows { ended_before: i64 },
    /// Sign-in challenges expired before `ended_before`.
    MfaChallenges { ended_before: i64 },
    /// Parked authorization requests past their expiry (nothing resumes them).
    PendingAuthorize { now: i64 },
    /// Sessions that expired or were revoked before `ended_before`.
    Sessions { ended_before: i64 },
    /// Devices and networks last seen before `seen_before`.
    KnownDevices { seen_before: i64 },
    /// Retired keys (no longer in JWKS) retired before `retired_before`,
    /// except those whose kid is in `keep` (a PEM still in the import
    /// directory, which would otherwise be imported again at the next start).
    SigningKeys { retired_before: i64, keep: Arc<[String]> },
    /// Rate-limit windows that ended by `now`.
    RateCounters { now: i64 },
    /// Failure records untouched, and unlocked, since `stale_before`.
    Lockouts { stale_before: i64 },
    /// Sent mail sent before `sent_before` (dead letters stay).
    SentMail { sent_before: i64 },
    /// Sign-in activity older than `before`.
    LoginActivity { before: i64 },
    /// Global IP denial counts of minutes before `minute_before` (unix
    /// minutes); their audit rows stay.
    IpDenials { minute_before: i64 },
}

impl Purge {
    /// The table this purge deletes from (the metrics label).
    pub fn table(&self) -> &'static str {
        match self {
            Purge::AuthorizationCodes { .. } => "authorization_codes",
            Purge::AccessTokens { .. } => "access_tokens",
            Purge::RefreshTokens { .. } => "refresh_tokens",
            Purge::MailLinks { .. } => "mail_links",
            Purge::UpstreamFlows { .. } => "upstream_flows",
            Purge::MfaChallenges { .. } => "mfa_challenges",
            Purge::PendingAuthorize { .. } => "pending_authorize_requests",
            Purge::Sessions { .. } => "sessions",
            Purge::KnownDevices { .. } => "known_devices",
            Purge::SigningKeys { .. } => "signing_keys",
            Purge::RateCounters { .. } => "rate_counters",
            Purge::Lockouts { .. } => "lockouts",
            Purge::SentMail { .. } => "outbox",
            Purge::LoginActivity { .. } => "login_activity",
            Purge::IpDenials { .. } => "ip_denials",
        }
    }
}

impl Db<'_> {
    /// Deletes at most `limit` rows that `what` describes; returns how many.
    /// Fewer than `limit` means the table has none left.
    pub async fn purge(&mut self, what: &Purge, limit: i64) -> Result<u64> {
        let n = match what {
            Purge::AuthorizationCodes { now, ended_before } => exec!(
                self,
                sqlx::query(
                    "delete from authorization_codes where id in (select id from authorization_codes \
                     where (expires_at < $1 and used_at is null) or expires_at < $2 limit $3)"
                )
                .bind(now)
                .bind(ended_before)
                .bind(limit)
            )?,
            Purge::AccessTokens { now } => exec!(
                self,
                sqlx::query(
                    "delete from access_tokens where jti in \
                     (select jti from access_tokens where expires_at < $1 limit $2)"
                )
                .bind(now)
                .bind(limit)
            )?,
            // A spent refresh token stays while its family lives: replaying
            // it must still revoke the family (RFC 9700 §4.14.2), and the
            // replay may come long after the spend. So a row goes only once
            // no member of its family is unrevoked with an expiry after the
            // cutoff. Then nothing in the family can be refreshed, no spend
            // of it can still be inserting a successor (a spend happens
            // before the spent token's expiry), and the access tokens its
            // last refresh issued have expired (`grace` ≥ their lifetime),
            // so a replay has nothing left to revoke. Every expiry is at most
            // the family's absolute expiry, so a family past that always
            // goes; a revoked family goes `grace` after its revocation,
            // unless a refresh that raced the revocation left a live member.
            Purge::RefreshTokens { ended_before } => exec!(
                self,
                sqlx::query(
                    "delete from refresh_tokens where id in (select t.id from refresh_tokens t \
                     where (t.revoked_at < $1 or t.expires_at < $1) and not exists (select 1 from refresh_tokens l \
                     where l.family_id = t.family_id and l.revoked_at is null and l.expires_at >= $1) limit $2)"
                )
                .bind(ended_before)
                .bind(limit)
            )?,
            // Ended links stay a while: the hourly send limit counts them.
            Purge::MailLinks { ended_before } => exec!(
                self,
                sqlx::query(
                    "delete from mail_links where id in (select id from mail_links \
                     where expires_at < $1 or used_at < $1 limit $2)"
                )
                .bind(ended_before)
                .bind(limit)
            )?,
            Purge::UpstreamFlows { ended_before } => exec!(
                self,
                sqlx::query(
                    "delete from upstream_flows where id in \
                     (select id from upstream_flows where expires_at < $1 limit $2)"
                )
                .bind(ended_before)
                .bind(limit)
            )?,
            Purge::MfaChallenges { ended_before } => exec!(
                self,
                sqlx::query(
                    "delete from mfa_challenges where id in \
                     (select id from mfa_challenges where expires_at < $1 limit $2)"
                )
                .bind(ended_before)
                .bind(limit)
            )?,
            Purge::PendingAuthorize { now } => self.purge_pending_authorize(*now, limit).await?,
            Purge::Sessions { ended_before } => exec!(
                self,
                sqlx::query(
                    "delete from sessions where id in (select id from sessions \
                     where expires_at < $1 or revoked_at < $1 limit $2)"
                )
                .bind(ended_before)
                .bind(limit)
            )?,
            Purge::KnownDevices { seen_before } => exec!(
                self,
                sqlx::query(
                    "delete from known_devices where (user_id, kind, value_hash) in \
                     (select user_id, kind, value_hash from known_devices where last_seen < $1 limit $2)"
                )
                .bind(seen_before)
                .bind(limit)
            )?,
            Purge::SigningKeys { retired_before, keep } => {
                self.purge_retired_keys(*retired_before, keep, limit).await?
            }
            Purge::IpDenials { minute_before } => exec!(
                self,
                sqlx::query(
                    "delete from ip_denials where (ip, minute) in \
                     (select ip, minute from ip_denials where minute < $1 limit $2)"
                )
                .bind(minute_before)
                .bind(limit)
            )?,
            Purge::RateCounters { now } => exec!(
                self,
                sqlx::query(
                    "delete from rate_counters where (bucket, key) in \
                     (select bucket, key from rate_counters where expires_at <= $1 limit $2)"
                )
                .bind(now)
                .bind(limit)
            )?,
            // The lock must be over by `stale_before` too, not only the last
            // failure: a lock's level doubles the next one until it is forgotten.
            Purge::Lockouts { stale_before } => exec!(
                self,
                sqlx::query(
                    "delete from lockouts where subject in (select subject from lockouts \
                     where updated_at < $1 and locked_until < $1 limit $2)"
                )
                .bind(stale_before)
                .bind(limit)
            )?,
            Purge::SentMail { sent_before } => exec!(
                self,
                sqlx::query("delete from outbox where id in (select id from outbox where sent_at < $1 limit $2)")
                    .bind(sent_before)
                    .bind(limit)
            )?,
            Purge::LoginActivity { before } => exec!(
                self,
                sqlx::query(
                    "delete from login_activity where id in (select id from login_activity where at < $1 limit $2)"
                )
                .bind(before)
                .bind(limit)
            )?,
        };
        Ok(n)
    }

    /// How many rows each of [`PURGED_TABLES`] holds (for operators and tests).
    pub async fn purged_table_rows(&mut self) -> Result<Vec<(&'static str, i64)>> {
        let mut counts = Vec::with_capacity(PURGED_TABLES.len());
        for table in PURGED_TABLES {
            let sql = format!("select count(*) from {table}");
            let n: i64 =
                super::on!(self, |c| sqlx::query_scalar(sqlx::AssertSqlSafe(sql.as_str())).fetch_one(c).await)?;
            counts.push((table, n));
        }
        Ok(counts)
    }

    /// Retired keys are few (one per rotation): pick a batch, leave out the
    /// kept ones, delete the rest by id. Only `retired` rows are touched, so
    /// a key still in JWKS (`next`, `current`, `retiring`) never goes.
    async fn purge_retired_keys(&mut self, retired_before: i64, keep: &[String], limit: i64) -> Result<u64> {
        let ids: Vec<String> = super::on!(self, |c| sqlx::query_scalar(
            "select id from signing_keys where state = 'retired' and coalesce(retired_at, created_at) < $1 \
             order by created_at, id limit $2"
        )
        .bind(retired_before)
        .bind(limit)
        .fetch_all(c)
        .await)?;
        let mut deleted = 0;
        for id in ids.iter().filter(|id| !keep.contains(id)) {
            deleted +=
                exec!(self, sqlx::query("delete from signing_keys where id = $1 and state = 'retired'").bind(id))?;
        }
        Ok(deleted)
    }
}

/// Whether this janitor run may go ahead; held for the run and released with
/// [`JanitorLock::release`].
pub enum JanitorLock {
    /// SQLite: one database file, no lock needed (deletes are idempotent).
    Sqlite,
    /// PostgreSQL: the advisory lock, held by this connection's session.
    Postgres(PgConnection),
}

/// The advisory lock key: "gatehouse janitor", as a fixed 64-bit number
/// (sqlx's migrator derives its own key from the database name).
const JANITOR_LOCK_KEY: i64 = 0x6a61_6e69_746f_7231;

impl Store {
    /// Takes the janitor lock: on PostgreSQL `pg_try_advisory_lock` on a
    /// connection opened for it, outside the pool (so the lock cannot leak
    /// into a pooled connection: if the run is dropped, the connection
    /// closes and PostgreSQL ends the lock with the session). `None`: another
    /// instance holds it.
    pub async fn janitor_lock(&self) -> Result<Option<JanitorLock>> {
        match &self.pool {
            Pool::Sqlite(_) => Ok(Some(JanitorLock::Sqlite)),
            Pool::Postgres(p) => {
                let mut conn = p.connect_options().connect().await?;
                let got: bool = sqlx::query_scalar("select pg_try_advisory_lock($1)")
                    .bind(JANITOR_LOCK_KEY)
                    .fetch_one(&mut conn)
                    .await?;
                if got {
                    Ok(Some(JanitorLock::Postgres(conn)))
                } else {
                    conn.close().await?;
                    Ok(None)
                }
            }
        }
    }
}

impl JanitorLock {
    /// Releases the lock (`pg_advisory_unlock`) and closes its connection.
    pub async fn release(self) -> Result<()> {
        if let JanitorLock::Postgres(mut conn) = self {
            sqlx::query("select pg_advisory_unlock($1)").bind(JANITOR_LOCK_KEY).execute(&mut conn).await?;
            conn.close().await?;
        }
        Ok(())
    }
}
