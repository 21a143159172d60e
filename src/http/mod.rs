//! All axum code. Each area has its own file with a `router()`; this module
//! merges them and adds the cross-cutting layers (outermost first):
//! request-id hygiene → request id → trace → security headers → error pages →
//! panic catcher → header limit → timeout → body limit → NUL guard → metrics → global IP
//! rules → rate limits → CORS → routes.
//!
//! Owns: extracting requests, cookies, templates, mapping service outcomes to
//! responses. Must not: name a store row type, build an audit event, or
//! decide a business rule (`tests/api/layers.rs` checks the first two and
//! handler length).
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::app::AppState;

pub mod account;
pub mod account_data;
pub mod account_forms;
pub mod account_mfa;
pub mod admin;
pub mod api;
pub mod audit;
pub mod authorize;
pub mod confirm;
pub mod cookies;
pub mod cors;
pub mod discovery;
pub mod docs;
pub mod error;
pub mod expired;
pub mod extract;
pub mod health;
pub mod ip_gate;
pub mod login;
pub mod logout;
pub mod mfa;
pub mod nul_guard;
pub mod pages;
pub mod recovery;
pub mod signed_in;
pub mod throttle;
pub mod token;
pub mod upstream;
pub mod userinfo;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let http = &state.config.http;
    let routes = Router::new()
        .merge(login::router())
        .merge(logout::router())
        .merge(account::router())
        .merge(account_mfa::router())
        .merge(mfa::router())
        .merge(upstream::router())
        .merge(recovery::router())
        .merge(expired::router())
        .merge(admin::router())
        .merge(health::router())
        .merge(discovery::router(&state.issuer))
        .merge(token::router())
        .merge(authorize::router())
        .merge(userinfo::router())
        .merge(pages::router())
        .merge(api::router(&state))
        .merge(docs::router())
        .route("/", axum::routing::get(|| async { axum::response::Redirect::to("/account") }))
        .fallback(|| async { error::HtmlError::not_found() })
        // CORS for the endpoints browser apps call (preflights end here).
        .layer(middleware::from_fn_with_state(state.clients.clone(), cors::layer))
        // The layers take only what they use: the app state is cloned per
        // request for each layer that extracts it. The last added runs first:
        // a denied address is refused before it can spend rate counters.
        .layer(middleware::from_fn_with_state(throttle::Throttle::new(&state), throttle::rate_limit))
        .layer(middleware::from_fn_with_state(
            ip_gate::Gate { ip: state.ip.clone(), metrics: state.metrics.clone(), clock: state.clock.clone() },
            ip_gate::global_gate,
        ))
        .layer(middleware::from_fn_with_state(state.metrics.clone(), track_metrics))
        // Inside the body limit, so the buffered form is bounded by it.
        .layer(middleware::from_fn_with_state(http.body_limit_bytes, nul_guard::refuse_nul));
    // No `form-action`: browsers apply it to the redirects that follow a form
    // post, and sign-in and consent end in a redirect to the client's origin.
    let security_headers = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
    ];
    let mut app = routes
        .layer(RequestBodyLimitLayer::new(http.body_limit_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(http.request_timeout_secs),
        ))
        .layer(middleware::from_fn_with_state(http.header_limit_bytes, limit_headers))
        // A panic anywhere below becomes a plain 500, which render_errors dresses.
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }))
        .layer(middleware::from_fn(error::render_errors))
        // Outside the error pages, so they are branded too.
        .layer(middleware::from_fn_with_state(
            pages::Site { brand: state.branding.clone(), signup_open: state.accounts.self_registration_open() },
            pages::with_site,
        ))
        .layer(middleware::from_fn(no_store_for_pages));
    for (name, value) in security_headers {
        app = app.layer(SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value)));
    }
    // RFC 6797 §6.1: on an https issuer every response says to use https
    // only (browsers ignore it over http, so a plain deployment sends none).
    if state.secure_cookies() && http.hsts_max_age_secs > 0 {
        let hsts = HeaderValue::from_str(&format!("max-age={}", http.hsts_max_age_secs));
        if let Ok(value) = hsts {
            app = app.layer(SetResponseHeaderLayer::overriding(header::STRICT_TRANSPORT_SECURITY, value));
        }
    }
    app.layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
        let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
        tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
    }))
    .layer(PropagateRequestIdLayer::new(REQUEST_ID))
    .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
    .layer(middleware::from_fn(drop_odd_request_ids))
    .with_state(state)
}

/// The management listener's application: health and `/metrics` only.
pub fn management_router(state: AppState) -> Router {
    let timeout = Duration::from_secs(state.config.http.request_timeout_secs);
    health::management_router()
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, timeout))
        .with_state(state)
}

/// A client's `x-request-id` is kept for correlation only if it is short and
/// plain, so it cannot forge log fields or bloat error pages; otherwise a
/// fresh one is made.
async fn drop_odd_request_ids(mut req: Request, next: Next) -> Response {
    let plain = req.headers().get(&REQUEST_ID).is_none_or(|v| {
        v.len() <= 64 && v.as_bytes().iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    });
    if !plain {
        req.headers_mut().remove(&REQUEST_ID);
    }
    next.run(req).await
}

/// The method as a metrics label: the standard ones, or `other` (clients can
/// send any token as a method, and labels must stay bounded).
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    let known = [
        (Method::GET, "GET"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::HEAD, "HEAD"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::PATCH, "PATCH"),
    ];
    known.into_iter().find(|(m, _)| m == method).map_or("other", |(_, label)| label)
}

/// Counts requests and their latency by matched route (never the raw path).
async fn track_metrics(
    State(metrics): State<std::sync::Arc<crate::metrics::Metrics>>,
    req: Request,
    next: Next,
) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let method = method_label(req.method());
    let started = Instant::now();
    let res = next.run(req).await;
    let route = route.as_deref().unwrap_or("unmatched");
    metrics.observe_request(method, route, res.status().as_u16(), started.elapsed().as_secs_f64());
    res
}

/// Refuses requests whose headers together exceed the configured size (431).
async fn limit_headers(State(limit): State<usize>, req: Request, next: Next) -> Response {
    let size: usize = req.headers().iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    if size > limit {
        return StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE.into_response();
    }
    next.run(req).await
}

/// Pages carry personal data and CSRF tokens: never cache them.
async fn no_store_for_pages(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let is_html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/html"));
    if is_html {
        res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

#[cfg(test)]
mod tests {
    #[test]
    fn unknown_methods_share_one_metrics_label() {
        assert_eq!(super::method_label(&axum::http::Method::GET), "GET");
        let odd = axum::http::Method::from_bytes(b"BREW").unwrap();
        assert_eq!(super::method_label(&odd), "other");
    }
}
