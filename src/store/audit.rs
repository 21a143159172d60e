//! `audit_log` (append-only, hash-chained), its one-row head `audit_head`,
//! and `login_activity` (sign-in attempts per user). The chain arithmetic
//! lives in `security::audit`; this file only moves rows.
use super::{Db, Result, exec, on};

/// One stored audit event.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub target: String,
    pub action: String,
    pub ip: String,
    pub request_id: String,
    /// `None` only on rows written before migration 0017.
    pub user_agent: Option<String>,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The head of the chain: the last sequence number and its hash.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditHead {
    pub seq: i64,
    pub hash: String,
}

/// One sign-in attempt.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ActivityRow {
    pub id: String,
    pub user_id: String,
    pub at: i64,
    pub ip: String,
    pub user_agent: String,
    pub outcome: String,
    pub method: String,
}

impl Db<'_> {
    /// Claims the next sequence number and returns it with the previous hash.
    /// Run inside a transaction: the update locks the head row (PostgreSQL)
    /// until commit, which serializes appends across instances.
    pub async fn claim_audit_seq(&mut self) -> Result<AuditHead> {
        Ok(on!(self, |c| sqlx::query_as::<_, AuditHead>(
            "update audit_head set seq = seq + 1 where id = 1 returning seq, hash"
        )
        .fetch_one(c)
        .await)?)
    }

    /// Stores an audit row and moves the head's hash to it.
    pub async fn insert_audit(&mut self, r: &AuditRow) -> Result<()> {
        exec!(
            self,
            sqlx::query(
                "insert into audit_log (id, at, actor, target, action, ip, request_id, detail, prev_hash, hash, user_agent) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            )
            .bind(r.id)
            .bind(r.at)
            .bind(&r.actor)
            .bind(&r.target)
            .bind(&r.action)
            .bind(&r.ip)
            .bind(&r.request_id)
            .bind(&r.detail)
            .bind(&r.prev_hash)
            .bind(&r.hash)
            .bind(&r.user_agent)
        )?;
        exec!(self, sqlx::query("update audit_head set hash = $1 where id = 1 and seq = $2").bind(&r.hash).bind(r.id))?;
        Ok(())
    }

    /// The head of the chain, without locking it.
    pub async fn audit_head(&mut self) -> Result<AuditHead> {
        Ok(on!(self, |c| sqlx::query_as::<_, AuditHead>("select seq, hash from audit_head where id = 1")
            .fetch_one(c)
            .await)?)
    }

    /// Up to `limit` audit rows after `after_id`, oldest first.
    pub async fn audit_after(&mut self, after_id: i64, limit: i64) -> Result<Vec<AuditRow>> {
        Ok(on!(self, |c| sqlx::query_as::<_, AuditRow>(
            "select id, at, actor, target, action, ip, request_id, user_agent, detail, prev_hash, hash \
             from audit_log where id > $1 order by id limit $2"
        )
        .bind(after_id)
        .bind(limit)
        .fetch_all(c)
        .await)?)
    }

    /// The newest `limit` audit rows, newest first.
    pub async fn audit_latest(&mut self, limit: i64) -> Result<Vec<AuditRow>> {
        Ok(on!(self, |c| sqlx::query_as::<_, AuditRow>(
            "select id, at, actor, target, action, ip, request_id, user_agent, detail, prev_hash, hash \
             from audit_log order by id desc limit $1"
        )
        .bind(limit)
        .fetch_all(c)
        .await)?)
    }

    /// Records a sign-in attempt.
    pub async fn insert_activity(&mut self, r: &ActivityRow) -> Result<()> {
        exec!(
            self,
            sqlx::query(
                "insert into login_activity (id, user_id, at, ip, user_agent, outcome, method) \
                 values ($1, $2, $3, $4, $5, $6, $7)"
            )
            .bind(&r.id)
            .bind(&r.user_id)
            .bind(r.at)
            .bind(&r.ip)
            .bind(&r.user_agent)
            .bind(&r.outcome)
            .bind(&r.method)
        )?;
        Ok(())
    }

    /// The user's newest `limit` sign-in attempts, newest first.
    pub async fn recent_activity(&mut self, user_id: &str, limit: i64) -> Result<Vec<ActivityRow>> {
        Ok(on!(self, |c| sqlx::query_as::<_, ActivityRow>(
            "select id, user_id, at, ip, user_agent, outcome, method from login_activity \
             where user_id = $1 order by at desc, id desc limit $2"
        )
        .bind(user_id)
        .bind(limit)
        .fetch_all(c)
        .await)?)
    }
}
