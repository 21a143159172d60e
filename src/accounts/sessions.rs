//! Browser sessions. The cookie carries a random 256-bit value; the database
//! keeps only its SHA-256. A session ends at its absolute lifetime, after the
//! idle timeout, when revoked, or when its user is blocked.
//!
//! ```text
//!   sign-in ──> live ──(request)──> live (last_seen moves, at most once a minute)
//!                 │
//!                 ├── now ≥ expires_at ─────────────┐
//!                 ├── now - last_seen ≥ idle ───────┤
//!                 ├── revoked (sign-out, password ──┼──> ended (cookie refused)
//!                 │   change, admin, block)         │
//!                 └── user blocked ─────────────────┘
//! ```
use crate::security::token;
use crate::store::{self, NewSession};

use super::{Accounts, Result, SignInAttempt};

/// Activity is recorded at most this often, to keep reads cheap.
const TOUCH_EVERY_SECS: i64 = 60;

/// A freshly started session: the cookie value, and when it stops being valid.
pub struct StartedSession {
    pub id: String,
    pub token: String,
    pub max_age_secs: i64,
}

impl std::fmt::Debug for StartedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartedSession").field("token", &"<redacted>").finish_non_exhaustive()
    }
}

/// The signed-in user behind a request.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub session_id: String,
    pub user_id: String,
    pub username: String,
    pub email: String,
    pub display_name: String,
    pub roles: Vec<String>,
    pub auth_time: i64,
    /// How the user authenticated (RFC 8176 values).
    pub amr: Vec<String>,
}

impl CurrentUser {
    /// Whether the user holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// A session as the account page lists it.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub ip: String,
    pub user_agent: String,
}

impl From<store::SessionRow> for SessionInfo {
    fn from(r: store::SessionRow) -> Self {
        Self { id: r.id, created_at: r.created_at, last_seen_at: r.last_seen_at, ip: r.ip, user_agent: r.user_agent }
    }
}

impl Accounts {
    fn idle_after(&self, now: i64) -> i64 {
        now - self.session.idle_timeout_secs
    }

    /// Starts a session for a user who just proved who they are with
    /// `credential` (the password hash they matched) and the methods in `amr`.
    /// If the password changed or the user was blocked since, no session
    /// starts. Its lifetime is the shortest of the default and the user's roles'.
    pub async fn start_session(
        &self,
        user_id: &str,
        credential: Option<&str>,
        amr: &str,
        attempt: &SignInAttempt<'_>,
    ) -> Result<StartedSession> {
        let now = self.now();
        let token = token::new_secret();
        let max_age_secs = self.session.lifetime_for(&self.roles(user_id).await?);
        // Keep stored client details bounded whatever the client sends.
        let user_agent: String = attempt.user_agent.chars().take(256).collect();
        let id = store::new_id();
        // The session, its activity row and its `sign_in` event commit together.
        let mut tx = self.store.begin().await?;
        let started = tx
            .db()
            .insert_session(&NewSession {
                id: &id,
                token_hash: &token::hash_secret(&token),
                user_id,
                auth_time: now,
                now,
                expires_at: now + max_age_secs,
                ip: attempt.ip,
                user_agent: &user_agent,
                credential,
                amr,
            })
            .await?;
        if !started {
            return Err(super::Error::InvalidCredentials);
        }
        self.write_sign_in(&mut tx.db(), attempt, now).await?;
        tx.commit().await?;
        Ok(StartedSession { id, token, max_age_secs })
    }

    /// The user behind a session cookie, if the session is live.
    pub async fn resolve_session(&self, token: &str) -> Result<Option<CurrentUser>> {
        if token.is_empty() || token.len() > 128 {
            return Ok(None);
        }
        let now = self.now();
        let mut conn = self.store.conn().await?;
        let Some(s) = conn.db().live_session(&token::hash_secret(token), now, self.idle_after(now)).await? else {
            return Ok(None);
        };
        if now - s.last_seen_at >= TOUCH_EVERY_SECS {
            conn.db().touch_session(&s.id, now).await?;
        }
        let roles = conn.db().user_roles(&s.user_id).await?;
        let amr: Vec<String> = crate::wire::words(&s.amr).map(str::to_owned).collect();
        // A role that requires two-step sign-in (perhaps since the session
        // started) does not accept a session signed in without it.
        if self.mfa.required_for(&roles) && !amr.iter().any(|a| a == "mfa") {
            return Ok(None);
        }
        Ok(Some(CurrentUser {
            session_id: s.id,
            user_id: s.user_id,
            username: s.username,
            email: s.email,
            display_name: s.display_name,
            roles,
            auth_time: s.auth_time,
            amr,
        }))
    }

    /// Whether the session's sign-in is recent enough for a sensitive change.
    pub fn recently_authenticated(&self, user: &CurrentUser) -> bool {
        self.now() - user.auth_time <= self.session.reauth_secs
    }

    /// The user's live sessions, newest first.
    pub async fn sessions(&self, user_id: &str) -> Result<Vec<SessionInfo>> {
        let now = self.now();
        let rows = self.store.conn().await?.db().user_sessions(user_id, now, self.idle_after(now)).await?;
        Ok(rows.into_iter().map(SessionInfo::from).collect())
    }
}
