//! See `http::api` for what this area serves.
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;

/// This area's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
