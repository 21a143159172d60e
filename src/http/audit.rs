//! Who is asking: the [`ClientInfo`] extractor (client address and user
//! agent) and the [`AuditCtx`] extractor (those and `x-request-id`), which
//! handlers turn into the services' [`audit::Context`]; the services write
//! every event inside the change's transaction, and `accounts::sign_in`
//! records sign-in attempts. Imports nothing of `http` but `ip_gate`'s
//! address resolution (`extract` re-exports [`ClientInfo`]).
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::app::AppState;
use crate::http::ip_gate;
use crate::security::audit;

/// Where a request comes from: the client address (the peer, or what a
/// trusted proxy says; see `http::ip_gate`) and the user agent.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    /// The address as text ("" when unknown).
    pub ip: String,
    pub addr: Option<std::net::IpAddr>,
    pub user_agent: String,
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let addr = ip_gate::client_ip_of(parts, &state.ip);
        let user_agent =
            parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        Ok(Self { ip: addr.map(|a| a.to_string()).unwrap_or_default(), addr, user_agent })
    }
}

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
            via: "",
        }
    }
}
