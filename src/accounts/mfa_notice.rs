//! "Someone may know your password": after a right password, a second step
//! that fails twice or is left unfinished tells the owner once, with a "this
//! wasn't me" link (which signs out everywhere and mails a reset link). The
//! second factor held, but the password is no longer a secret.
//!
//! Each challenge is reported at most once, on any instance: the notice
//! claims the challenge's `notified_at` in the transaction that queues the
//! mail. Abandoned steps are found by [`Accounts::notify_abandoned_second_steps`],
//! which the server runs every minute; a challenge is abandoned when it
//! expired unused and the user has not signed in since it began (so signing in
//! twice by mistake tells nobody anything).
use std::time::Duration;

use tokio::sync::watch;

use super::recovery::{Purpose, greeting_name};
use super::{Accounts, Result};
use crate::mail::Mail;
use crate::store::ChallengeRow;

/// Wrong codes after a right password before the owner is told.
pub const NOTICE_AFTER_FAILURES: i64 = 2;
/// How far back the abandoned-step sweep looks (older ones are not news).
const ABANDONED_LOOKBACK_SECS: i64 = 86_400;
/// Abandoned steps reported per sweep.
const SWEEP_BATCH: i64 = 100;
/// How often the server sweeps.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

impl Accounts {
    /// After a wrong code: the notice, once `failures` reached
    /// [`NOTICE_AFTER_FAILURES`] on a challenge that followed a password.
    pub(super) async fn after_wrong_code(&self, ch: &ChallengeRow, failures: i64) -> Result<()> {
        if ch.first_factor != "pwd" || failures < NOTICE_AFTER_FAILURES {
            return Ok(());
        }
        self.notify_second_step(&ch.id, &ch.user_id, false).await.map(|_| ())
    }

    /// Tells the owners of abandoned second steps; returns how many were told.
    pub async fn notify_abandoned_second_steps(&self) -> Result<u64> {
        let now = self.now();
        let found = {
            let mut conn = self.store.conn().await?;
            conn.db().abandoned_challenges(now - ABANDONED_LOOKBACK_SECS, now, SWEEP_BATCH).await?
        };
        let mut told = 0;
        for ch in found {
            if self.notify_second_step(&ch.id, &ch.user_id, true).await? {
                told += 1;
            }
        }
        Ok(told)
    }

    /// Claims challenge `id`'s notice and queues the mail in one transaction;
    /// false when someone else claimed it or the account has no address.
    async fn notify_second_step(&self, id: &str, user_id: &str, abandoned: bool) -> Result<bool> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if !tx.db().claim_challenge_notice(id, now).await? {
            return Ok(false);
        }
        let Some(user) = tx.db().find_user(user_id).await?.filter(|u| !u.email.is_empty()) else {
            tx.commit().await?;
            return Ok(false);
        };
        let not_me = self.new_link(&mut tx.db(), user_id, Purpose::NotMe, "").await?;
        let when = super::wording::format_time(now);
        let mail = Mail::SecondStepFailed { name: greeting_name(&user), when, abandoned, not_me };
        self.outbox.enqueue(&mut tx.db(), &user.email, &mail).await?;
        tx.commit().await?;
        self.outbox.kick();
        tracing::warn!(user_id, abandoned, "right password, failed second step: owner notified");
        Ok(true)
    }

    /// The background worker: sweeps for abandoned second steps every
    /// minute until `stop`.
    pub async fn run_notices(self, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                () = tokio::time::sleep(SWEEP_EVERY) => {}
            }
            match self.notify_abandoned_second_steps().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(told = n, "abandoned second steps reported"),
                Err(e) => tracing::warn!(error = %e, "abandoned second-step sweep failed"),
            }
        }
    }
}
