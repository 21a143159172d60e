//! `GET`/`POST /userinfo` (OIDC Core §5.3) with a bearer access token
//! (RFC 6750 §2.1 header, or §2.2 form body on POST).
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::app::AppState;
use crate::http::cors;
use crate::http::error::OAuthJsonError;
use crate::oauth::{ErrorCode, GrantError, OAuthError};

/// Routes for this area.
pub fn router() -> Router<AppState> {
    Router::new().route("/userinfo", get(userinfo).post(userinfo))
}

/// The bearer token from the Authorization header or (POST) the form body;
/// `Ok(None)` when the request carries none.
fn bearer(headers: &HeaderMap, body: &[u8]) -> Result<Option<String>, OAuthError> {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|t| t.trim().to_owned());
    let from_body = url::form_urlencoded::parse(body).find(|(k, _)| k == "access_token").map(|(_, v)| v.into_owned());
    match (from_header, from_body) {
        // RFC 6750 §2: clients MUST NOT use more than one method.
        (Some(_), Some(_)) => Err(OAuthError::invalid_request("send the token one way only")),
        (Some(t), None) | (None, Some(t)) if !t.is_empty() => Ok(Some(t)),
        _ => Ok(None),
    }
}

async fn userinfo(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let token = match bearer(&headers, &body) {
        Ok(Some(t)) => t,
        Ok(None) => {
            let e = OAuthError::new(ErrorCode::InvalidToken, "a bearer access token is required");
            return OAuthJsonError::bearer_missing(e).into_response();
        }
        Err(e) => return OAuthJsonError::bearer(e).into_response(),
    };
    match state.tokens.userinfo(&token).await {
        // A page on an origin that the token's client does not list gets nothing.
        Ok(info) if !cors::allowed_for_id(&state.clients, &headers, &info.client_id).await => cors::refused(),
        Ok(info) => {
            let mut res = axum::Json(info.claims).into_response();
            res.headers_mut().insert(header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
            res
        }
        Err(GrantError::OAuth(e)) => OAuthJsonError::bearer(e).into_response(),
        Err(other) => OAuthJsonError::from(other).into_response(),
    }
}
