//! Two-step sign-in: TOTP enrolment, recovery codes, emailed codes, and the
//! challenge between the password and the second factor.
//!
//! ```text
//!  password ok ──> no factor, none required ─────────────────────> session (amr pwd)
//!       │
//!       └──> challenge (cookie, 10 min, 5 wrong codes) ──> TOTP | emailed code | recovery code
//!                 │                                           └──> session (amr pwd + method + mfa)
//!                 └── role requires 2FA, none set up ──> TOTP enrolment inside the challenge
//! ```
//!
//! The TOTP secret is sealed with the key-encryption key. Recovery codes are
//! 80 random bits each and stored as SHA-256 hashes, like every other bearer
//! secret here. An emailed code is stored hashed together with the challenge
//! token, so the database alone cannot be used to find it.
use std::sync::Arc;

use secrecy::SecretString;

use crate::keys::Kek;
use crate::mail::Mail;
use crate::security::audit::{self, AuditAction, Context};
use crate::security::{token, totp};
use crate::store::{ChallengeRow, Db, MfaRow, NewChallenge, UserRow};

use super::recovery::{Purpose, greeting_name};
use super::{Accounts, Error, Result, StartedSession};

/// How long the second step may take.
pub const CHALLENGE_SECS: i64 = 600;
/// Wrong codes a challenge takes before it ends (the issue's "5 tries").
pub const MAX_FAILURES: i64 = 5;
/// An emailed code's lifetime.
pub const EMAIL_CODE_SECS: i64 = 600;
/// Emailed codes per challenge.
const MAX_EMAILS: i64 = 3;
/// Recovery codes per set.
pub const RECOVERY_CODES: usize = 10;

/// A second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Totp,
    Email,
    Recovery,
}

impl Method {
    /// Parses the form value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "totp" => Some(Self::Totp),
            "email" => Some(Self::Email),
            "recovery" => Some(Self::Recovery),
            _ => None,
        }
    }

    /// The method's name in the activity log.
    pub fn name(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::Email => "email_code",
            Self::Recovery => "recovery_code",
        }
    }

    /// The session's `amr` (RFC 8176 §2). `otp` and `mfa` are registered
    /// values; an emailed code is `email` and a recovery code `rec`
    /// (RFC 8176 allows unregistered values; the README lists them).
    /// After an upstream sign-in (`fed`) the first value is `fed` instead.
    pub fn amr(self, first_factor: &str) -> &'static str {
        match (self, first_factor == FirstFactor::Upstream.as_str()) {
            (Self::Totp, false) => "pwd otp mfa",
            (Self::Email, false) => "pwd email mfa",
            (Self::Recovery, false) => "pwd rec mfa",
            (Self::Totp, true) => "fed otp mfa",
            (Self::Email, true) => "fed email mfa",
            (Self::Recovery, true) => "fed rec mfa",
        }
    }
}

/// What the first step of a sign-in proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstFactor {
    /// The account's password (`amr` `pwd`).
    Password,
    /// An upstream identity provider (`amr` `fed`).
    Upstream,
}

impl FirstFactor {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "pwd",
            Self::Upstream => "fed",
        }
    }
}

/// A user's two-step status, for pages.
#[derive(Debug, Clone, Default)]
pub struct MfaStatus {
    pub totp: bool,
    pub email: bool,
    pub recovery_left: i64,
    /// A role of the user requires a second factor.
    pub required: bool,
}

impl MfaStatus {
    /// Whether a second factor is asked for at sign-in.
    pub fn enabled(&self) -> bool {
        self.totp || self.email
    }
}

/// A TOTP secret waiting for its first code: what the page shows.
pub struct Enrolment {
    pub secret_text: String,
    pub uri: String,
    pub qr_svg: String,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret is in all three fields.
        f.debug_struct("Enrolment").finish_non_exhaustive()
    }
}

/// What a password sign-in needs next.
pub enum NextStep {
    /// No second factor: start the session.
    Done,
    /// A challenge started; the browser keeps `token` in a cookie.
    Challenge { token: String },
}

