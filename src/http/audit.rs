//! Request context for the audit log: the [`AuditCtx`] extractor (client
//! address, user agent and `x-request-id`), which handlers turn into the
//! services' [`audit::Context`]; the services write every event inside the
//! change's transaction. The sign-in helpers below record attempts best
//! effort: a failure is logged at error level, never shown to the user.
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::accounts::{self, SignInAttempt, SignInOutcome};
use crate::app::AppState;
use crate::http::extract::ClientInfo;
use crate::security::audit::{self, AuditAction, AuditEvent};
use crate::store::UserRow;

/// Who is asking and under which request id.
#[derive(Debug, Clone)]
pub struct AuditCtx {
    pub ip: String,
    pub user_agent: String,
    /// Set by the request-id layer (see `http::router`), so always present there.
    pub request_id: String,
}

impl FromRequestParts<AppState> for AuditCtx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ClientInfo { ip, user_agent, .. } = ClientInfo::from_request_parts(parts, state).await?;
        let request_id = parts.headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        Ok(Self { ip, user_agent, request_id })
    }
}

impl AuditCtx {
    /// This request as the origin of a password confirmation (nobody named
    /// as actor: the service names the account).
    pub fn confirming(&self) -> accounts::Confirming {
        self.context("")
    }

    /// This request as the services' audit context, acting as `actor`
    /// ("" while nobody is signed in).
    pub fn context(&self, actor: &str) -> audit::Context {
        audit::Context {
            actor: actor.to_owned(),
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
            request_id: self.request_id.clone(),
        }
    }

    /// An event carrying this request's address, user agent and id.
    pub fn event(&self, actor: &str, action: AuditAction, target: &str) -> AuditEvent {
        self.context(actor).event(action, target)
    }
}

/// Records a failed password check at `/login` (activity and audit).
pub async fn sign_in_attempt(state: &AppState, ctx: &AuditCtx, login: &str, result: &accounts::Result<UserRow>) {
    let (outcome, user_id) = match result {
        // A right password is not a sign-in yet (a second step may follow):
        // `sign_in_completed` records it once the session exists.
        Ok(_) => return,
        Err(accounts::Error::InvalidCredentials) => (SignInOutcome::WrongPassword, None),
        Err(accounts::Error::Locked { .. }) => (SignInOutcome::Locked, None),
        Err(accounts::Error::Blocked) => (SignInOutcome::Blocked, None),
        Err(accounts::Error::Unconfirmed) => (SignInOutcome::Unconfirmed, None),
        Err(_) => return,
    };
    let attempt = SignInAttempt {
        login,
        user_id,
        outcome,
        method: "password",
        ip: &ctx.ip,
        user_agent: &ctx.user_agent,
        request_id: &ctx.request_id,
    };
    if let Err(e) = state.accounts.record_sign_in(&attempt).await {
        tracing::error!(error = %e, "recording the sign-in attempt failed");
    }
}

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

/// Records a completed sign-in (a session was started) with how it was proved.
pub async fn sign_in_completed(
    state: &AppState,
    client: &ClientInfo,
    headers: &axum::http::HeaderMap,
    user_id: &str,
    amr: &str,
) {
    known_user_attempt(state, client, headers, user_id, SignInOutcome::Success, method_of(amr)).await;
}

/// Records a sign-in attempt of a known account that got past the password
/// (a wrong second-factor code, a refusal by an IP rule, or success).
pub async fn known_user_attempt(
    state: &AppState,
    client: &ClientInfo,
    headers: &axum::http::HeaderMap,
    user_id: &str,
    outcome: SignInOutcome,
    method: &str,
) {
    let request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let attempt = SignInAttempt {
        login: "",
        user_id: Some(user_id),
        outcome,
        method,
        ip: &client.ip,
        user_agent: &client.user_agent,
        request_id,
    };
    if let Err(e) = state.accounts.record_sign_in(&attempt).await {
        tracing::error!(error = %e, "recording the sign-in failed");
    }
}
