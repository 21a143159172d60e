//! IP rules at the HTTP edge: the client address (behind trusted proxies),
//! the global gate on every request but `/health/*`, and the refusals of the
//! client and role scopes, each counted in `/metrics`
//! (`gatehouse_ip_refusals_total{scope}`) and logged at info with the address.
//! Global refusals are audited too, aggregated per address and minute (the
//! IP policy service writes them: `security::ip_denials`).
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::clock::Clock;
use crate::http::error::HtmlError;
use crate::metrics::Metrics;
use crate::security::ip_policy::IpPolicy;
use crate::security::ip_rules::Scope;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The client address of a request, resolved once and kept in its extensions.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

/// The client's address: the TCP peer, or what trusted proxies say (see
/// `security::client_ip`). `None` only without connection info (in-process calls).
pub fn client_ip(extensions: &mut axum::http::Extensions, headers: &HeaderMap, ip: &IpPolicy) -> Option<IpAddr> {
    if let Some(ClientIp(found)) = extensions.get::<ClientIp>() {
        return *found;
    }
    let found = extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| {
        let lines = |name| headers.get_all(name).iter().filter_map(|v: &HeaderValue| v.to_str().ok()).collect();
        let forwarded: Vec<&str> = lines(header::FORWARDED);
        let xff: Vec<&str> = lines(X_FORWARDED_FOR);
        ip.client_ip(peer.ip(), &forwarded, &xff)
    });
    extensions.insert(ClientIp(found));
    found
}

/// [`client_ip`] for extractors.
pub fn client_ip_of(parts: &mut Parts, ip: &IpPolicy) -> Option<IpAddr> {
    client_ip(&mut parts.extensions, &parts.headers, ip)
}

/// Counts and logs a refusal.
pub fn note_refusal(metrics: &Metrics, scope: &Scope, ip: Option<IpAddr>) {
    metrics.observe_ip_refusal(scope.kind());
    let ip = ip.map(|i| i.to_string()).unwrap_or_else(|| "unknown".into());
    tracing::info!(%ip, scope = %scope, "request refused by an IP rule");
}

/// The page for a refused address.
pub fn refused_page() -> HtmlError {
    HtmlError::forbidden(
        "Access from your network is not allowed here. If you think this is a mistake, contact the administrator.",
    )
}

/// The page for a user whose role may not be used from this network. It says
/// nothing about whether the password was right.
pub fn refused_account_page() -> HtmlError {
    HtmlError::forbidden(
        "Access from your network is not allowed for this account. If you think this is a mistake, contact the administrator.",
    )
}

/// Endpoints that answer JSON (OAuth/OIDC machinery): refused with JSON.
pub(crate) fn is_json_endpoint(path: &str) -> bool {
    matches!(path, "/token" | "/revoke" | "/introspect" | "/userinfo" | "/jwks.json")
        || path.starts_with("/.well-known/")
}

/// What the global gate needs.
#[derive(Clone)]
pub struct Gate {
    pub ip: IpPolicy,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
}

/// The global scope: every request except the health checks (load balancers
/// and orchestrators probe from their own networks).
pub async fn global_gate(State(gate): State<Gate>, req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/health/") {
        return next.run(req).await;
    }
    let rules = gate.ip.rules().await;
    // No rules (the default): nothing to resolve, so no per-request cost.
    if rules.is_empty() {
        return next.run(req).await;
    }
    let now = gate.clock.unix();
    // Denials of minutes that have ended reach the audit log now, aggregated.
    gate.ip.flush_denials(now).await;
    let (mut parts, body) = req.into_parts();
    let ip = client_ip_of(&mut parts, &gate.ip);
    let req = Request::from_parts(parts, body);
    if rules.allows(&Scope::Global, ip) {
        return next.run(req).await;
    }
    note_refusal(&gate.metrics, &Scope::Global, ip);
    gate.ip.note_global_denial(&denied_request(&req, ip), now);
    if is_json_endpoint(req.uri().path()) {
        let body = serde_json::json!({
            "error": "access_denied",
            "error_description": "requests from this network are not allowed",
        });
        let mut res = (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
        res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return res;
    }
    refused_page().into_response()
}

/// The audit context of a refused request (it never reaches a handler).
fn denied_request(req: &Request, ip: Option<IpAddr>) -> crate::security::audit::Context {
    let header = |name| req.headers().get(name).and_then(|v: &HeaderValue| v.to_str().ok()).unwrap_or_default();
    crate::security::audit::Context {
        actor: String::new(),
        ip: ip.map(|i| i.to_string()).unwrap_or_default(),
        user_agent: header(header::USER_AGENT.as_str()).to_owned(),
        request_id: header("x-request-id").to_owned(),
        via: "",
    }
}

/// Whether the user's roles may be used from the request's address; the
/// refusal is counted and logged.
pub async fn roles_allowed(state: &AppState, roles: &[String], ip: Option<IpAddr>) -> bool {
    let rules = state.ip.rules().await;
    match rules.refusing_role(roles, ip) {
        None => true,
        Some(role) => {
            note_refusal(&state.metrics, &Scope::Role(role.to_owned()), ip);
            false
        }
    }
}

/// Whether the client may be used from the request's address; the refusal
/// is counted and logged.
pub async fn client_allowed(state: &AppState, client_id: &str, ip: Option<IpAddr>) -> bool {
    let rules = state.ip.rules().await;
    let scope = Scope::Client(client_id.to_owned());
    if rules.is_empty() || rules.allows(&scope, ip) {
        return true;
    }
    note_refusal(&state.metrics, &scope, ip);
    false
}