/// Outcome of a code typed at the challenge.
pub enum CodeCheck {
    /// Right code: start the session with this `amr` and these credentials.
    Passed { user_id: String, credential: Option<String>, amr: &'static str },
    /// Wrong code; the challenge goes on.
    Wrong { user_id: String, tries_left: i64 },
    /// Too many wrong codes: this challenge is over (and the user's codes
    /// may be locked for a while, like passwords).
    Over { user_id: String },
    /// No live challenge (expired, spent, or no cookie).
    Expired,
}

/// A challenge finished by setting up an authenticator.
/// A factor added from `/account/mfa`: the recovery codes to show once
/// (when new ones were made), and the browser's session under its new id
/// (OWASP Session Management Cheat Sheet: renew the session ID after any
/// privilege level change; ASVS V7). `session` is `None` when the session
/// was not live any more.
#[derive(Debug)]
pub struct FactorAdded {
    pub codes: Option<Vec<String>>,
    pub session: Option<StartedSession>,
}

pub struct SetUp {
    pub user_id: String,
    pub credential: Option<String>,
    pub codes: Vec<String>,
    /// The session's `amr`.
    pub amr: &'static str,
}

/// The lockout subject for wrong second-factor codes: kept apart from the
/// password's, because a right password clears that one and whoever is
/// guessing codes knows the password.
fn code_subject(user_id: &str) -> String {
    format!("{}{user_id}", super::lockout::MFA_PREFIX)
}

impl Accounts {
    fn kek(&self) -> &Arc<Kek> {
        &self.kek
    }

    fn seal_label(user_id: &str) -> String {
        format!("totp:{user_id}")
    }

    fn open_secret(&self, user_id: &str, row: &MfaRow) -> Result<Option<Vec<u8>>> {
        let Some(sealed) = &row.totp_secret else { return Ok(None) };
        Ok(Some(self.kek().open(&Self::seal_label(user_id), sealed).map_err(Error::Sealing)?))
    }

    /// The user's two-step status.
    pub async fn mfa_status(&self, user_id: &str, roles: &[String]) -> Result<MfaStatus> {
        let mut conn = self.store.conn().await?;
        let row = conn.db().user_mfa(user_id).await?;
        Ok(MfaStatus {
            totp: row.totp_confirmed_at.is_some(),
            email: row.email_enabled_at.is_some(),
            recovery_left: conn.db().recovery_codes_left(user_id).await?,
            required: self.mfa.required_for(roles),
        })
    }

    /// After a right password: start a challenge if the user has a second
    /// factor or a role that requires one.
    pub async fn begin_second_step(&self, user: &UserRow, first: FirstFactor) -> Result<NextStep> {
        let roles = self.roles(&user.id).await?;
        let status = self.mfa_status(&user.id, &roles).await?;
        if !status.enabled() && !status.required {
            return Ok(NextStep::Done);
        }
        // Wrong codes lock like wrong passwords (see `accounts/lockout.rs`).
        self.ensure_unlocked(&code_subject(&user.id)).await?;
        let token = token::new_secret();
        let now = self.now();
        let mut conn = self.store.conn().await?;
        conn.db()
            .insert_challenge(&NewChallenge {
                id: &crate::store::new_id(),
                purpose: "mfa",
                token_hash: &token::hash_secret(&token),
                user_id: &user.id,
                // An upstream sign-in proved no password: only a block stops it.
                credential: if first == FirstFactor::Password { user.password_hash.as_deref() } else { None },
                first_factor: first.as_str(),
                now,
                expires_at: now + CHALLENGE_SECS,
            })
            .await?;
        Ok(NextStep::Challenge { token })
    }

    /// The live challenge behind a cookie, with its user's status.
    pub async fn challenge(&self, token: &str) -> Result<Option<(ChallengeRow, MfaStatus)>> {
        if token.is_empty() || token.len() > 128 {
            return Ok(None);
        }
        let Some(ch) =
            self.store.conn().await?.db().live_challenge(&token::hash_secret(token), "mfa", self.now()).await?
        else {
            return Ok(None);
        };
        let roles = self.roles(&ch.user_id).await?;
        let status = self.mfa_status(&ch.user_id, &roles).await?;
        Ok(Some((ch, status)))
    }

