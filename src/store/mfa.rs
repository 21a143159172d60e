//! Two-factor state: `user_mfa` (TOTP secret, sealed, and email codes on or
//! off), `recovery_codes` (hashed), and `mfa_challenges` (sign-ins waiting for
//! their second factor).
use sqlx::FromRow;

use super::{Db, Result, exec, on};

/// A user's second factors (the secret is sealed, so `Debug` may show it).
#[derive(Debug, Clone, Default, FromRow)]
pub struct MfaRow {
    pub totp_secret: Option<String>,
    pub totp_confirmed_at: Option<i64>,
    pub totp_last_step: i64,
    pub email_enabled_at: Option<i64>,
}

/// A sign-in waiting for its second factor.
#[derive(Clone, FromRow)]
pub struct ChallengeRow {
    pub id: String,
    pub user_id: String,
    pub credential: Option<String>,
    pub failures: i64,
    pub email_code_hash: Option<String>,
    pub email_code_expires_at: Option<i64>,
    pub email_tries: i64,
    pub emails_sent: i64,
    /// What the first step proved: `pwd` or `fed` (an upstream provider).
    pub first_factor: String,
}

impl std::fmt::Debug for ChallengeRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password hash and the emailed code's hash stay out of logs.
        f.debug_struct("ChallengeRow")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

/// Columns for a new challenge.
pub struct NewChallenge<'a> {
    pub id: &'a str,
    /// `mfa` (waiting for a second factor) or `expired` (waiting for a new password).
    pub purpose: &'a str,
    pub token_hash: &'a str,
    pub user_id: &'a str,
    pub credential: Option<&'a str>,
    /// `pwd` or `fed`.
    pub first_factor: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

