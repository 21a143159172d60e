//! The password policy's stateful half: history (no reuse of the last
//! `password.history` passwords, the current one included) and expiry
//! (`password.max_age_days`). The pure rules (length, context words, breached list, zxcvbn)
//! are in `security::policy`; every new password goes through
//! [`Accounts::check_new_password`] and, for an existing account,
//! [`Accounts::check_reuse`], then is written by
//! [`Accounts::store_new_password`], which keeps the history.
//!
//! Expiry: a right password at `/login` whose password is older than the max
//! age does not sign in. The user gets a form asking for the current password
//! again and a new one ([`Accounts::renew_expired_password`]); after a valid
//! change they are sent back to `/login` (with the same `next`) to sign in
//! with the new password, so every other sign-in step still applies.
use secrecy::{ExposeSecret, SecretString};

use super::{Accounts, Error, Result};
use crate::config::PasswordConfig;
use crate::security::audit::{self, AuditAction, Context};
use crate::security::policy::{Account, Policy};
use crate::store::{Db, UserRow};

/// The policy settings the account services hold.
#[derive(Debug, Clone)]
pub(super) struct PolicySettings {
    rules: Policy,
    history: u32,
    max_age_secs: i64,
}

impl PolicySettings {
    pub(super) fn new(cfg: &PasswordConfig) -> Self {
        Self { rules: Policy::new(cfg), history: cfg.history, max_age_secs: i64::from(cfg.max_age_days) * 86_400 }
    }
}

/// The words of an existing account that its password must not use.
fn account_of(user: &UserRow) -> Account<'_> {
    Account { username: &user.username, email: &user.email, display_name: &user.display_name }
}

impl Accounts {
    /// Applies the pure rules (length, context words, breached list,
    /// strength) to a new password for `account`.
    pub(super) fn check_new_password(
        &self,
        field: &'static str,
        pw: &SecretString,
        account: &Account<'_>,
    ) -> Result<()> {
        self.policy.rules.check(pw.expose_secret(), account).map_err(|v| Error::field(field, v.to_string()))
    }

    /// The pure rules for an existing account.
    pub(super) fn check_new_password_for(&self, field: &'static str, pw: &SecretString, user: &UserRow) -> Result<()> {
        self.check_new_password(field, pw, &account_of(user))
    }

    /// Refuses one of the user's last `history` passwords (the current one
    /// counts), or always the current one when `refuse_current` is set.
    pub(super) async fn check_reuse(
        &self,
        field: &'static str,
        pw: &SecretString,
        user: &UserRow,
        refuse_current: bool,
    ) -> Result<()> {
        let n = self.policy.history;
        let mut hashes: Vec<String> = Vec::new();
        if n > 0 || refuse_current {
            hashes.extend(user.password_hash.clone());
        }
        if n > 1 {
            hashes.extend(self.store.conn().await?.db().password_history(&user.id, i64::from(n - 1)).await?);
        }
        for hash in &hashes {
            if self.passwords.verify(pw, Some(hash)).await?.ok {
                let message = if n > 1 {
                    format!("Choose a password you have not used for your last {n} passwords.")
                } else {
                    "Choose a password other than your current one.".to_owned()
                };
                return Err(Error::field(field, message));
            }
        }
        Ok(())
    }

    /// Sets the new hash and moves the old one into the history (keeping the
    /// `history - 1` newest earlier hashes). Every outstanding reset,
    /// confirmation and email-change link of the account dies with the old
    /// password, whichever way it was changed.
    pub(super) async fn store_new_password(&self, db: &mut Db<'_>, user: &UserRow, hash: &str, now: i64) -> Result<()> {
        let keep = i64::from(self.policy.history.saturating_sub(1));
        if let Some(old) = user.password_hash.as_deref() {
            db.push_password_history(&user.id, old, keep, now).await?;
        }
        db.set_password_hash(&user.id, hash, now).await?;
        self.void_account_links(db, &user.id).await
    }

    /// Whether the user's password is older than `password.max_age_days`
    /// (never, when that is 0 or the age is unknown).
    pub async fn password_expired(&self, user: &UserRow) -> Result<bool> {
        if self.policy.max_age_secs == 0 {
            return Ok(false);
        }
        let changed = self.store.conn().await?.db().password_changed_at(&user.id).await?;
        Ok(changed.is_some_and(|at| self.now().saturating_sub(at) >= self.policy.max_age_secs))
    }

    /// A ticket for changing an expired password, issued only at the end of a
    /// complete sign-in (password and any second step), so the expired form
    /// is no back door around the second factor. Lives 10 minutes.
    pub async fn expired_ticket(&self, user: &UserRow) -> Result<String> {
        let token = crate::security::token::new_secret();
        let now = self.now();
        self.store
            .conn()
            .await?
            .db()
            .insert_challenge(&crate::store::NewChallenge {
                first_factor: "pwd",
                id: &crate::store::new_id(),
                purpose: "expired",
                token_hash: &crate::security::token::hash_secret(&token),
                user_id: &user.id,
                credential: user.password_hash.as_deref(),
                now,
                expires_at: now + super::mfa::CHALLENGE_SECS,
            })
            .await?;
        Ok(token)
    }

    /// The user a live expired-password ticket belongs to.
    pub async fn expired_ticket_user(&self, ticket: &str) -> Result<Option<UserRow>> {
        if ticket.is_empty() || ticket.len() > 128 {
            return Ok(None);
        }
        let hash = crate::security::token::hash_secret(ticket);
        let mut conn = self.store.conn().await?;
        let Some(ch) = conn.db().live_challenge(&hash, "expired", self.now()).await? else { return Ok(None) };
        Ok(conn.db().find_user(&ch.user_id).await?)
    }

    /// Replaces an expired password with the ticket from sign-in and the
    /// current password (typed again), applies the policy (the current
    /// password is always refused), ends every session and sends the
    /// "password changed" notice.
    pub async fn renew_expired_password(
        &self,
        ticket: &str,
        current: &SecretString,
        new: &SecretString,
        confirm: Option<&SecretString>,
        from: &Context,
    ) -> Result<()> {
        let Some(user) = self.expired_ticket_user(ticket).await? else { return Err(Error::BadLink) };
        self.confirm_password(&user, current, "current_password", from).await?;
        self.check_new_password_for("new_password", new, &user)?;
        if confirm.is_some_and(|c| c.expose_secret() != new.expose_secret()) {
            return Err(Error::field("new_password_confirm", "The passwords do not match."));
        }
        self.check_reuse("new_password", new, &user, true).await?;
        let hash = self.passwords.hash(new).await?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        self.store_new_password(&mut tx.db(), &user, &hash, now).await?;
        tx.db().lock_user(&user.id).await?;
        let ended = tx.db().revoke_user_sessions(&user.id, None, now).await?;
        tx.db().revoke_user_refresh(&user.id, now).await?;
        self.queue_password_notice(&mut tx.db(), &user).await?;
        let event =
            from.event(AuditAction::PasswordChanged, &user.id).with_detail(serde_json::json!({ "expired": true }));
        audit::append(&mut tx.db(), &event, now).await?;
        tx.commit().await?;
        self.outbox.kick();
        tracing::info!(user_id = %user.id, sessions_ended = ended, "expired password replaced");
        Ok(())
    }
}