    /// Checks a code typed at the challenge. Every wrong code counts, so a
    /// challenge allows [`MAX_FAILURES`] guesses whatever the method.
    pub async fn check_code(&self, ctx: &Context, token: &str, method: Method, code: &str) -> Result<CodeCheck> {
        let Some((ch, status)) = self.challenge(token).await? else { return Ok(CodeCheck::Expired) };
        let subject = code_subject(&ch.user_id);
        if let Err(Error::Locked { .. }) = self.ensure_unlocked(&subject).await {
            return Ok(CodeCheck::Over { user_id: ch.user_id });
        }
        let now = self.now();
        let ok = match method {
            Method::Totp if status.totp => self.spend_totp(&ch.user_id, code, now).await?,
            Method::Email => {
                let live = ch.email_code_expires_at.is_some_and(|t| t > now) && ch.email_tries < MAX_FAILURES;
                let hash = email_code_hash(token, code.trim());
                live && ch.email_code_hash.as_deref().is_some_and(|h| token::constant_eq(h, &hash))
            }
            Method::Recovery if status.totp || status.email => {
                let hash = recovery_hash(code);
                self.store.conn().await?.db().spend_recovery_code(&ch.user_id, &hash, now).await?
            }
            _ => false,
        };
        let mut conn = self.store.conn().await?;
        if !ok {
            let failures = conn.db().fail_challenge(&ch.id, method == Method::Email, MAX_FAILURES, now).await?;
            tracing::info!(user_id = %ch.user_id, failures, "wrong second-factor code");
            // Every wrong code also counts toward the user's code lockout, so
            // starting new challenges does not buy new guesses. (One pooled
            // connection at a time: the lockout opens its own transaction.)
            let user = conn.db().find_user(&ch.user_id).await?;
            drop(conn);
            let locked = matches!(self.failure_from(ctx, &subject, user.as_ref()).await?, Error::Locked { .. });
            self.after_wrong_code(&ch, failures).await?;
            return Ok(if locked || failures >= MAX_FAILURES {
                CodeCheck::Over { user_id: ch.user_id }
            } else {
                CodeCheck::Wrong { user_id: ch.user_id, tries_left: MAX_FAILURES - failures }
            });
        }
        if !conn.db().spend_challenge(&ch.id, now).await? {
            return Ok(CodeCheck::Expired);
        }
        drop(conn);
        self.sign_in_succeeded(&subject).await?;
        Ok(CodeCheck::Passed { user_id: ch.user_id, credential: ch.credential, amr: method.amr(&ch.first_factor) })
    }

    /// Spends a TOTP code for the user: right code, and a step after the last
    /// one spent (RFC 6238 §5.2), claimed atomically.
    async fn spend_totp(&self, user_id: &str, code: &str, now: i64) -> Result<bool> {
        let mut conn = self.store.conn().await?;
        let row = conn.db().user_mfa(user_id).await?;
        let Some(secret) = self.open_secret(user_id, &row)? else { return Ok(false) };
        let Some(step) = totp::verify(&secret, code, now, row.totp_last_step) else { return Ok(false) };
        Ok(conn.db().spend_totp_step(user_id, step, now).await?)
    }

    /// Mails a sign-in code for the challenge (at most [`MAX_EMAILS`] per
    /// challenge). False when no more may be sent.
    pub async fn send_email_code(&self, token: &str) -> Result<bool> {
        let Some((ch, status)) = self.challenge(token).await? else { return Ok(false) };
        if !status.email || ch.emails_sent >= MAX_EMAILS {
            return Ok(false);
        }
        let user = self.store.conn().await?.db().find_user(&ch.user_id).await?.ok_or(Error::UnknownUser)?;
        let code = format!("{:06}", u32::from_be_bytes(token::random_bytes::<4>()) % 1_000_000);
        let mut tx = self.store.begin().await?;
        tx.db().set_challenge_email_code(&ch.id, &email_code_hash(token, &code), self.now() + EMAIL_CODE_SECS).await?;
        self.outbox.enqueue(&mut tx.db(), &user.email, &Mail::SignInCode { name: greeting_name(&user), code }).await?;
        tx.commit().await?;
        self.outbox.kick();
        Ok(true)
    }

