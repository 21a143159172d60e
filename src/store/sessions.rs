//! `sessions`: server-side browser sessions. Only the SHA-256 of the cookie
//! value is stored, so a database leak does not hand out live sessions.
use sqlx::{AssertSqlSafe, FromRow};

use super::{Db, Result, exec, on};

/// Columns for a new session.
pub struct NewSession<'a> {
    pub id: &'a str,
    pub token_hash: &'a str,
    pub user_id: &'a str,
    pub auth_time: i64,
    pub now: i64,
    pub expires_at: i64,
    pub ip: &'a str,
    pub user_agent: &'a str,
    /// The password hash the user just proved, if they signed in with one: the
    /// session is created only while it is still current (a password change
    /// racing this sign-in wins) and the user is not blocked.
    pub credential: Option<&'a str>,
    /// How the user authenticated (RFC 8176 values, space-separated).
    pub amr: &'a str,
}

/// A session as listed on the account page.
#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ip: String,
    pub user_agent: String,
}

/// A live session joined with its (unblocked) user.
#[derive(Debug, Clone, FromRow)]
pub struct SessionWithUser {
    pub id: String,
    pub user_id: String,
    pub auth_time: i64,
    pub amr: String,
    pub last_seen_at: i64,
    pub username: String,
    pub email: String,
    pub display_name: String,
}

/// The live session behind a cookie (every signed-in page). `pub(crate)` so
/// the index test EXPLAINs the statements the store runs.
pub(crate) const LIVE_SESSION: &str = "select s.id, s.user_id, s.auth_time, s.amr, s.last_seen_at, u.username, u.email, u.display_name \
     from sessions s join users u on u.id = s.user_id \
     where s.token_hash = $1 and s.revoked_at is null and s.expires_at > $2 \
     and s.last_seen_at > $3 and u.blocked = false";

/// Checks and touches a session by id (the refresh of a session-bound token).
pub(crate) const TOUCH_LIVE_SESSION: &str = "update sessions set last_seen_at = $1 where id = $2 \
     and revoked_at is null and expires_at > $1 and last_seen_at > $3";

