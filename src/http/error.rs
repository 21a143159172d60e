//! Error responses for pages. The only place that chooses error statuses for
//! HTML. A handler returns [`HtmlError`]; the response carries an
//! [`ErrorPage`] extension, and the [`render_errors`] middleware turns it (and
//! any bare 4xx/5xx, such as axum's 404/405/413) into `error.html` with the
//! request id. Internal causes are logged there once and never reach the body.
//!
//! Every 401 carries a `WWW-Authenticate` challenge (RFC 7235 §3.1), and this
//! file is the one place that writes them: [`OAuthJsonError`] answers
//! `Basic realm="gatehouse"` for client authentication (RFC 6749 §5.2,
//! RFC 7617) and a `Bearer` challenge for resources (RFC 6750 §3); every page
//! that answers 401 (a failed sign-in, a wrong second-step code) gets
//! `Form realm="gatehouse"` from [`render_errors`], which also backs up any
//! 401 that reached it without a challenge (and logs that as a bug).
use std::borrow::Cow;
use std::sync::Arc;

use askama::Template;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::accounts;
use crate::http::pages::Nav;
use crate::oauth::{ErrorCode, GrantError, OAuthError};

/// What the error page says.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    pub message: Cow<'static, str>,
}

/// The cause of a 5xx, kept for the log.
#[derive(Debug, Clone)]
pub struct ErrorCause(pub Arc<dyn std::error::Error + Send + Sync>);

/// An error answered with an HTML page.
#[derive(Debug)]
pub struct HtmlError {
    status: StatusCode,
    message: Cow<'static, str>,
    cause: Option<ErrorCause>,
    /// Seconds for `Retry-After` (a 429).
    retry_after: Option<i64>,
}

impl HtmlError {
    /// An error with a status and a user-facing message.
    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self { status, message: message.into(), cause: None, retry_after: None }
    }

    /// 400 with a message.
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 403 with a message.
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 404.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "There is nothing at this address.")
    }

    /// 500 (or 503 for an unreachable database); the cause is logged, not shown.
    pub fn internal(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        let unavailable = is_unavailable(&cause);
        let (status, message) = if unavailable {
            (StatusCode::SERVICE_UNAVAILABLE, "The service is briefly unavailable. Please try again in a moment.")
        } else {
            (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side. Please try again.")
        };
        Self { status, message: message.into(), cause: Some(ErrorCause(Arc::new(cause))), retry_after: None }
    }
}

/// True if the error chain contains an unreachable database.
pub(crate) fn is_unavailable(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if matches!(e.downcast_ref::<crate::store::Error>(), Some(crate::store::Error::Unavailable(_))) {
            return true;
        }
        cur = e.source();
    }
    false
}

impl From<accounts::Error> for HtmlError {
    fn from(err: accounts::Error) -> Self {
        match err {
            accounts::Error::UnknownUser | accounts::Error::RegistrationClosed => Self::not_found(),
            accounts::Error::SignUpRefused => Self::forbidden(
                "Signing in with this provider would create a new account, and new accounts are not open to it here. Ask an administrator for an invitation; once you have an account, you can link the provider to it.",
            ),
            accounts::Error::InvalidCredentials | accounts::Error::Blocked => {
                Self::forbidden("You are not allowed to do that.")
            }
            accounts::Error::Invalid(_) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Some fields are not valid."),
            // Too many wrong passwords in a confirmation form locked the account.
            accounts::Error::Locked { retry_after, .. } => {
                let minutes = (retry_after + 59) / 60;
                let message = format!(
                    "Too many wrong passwords. The account is locked for {minutes} minute{}; please try again later.",
                    if minutes == 1 { "" } else { "s" }
                );
                Self { retry_after: Some(retry_after.max(1)), ..Self::new(StatusCode::TOO_MANY_REQUESTS, message) }
            }
            accounts::Error::OwnAccount => Self::bad_request("You cannot block your own account."),
            accounts::Error::Stale => {
                Self::new(StatusCode::CONFLICT, "Someone else changed this first. Reload and try again.")
            }
            accounts::Error::Taken(what) => Self::new(StatusCode::CONFLICT, format!("That {what} is taken.")),
            // Issue 14: there is always an administrator.
            accounts::Error::LastAdmin => Self::new(
                StatusCode::CONFLICT,
                "That is the last administrator. Give another user the admin role first.",
            ),
            other => Self::internal(other),
        }
    }
}

