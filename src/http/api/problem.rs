//! RFC 9457 problem details: the one error shape of the JSON API. Every
//! refusal under `/api/` is `application/problem+json` with a stable `type`
//! (`urn:gatehouse:problem:<slug>`), a `title`, the `status`, a `detail` for
//! people, and `errors` (one per field) on a 422. A 401 or 403 also carries
//! the RFC 6750 §3 `Bearer` challenge; a 429 carries `Retry-After`. A 5xx
//! keeps its cause for the log (`http::error::render_errors`), never the body.
use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::accounts;
use crate::http::error::ErrorCause;
use crate::oauth::clients;
use crate::oauth::{ErrorCode, GrantError, OAuthError};

/// The media type of every API error (RFC 9457 §3).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The prefix of every problem `type`.
const TYPE_PREFIX: &str = "urn:gatehouse:problem:";

/// The realm of the API's Bearer challenges.
const REALM: &str = "gatehouse";

/// One field that failed validation.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field's name (a JSON pointer-like path for nested fields).
    pub field: String,
    pub message: String,
}

/// An RFC 9457 problem document, as sent.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProblemBody {
    /// A stable URI naming the kind of problem, e.g. `urn:gatehouse:problem:not-found`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Per-field errors of a 422.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

/// An API error response (boxed: it travels in every handler's `Err`).
#[derive(Debug, Clone)]
pub struct Problem(Box<Parts>);

#[derive(Debug, Clone)]
struct Parts {
    status: StatusCode,
    slug: &'static str,
    title: &'static str,
    detail: Option<String>,
    errors: Vec<FieldProblem>,
    retry_after: Option<i64>,
    challenge: Option<String>,
    cause: Option<ErrorCause>,
}

impl Problem {
    /// A problem of `status`, named `slug`, titled `title`.
    pub fn new(status: StatusCode, slug: &'static str, title: &'static str) -> Self {
        Self(Box::new(Parts {
            status,
            slug,
            title,
            detail: None,
            errors: Vec::new(),
            retry_after: None,
            challenge: None,
            cause: None,
        }))
    }

