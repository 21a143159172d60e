//! Refuses, once and for every route, text that PostgreSQL cannot store
//! (CWE-158; OWASP Input Validation Cheat Sheet): a NUL (U+0000) in the path,
//! the query or an `application/x-www-form-urlencoded` body, decoded. Without
//! this a NUL in a username, `client_id`, token or session id reaches a
//! PostgreSQL `text` parameter and fails there as a 500 (SQLite would store
//! it), so both backends now answer the same 400 before any handler runs.
//!
//! Percent-decoding yields a NUL only from a raw 0x00 byte or from `%00`, so
//! one pass over the raw bytes decides without decoding anything. Headers
//! cannot carry a NUL (hyper refuses them), and Basic credentials are checked
//! after their own decoding in `token::credentials`.
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{HtmlError, OAuthJsonError};
use crate::oauth::error::OAuthError;

/// Whether `raw` decodes (percent-decoding, form or URI) to text with a NUL.
pub fn decodes_to_nul(raw: &[u8]) -> bool {
    raw.windows(3).any(|w| w == b"%00") || raw.contains(&0)
}

/// The middleware; its state is the body limit in bytes.
pub async fn refuse_nul(State(limit): State<usize>, req: Request, next: Next) -> Response {
    let uri = req.uri();
    let in_uri = decodes_to_nul(uri.path().as_bytes()) || uri.query().is_some_and(|q| decodes_to_nul(q.as_bytes()));
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    if in_uri {
        return refusal(uri.path());
    }
    if !form {
        return next.run(req).await;
    }
    // Buffer the form (the body limit layer outside bounds it) and hand the
    // same bytes on.
    let (parts, body) = req.into_parts();
    let bytes = match to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    if decodes_to_nul(&bytes) {
        return refusal(parts.uri.path());
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// A 400 in the surface of the endpoint: OAuth JSON on the endpoints clients
/// call (the same list the IP gate answers in JSON), an HTML page elsewhere.
fn refusal(path: &str) -> Response {
    const WHY: &str = "a parameter contains a NUL character";
    if super::ip_gate::is_json_endpoint(path) {
        OAuthJsonError::new(OAuthError::invalid_request(WHY)).into_response()
    } else {
        HtmlError::bad_request("The request contains a character that is not allowed (NUL).").into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::decodes_to_nul;

    #[test]
    fn finds_encoded_and_raw_nul_only() {
        assert!(decodes_to_nul(b"username=a%00b"));
        assert!(decodes_to_nul(b"a\0b"));
        assert!(!decodes_to_nul(b"username=a%2500b&x=%01"));
        assert!(!decodes_to_nul(b"plain"));
    }
}
