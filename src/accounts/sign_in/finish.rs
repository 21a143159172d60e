//! The last step of every sign-in (role IP rules, password age, the new
//! session, activity and audit, the device check), and the recording helpers
//! the other steps share. No axum here.
use std::net::IpAddr;

use secrecy::SecretString;

use super::{Next, Refusal, SignInCtx, SignedIn};
use crate::accounts::mfa::FirstFactor;
use crate::accounts::{Accounts, Error, Result, SignInAttempt, SignInOrigin, SignInOutcome};
use crate::security::audit::AuditAction;
use crate::security::token;
use crate::store::UserRow;

/// The activity method for an `amr` value (OIDC `amr`, RFC 8176).
pub fn method_of(amr: &str) -> &'static str {
    match amr {
        "pwd" => "password",
        "fed" => "federated",
        a if a.starts_with("fed") && a.contains("otp") => "federated+totp",
        a if a.starts_with("fed") && a.contains("email") => "federated+email",
        a if a.contains("otp") => "password+totp",
        a if a.contains("email") => "password+email",
        a if a.contains("rec") => "recovery_code",
        _ => "other",
    }
}

/// Who signed in, and how (inside this module only: a store row).
pub(super) struct Proved {
    pub user: UserRow,
    /// The password hash the user proved at the first step: the session
    /// starts only if it is still current (a reset in between wins).
    pub credential: Option<String>,
    pub amr: &'static str,
}

impl Accounts {
    /// A new session (no fixation: whatever session the browser had ends),
    /// the activity and audit rows, and the device note. Checked here, after
    /// every step, so no way of finishing skips the role rules or the
    /// password's age.
    pub(super) async fn finish(&self, proved: Proved, ctx: &SignInCtx, next: Option<String>) -> Result<Next> {
        let Proved { user, credential, amr } = proved;
        if let Some(role) = self.refused_role(&self.roles(&user.id).await?, ctx.addr).await {
            self.record_known(ctx, &user.id, SignInOutcome::Denied, method_of(amr)).await;
            return Ok(Next::Refused(Refusal::Network { role }));
        }
        // An upstream sign-in used no password, so its age does not matter here.
        let used_password = !amr.starts_with(FirstFactor::Upstream.as_str());
        if used_password && self.password_expired(&user).await? {
            let ticket = self.expired_ticket(&user).await?;
            return Ok(Next::PasswordExpired { ticket, username: user.username, next });
        }
        if let Some(previous) = &ctx.previous {
            let event = (ctx.audit.acting_as(previous.user_id.as_str()))
                .event(AuditAction::SignOut, previous.user_id.as_str())
                .with_detail(serde_json::json!({ "reason": "signed in again" }));
            self.end_session_audited(&previous.user_id, &previous.session_id, &event).await?;
        }
        let (ip, agent) = (&ctx.audit.ip, &ctx.audit.user_agent);
        let attempt = SignInAttempt {
            login: "",
            user_id: Some(&user.id),
            outcome: SignInOutcome::Success,
            method: method_of(amr),
            ip,
            user_agent: agent,
            request_id: &ctx.audit.request_id,
        };
        let session = match self.start_session(&user.id, credential.as_deref(), amr, &attempt).await {
            Ok(session) => session,
            // The password changed (or the account was blocked) while we checked it.
            Err(Error::InvalidCredentials) => return Ok(Next::Refused(Refusal::Changed)),
            Err(other) => return Err(other),
        };
        tracing::info!(user_id = %user.id, amr, "signed in");
        let (device, new_device) = match ctx.device.as_deref().filter(|d| d.len() <= 64) {
            Some(d) => (d.to_owned(), None),
            None => {
                let d = token::new_secret();
                (d.clone(), Some(d))
            }
        };
        let origin = SignInOrigin { ip: ip.parse().ok(), user_agent: agent, device: &device };
        // The notice is best effort: a failure here must not undo the sign-in.
        if let Err(e) = self.note_sign_in(&user, origin).await {
            tracing::error!(user_id = %user.id, error = %e, "recording the sign-in device failed");
        }
        let to = next.unwrap_or_else(|| "/account".to_owned());
        Ok(Next::Session(SignedIn { session, amr, to, new_device, recovery_codes: Vec::new() }))
    }