impl Db<'_> {
    /// Stores a new session; false (nothing stored) if the user is blocked or
    /// the credential changed since it was checked.
    pub async fn insert_session(&mut self, s: &NewSession<'_>) -> Result<bool> {
        let inserted = exec!(
            self,
            sqlx::query(
                "insert into sessions (id, token_hash, user_id, auth_time, created_at, last_seen_at, \
                 expires_at, ip, user_agent, amr) \
                 select $1, $2, $3, $4, $5, $5, $6, $7, $8, $10 where exists (select 1 from users \
                 where id = $3 and blocked = false and ($9 is null or password_hash = $9))"
            )
            .bind(s.id)
            .bind(s.token_hash)
            .bind(s.user_id)
            .bind(s.auth_time)
            .bind(s.now)
            .bind(s.expires_at)
            .bind(s.ip)
            .bind(s.user_agent)
            .bind(s.credential)
            .bind(s.amr)
        )?;
        Ok(inserted == 1)
    }

    /// The live session for a token hash: not revoked, not expired, not idle
    /// since `idle_after`, and its user not blocked.
    pub async fn live_session(
        &mut self,
        token_hash: &str,
        now: i64,
        idle_after: i64,
    ) -> Result<Option<SessionWithUser>> {
        Ok(on!(self, |c| sqlx::query_as::<_, SessionWithUser>(LIVE_SESSION)
            .bind(token_hash)
            .bind(now)
            .bind(idle_after)
            .fetch_optional(c)
            .await)?)
    }

    /// Records activity on a session.
    pub async fn touch_session(&mut self, id: &str, now: i64) -> Result<()> {
        exec!(self, sqlx::query("update sessions set last_seen_at = $1 where id = $2").bind(now).bind(id))?;
        Ok(())
    }

    /// The user's live sessions, newest first.
    pub async fn user_sessions(&mut self, user_id: &str, now: i64, idle_after: i64) -> Result<Vec<SessionRow>> {
        Ok(on!(self, |c| sqlx::query_as::<_, SessionRow>(
            "select id, created_at, last_seen_at, expires_at, ip, user_agent from sessions \
             where user_id = $1 and revoked_at is null and expires_at > $2 and last_seen_at > $3 \
             order by created_at desc, id desc"
        )
        .bind(user_id)
        .bind(now)
        .bind(idle_after)
        .fetch_all(c)
        .await)?)
    }

    /// Ends one of the user's sessions and what was issued under it: its
    /// access tokens and its refresh tokens, except those granted for
    /// `offline_access` (OIDC Core §11: they outlive the browser session).
    /// Returns whether a live session ended.
    pub async fn revoke_session(&mut self, user_id: &str, id: &str, now: i64) -> Result<bool> {
        let done = exec!(
            self,
            sqlx::query("update sessions set revoked_at = $1 where id = $2 and user_id = $3 and revoked_at is null")
                .bind(now)
                .bind(id)
                .bind(user_id)
        )?;
        if done == 1 {
            self.revoke_session_tokens(id, now).await?;
        }
        Ok(done == 1)
    }

    /// Ends all the user's sessions except `keep` (if given), with the tokens
    /// issued under them (as [`Db::revoke_session`]), and any sign-in waiting
    /// for its second step; returns how many sessions ended.
    pub async fn revoke_user_sessions(&mut self, user_id: &str, keep: Option<&str>, now: i64) -> Result<u64> {
        exec!(
            self,
            sqlx::query("update mfa_challenges set used_at = $1 where user_id = $2 and used_at is null")
                .bind(now)
                .bind(user_id)
        )?;
        // Tokens first, while the sessions they belong to are still live: a
        // session that ended earlier already took its tokens with it, and the
        // offline tokens that outlived it must not be caught now.
        const LIVE: &str = "session_id in (select id from sessions where user_id = $2 and revoked_at is null \
             and ($3 is null or id <> $3))";
        let refresh = format!(
            "update refresh_tokens set revoked_at = $1 where revoked_at is null and offline = false and {LIVE}"
        );
        exec!(self, sqlx::query(AssertSqlSafe(refresh.as_str())).bind(now).bind(user_id).bind(keep))?;
        let access = format!("update access_tokens set revoked_at = $1 where revoked_at is null and {LIVE}");
        exec!(self, sqlx::query(AssertSqlSafe(access.as_str())).bind(now).bind(user_id).bind(keep))?;
        let done = exec!(
            self,
            sqlx::query(
                "update sessions set revoked_at = $1 where user_id = $2 and revoked_at is null \
             and ($3 is null or id <> $3)"
            )
            .bind(now)
            .bind(user_id)
            .bind(keep)
        )?;
        Ok(done)
    }

    /// Whether a session is live: not revoked, not expired, not idle since
    /// `idle_after`. A refresh token bound to it counts as activity.
    pub async fn touch_live_session(&mut self, id: &str, now: i64, idle_after: i64) -> Result<bool> {
        let done = exec!(self, sqlx::query(TOUCH_LIVE_SESSION).bind(now).bind(id).bind(idle_after))?;
        Ok(done == 1)
    }

    /// Whether a session is live (read only; see [`Db::touch_live_session`]).
    pub async fn session_is_live(&mut self, id: &str, now: i64, idle_after: i64) -> Result<bool> {
        let n: i64 = on!(self, |c| sqlx::query_scalar(
            "select count(*) from sessions where id = $1 and revoked_at is null and expires_at > $2 \
             and last_seen_at > $3"
        )
        .bind(id)
        .bind(now)
        .bind(idle_after)
        .fetch_one(c)
        .await)?;
        Ok(n > 0)
    }

    /// Replaces a session by a new one with a new id and cookie (the same
    /// sign-in, lifetime and device), ending the old one with its tokens
    /// (OWASP: a new session id after re-authentication). False if the old
    /// one was not live.
    pub async fn rotate_session(
        &mut self,
        user_id: &str,
        old: &str,
        new_id: &str,
        token_hash: &str,
        now: i64,
    ) -> Result<bool> {
        let copied = exec!(
            self,
            sqlx::query(
                "insert into sessions (id, token_hash, user_id, auth_time, created_at, last_seen_at, expires_at, \
                 ip, user_agent, amr) select $1, $2, user_id, auth_time, $3, $3, expires_at, ip, user_agent, amr \
                 from sessions where id = $4 and user_id = $5 and revoked_at is null and expires_at > $3"
            )
            .bind(new_id)
            .bind(token_hash)
            .bind(now)
            .bind(old)
            .bind(user_id)
        )?;
        if copied == 1 {
            self.revoke_session(user_id, old, now).await?;
        }
        Ok(copied == 1)
    }

    /// Deletes sessions that ended before `before`; returns how many.
    pub async fn purge_sessions(&mut self, before: i64) -> Result<u64> {
        let done =
            exec!(self, sqlx::query("delete from sessions where expires_at < $1 or revoked_at < $1").bind(before))?;
        Ok(done)
    }
}
