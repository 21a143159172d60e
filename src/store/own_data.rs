//! What a user's own account centre lists (the JSON API's `/api/v1/me…` and
//! the export): sessions and sign-in activity a page at a time (keyset,
//! newest first), consents and live tokens per client, and the audit
//! events about the user; and ending one client's grant ("connected apps").
use sqlx::FromRow;

use super::audit::{ActivityRow, AuditRow};
use super::sessions::SessionRow;
use super::{Db, Result, exec, on};

/// A user's live tokens of one kind for one client.
#[derive(Debug, Clone, FromRow)]
pub struct LiveTokensRow {
    pub client_id: String,
    pub live: i64,
    /// The newest token's `expires_at` (access) or `created_at` (refresh).
    pub newest: i64,
}

/// A page key: (time, id) of the last row sent; rows come strictly after it.
pub type PageKey<'a> = Option<(i64, &'a str)>;

impl Db<'_> {
    /// The user's live sessions after `after`, newest first, at most `limit`.
    pub async fn user_sessions_page(
        &mut self,
        user_id: &str,
        now: i64,
        idle_after: i64,
        after: PageKey<'_>,
        limit: i64,
    ) -> Result<Vec<SessionRow>> {
        let (at, id) = after.unwrap_or((i64::MAX, ""));
        Ok(on!(self, |c| sqlx::query_as::<_, SessionRow>(
            "select id, created_at, last_seen_at, expires_at, ip, user_agent from sessions \
             where user_id = $1 and revoked_at is null and expires_at > $2 and last_seen_at > $3 \
             and (created_at < $4 or (created_at = $4 and id < $5)) \
             order by created_at desc, id desc limit $6"
        )
        .bind(user_id)
        .bind(now)
        .bind(idle_after)
        .bind(at)
        .bind(id)
        .bind(limit)
        .fetch_all(c)
        .await)?)
    }

    /// The user's sign-in attempts after `after`, newest first, at most `limit`.
    pub async fn activity_page(&mut self, user_id: &str, after: PageKey<'_>, limit: i64) -> Result<Vec<ActivityRow>> {
        let (at, id) = after.unwrap_or((i64::MAX, ""));
        Ok(on!(self, |c| sqlx::query_as::<_, ActivityRow>(
            "select id, user_id, at, ip, user_agent, outcome, method from login_activity \
             where user_id = $1 and (at < $2 or (at = $2 and id < $3)) order by at desc, id desc limit $4"
        )
        .bind(user_id)
        .bind(at)
        .bind(id)
        .bind(limit)
        .fetch_all(c)
        .await)?)
    }

    /// The user's live access tokens per client (`newest`: the latest expiry).
    pub async fn user_live_access(&mut self, user_id: &str, now: i64) -> Result<Vec<LiveTokensRow>> {
        Ok(on!(self, |c| sqlx::query_as::<_, LiveTokensRow>(
            "select client_id, count(*) as live, max(expires_at) as newest from access_tokens \
             where user_id = $1 and revoked_at is null and expires_at > $2 group by client_id"
        )
        .bind(user_id)
        .bind(now)
        .fetch_all(c)
        .await)?)
    }

    /// The user's live refresh tokens per client (`newest`: the latest issue time).
    pub async fn user_live_refresh(&mut self, user_id: &str, now: i64) -> Result<Vec<LiveTokensRow>> {
        Ok(on!(self, |c| sqlx::query_as::<_, LiveTokensRow>(
            "select client_id, count(*) as live, max(created_at) as newest from refresh_tokens \
             where user_id = $1 and revoked_at is null and used_at is null and expires_at > $2 \
             and family_expires_at > $2 group by client_id"
        )
        .bind(user_id)
        .bind(now)
        .fetch_all(c)
        .await)?)
    }

    /// Ends what the user granted `client_id`: the consent goes, and every
    /// access and refresh token of that client for the user is revoked.
    /// Returns (consent removed, tokens revoked).
    pub async fn revoke_user_client(&mut self, user_id: &str, client_id: &str, now: i64) -> Result<(bool, u64)> {
        let consent = exec!(
            self,
            sqlx::query("delete from consents where user_id = $1 and client_id = $2").bind(user_id).bind(client_id)
        )?;
        let refresh = exec!(
            self,
            sqlx::query(
                "update refresh_tokens set revoked_at = $1 where user_id = $2 and client_id = $3 and revoked_at is null"
            )
            .bind(now)
            .bind(user_id)
            .bind(client_id)
        )?;
        let access = exec!(
            self,
            sqlx::query(
                "update access_tokens set revoked_at = $1 where user_id = $2 and client_id = $3 and revoked_at is null"
            )
            .bind(now)
            .bind(user_id)
            .bind(client_id)
        )?;
        Ok((consent > 0, refresh + access))
    }

    /// The newest `limit` audit events the user did or that were done to
    /// them, newest first.
    pub async fn audit_about(&mut self, user_id: &str, limit: i64) -> Result<Vec<AuditRow>> {
        Ok(on!(self, |c| sqlx::query_as::<_, AuditRow>(
            "select id, at, actor, target, action, ip, request_id, user_agent, detail, prev_hash, hash \
             from audit_log where target = $1 or actor = $1 order by id desc limit $2"
        )
        .bind(user_id)
        .bind(limit)
        .fetch_all(c)
        .await)?)
    }
}
