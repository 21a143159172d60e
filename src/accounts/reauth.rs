//! "Confirm your password" inside a signed-in session: changing the password
//! or the address, turning two-step sign-in off, renewing an expired
//! password. A stolen session must not become a free password oracle (ASVS 5
//! V6.3.1; NIST SP 800-63B §5.2.2), so a wrong password here counts exactly
//! like one at `/login`: toward the account's lockout (and its mail), toward
//! the per-address failure throttle (with its growing delay), and as a
//! `reauth_failed` audit event. While the account is locked the password is
//! not checked at all.
use secrecy::SecretString;

use super::{Accounts, Error, Result, lockout};
use crate::security::audit::{self, AuditAction, Context};
use crate::security::limiter::Limiter;
use crate::store::UserRow;

impl Accounts {
    /// Counts wrong confirmations per client address with `limiter` too (the
    /// server always sets it; without it only the lockout counts).
    pub fn with_limiter(mut self, limiter: Limiter) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Checks `user`'s current password for the form field `field`. A wrong
    /// one is `Error::Invalid` on that field (or `Error::Locked` once it locks
    /// the account), after it was counted and audited.
    pub(super) async fn confirm_password(
        &self,
        user: &UserRow,
        password: &SecretString,
        field: &'static str,
        from: &Context,
    ) -> Result<()> {
        let subject = lockout::subject(Some(user), "");
        self.ensure_unlocked(&subject).await?;
        if self.passwords.verify(password, user.password_hash.as_deref()).await?.ok {
            return self.sign_in_succeeded(&subject).await;
        }
        let answer = match self.failure_from(from, &subject, Some(user)).await? {
            locked @ Error::Locked { .. } => locked,
            _ => Error::field(field, "The current password is not correct."),
        };
        let event = from
            .acting_as(&user.id)
            .event(AuditAction::ReauthFailed, &user.id)
            .with_detail(serde_json::json!({ "form": field }));
        // A refusal changes nothing else: the event is its own transaction.
        audit::record(&self.store, &event, self.now()).await?;
        tracing::info!(user_id = %user.id, form = field, "wrong password in a confirmation form");
        if let Some(limiter) = &self.limiter {
            limiter.hold_failed_sign_in(&from.ip).await;
        }
        Err(answer)
    }
}
