//! `/health/live`, `/health/ready` and `/metrics`.
//!
//! On the public listener `/metrics` answers only to `[http] metrics_allow`
//! (loopback by default) and is a plain 404 to anyone else, as if it were not
//! there; the management listener (`[http] management_listen`, like
//! Keycloak's management interface) serves it to whoever reaches that port.
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::app::AppState;

/// Routes for this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health/live", get(get_live))
        .route("/health/ready", get(get_ready))
        .route("/metrics", get(get_public_metrics))
}

/// Routes of the management listener: health and metrics, no pages.
pub fn management_router() -> Router<AppState> {
    Router::new()
        .route("/health/live", get(get_live))
        .route("/health/ready", get(get_ready))
        .route("/metrics", get(get_metrics))
}

async fn get_live() -> impl IntoResponse {
    Json(json!({ "status": "alive" }))
}

/// 200 when the database answers and every migration is applied; 503 otherwise.
async fn get_ready(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ready().await {
        Ok(true) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Ok(false) => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "migrations pending" }))),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "database unavailable" })))
        }
    }
}

/// `/metrics` on the public listener: only for allowed client networks.
async fn get_public_metrics(State(state): State<AppState>, req: Request) -> axum::response::Response {
    let (mut parts, _) = req.into_parts();
    let ip = super::ip_gate::client_ip_of(&mut parts, &state.ip);
    let allowed = match (ip, state.config.http.metrics_nets()) {
        (Some(ip), Ok(nets)) => nets.iter().any(|n| n.contains(&ip)),
        _ => false,
    };
    if !allowed {
        return super::error::HtmlError::not_found().into_response();
    }
    get_metrics(State(state)).await.into_response()
}

async fn get_metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        state.metrics.render(),
    )
}