impl IntoResponse for HtmlError {
    fn into_response(self) -> Response {
        let mut res = self.status.into_response();
        res.extensions_mut().insert(ErrorPage { message: self.message });
        if let Some(cause) = self.cause {
            res.extensions_mut().insert(cause);
        }
        if let Some(secs) = self.retry_after {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorTemplate<'a> {
    nav: Nav,
    status: u16,
    title: &'a str,
    message: &'a str,
    request_id: &'a str,
}

/// The realm of every challenge.
const REALM: &str = "gatehouse";
/// Client authentication at `/token`, `/revoke`, `/introspect` (RFC 6749 §5.2, RFC 7617 §2).
pub const BASIC_CHALLENGE: &str = "Basic realm=\"gatehouse\"";
/// Pages: sign in through the HTML form. Not a registered scheme, but RFC 7235
/// §3.1 requires some challenge on a 401, and the status tells scripts the
/// credentials were refused.
pub const FORM_CHALLENGE: &str = "Form realm=\"gatehouse\"";

/// Makes sure a 401 names how to authenticate (RFC 7235 §3.1: the server
/// MUST send `WWW-Authenticate` with at least one challenge). Pages get the
/// form challenge; anything else should have set its own, so a missing one
/// is a bug, logged, and patched with the client-authentication challenge.
fn ensure_challenge(res: &mut Response) {
    if res.status() != StatusCode::UNAUTHORIZED || res.headers().contains_key(header::WWW_AUTHENTICATE) {
        return;
    }
    let is_page = res.headers().get(header::CONTENT_TYPE).is_none_or(|ct| ct.as_bytes().starts_with(b"text/html"));
    let challenge = if is_page {
        FORM_CHALLENGE
    } else {
        tracing::error!("BUG: a 401 without a WWW-Authenticate challenge");
        BASIC_CHALLENGE
    };
    res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
}

/// Logs 5xx causes once, inside the request span, gives every 401 its
/// challenge, and renders error pages. JSON answers (content type set by the
/// handler) pass through otherwise untouched.
pub async fn render_errors(req: Request, next: Next) -> Response {
    let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned();
    let is_api = req.uri().path().starts_with(crate::http::api::PREFIX);
    let mut res = next.run(req).await;
    ensure_challenge(&mut res);
    let status = res.status();
    if let Some(ErrorCause(cause)) = res.extensions_mut().remove::<ErrorCause>() {
        tracing::error!(error = %chain(cause.as_ref()), %status, "request failed");
    }
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let page = res.extensions_mut().remove::<ErrorPage>();
    if page.is_none() && has_body_type(&res) {
        return res;
    }
    // Under /api/ even a bare status (axum's 405, a body limit, a timeout)
    // is answered as problem JSON.
    if is_api {
        return as_problem(res, status);
    }
    let message = page.map(|p| p.message).unwrap_or_else(|| default_message(status).into());
    let html = error_html(status, &message, &request_id);
    let (mut parts, _) = res.into_parts();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(html))
}

/// Whether a handler already gave the error a body of its own (JSON,
/// problem JSON or a page).
fn has_body_type(res: &Response) -> bool {
    res.headers().get(header::CONTENT_TYPE).is_some_and(|ct| {
        ct.to_str().is_ok_and(|ct| {
            ct.starts_with("application/json")
                || ct.starts_with("application/problem+json")
                || ct.starts_with("text/html")
        })
    })
}

/// A bare error status under `/api/` as problem JSON, keeping its headers.
fn as_problem(res: Response, status: StatusCode) -> Response {
    let (parts, _) = res.into_parts();
    let mut problem = crate::http::api::Problem::bare(status).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().insert(name, value.clone());
        }
    }
    problem
}

/// The error page's HTML (a fixed fallback if the template fails).
fn error_html(status: StatusCode, message: &str, request_id: &str) -> String {
    let title = status.canonical_reason().unwrap_or("Error");
    ErrorTemplate { nav: Nav::anonymous(), status: status.as_u16(), title, message, request_id }
        .render()
        .unwrap_or_else(|_| "<!doctype html><title>Error</title><p>Something went wrong.</p>".into())
}

fn default_message(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "There is nothing at this address.",
        StatusCode::METHOD_NOT_ALLOWED => "This address does not accept that kind of request.",
        StatusCode::PAYLOAD_TOO_LARGE => "What you sent is too large.",
        StatusCode::REQUEST_TIMEOUT => "The request took too long. Please try again.",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "The request headers are too large.",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "Send this form as application/x-www-form-urlencoded.",
        s if s.is_server_error() => "Something went wrong on our side. Please try again.",
        _ => "The request could not be handled.",
    }
}

fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    out
}

/// Which challenge a 401 from an OAuth endpoint carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    /// Client authentication (token, revocation, introspection).
    Basic,
    /// A resource that takes bearer tokens, and one was presented.
    Bearer,
    /// A resource that takes bearer tokens, and none was presented.
    BearerMissing,
}

/// An OAuth error answered as JSON (RFC 6749 §5.2; RFC 6750 §3 for bearer
/// token failures). Statuses: 401 for `invalid_client`/`invalid_token`, 403
/// for `access_denied` and `insufficient_scope` (RFC 6750 §3.1), 500 and 503
/// for server trouble, 400 otherwise. Always
/// `Cache-Control: no-store`. Every 401 carries a challenge: RFC 6749 §5.2
/// asks for one when the client used Basic, and RFC 7235 §3.1 for every 401,
/// so a client that sent only a `client_id` (or nothing) is told to use Basic too.
#[derive(Debug)]
pub struct OAuthJsonError {
    error: OAuthError,
    scheme: Scheme,
    cause: Option<ErrorCause>,
}

