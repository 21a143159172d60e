//! Login activity: every sign-in attempt on an existing account (time,
//! address, user agent, outcome, method), kept `retention.activity_secs`
//! (90 days; the janitor deletes older ones) and shown to the
//! owner on `/account`. Each attempt also goes to the audit log, in the same
//! transaction.
use super::{Accounts, Result, names};
use crate::security::audit::{self, AuditAction, AuditEvent};
use crate::store::{self, ActivityRow, Db};

/// How long sign-in attempts are kept.
pub const ACTIVITY_KEEP_SECS: i64 = 90 * 86_400;

/// How many attempts `/account` shows.
pub const ACTIVITY_SHOWN: i64 = 20;

/// How a sign-in attempt ended. Stored as [`SignInOutcome::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInOutcome {
    Success,
    WrongPassword,
    Blocked,
    Unconfirmed,
    /// The account is locked after too many failures.
    Locked,
    /// The password was right, the second factor was not.
    MfaFailed,
    /// Refused by an IP rule or a role policy.
    Denied,
    /// The password was right, but only the browser sign-in can go on (two-step
    /// sign-in, an expired password): the password grant refuses it.
    BrowserOnly,
}

impl SignInOutcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::WrongPassword => "wrong_password",
            Self::Blocked => "blocked",
            Self::Unconfirmed => "unconfirmed",
            Self::Locked => "locked",
            Self::MfaFailed => "mfa_failed",
            Self::Denied => "denied",
            Self::BrowserOnly => "browser_only",
        }
    }

    /// Words for the account page.
    pub fn describe(name: &str) -> &'static str {
        match name {
            "success" => "Signed in",
            "wrong_password" => "Wrong password",
            "blocked" => "Refused: account blocked",
            "unconfirmed" => "Refused: email not confirmed",
            "locked" => "Refused: account locked",
            "mfa_failed" => "Wrong second factor",
            "denied" => "Refused: not allowed from there",
            "browser_only" => "Refused: an app asked for the password; sign in in the browser",
            _ => "Other",
        }
    }
}

/// One sign-in attempt to record.
#[derive(Debug, Clone, Copy)]
pub struct SignInAttempt<'a> {
    /// What was typed as the login (username or email).
    pub login: &'a str,
    /// The account, when the caller already knows it; otherwise `login` is looked up.
    pub user_id: Option<&'a str>,
    pub outcome: SignInOutcome,
    /// "password"; later "password+totp", "password+email", "recovery_code", "fed".
    pub method: &'a str,
    pub ip: &'a str,
    pub user_agent: &'a str,
    pub request_id: &'a str,
}

impl Accounts {
    /// Records a sign-in attempt: an activity row when the account exists,
    /// and an audit event (`sign_in` or `sign_in_failed`) either way. An
    /// attempt on an unknown login is audited with an empty target, so typed
    /// secrets (a password in the username field) never reach the log.
    pub async fn record_sign_in(&self, a: &SignInAttempt<'_>) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        self.write_sign_in(&mut tx.db(), a, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// [`Accounts::record_sign_in`] inside the caller's transaction (a
    /// session's start commits with its `sign_in` event).
    pub(super) async fn write_sign_in(&self, tx: &mut Db<'_>, a: &SignInAttempt<'_>, now: i64) -> Result<()> {
        let user_id = match a.user_id {
            Some(id) => Some(id.to_owned()),
            None => {
                let key = names::login_key(a.login);
                if key.is_empty() || key.len() > names::EMAIL_MAX {
                    None
                } else {
                    tx.find_user_by_login(&key).await?.map(|u| u.id)
                }
            }
        };
        if let Some(user_id) = &user_id {
            let row = ActivityRow {
                id: store::new_id(),
                user_id: user_id.clone(),
                at: now,
                ip: a.ip.chars().take(64).collect(),
                user_agent: a.user_agent.chars().take(256).collect(),
                outcome: a.outcome.as_str().to_owned(),
                method: a.method.chars().take(32).collect(),
            };
            tx.insert_activity(&row).await?;
        }
        let action = match a.outcome {
            SignInOutcome::Success => AuditAction::SignIn,
            SignInOutcome::Denied => AuditAction::IpDenied,
            _ => AuditAction::SignInFailed,
        };
        let who = user_id.unwrap_or_default();
        let actor = if who.is_empty() { "anonymous".to_owned() } else { who.clone() };
        let mut event = AuditEvent::new(actor, action, who).with_detail(serde_json::json!({
            "outcome": a.outcome.as_str(),
            "method": a.method,
        }));
        event.ip = a.ip.to_owned();
        event.user_agent = a.user_agent.to_owned();
        event.request_id = a.request_id.to_owned();
        audit::append(tx, &event, now).await?;
        Ok(())
    }

    /// The user's most recent sign-in attempts, newest first.
    pub async fn recent_activity(&self, user_id: &str) -> Result<Vec<ActivityRow>> {
        Ok(self.store.conn().await?.db().recent_activity(user_id, ACTIVITY_SHOWN).await?)
    }
}