    /// Adds a human-readable explanation (never a secret or an internal cause).
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.0.detail = Some(detail.into());
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// 400: the request cannot be read (malformed JSON, a bad cursor…).
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", "The request is malformed").detail(detail)
    }

    /// 403 for a reason other than the token's scope (an IP rule).
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden").detail(detail)
    }

    /// 404: no such resource, or one the caller may not know of.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found").detail("there is nothing at this address")
    }

    /// 409: the change conflicts with what exists (a taken name…).
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", "Conflict").detail(detail)
    }

    /// 412: `If-Match` names a version that is no longer current.
    pub fn stale() -> Self {
        Self::new(StatusCode::PRECONDITION_FAILED, "stale", "The resource has changed")
            .detail("the If-Match tag is not the current ETag; read the resource again and retry")
    }

    /// 428: an update without `If-Match` (RFC 6585 §3).
    pub fn if_match_required() -> Self {
        Self::new(StatusCode::PRECONDITION_REQUIRED, "if-match-required", "If-Match is required")
            .detail("send the ETag of the resource, as read, in If-Match")
    }

    /// 415: the body is not `application/json`.
    pub fn unsupported_media_type() -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", "Unsupported media type")
            .detail("send the body as application/json")
    }

    /// 422 with one entry per field.
    pub fn invalid(errors: Vec<FieldProblem>) -> Self {
        let mut p = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "Some fields are not valid");
        p.0.errors = errors;
        p
    }

    /// 422 for one field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid(vec![FieldProblem { field: field.into(), message: message.into() }])
    }

    /// 429, retry after `secs` seconds.
    pub fn too_many(secs: i64, detail: impl Into<String>) -> Self {
        let mut p = Self::new(StatusCode::TOO_MANY_REQUESTS, "too-many-requests", "Too many requests").detail(detail);
        p.0.retry_after = Some(secs.max(1));
        p
    }

    /// 401 with `Bearer error="invalid_token"`, or (no token at all) a bare
    /// `Bearer` challenge (RFC 6750 §3.1).
    pub fn unauthorized(error: Option<&OAuthError>) -> Self {
        let quote = |s: &str| s.replace(['"', '\\'], "'");
        let (challenge, detail) = match error {
            Some(e) => {
                let why = e.wire_description().unwrap_or_default();
                (
                    format!("Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{}\"", quote(&why)),
                    why,
                )
            }
            None => (format!("Bearer realm=\"{REALM}\""), "a bearer access token is required".to_owned()),
        };
        let mut p = Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Authentication required").detail(detail);
        p.0.challenge = Some(challenge);
        p
    }

    /// 403 with `Bearer error="insufficient_scope"` naming `scope` (RFC 6750 §3.1).
    pub fn insufficient_scope(scope: &str, error: &OAuthError) -> Self {
        let why = error.wire_description().unwrap_or_default();
        let mut p = Self::new(StatusCode::FORBIDDEN, "insufficient-scope", "Insufficient scope").detail(why.clone());
        p.0.challenge = Some(format!(
            "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"{scope}\", error_description=\"{}\"",
            why.replace(['"', '\\'], "'")
        ));
        p
    }

    /// 500 (or 503 when the database is unreachable); `cause` is logged only.
    pub fn internal(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        let unavailable = crate::http::error::is_unavailable(&cause);
        let mut p = if unavailable {
            Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Temporarily unavailable")
                .detail("the service is briefly unavailable; try again in a moment")
        } else {
            Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error")
                .detail("something went wrong on our side")
        };
        p.0.cause = Some(ErrorCause(Arc::new(cause)));
        if unavailable {
            p.0.retry_after = Some(5);
        }
        p
    }

    /// The problem for a bare error status that no handler dressed (axum's
    /// 404, 405, 413; a timeout), so everything under `/api/` is problem JSON.
    pub fn bare(status: StatusCode) -> Self {
        let (slug, title) = match status {
            StatusCode::NOT_FOUND => return Self::not_found(),
            StatusCode::FORBIDDEN => ("forbidden", "Forbidden"),
            StatusCode::METHOD_NOT_ALLOWED => ("method-not-allowed", "Method not allowed"),
            StatusCode::PAYLOAD_TOO_LARGE => ("too-large", "The request body is too large"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => return Self::unsupported_media_type(),
            StatusCode::SERVICE_UNAVAILABLE => ("unavailable", "Temporarily unavailable"),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ("headers-too-large", "The request headers are too large"),
            s if s.is_server_error() => ("internal", "Internal error"),
            _ => ("bad-request", "The request could not be handled"),
        };
        Self::new(status, slug, title)
    }

    /// The document sent.
    pub fn body(&self) -> ProblemBody {
        ProblemBody {
            kind: format!("{TYPE_PREFIX}{}", self.0.slug),
            title: self.0.title.to_owned(),
            status: self.0.status.as_u16(),
            detail: self.0.detail.clone(),
            errors: self.0.errors.clone(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut res = (self.0.status, body).into_response();
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = self.0.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            headers.insert(header::RETRY_AFTER, v);
        }
        if let Some(challenge) = self.0.challenge
            && let Ok(v) = HeaderValue::from_str(&challenge)
        {
            headers.insert(header::WWW_AUTHENTICATE, v);
        }
        if let Some(cause) = self.0.cause {
            res.extensions_mut().insert(cause);
        }
        res
    }
}

impl From<accounts::Error> for Problem {
    fn from(err: accounts::Error) -> Self {
        use accounts::Error as E;
        match err {
            E::UnknownUser | E::RegistrationClosed => Self::not_found(),
            E::SignUpRefused => Self::conflict("the registration policy does not allow this new account"),
            E::Invalid(fields) => Self::invalid(
                fields.into_iter().map(|f| FieldProblem { field: f.field.to_owned(), message: f.message }).collect(),
            ),
            E::InvalidCredentials => Self::invalid_field("password", "the password is not right"),
            E::Blocked => Self::conflict("the account is blocked"),
            E::Locked { retry_after, .. } => Self::too_many(retry_after, "too many wrong passwords; try again later"),
            E::Unconfirmed => Self::conflict("the email address is not confirmed yet"),
            E::BadLink => Self::bad_request("the link is not valid"),
            E::AlreadyLinked => Self::conflict("that upstream account is linked to another user"),
            E::LastSignInMethod => Self::conflict("this is the account's last way to sign in"),
            E::LastAdmin => Self::conflict("the last administrator cannot be removed"),
            E::OwnAccount => Self::conflict("you cannot do that to your own account"),
            E::Stale => Self::stale(),
            E::Taken(what) => Self::conflict(format!("that {what} is taken")),
            other => Self::internal(other),
        }
    }
}

impl From<clients::Error> for Problem {
    fn from(err: clients::Error) -> Self {
        match err {
            clients::Error::Invalid { field, message } => Self::invalid_field(field, message),
            clients::Error::Exists(id) => Self::conflict(format!("a client with id {id:?} already exists")),
            clients::Error::Unknown(_) => Self::not_found(),
            clients::Error::Stale => Self::stale(),
            other @ clients::Error::Store(_) => Self::internal(other),
        }
    }
}

impl From<GrantError> for Problem {
    fn from(err: GrantError) -> Self {
        match err {
            GrantError::OAuth(e) if e.code == ErrorCode::InvalidToken => Self::unauthorized(Some(&e)),
            GrantError::OAuth(e) => Self::bad_request(e.wire_description().unwrap_or_default()),
            other => Self::internal(other),
        }
    }
}

impl From<crate::store::Error> for Problem {
    fn from(err: crate::store::Error) -> Self {
        Self::internal(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_has_a_stable_type_and_the_problem_media_type_rfc_9457_3() {
        let res = Problem::not_found().into_response();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(res.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let body = Problem::invalid_field("username", "taken").body();
        assert_eq!(body.kind, "urn:gatehouse:problem:invalid");
        assert_eq!(body.errors[0].field, "username");
    }

    #[test]
    fn a_401_and_a_403_carry_the_bearer_challenge_rfc_6750_3() {
        let res = Problem::unauthorized(None).into_response();
        assert_eq!(res.headers()[header::WWW_AUTHENTICATE], "Bearer realm=\"gatehouse\"");
        let e = OAuthError::new(ErrorCode::InsufficientScope, "needs admin");
        let res = Problem::insufficient_scope("admin", &e).into_response();
        let challenge = res.headers()[header::WWW_AUTHENTICATE].to_str().unwrap().to_owned();
        assert!(challenge.contains("error=\"insufficient_scope\"") && challenge.contains("scope=\"admin\""));
    }
}