impl OAuthJsonError {
    /// A protocol error for the token, revocation and introspection endpoints.
    pub fn new(error: OAuthError) -> Self {
        Self { error, scheme: Scheme::Basic, cause: None }
    }

    /// A protocol error for a resource (userinfo): answered with a Bearer
    /// challenge that names the error (RFC 6750 §3).
    pub fn bearer(error: OAuthError) -> Self {
        Self { error, scheme: Scheme::Bearer, cause: None }
    }

    /// A resource request that carried no token at all: the Bearer challenge
    /// has no error code (RFC 6750 §3.1: "If the request lacks any
    /// authentication information … SHOULD NOT include an error code").
    pub fn bearer_missing(error: OAuthError) -> Self {
        Self { error, scheme: Scheme::BearerMissing, cause: None }
    }

    /// The `WWW-Authenticate` value for a 401.
    fn challenge(&self) -> String {
        // Our descriptions are plain text; keep them valid quoted-strings anyway.
        let quote = |s: String| s.replace(['"', '\\'], "'");
        match self.scheme {
            Scheme::Basic => BASIC_CHALLENGE.to_owned(),
            Scheme::BearerMissing => format!("Bearer realm=\"{REALM}\""),
            Scheme::Bearer => format!(
                "Bearer realm=\"{REALM}\", error=\"{}\", error_description=\"{}\"",
                self.error.code.as_str(),
                quote(self.error.wire_description().unwrap_or_default())
            ),
        }
    }
}

impl From<GrantError> for OAuthJsonError {
    fn from(err: GrantError) -> Self {
        match err {
            GrantError::OAuth(e) => Self::new(e),
            other => {
                let unavailable = is_unavailable(&other);
                let code = if unavailable { ErrorCode::TemporarilyUnavailable } else { ErrorCode::ServerError };
                Self {
                    error: OAuthError { code, description: None },
                    scheme: Scheme::Basic,
                    cause: Some(ErrorCause(Arc::new(other))),
                }
            }
        }
    }
}

/// RFC 6749 §4.3 and §5.2: every refused password grant is `invalid_grant`;
/// what only the browser can finish says so (the app should send the user
/// through the authorization code flow instead).
impl From<accounts::GrantRefusal> for OAuthJsonError {
    fn from(r: accounts::GrantRefusal) -> Self {
        use accounts::GrantRefusal as R;
        const BROWSER: &str = "; use the browser sign-in (the authorization code flow) instead";
        let why: Cow<'static, str> = match r {
            R::WrongPassword => "the username or password is not right".into(),
            R::Blocked => "the account is blocked".into(),
            R::Locked { retry_after } => {
                format!("too many failed sign-ins; try again in {} seconds", retry_after.max(1)).into()
            }
            R::Unconfirmed => format!("the email address is not confirmed yet{BROWSER}").into(),
            R::SecondFactor => format!("this account uses two-step sign-in{BROWSER}").into(),
            R::PasswordExpired => format!("the password has expired and must be changed{BROWSER}").into(),
            R::Network => "this account may not sign in from this network".into(),
            R::Failed(e) => {
                let unavailable = is_unavailable(&e);
                let code = if unavailable { ErrorCode::TemporarilyUnavailable } else { ErrorCode::ServerError };
                let error = OAuthError { code, description: None };
                return Self { error, scheme: Scheme::Basic, cause: Some(ErrorCause(Arc::new(e))) };
            }
        };
        Self::new(OAuthError::new(ErrorCode::InvalidGrant, why))
    }
}

impl IntoResponse for OAuthJsonError {
    fn into_response(self) -> Response {
        let status = match self.error.code {
            ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
            // A browser origin the client does not list (http::cors).
            ErrorCode::AccessDenied => StatusCode::FORBIDDEN,
            // RFC 6750 §3.1: a valid token without the scope the resource needs.
            ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        let mut body = serde_json::json!({ "error": self.error.code.as_str() });
        if let Some(d) = self.error.wire_description() {
            body["error_description"] = serde_json::Value::String(d);
        }
        // RFC 6750 §3: a resource names its scheme on every refusal (a 400 for
        // a malformed request too); client authentication only on a 401.
        let bearer = self.scheme != Scheme::Basic && status.is_client_error();
        let challenge = (status == StatusCode::UNAUTHORIZED || bearer).then(|| self.challenge());
        let mut res = (status, axum::Json(body)).into_response();
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(challenge) = challenge {
            let value = HeaderValue::from_str(&challenge).unwrap_or(HeaderValue::from_static(BASIC_CHALLENGE));
            h.insert(header::WWW_AUTHENTICATE, value);
        }
        if let Some(cause) = self.cause {
            res.extensions_mut().insert(cause);
        }
        res
    }
}
