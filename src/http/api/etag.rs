//! Optimistic concurrency (RFC 9110 §8.8.3, §13.1.1): a read answers the
//! resource's `ETag` (computed by its service, see `wire::etag`); an update
//! must send it back in `If-Match`. Without one the update is 428 (RFC 6585
//! §3); the service compares it inside the update's transaction and a stale
//! tag is 412.
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::problem::Problem;

/// The `If-Match` header of an update (required).
#[derive(Debug, Clone)]
pub struct IfMatch(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let value = parts.headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()).map(str::trim);
        match value {
            Some(v) if !v.is_empty() => Ok(Self(v.to_owned())),
            _ => Err(Problem::if_match_required()),
        }
    }
}

/// `body` with its `ETag` header.
pub fn tagged(body: impl IntoResponse, etag: &str) -> Response {
    let mut res = body.into_response();
    if let Ok(v) = HeaderValue::from_str(etag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}
