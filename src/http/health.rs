//! `/health/live`, `/health/ready` and `/metrics`.
use axum::extract::State;
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

async fn get_metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        state.metrics.render(),
    )
}
