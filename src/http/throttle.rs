//! Rate limits and sign-in throttling on the wire (issue 6): the
//! [`rate_limit`] layer answers 429 with `Retry-After` (RFC 9110 §10.2.3;
//! 429 is RFC 6585 §4) once a client address is over a bucket's limit, as an
//! HTML page on pages, as OAuth JSON on `/token` and as problem JSON under
//! `/api/`. The buckets and their
//! paths are in [`Bucket::for_post`] (`/login/mfa` included, so the MFA step
//! is limited as soon as its route exists).
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::http::error::HtmlError;
use crate::metrics::Metrics;
use crate::security::limiter::{Bucket, Limiter, Verdict};

/// What the layer needs (not the whole app state, which would be cloned per request).
#[derive(Clone)]
pub struct Throttle {
    limiter: Limiter,
    metrics: Arc<Metrics>,
    ip: crate::security::ip_policy::IpPolicy,
}

impl Throttle {
    /// The layer's state.
    pub fn new(state: &AppState) -> Self {
        Self { limiter: state.limiter(), metrics: state.metrics.clone(), ip: state.ip.clone() }
    }
}

/// Middleware: counts `POST`s to the limited paths per client address and
/// refuses them with 429 past the limit. A database failure lets the request
/// through: the handler needs the database too and reports it properly.
pub async fn rate_limit(State(t): State<Throttle>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let bucket = match *req.method() {
        Method::POST => Bucket::for_post(path),
        Method::GET => Bucket::for_get(path),
        Method::DELETE => Bucket::for_delete(path),
        _ => None,
    };
    let Some(bucket) = bucket else { return next.run(req).await };
    let api = path.starts_with(crate::http::api::PREFIX);
    let (mut parts, body) = req.into_parts();
    // The client behind trusted proxies, as everywhere else.
    let ip = crate::http::ip_gate::client_ip_of(&mut parts, &t.ip).map(|a| a.to_string()).unwrap_or_default();
    match t.limiter.check(bucket, &ip).await {
        Ok(Verdict::Limited { bucket, retry_after }) => {
            t.metrics.observe_rate_limited(bucket.as_str());
            tracing::info!(bucket = bucket.as_str(), retry_after, "rate limited");
            let kind = match bucket {
                _ if api => Refusal::Problem,
                Bucket::Token => Refusal::OAuth,
                _ => Refusal::Page,
            };
            too_many(kind, retry_after)
        }
        Ok(Verdict::Allowed) => next.run(Request::from_parts(parts, body)).await,
        Err(e) => {
            tracing::warn!(error = %e, "rate limit check failed; letting the request through");
            next.run(Request::from_parts(parts, body)).await
        }
    }
}

/// How a 429 is answered: the surface of the path refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// OAuth JSON (`/token`, `/revoke`, `/introspect`).
    OAuth,
    /// RFC 9457 problem JSON (everything under `/api/`).
    Problem,
    /// An HTML page.
    Page,
}

/// A 429 with `Retry-After`, as `kind` answers.
pub fn too_many(kind: Refusal, retry_after: i64) -> Response {
    if kind == Refusal::Problem {
        let why = "too many requests from your network; retry after the Retry-After seconds";
        return crate::http::api::Problem::too_many(retry_after, why).into_response();
    }
    let mut res = if kind == Refusal::OAuth {
        // RFC 6749 §5.2 has no code for "too many requests". `slow_down`
        // (RFC 8628 §3.5, registered for the token endpoint in the OAuth
        // Extensions Error Registry) says exactly "back off and retry later",
        // and clients that know it wait; `temporarily_unavailable` would
        // claim the server is down (and is defined for /authorize only).
        let body = serde_json::json!({
            "error": "slow_down",
            "error_description": format!("too many requests; retry after {retry_after} seconds"),
        });
        let mut res = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
        res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        res
    } else {
        let minutes = (retry_after + 59) / 60;
        let message = if minutes <= 1 {
            "Too many attempts from your network. Please wait a minute and try again.".to_owned()
        } else {
            format!("Too many attempts from your network. Please wait {minutes} minutes and try again.")
        };
        HtmlError::new(StatusCode::TOO_MANY_REQUESTS, message).into_response()
    };
    res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after.max(1)));
    res
}

/// After a failed sign-in (or second-factor) attempt: counts it against the
/// client address and holds the answer for the growing delay. One line in
/// each handler that checks a secret.
pub async fn failed_sign_in(state: &AppState, ip: &str) {
    state.limiter().hold_failed_sign_in(ip).await;
}

/// Before a client authentication: a 429 (OAuth JSON, `Retry-After`) when
/// failures for this `client_id` or from this address are over their limit
/// (RFC 6749 §10.10). A database failure lets the request through, like the
/// other limits.
pub async fn client_auth_paused(state: &AppState, client_id: Option<&str>, ip: &str) -> Option<Response> {
    match state.limiter().client_auth_paused(client_id, ip).await {
        Ok(Verdict::Limited { bucket, retry_after }) => {
            state.metrics.observe_rate_limited(bucket.as_str());
            tracing::info!(bucket = bucket.as_str(), retry_after, "client authentication paused");
            Some(too_many(Refusal::OAuth, retry_after))
        }
        Ok(Verdict::Allowed) => None,
        Err(e) => {
            tracing::warn!(error = %e, "client authentication throttle check failed; letting the request through");
            None
        }
    }
}

/// After a failed client authentication: counts it per `client_id` and per address.
pub async fn failed_client_auth(state: &AppState, client_id: Option<&str>, ip: &str) {
    if let Err(e) = state.limiter().failed_client_auth(client_id, ip).await {
        tracing::warn!(error = %e, "counting a failed client authentication failed");
    }
}

/// `Retry-After` on a response (the lockout answer on the sign-in page).
pub fn with_retry_after(mut res: Response, secs: i64) -> Response {
    res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    res
}