impl Db<'_> {
    /// The user's second factors (all empty if none was ever set up).
    pub async fn user_mfa(&mut self, user_id: &str) -> Result<MfaRow> {
        let row = on!(self, |c| {
            sqlx::query_as::<_, MfaRow>(
            "select totp_secret, totp_confirmed_at, totp_last_step, email_enabled_at from user_mfa where user_id = $1"
        )
        .bind(user_id)
        .fetch_optional(c)
        .await
        })?;
        Ok(row.unwrap_or_default())
    }

    /// Makes sure the user has a `user_mfa` row, so later updates have one to change.
    async fn ensure_mfa_row(&mut self, user_id: &str, now: i64) -> Result<()> {
        exec!(
            self,
            sqlx::query("insert into user_mfa (user_id, updated_at) values ($1, $2) on conflict (user_id) do nothing")
                .bind(user_id)
                .bind(now)
        )?;
        Ok(())
    }

    /// Stores a TOTP secret waiting for its first code (replacing an unconfirmed one).
    /// False if a confirmed secret is already there.
    pub async fn set_pending_totp(&mut self, user_id: &str, sealed: &str, now: i64) -> Result<bool> {
        self.ensure_mfa_row(user_id, now).await?;
        let done = exec!(
            self,
            sqlx::query(
                "update user_mfa set totp_secret = $1, totp_last_step = 0, updated_at = $2 \
                 where user_id = $3 and totp_confirmed_at is null"
            )
            .bind(sealed)
            .bind(now)
            .bind(user_id)
        )?;
        Ok(done == 1)
    }

    /// Confirms the pending secret (if it is still `sealed`) and spends `step`.
    pub async fn confirm_totp(&mut self, user_id: &str, sealed: &str, step: i64, now: i64) -> Result<bool> {
        let done = exec!(
            self,
            sqlx::query(
                "update user_mfa set totp_confirmed_at = $1, totp_last_step = $2, updated_at = $1 \
                 where user_id = $3 and totp_secret = $4 and totp_confirmed_at is null"
            )
            .bind(now)
            .bind(step)
            .bind(user_id)
            .bind(sealed)
        )?;
        Ok(done == 1)
    }

    /// Spends a TOTP step: only if it is later than the last one spent, so of
    /// two requests with the same code exactly one succeeds (RFC 6238 §5.2).
    pub async fn spend_totp_step(&mut self, user_id: &str, step: i64, now: i64) -> Result<bool> {
        let done = exec!(
            self,
            sqlx::query(
                "update user_mfa set totp_last_step = $1, updated_at = $2 \
                 where user_id = $3 and totp_confirmed_at is not null and totp_last_step < $1"
            )
            .bind(step)
            .bind(now)
            .bind(user_id)
        )?;
        Ok(done == 1)
    }

    /// Turns emailed codes on or off.
    pub async fn set_email_mfa(&mut self, user_id: &str, on: bool, now: i64) -> Result<()> {
        self.ensure_mfa_row(user_id, now).await?;
        let at = on.then_some(now);
        exec!(
            self,
            sqlx::query("update user_mfa set email_enabled_at = $1, updated_at = $2 where user_id = $3")
                .bind(at)
                .bind(now)
                .bind(user_id)
        )?;
        Ok(())
    }

    /// Removes every second factor and recovery code of the user.
    pub async fn clear_mfa(&mut self, user_id: &str) -> Result<()> {
        exec!(self, sqlx::query("delete from user_mfa where user_id = $1").bind(user_id))?;
        exec!(self, sqlx::query("delete from recovery_codes where user_id = $1").bind(user_id))?;
        Ok(())
    }

    /// Removes the factors added at or after `since` ("this wasn't me" on a
    /// notice undoes what happened after it); recovery codes go too when no
    /// factor is left. Returns whether anything was removed.
    pub async fn clear_mfa_since(&mut self, user_id: &str, since: i64, now: i64) -> Result<bool> {
        let totp = exec!(
            self,
            sqlx::query(
                "update user_mfa set totp_secret = null, totp_confirmed_at = null, totp_last_step = 0, \
                 updated_at = $3 where user_id = $1 and totp_confirmed_at >= $2"
            )
            .bind(user_id)
            .bind(since)
            .bind(now)
        )?;
        let email = exec!(
            self,
            sqlx::query("update user_mfa set email_enabled_at = null, updated_at = $3 where user_id = $1 and email_enabled_at >= $2")
                .bind(user_id)
                .bind(since)
                .bind(now)
        )?;
        exec!(
            self,
            sqlx::query(
                "delete from recovery_codes where user_id = $1 and not exists (select 1 from user_mfa \
                 where user_id = $1 and (totp_confirmed_at is not null or email_enabled_at is not null))"
            )
            .bind(user_id)
        )?;
        Ok(totp + email > 0)
    }

    /// Replaces the user's recovery codes with `hashes`.
    pub async fn replace_recovery_codes(&mut self, user_id: &str, hashes: &[String], now: i64) -> Result<()> {
        exec!(self, sqlx::query("delete from recovery_codes where user_id = $1").bind(user_id))?;
        for hash in hashes {
            exec!(
                self,
                sqlx::query("insert into recovery_codes (user_id, code_hash, created_at) values ($1, $2, $3)")
                    .bind(user_id)
                    .bind(hash)
                    .bind(now)
            )?;
        }
        Ok(())
    }

    /// Spends an unused recovery code in one atomic update.
    pub async fn spend_recovery_code(&mut self, user_id: &str, hash: &str, now: i64) -> Result<bool> {
        let done = exec!(
            self,
            sqlx::query(
                "update recovery_codes set used_at = $1 where user_id = $2 and code_hash = $3 and used_at is null"
            )
            .bind(now)
            .bind(user_id)
            .bind(hash)
        )?;
        Ok(done == 1)
    }

    /// How many unused recovery codes the user has left.
    pub async fn recovery_codes_left(&mut self, user_id: &str) -> Result<i64> {
        Ok(on!(self, |c| sqlx::query_scalar::<_, i64>(
            "select count(*) from recovery_codes where user_id = $1 and used_at is null"
        )
        .bind(user_id)
        .fetch_one(c)
        .await)?)
    }

    /// Stores a new challenge.
    pub async fn insert_challenge(&mut self, ch: &NewChallenge<'_>) -> Result<()> {
        exec!(
            self,
            sqlx::query(
                "insert into mfa_challenges (id, token_hash, user_id, credential, created_at, expires_at, purpose, \
                 first_factor) values ($1, $2, $3, $4, $5, $6, $7, $8)"
            )
            .bind(ch.id)
            .bind(ch.token_hash)
            .bind(ch.user_id)
            .bind(ch.credential)
            .bind(ch.now)
            .bind(ch.expires_at)
            .bind(ch.purpose)
            .bind(ch.first_factor)
        )?;
        Ok(())
    }

    /// The live challenge of `purpose` for a token hash.
    pub async fn live_challenge(&mut self, token_hash: &str, purpose: &str, now: i64) -> Result<Option<ChallengeRow>> {
        Ok(on!(self, |c| sqlx::query_as::<_, ChallengeRow>(
            "select id, user_id, credential, failures, email_code_hash, email_code_expires_at, email_tries, \
             emails_sent, first_factor from mfa_challenges where token_hash = $1 and purpose = $3 and used_at is null \
             and expires_at > $2"
        )
        .bind(token_hash)
        .bind(now)
        .bind(purpose)
        .fetch_optional(c)
        .await)?)
    }

    /// Counts a wrong code against a challenge; past `max` failures the
    /// challenge is spent. Returns the failures so far.
    pub async fn fail_challenge(&mut self, id: &str, email: bool, max: i64, now: i64) -> Result<i64> {
        let failures = on!(self, |c| sqlx::query_scalar::<_, i64>(
            "update mfa_challenges set failures = failures + 1, \
             email_tries = email_tries + (case when $2 then 1 else 0 end), \
             used_at = (case when failures + 1 >= $3 then $4 else used_at end) \
             where id = $1 returning failures"
        )
        .bind(id)
        .bind(email)
        .bind(max)
        .bind(now)
        .fetch_optional(c)
        .await)?;
        Ok(failures.unwrap_or(max))
    }

    /// Spends a challenge once; false if it was already spent.
    pub async fn spend_challenge(&mut self, id: &str, now: i64) -> Result<bool> {
        let done = exec!(
            self,
            sqlx::query("update mfa_challenges set used_at = $1 where id = $2 and used_at is null").bind(now).bind(id)
        )?;
        Ok(done == 1)
    }

    /// Stores a fresh emailed code for a challenge (its tries start again).
    pub async fn set_challenge_email_code(&mut self, id: &str, hash: &str, expires_at: i64) -> Result<()> {
        exec!(
            self,
            sqlx::query(
                "update mfa_challenges set email_code_hash = $1, email_code_expires_at = $2, email_tries = 0, \
                 emails_sent = emails_sent + 1 where id = $3"
            )
            .bind(hash)
            .bind(expires_at)
            .bind(id)
        )?;
        Ok(())
    }

    /// Claims a challenge's one notice (see `accounts/mfa_notice.rs`): true
    /// for exactly one caller, on any instance.
    pub async fn claim_challenge_notice(&mut self, id: &str, now: i64) -> Result<bool> {
        let done = exec!(
            self,
            sqlx::query("update mfa_challenges set notified_at = $1 where id = $2 and notified_at is null")
                .bind(now)
                .bind(id)
        )?;
        Ok(done == 1)
    }

    /// Second steps that followed a right password and were abandoned: the
    /// challenge expired unused after `since`, nobody was told yet, and the
    /// user has not signed in since it began. Oldest first, at most `limit`.
    pub async fn abandoned_challenges(&mut self, since: i64, now: i64, limit: i64) -> Result<Vec<AbandonedChallenge>> {
        Ok(on!(self, |c| sqlx::query_as::<_, AbandonedChallenge>(
            "select c.id, c.user_id, c.created_at from mfa_challenges c \
             where c.purpose = 'mfa' and c.first_factor = 'pwd' and c.used_at is null and c.notified_at is null \
             and c.expires_at <= $2 and c.expires_at > $1 \
             and not exists (select 1 from sessions s where s.user_id = c.user_id and s.created_at >= c.created_at) \
             order by c.expires_at limit $3"
        )
        .bind(since)
        .bind(now)
        .bind(limit)
        .fetch_all(c)
        .await)?)
    }
}

/// A second step left unfinished.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AbandonedChallenge {
    pub id: String,
    pub user_id: String,
    pub created_at: i64,
}
