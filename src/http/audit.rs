//! Request context for the audit log: the [`AuditCtx`] extractor (client
//! address, user agent and `x-request-id`), which handlers turn into the
//! services' [`audit::Context`]; the services write every event inside the
//! change's transaction, and `accounts::sign_in` records sign-in attempts.
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::app::AppState;
use crate::http::extract::ClientInfo;
use crate::security::audit;

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
}