    /// The first of `roles` that the IP rules refuse from `addr`, if any.
    pub(in crate::accounts) async fn refused_role(&self, roles: &[String], addr: Option<IpAddr>) -> Option<String> {
        let rules = self.ip.as_ref()?.rules().await;
        rules.refusing_role(roles, addr).map(str::to_owned)
    }

    /// Issue 14, item 3: role IP rules are decided from the account a sign-in
    /// names, before its password is checked. When the account's roles are
    /// refused from here, the answer is the same whether the password is
    /// right or wrong: the password is never checked (so the attempt is not a
    /// password failure and cannot lock the account), and a dummy hash is
    /// spent so the refusal takes as long as a check.
    pub(in crate::accounts) async fn refused_before_password(
        &self,
        login: &str,
        password: &SecretString,
        ctx: &SignInCtx,
    ) -> Result<Option<Refusal>> {
        let Some(ip) = &self.ip else { return Ok(None) };
        if ip.rules().await.is_empty() {
            return Ok(None);
        }
        let Some((user_id, roles)) = self.roles_for_login(login).await? else { return Ok(None) };
        let Some(role) = self.refused_role(&roles, ctx.addr).await else { return Ok(None) };
        self.spend_password_check(password).await?;
        self.record_known(ctx, &user_id, SignInOutcome::Denied, "password").await;
        Ok(Some(Refusal::Network { role }))
    }

    /// Records a failed password check at the sign-in form (activity and audit).
    pub(super) async fn record_login(&self, ctx: &SignInCtx, login: &str, outcome: SignInOutcome) {
        self.record(ctx, login, None, outcome, "password").await;
    }

    /// Records an attempt of a known account that got past the password (a
    /// wrong second-factor code, a refusal by an IP rule, or success).
    pub(in crate::accounts) async fn record_known(
        &self,
        ctx: &SignInCtx,
        user_id: &str,
        outcome: SignInOutcome,
        method: &str,
    ) {
        self.record(ctx, "", Some(user_id), outcome, method).await;
    }

    /// Recording is best effort: a failure is logged, never shown.
    pub(in crate::accounts) async fn record(
        &self,
        ctx: &SignInCtx,
        login: &str,
        user_id: Option<&str>,
        outcome: SignInOutcome,
        method: &str,
    ) {
        let attempt = SignInAttempt {
            login,
            user_id,
            outcome,
            method,
            ip: &ctx.audit.ip,
            user_agent: &ctx.audit.user_agent,
            request_id: &ctx.audit.request_id,
        };
        if let Err(e) = self.record_sign_in(&attempt).await {
            tracing::error!(error = %e, "recording the sign-in attempt failed");
        }
    }

    /// Counts a failed attempt against the client address and holds the
    /// answer for the growing delay (see `security::limiter`).
    pub(in crate::accounts) async fn hold_failure(&self, ctx: &SignInCtx) {
        if let Some(limiter) = &self.limiter {
            limiter.hold_failed_sign_in(&ctx.audit.ip).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::method_of;

    #[test]
    fn activity_methods_follow_the_amr_values() {
        assert_eq!(method_of("pwd"), "password");
        assert_eq!(method_of("fed"), "federated");
        assert_eq!(method_of("pwd otp mfa"), "password+totp");
        assert_eq!(method_of("pwd email mfa"), "password+email");
        assert_eq!(method_of("pwd rec mfa"), "recovery_code");
        assert_eq!(method_of("fed otp mfa"), "federated+totp");
        assert_eq!(method_of("fed email mfa"), "federated+email");
        assert_eq!(method_of("x"), "other");
    }
}
