//! Ending things: one browser session, every session and token of a user,
//! and whole accounts. Each is one transaction together with its audit
//! event, so a revocation is never recorded without happening or the other
//! way round. What each one reaches is the table in the README's "Token
//! lifetimes and revocation":
//!
//! ```text
//!   end_session ─────────> that session ─> its access tokens,
//!                                          its refresh tokens unless offline_access
//!   sign_out_everywhere ─> every session ─> every access and refresh token
//!   (also block, reset,                     of the user, for every client
//!    "this wasn't me", deletion)
//! ```
//!
//! A token refresh takes the user's row lock before it spends a token (see
//! `oauth::tokens`), and so does every revocation here: of a revocation and a
//! refresh racing, either the refresh commits first and its new token is
//! revoked too, or the revocation commits first and the refresh is refused.
use serde_json::json;

use crate::security::audit::{self, AuditAction, AuditEvent, Context};
use crate::security::token;

use super::{Accounts, Error, Result, StartedSession, lockout};

impl Accounts {
    /// Ends one of the user's sessions (sign-out, RP-initiated logout, revoke
    /// on `/account`) and the tokens issued under it, except refresh tokens
    /// granted for `offline_access` (OIDC Core §11). False if it was not live.
    pub async fn end_session(&self, ctx: &Context, user_id: &str, session_id: &str) -> Result<bool> {
        self.end_session_audited(user_id, session_id, &ctx.event(AuditAction::SignOut, user_id)).await
    }

    /// Ends the session with `event` in the same transaction.
    pub(super) async fn end_session_audited(
        &self,
        user_id: &str,
        session_id: &str,
        event: &AuditEvent,
    ) -> Result<bool> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.db().lock_user(user_id).await?;
        if !tx.db().revoke_session(user_id, session_id, now).await? {
            return Ok(false);
        }
        audit::append(&mut tx.db(), event, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The user ends one of their own sessions from `/account` (audited as
    /// `session_revoked`, naming the session). False if it was not live.
    pub async fn revoke_session(&self, ctx: &Context, user_id: &str, session_id: &str) -> Result<bool> {
        let event = ctx.event(AuditAction::SessionRevoked, user_id).with_detail(json!({ "session": session_id }));
        self.end_session_audited(user_id, session_id, &event).await
    }

    /// "Sign out everywhere" and an administrator's "sign out user": every
    /// session ends, and every access and refresh token of the user, for every
    /// client, stops working at once. Returns how many sessions ended.
    /// Audited as `session_revoked` from `ctx` (the user, or an administrator).
    pub async fn sign_out_everywhere(&self, user_id: &str, ctx: &Context) -> Result<u64> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if tx.db().find_user(user_id).await?.is_none() {
            return Err(Error::UnknownUser);
        }
        tx.db().lock_user(user_id).await?;
        let ended = tx.db().revoke_user_sessions(user_id, None, now).await?;
        tx.db().revoke_user_tokens(user_id, now).await?;
        let event =
            ctx.event(AuditAction::SessionRevoked, user_id).with_detail(json!({ "sessions": "all", "ended": ended }));
        audit::append(&mut tx.db(), &event, now).await?;
        tx.commit().await?;
        tracing::info!(user_id, ended, "signed out everywhere");
        Ok(ended)
    }

    /// Replaces the browser's session by a new one with a new id (after a
    /// password change: OWASP asks for a new id after re-authentication).
    /// Runs inside the caller's transaction.
    pub(super) async fn rotate_session(
        &self,
        db: &mut crate::store::Db<'_>,
        user_id: &str,
        old: &str,
    ) -> Result<Option<StartedSession>> {
        let now = self.now();
        let token = token::new_secret();
        let id = crate::store::new_id();
        if !db.rotate_session(user_id, old, &id, &token::hash_secret(&token), now).await? {
            return Ok(None);
        }
        let max_age_secs = self.session.lifetime_for(&db.user_roles(user_id).await?);
        Ok(Some(StartedSession { id, token, max_age_secs }))
    }

    /// Deletes an account and everything it owns (sessions, tokens,
    /// consents, factors, upstream links, mailed links, devices) in one
    /// transaction; tokens issued before stop working at once, and the
    /// username and address are free again. The audit log keeps its events
    /// (they name the user by id), and a `user_deleted` event from `ctx`
    /// records the username and address that were deleted. The last
    /// administrator cannot be deleted.
    pub async fn delete_user(&self, user_id: &str, ctx: &Context) -> Result<super::User> {
        self.delete_user_mailing(user_id, ctx, None).await
    }

    /// [`Accounts::delete_user`], queueing `mail` (to, message) in the same
    /// transaction (a mail about a deletion that did not happen never goes).
    pub(super) async fn delete_user_mailing(
        &self,
        user_id: &str,
        ctx: &Context,
        mail: Option<(String, crate::mail::Mail)>,
    ) -> Result<super::User> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.db().lock_admins().await?;
        let user = tx.db().find_user(user_id).await?.ok_or(Error::UnknownUser)?;
        let roles = tx.db().user_roles(user_id).await?;
        if roles.iter().any(|r| r == "admin") && tx.db().count_role_holders("admin", user_id).await? == 0 {
            return Err(Error::LastAdmin);
        }
        let locks = [format!("{}{}", lockout::USER_PREFIX, user.id), format!("{}{}", lockout::MFA_PREFIX, user.id)];
        if !tx.db().delete_user(user_id, &locks).await? {
            return Err(Error::UnknownUser);
        }
        let event = ctx
            .event(AuditAction::UserDeleted, user_id)
            .with_detail(json!({ "username": user.username, "email": user.email }));
        audit::append(&mut tx.db(), &event, now).await?;
        let mailed = mail.is_some();
        if let Some((to, mail)) = mail {
            self.outbox.enqueue(&mut tx.db(), &to, &mail).await?;
        }
        tx.commit().await?;
        if mailed {
            self.outbox.kick();
        }
        tracing::info!(user_id, "account deleted");
        Ok(super::User::from(user))
    }
}