    /// Starts TOTP enrolment: a new secret (replacing an unconfirmed one).
    /// Fails if an authenticator is already set up.
    pub async fn begin_totp(&self, user_id: &str, account: &str) -> Result<Enrolment> {
        let secret = token::random_bytes::<{ totp::SECRET_BYTES }>();
        let sealed = self.kek().seal(&Self::seal_label(user_id), &secret).map_err(Error::Sealing)?;
        if !self.store.conn().await?.db().set_pending_totp(user_id, &sealed, self.now()).await? {
            return Err(Error::field("code", "An authenticator app is already set up."));
        }
        self.enrolment(account, &secret)
    }

    /// The page data for the pending secret (when the form comes back).
    pub async fn pending_totp(&self, user_id: &str, account: &str) -> Result<Option<Enrolment>> {
        let row = self.store.conn().await?.db().user_mfa(user_id).await?;
        if row.totp_confirmed_at.is_some() {
            return Ok(None);
        }
        match self.open_secret(user_id, &row)? {
            Some(secret) => Ok(Some(self.enrolment(account, &secret)?)),
            None => Ok(None),
        }
    }

    fn enrolment(&self, account: &str, secret: &[u8]) -> Result<Enrolment> {
        let uri = totp::otpauth_uri(&self.mfa.issuer_label, account, secret);
        let qr_svg = totp::qr_svg(&uri).map_err(|e| Error::Qr(e.to_string()))?;
        Ok(Enrolment { secret_text: group(&totp::base32(secret)), uri, qr_svg })
    }

    /// Confirms enrolment with a code from the app (audited from `ctx`).
    /// Returns the recovery codes, shown once, and the session `keep` under
    /// a new id.
    pub async fn confirm_totp(
        &self,
        ctx: &Context,
        user_id: &str,
        code: &str,
        keep: Option<&str>,
    ) -> Result<FactorAdded> {
        let now = self.now();
        let user = self.store.conn().await?.db().find_user(user_id).await?.ok_or(Error::UnknownUser)?;
        let (sealed, step) = self.pending_code_step(user_id, code).await?;
        let sealed = &sealed;
        let codes = new_recovery_codes();
        let mut tx = self.store.begin().await?;
        tx.db().lock_user(user_id).await?;
        if !tx.db().confirm_totp(user_id, sealed, step, now).await? {
            return Err(Error::field("code", "Start the set-up again: no authenticator is waiting for a code."));
        }
        tx.db()
            .replace_recovery_codes(user_id, &codes.iter().map(|c| recovery_hash(c)).collect::<Vec<_>>(), now)
            .await?;
        let event = ctx.event(AuditAction::MfaEnabled, user_id).with_detail(serde_json::json!({ "method": "totp" }));
        audit::append(&mut tx.db(), &event, now).await?;
        let session = self.factor_added(&mut tx.db(), &user, "an authenticator app", keep).await?;
        tx.commit().await?;
        self.outbox.kick();
        tracing::info!(user_id, "authenticator app set up");
        Ok(FactorAdded { codes: Some(codes), session })
    }

    /// Checks a code against the secret waiting for confirmation; returns
    /// the sealed secret and the step the code matched.
    async fn pending_code_step(&self, user_id: &str, code: &str) -> Result<(String, i64)> {
        let row = self.store.conn().await?.db().user_mfa(user_id).await?;
        let (Some(sealed), None) = (&row.totp_secret, row.totp_confirmed_at) else {
            return Err(Error::field("code", "Start the set-up again: no authenticator is waiting for a code."));
        };
        let secret = self.open_secret(user_id, &row)?.unwrap_or_default();
        match totp::verify(&secret, code, self.now(), row.totp_last_step) {
            Some(step) => Ok((sealed.clone(), step)),
            None => {
                Err(Error::field("code", "That code is not right. Check the time on your phone and try the next one."))
            }
        }
    }

