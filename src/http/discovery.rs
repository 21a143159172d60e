//! Published key material: `/jwks.json` (RFC 7517 JWK Set). The discovery
//! document joins it when the OAuth endpoints it must list exist.
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::app::AppState;

/// Routes for this area.
pub fn router() -> Router<AppState> {
    Router::new().route("/jwks.json", get(get_jwks))
}

/// Public keys only. The cache lifetime is a fraction of the time a new key is
/// published before it signs, so cached copies always know the next key.
async fn get_jwks(State(state): State<AppState>) -> impl IntoResponse {
    let cache = format!("public, max-age={}", state.keys.jwks_max_age());
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/jwk-set+json")),
            (header::CACHE_CONTROL, HeaderValue::from_str(&cache).unwrap_or(HeaderValue::from_static("no-cache"))),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
        ],
        state.keys.jwks().to_string(),
    )
}
