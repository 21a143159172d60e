//! Per-account lockout (issue 6): the sign-in side of
//! [`crate::security::lockout`]. Failures are counted per subject: the
//! account's id when the login names an account, otherwise a hash of the
//! normalized login name, so an unknown name locks exactly like a real one
//! and the answer never tells whether an account exists. The owner of a
//! locked account gets one mail per lock, queued in the locking transaction.
use std::collections::HashSet;

use crate::security::audit::{self, ACTOR_SYSTEM, AuditAction, Context};

use super::{Accounts, Error, Result, recovery::greeting_name};
use crate::accounts::wording::format_time;
use crate::mail::Mail;
use crate::security::lockout::{Failures, LockoutPolicy};
use crate::security::token::hash_secret;
use crate::store::UserRow;

pub(super) const USER_PREFIX: &str = "user:";
/// Wrong second-step codes lock apart from passwords (see `accounts/mfa.rs`).
pub(super) const MFA_PREFIX: &str = "mfa:";

/// The lockout subject of a sign-in attempt.
pub(super) fn subject(user: Option<&UserRow>, login_key: &str) -> String {
    match user {
        Some(u) => format!("{USER_PREFIX}{}", u.id),
        // Hashed: people type passwords into the name field now and then.
        None => format!("name:{}", hash_secret(login_key)),
    }
}

impl Accounts {
    /// Uses `policy` for sign-in lockouts (the default is 5 failures in 15
    /// minutes, locked for 1, 2, 4 … up to 60 minutes).
    pub fn with_lockout(mut self, policy: LockoutPolicy) -> Self {
        self.lockout = policy;
        self
    }

    /// `Err(Locked)` while `subject` is locked; the password is then not checked.
    pub(super) async fn ensure_unlocked(&self, subject: &str) -> Result<()> {
        if !self.lockout.enabled() {
            return Ok(());
        }
        let now = self.now();
        match self.store.conn().await?.db().find_lockout(subject).await? {
            Some(row) if row.locked_until > now => {
                Err(Error::Locked { retry_after: LockoutPolicy::remaining(row.locked_until, now), newly: false })
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed sign-in from this request; the error to answer with
    /// (`Locked` when this failure locked the subject): a lock it causes is
    /// audited (actor `system`) with the request's address and user agent.
    pub(super) async fn failure_from(&self, ctx: &Context, subject: &str, user: Option<&UserRow>) -> Result<Error> {
        if !self.lockout.enabled() {
            return Ok(Error::InvalidCredentials);
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let Some(row) = tx.db().count_failure(subject, now, self.lockout.window_secs).await? else {
            // Locked by a concurrent attempt since we looked.
            drop(tx);
            return match self.ensure_unlocked(subject).await {
                Ok(()) => Ok(Error::InvalidCredentials),
                Err(locked @ Error::Locked { .. }) => Ok(locked),
                Err(other) => Err(other),
            };
        };
        let seen = Failures { failures: row.failures, level: row.level, locked_until: row.locked_until };
        let Some(lock) = self.lockout.on_failure(&seen, now) else {
            tx.commit().await?;
            return Ok(Error::InvalidCredentials);
        };
        if !tx.db().lock_subject(subject, row.level, lock.level, lock.until, now).await? {
            tx.commit().await?;
            return Ok(Error::InvalidCredentials);
        }
        // The lock is audited with it (an unknown name has no target to name).
        let event = ctx
            .acting_as(ACTOR_SYSTEM)
            .event(AuditAction::AccountLocked, user.map(|u| u.id.as_str()).unwrap_or(""))
            .with_detail(
                serde_json::json!({ "until": lock.until, "level": lock.level, "subject": subject.split(':').next() }),
            );
        audit::append(&mut tx.db(), &event, now).await?;
        let mailed = match user.filter(|u| u.email_verified) {
            Some(u) => {
                let mail = Mail::AccountLocked {
                    name: greeting_name(u),
                    until: format_time(lock.until),
                    reset: format!("{}/password/forgot", self.outbox.site()),
                    codes: subject.starts_with(MFA_PREFIX),
                };
                self.outbox.enqueue(&mut tx.db(), &u.email, &mail).await?;
                true
            }
            None => false,
        };
        tx.commit().await?;
        if mailed {
            self.outbox.kick();
        }
        tracing::warn!(user_id = user.map(|u| u.id.as_str()), level = lock.level, until = lock.until, "sign-in locked");
        Ok(Error::Locked { retry_after: lock.until - now, newly: true })
    }

    /// A right password: the failure count starts again.
    pub(super) async fn sign_in_succeeded(&self, subject: &str) -> Result<()> {
        if self.lockout.enabled() {
            self.store.conn().await?.db().clear_failures(subject).await?;
        }
        Ok(())
    }

    /// Ends both of a user's locks inside a change (a password reset).
    pub(super) async fn clear_locks(&self, db: &mut crate::store::Db<'_>, user_id: &str) -> Result<bool> {
        let now = self.now();
        let password = db.unlock_subject(&format!("{USER_PREFIX}{user_id}"), now).await?;
        let codes = db.unlock_subject(&format!("{MFA_PREFIX}{user_id}"), now).await?;
        Ok(password || codes)
    }

    /// Seconds left on the user's lock (0: not locked).
    pub async fn locked_for(&self, user_id: &str) -> Result<i64> {
        let mut conn = self.store.conn().await?;
        let mut left = 0;
        for prefix in [USER_PREFIX, MFA_PREFIX] {
            let row = conn.db().find_lockout(&format!("{prefix}{user_id}")).await?;
            left = left.max(row.map_or(0, |r| LockoutPolicy::remaining(r.locked_until, self.now())));
        }
        Ok(left)
    }

    /// The ids of the users locked right now.
    pub async fn locked_user_ids(&self) -> Result<HashSet<String>> {
        let subjects = self.store.conn().await?.db().locked_users(self.now()).await?;
        Ok(subjects
            .into_iter()
            .filter_map(|s| s.strip_prefix(USER_PREFIX).or_else(|| s.strip_prefix(MFA_PREFIX)).map(str::to_owned))
            .collect())
    }
}