    /// Sets up an authenticator inside a challenge (a role requires it and
    /// the user had none): the code confirms the app and ends the challenge.
    /// Returns the user and the recovery codes.
    pub async fn setup_in_challenge(&self, ctx: &Context, token: &str, code: &str) -> Result<Option<SetUp>> {
        let Some((ch, status)) = self.challenge(token).await? else { return Ok(None) };
        if status.enabled() {
            return Ok(None);
        }
        // Check the code before spending the challenge (a typo must not end
        // it); then spend it, then confirm, which also ends every other
        // session and pending challenge of the user.
        self.pending_code_step(&ch.user_id, code).await?;
        if !self.store.conn().await?.db().spend_challenge(&ch.id, self.now()).await? {
            return Ok(None);
        }
        let codes = self.confirm_totp(ctx, &ch.user_id, code, None).await?.codes.unwrap_or_default();
        let amr = Method::Totp.amr(&ch.first_factor);
        Ok(Some(SetUp { user_id: ch.user_id, credential: ch.credential, codes, amr }))
    }

    /// Turns emailed codes on (needs a confirmed address; audited from
    /// `ctx`). Returns recovery codes when this is the user's first factor,
    /// and the session `keep` under a new id.
    pub async fn enable_email_mfa(&self, ctx: &Context, user_id: &str, keep: Option<&str>) -> Result<FactorAdded> {
        let now = self.now();
        let user = self.store.conn().await?.db().find_user(user_id).await?.ok_or(Error::UnknownUser)?;
        if !user.email_verified {
            return Err(Error::field("email_mfa", "Confirm your email address first."));
        }
        let mut tx = self.store.begin().await?;
        tx.db().lock_user(user_id).await?;
        let had = tx.db().user_mfa(user_id).await?;
        tx.db().set_email_mfa(user_id, true, now).await?;
        let codes = if had.totp_confirmed_at.is_none() && had.email_enabled_at.is_none() {
            let codes = new_recovery_codes();
            tx.db()
                .replace_recovery_codes(user_id, &codes.iter().map(|c| recovery_hash(c)).collect::<Vec<_>>(), now)
                .await?;
            Some(codes)
        } else {
            None
        };
        let event = ctx.event(AuditAction::MfaEnabled, user_id).with_detail(serde_json::json!({ "method": "email" }));
        audit::append(&mut tx.db(), &event, now).await?;
        let session = self.factor_added(&mut tx.db(), &user, "codes by email", keep).await?;
        tx.commit().await?;
        self.outbox.kick();
        tracing::info!(user_id, "emailed sign-in codes turned on");
        Ok(FactorAdded { codes, session })
    }

    /// A new set of recovery codes; the old ones stop working.
    pub async fn regenerate_recovery_codes(&self, ctx: &Context, user_id: &str) -> Result<Vec<String>> {
        let row = self.store.conn().await?.db().user_mfa(user_id).await?;
        if row.totp_confirmed_at.is_none() && row.email_enabled_at.is_none() {
            return Err(Error::field("recovery", "Turn on two-step sign-in first."));
        }
        let codes = new_recovery_codes();
        let hashes: Vec<String> = codes.iter().map(|c| recovery_hash(c)).collect();
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.db().replace_recovery_codes(user_id, &hashes, now).await?;
        audit::append(&mut tx.db(), &ctx.event(AuditAction::RecoveryCodesGenerated, user_id), now).await?;
        tx.commit().await?;
        tracing::info!(user_id, "recovery codes replaced");
        Ok(codes)
    }

