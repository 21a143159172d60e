//! Reading API requests: [`ApiJson`] for bodies and [`ApiQuery`] for query
//! strings. Every type read this way says `#[serde(deny_unknown_fields)]`,
//! so a misspelt field is refused, not ignored.
//!
//! - A body that is not `application/json` (or `application/*+json`) is 415.
//! - A body over the API limit ([`MAX_BODY`]) is 413; malformed JSON is 400.
//! - A NUL anywhere in a string is 400 (as `http::nul_guard` refuses it in
//!   forms and URLs: no NUL ever reaches a service or the database).
//! - A body that parses but does not fit the type is 422 with the field.
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::problem::{FieldProblem, Problem};

/// Largest API request body (bytes).
pub const MAX_BODY: usize = 64 * 1024;

/// A JSON request body of type `T`.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Whether any string (or object key) in `v` holds a NUL.
pub(super) fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// `T` from a parsed JSON value; a mismatch names the field (422).
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, Problem> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        // A missing field is reported at its parent; name the field itself.
        let field = match missing_field(&message) {
            Some(name) if path == "." => name.to_owned(),
            Some(name) => format!("{path}.{name}"),
            None if path == "." => "body".to_owned(),
            None => path,
        };
        Problem::invalid(vec![FieldProblem { field, message }])
    })
}

/// The field serde names in "missing field `x`".
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `").and_then(|m| m.split('`').next())
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !is_json(content_type) {
            return Err(Problem::unsupported_media_type());
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| Problem::bare(e.status()))?;
        if bytes.len() > MAX_BODY {
            return Err(Problem::bare(axum::http::StatusCode::PAYLOAD_TOO_LARGE));
        }
        let value: Value =
            serde_json::from_slice(&bytes).map_err(|e| Problem::bad_request(format!("the body is not JSON: {e}")))?;
        if has_nul(&value) {
            return Err(Problem::bad_request("the body contains a NUL character"));
        }
        from_value(value).map(ApiJson)
    }
}

/// A query string of type `T` (unknown parameters refused, 422 per field).
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let raw = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(raw.as_bytes()));
        serde_path_to_error::deserialize(de).map(ApiQuery).map_err(|e| {
            let message = e.inner().to_string();
            let field = match message.strip_prefix("unknown field `").and_then(|m| m.split('`').next()) {
                Some(name) => name.to_owned(),
                None => missing_field(&message).map(str::to_owned).unwrap_or_else(|| e.path().to_string()),
            };
            Problem::invalid(vec![FieldProblem { field, message }])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        username: String,
        age: Option<u8>,
    }

    #[test]
    fn json_media_types() {
        assert!(is_json("application/json"));
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain") && !is_json("application/x-www-form-urlencoded") && !is_json(""));
    }

    #[test]
    fn a_misfit_names_its_field() {
        let e = from_value::<Body>(serde_json::json!({"username": "a", "colour": 1})).unwrap_err();
        assert_eq!(e.body().errors[0].field, "colour");
        let e = from_value::<Body>(serde_json::json!({"username": "a", "age": "x"})).unwrap_err();
        assert_eq!(e.body().errors[0].field, "age");
        let e = from_value::<Body>(serde_json::json!({})).unwrap_err();
        assert_eq!(e.body().errors[0].field, "username");
        assert_eq!(e.status(), axum::http::StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn nul_is_found_anywhere() {
        assert!(has_nul(&serde_json::json!({"a": ["x\u{0}"]})));
        assert!(!has_nul(&serde_json::json!({"a": ["x"]})));
    }
}