    /// Turns two-step sign-in off: removes every factor and recovery code and
    /// mails the owner (with a "this wasn't me" link).
    pub async fn disable_mfa(&self, user_id: &str, password: &SecretString, from: &Context) -> Result<()> {
        let user = self.store.conn().await?.db().find_user(user_id).await?.ok_or(Error::UnknownUser)?;
        self.confirm_password(&user, password, "mfa_password", from).await?;
        let roles = self.roles(user_id).await?;
        if self.mfa.required_for(&roles) {
            return Err(Error::field(
                "mfa_password",
                "Your role requires two-step sign-in, so it cannot be turned off.",
            ));
        }
        self.clear_mfa_and_notify(&user, from).await
    }
}

impl Accounts {
    /// A factor was added: every other session ends (it was signed in
    /// without it), `keep` goes on under a new id, and the owner is told,
    /// with a "this wasn't me" link. Call after `lock_user`.
    async fn factor_added(
        &self,
        db: &mut Db<'_>,
        user: &UserRow,
        what: &str,
        keep: Option<&str>,
    ) -> Result<Option<StartedSession>> {
        let now = self.now();
        db.revoke_user_sessions(&user.id, keep, now).await?;
        let not_me = self.new_link(db, &user.id, Purpose::NotMe, "").await?;
        let mail = Mail::TwoFactorOn {
            name: greeting_name(user),
            method: what.to_owned(),
            when: super::wording::format_time(now),
            not_me,
        };
        self.outbox.enqueue(db, &user.email, &mail).await?;
        match keep {
            Some(old) => self.rotate_session(db, &user.id, old).await,
            None => Ok(None),
        }
    }

    /// An operator removes every second factor of a user (lost phone); the
    /// owner is mailed, as when they turn it off themselves.
    pub async fn reset_mfa(&self, ctx: &Context, user_id: &str) -> Result<()> {
        let user = self.store.conn().await?.db().find_user(user_id).await?.ok_or(Error::UnknownUser)?;
        self.clear_mfa_and_notify(&user, ctx).await
    }

    /// `ctx`: the user turning it off, or the operator.
    async fn clear_mfa_and_notify(&self, user: &UserRow, ctx: &Context) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.db().clear_mfa(&user.id).await?;
        audit::append(&mut tx.db(), &ctx.event(AuditAction::MfaDisabled, user.id.as_str()), now).await?;
        let not_me = self.new_link(&mut tx.db(), &user.id, Purpose::NotMe, "").await?;
        let when = super::wording::format_time(now);
        self.outbox
            .enqueue(&mut tx.db(), &user.email, &Mail::TwoFactorOff { name: greeting_name(user), when, not_me })
            .await?;
        tx.commit().await?;
        self.outbox.kick();
        tracing::info!(user_id = %user.id, "two-step sign-in turned off");
        Ok(())
    }
}

/// Groups a base32 secret in fours, as apps show it for typing.
fn group(s: &str) -> String {
    s.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ")
}

/// Ten codes of 16 base32 characters (80 bits), shown as `xxxx-xxxx-xxxx-xxxx`.
fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let raw = totp::base32(&token::random_bytes::<10>()).to_ascii_lowercase();
            raw.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("-")
        })
        .collect()
}

/// A recovery code's stored hash: case, spaces and dashes do not matter.
fn recovery_hash(code: &str) -> String {
    let normal: String =
        code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).take(64).collect();
    token::hash_secret(&normal)
}

/// An emailed code's stored hash, bound to its challenge token.
fn email_code_hash(token: &str, code: &str) -> String {
    token::hash_secret(&format!("{token}:{code}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_ten_distinct_80_bit_codes() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        assert!(codes.iter().all(|c| c.len() == 19 && c.matches('-').count() == 3));
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), 10);
    }

    #[test]
    fn recovery_hash_ignores_case_spaces_and_dashes() {
        assert_eq!(recovery_hash("abcd-efgh-ijkl-mnop"), recovery_hash(" ABCD EFGH ijkl mnop "));
        assert_ne!(recovery_hash("abcd-efgh-ijkl-mnop"), recovery_hash("abcd-efgh-ijkl-mnoq"));
    }
}
