//! Extractors: the signed-in user (optional, required, admin), the client's
//! address and agent, and CSRF-checked forms.
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, IntoResponseParts, Redirect, Response, ResponseParts};
use serde::de::DeserializeOwned;

use crate::accounts::{AdminAccess, CurrentUser};
use crate::app::AppState;
use crate::http::audit::AuditCtx;
use crate::http::cookies;
use crate::http::error::HtmlError;
use crate::http::ip_gate;
use crate::http::pages::path_with_query;
use crate::security::token;

/// The signed-in user, if any. Resolved once per request and cached.
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<CurrentUser>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = HtmlError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(cached) = parts.extensions.get::<MaybeUser>() {
            return Ok(cached.clone());
        }
        let user = match cookies::get(&parts.headers, cookies::session_name(state.secure_cookies())) {
            Some(token) => state.accounts.resolve_session(token).await?,
            None => None,
        };
        let found = MaybeUser(user);
        parts.extensions.insert(found.clone());
        Ok(found)
    }
}

/// A signed-in user; anonymous visitors are sent to sign in and come back.
#[derive(Debug, Clone)]
pub struct SignedIn(pub CurrentUser);

/// Why a page that needs a user could not be shown.
pub enum AuthRejection {
    SignIn(Redirect),
    Error(HtmlError),
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            AuthRejection::SignIn(r) => r.into_response(),
            AuthRejection::Error(e) => e.into_response(),
        }
    }
}

fn sign_in_redirect(parts: &Parts) -> AuthRejection {
    // After sign-in the browser GETs `next`, so a form's POST-only path won't do.
    let is_read = parts.method == axum::http::Method::GET || parts.method == axum::http::Method::HEAD;
    let next = parts.uri.path_and_query().map(|pq| pq.as_str()).filter(|_| is_read).unwrap_or("/account");
    AuthRejection::SignIn(Redirect::to(&path_with_query("/login", &[("next", next)])))
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match MaybeUser::from_request_parts(parts, state).await.map_err(AuthRejection::Error)? {
            // Role IP rules hold for every signed-in request, not only at sign-in.
            MaybeUser(Some(user))
                if !ip_gate::roles_allowed(state, &user.roles, ip_gate::client_ip_of(parts, &state.ip)).await =>
            {
                Err(AuthRejection::Error(ip_gate::refused_account_page()))
            }
            MaybeUser(Some(user)) => Ok(SignedIn(user)),
            MaybeUser(None) => Err(sign_in_redirect(parts)),
        }
    }
}

/// A signed-in user with the `admin` role. Every admin route takes this:
/// anonymous visitors are sent to sign in, other users get 403. The service
/// decides (and audits a refusal as `admin_refused`).
#[derive(Debug, Clone)]
pub struct Admin(pub CurrentUser);

impl FromRequestParts<AppState> for Admin {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let MaybeUser(user) = MaybeUser::from_request_parts(parts, state).await.map_err(AuthRejection::Error)?;
        let Some(user) = user else { return Err(sign_in_redirect(parts)) };
        let allowed = ip_gate::roles_allowed(state, &user.roles, ip_gate::client_ip_of(parts, &state.ip)).await;
        let ctx = AuditCtx::from_request_parts(parts, state).await.unwrap_or_else(|e| match e {});
        let path = parts.uri.path().to_owned();
        match state.accounts.admin_access(&ctx.context(&user.user_id), &user, allowed, &path).await {
            Ok(AdminAccess::Granted) => Ok(Admin(user)),
            Ok(AdminAccess::NotAdmin) => {
                Err(AuthRejection::Error(HtmlError::forbidden("This page is for administrators.")))
            }
            Ok(AdminAccess::RefusedAddress) => Err(AuthRejection::Error(ip_gate::refused_account_page())),
            Err(e) => Err(AuthRejection::Error(e.into())),
        }
    }
}

pub use crate::http::audit::ClientInfo;

/// The CSRF token for a page's forms; sets the CSRF cookie if the browser has none.
#[derive(Debug, Clone)]
pub struct PageCsrf {
    pub token: String,
    set_cookie: Option<HeaderValue>,
}

impl PageCsrf {
    /// A fresh CSRF cookie and its token for `session` ("" when signed out),
    /// replacing whatever the browser had (at sign-in and sign-out, so tokens
    /// from before are refused).
    pub fn rotate(state: &AppState, session: &str) -> Self {
        let value = token::new_secret();
        let secure = state.secure_cookies();
        let set_cookie = Some(cookies::set(cookies::csrf_name(secure), &value, "Strict", secure, None));
        Self { token: state.csrf.token_for(&value, session), set_cookie }
    }

    fn for_cookie(state: &AppState, value: &str, session: &str) -> Self {
        Self { token: state.csrf.token_for(value, session), set_cookie: None }
    }
}

/// The browser's CSRF cookie value, if any.
fn csrf_cookie<'a>(headers: &'a axum::http::HeaderMap, state: &AppState) -> Option<&'a str> {
    cookies::get(headers, cookies::csrf_name(state.secure_cookies()))
}

/// The id of the session the request is signed in to, or "".
async fn session_id(parts: &mut Parts, state: &AppState) -> Result<String, HtmlError> {
    let MaybeUser(user) = MaybeUser::from_request_parts(parts, state).await?;
    Ok(user.map(|u| u.session_id).unwrap_or_default())
}

impl FromRequestParts<AppState> for PageCsrf {
    type Rejection = HtmlError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let session = session_id(parts, state).await?;
        Ok(match csrf_cookie(&parts.headers, state) {
            Some(value) => Self::for_cookie(state, value, &session),
            None => Self::rotate(state, &session),
        })
    }
}

impl IntoResponseParts for PageCsrf {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        if let Some(cookie) = self.set_cookie {
            res.headers_mut().append(header::SET_COOKIE, cookie);
        }
        Ok(res)
    }
}

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf_token: String,
}

/// A urlencoded form whose `csrf_token` matched the browser's CSRF cookie.
/// Bodies that are not UTF-8, not urlencoded, or not of the form's shape get a
/// 400/415 page; a missing or foreign token gets 403.
pub struct CsrfForm<T> {
    pub form: T,
    /// The page token to render again if the form is shown with errors.
    pub csrf: PageCsrf,
}

/// Whether the request body is declared `application/x-www-form-urlencoded`.
pub fn is_urlencoded(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"))
}

impl<T: DeserializeOwned> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = HtmlError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !is_urlencoded(req.headers()) {
            return Err(HtmlError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Send this form as application/x-www-form-urlencoded.",
            ));
        }
        if !same_origin(req.headers(), &state.issuer) {
            return Err(HtmlError::forbidden(
                "This form did not come from this site. Go back, reload the page and try again.",
            ));
        }
        let (mut parts, body) = req.into_parts();
        let session = session_id(&mut parts, state).await?;
        let cookie = csrf_cookie(&parts.headers, state).map(str::to_owned);
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|e| HtmlError::new(e.status(), "The form could not be read."))?;
        // form_urlencoded decodes lossily; a replacement character means the
        // client sent bytes that are not UTF-8, which we refuse outright.
        if url::form_urlencoded::parse(&body).any(|(k, v)| k.contains('\u{FFFD}') || v.contains('\u{FFFD}')) {
            return Err(HtmlError::bad_request("The form contained text that is not valid UTF-8."));
        }
        let CsrfField { csrf_token } =
            serde_urlencoded::from_bytes(&body).map_err(|_| HtmlError::bad_request("The form could not be read."))?;
        let Some(cookie) = cookie.filter(|c| state.csrf.verify(c, &session, &csrf_token)) else {
            return Err(HtmlError::forbidden(
                "This form has expired or did not come from this site. Go back, reload the page and try again.",
            ));
        };
        let form = serde_urlencoded::from_bytes(&body)
            .map_err(|_| HtmlError::bad_request("The form is missing fields or has malformed ones."))?;
        Ok(Self { form, csrf: PageCsrf::for_cookie(state, &cookie, &session) })
    }
}

/// The second layer beside the CSRF token (OWASP CSRF Prevention Cheat
/// Sheet, "Verifying Origin with standard headers"): a form post whose
/// `Origin` is not the issuer's origin is refused. Without `Origin`,
/// `Sec-Fetch-Site` decides: only `same-origin` and `none` (typed or
/// bookmarked) pass; `same-site` is refused too, since a sibling subdomain is
/// not this origin. With neither header (non-browser clients) the request
/// passes and the token alone holds. Only the form pages use this: `/token`,
/// `/introspect` and `/revoke` are called cross-origin by browser apps.
///
/// `Origin: null` is foreign unless `Sec-Fetch-Site` says `same-origin`: our
/// `Referrer-Policy: no-referrer` makes browsers send `null` even for our own
/// forms (Fetch, "append a request `Origin` header"), together with
/// `Sec-Fetch-Site: same-origin`; sandboxed frames and `data:` pages send
/// `null` with `cross-site`.
fn same_origin(headers: &axum::http::HeaderMap, issuer: &str) -> bool {
    let text = |name| headers.get(name).map(|v| v.to_str().unwrap_or_default().trim().to_ascii_lowercase());
    let site = text(axum::http::HeaderName::from_static("sec-fetch-site"));
    match text(header::ORIGIN) {
        Some(origin) if origin == "null" => site.as_deref() == Some("same-origin"),
        Some(origin) => {
            let Ok(issuer) = url::Url::parse(issuer) else { return false };
            let Ok(theirs) = url::Url::parse(&origin).map(|u| u.origin()) else { return false };
            // The issuer's origin, or the one the browser reached us at (the
            // issuer's scheme with this request's Host: `localhost` for an
            // issuer on `127.0.0.1`). A forged request carries our Host and
            // the attacker's Origin, so the two never match for it.
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
            let reached = host.and_then(|h| url::Url::parse(&format!("{}://{h}", issuer.scheme())).ok());
            theirs.is_tuple() && (theirs == issuer.origin() || reached.is_some_and(|r| r.origin() == theirs))
        }
        None => site.is_none_or(|site| site == "same-origin" || site == "none"),
    }
}

/// Serde default for a password field the client left out: treated as empty
/// (and then refused by the rules) rather than as a malformed form.
pub fn empty_secret() -> secrecy::SecretString {
    secrecy::SecretString::from("")
}

/// Looks up the inline error for `field` among a form's errors.
pub fn field_error<'a>(errors: &'a [crate::accounts::FieldError], field: &str) -> Option<&'a str> {
    errors.iter().find(|e| e.field == field).map(|e| e.message.as_str())
}

/// A safe place to return to after sign-in: a local path only, never another
/// origin (`//evil`, `/\evil` and absolute URLs are refused).
pub fn safe_next(next: Option<&str>) -> Option<String> {
    let next = next?;
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
        && next.len() <= 2048;
    local.then(|| next.to_owned())
}

#[cfg(test)]
mod tests {
    use super::{safe_next, same_origin};
    use axum::http::{HeaderMap, HeaderValue};

    fn with(name: &'static str, value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn form_posts_must_come_from_the_issuers_origin_owasp_csrf_cheat_sheet() {
        let issuer = "https://id.example/";
        assert!(same_origin(&HeaderMap::new(), issuer), "no browser headers: the token alone holds");
        assert!(same_origin(&with("origin", "https://id.example"), issuer));
        assert!(same_origin(&with("origin", "https://ID.example:443"), issuer));
        for foreign in ["https://evil.example", "null", "http://id.example", "https://a.id.example", "x"] {
            assert!(!same_origin(&with("origin", foreign), issuer), "{foreign}");
        }
        assert!(same_origin(&with("sec-fetch-site", "same-origin"), issuer));
        assert!(same_origin(&with("sec-fetch-site", "none"), issuer));
        assert!(!same_origin(&with("sec-fetch-site", "cross-site"), issuer));
        assert!(!same_origin(&with("sec-fetch-site", "same-site"), issuer));
        let mut ours_with_no_referrer = with("origin", "null");
        ours_with_no_referrer.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(same_origin(&ours_with_no_referrer, issuer), "our own form under Referrer-Policy: no-referrer");
        let mut sandboxed = with("origin", "null");
        sandboxed.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&sandboxed, issuer));
        let mut evil = with("origin", "https://evil.example");
        evil.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(!same_origin(&evil, issuer), "a foreign Origin wins over anything else");
    }

    #[test]
    fn the_origin_the_browser_reached_us_at_counts_as_ours_owasp_csrf_cheat_sheet() {
        let issuer = "http://127.0.0.1:8080";
        let mut local = with("origin", "http://localhost:8080");
        local.insert("host", HeaderValue::from_static("localhost:8080"));
        assert!(same_origin(&local, issuer), "issuer on 127.0.0.1, page opened as localhost");
        let mut forged = with("origin", "http://evil.example");
        forged.insert("host", HeaderValue::from_static("localhost:8080"));
        assert!(!same_origin(&forged, issuer));
        let mut other_port = with("origin", "http://localhost:9999");
        other_port.insert("host", HeaderValue::from_static("localhost:8080"));
        assert!(!same_origin(&other_port, issuer), "another port is another origin");
    }

    #[test]
    fn next_must_be_a_local_path() {
        assert_eq!(safe_next(Some("/account?x=1")).as_deref(), Some("/account?x=1"));
        for bad in ["https://evil.example", "//evil.example", "/\\evil.example", "account", "/a\nb"] {
            assert_eq!(safe_next(Some(bad)), None, "{bad}");
        }
    }

    #[test]
    fn fuzz_same_origin() {
        use proptest::prelude::*;
        let origin = prop_oneof![
            prop::sample::select(vec!["https://id.example", "null", "https://evil.example", "http://localhost:8080"])
                .prop_map(str::to_owned),
            crate::fuzz::text(),
        ];
        let site = prop::option::of(prop::sample::select(vec!["same-origin", "none", "cross-site", "same-site", ""]));
        let host = prop::option::of(prop_oneof![Just("id.example".to_owned()), crate::fuzz::text()]);
        let strategy = (prop::option::of(origin), site, host);
        crate::fuzz::check("same_origin", strategy, |(origin, site, host)| {
            let mut h = HeaderMap::new();
            for (name, value) in [("origin", &origin), ("host", &host)] {
                if let Some(v) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
                    h.insert(name, v);
                }
            }
            if let Some(site) = site {
                h.insert("sec-fetch-site", HeaderValue::from_static(site));
            }
            let ours = same_origin(&h, "https://id.example/");
            // A cross-site fetch never passes, whatever Origin says.
            if site == Some("cross-site") || site == Some("same-site") {
                prop_assert!(!ours || h.get("origin").is_some_and(|o| o != "null"));
            }
            // A foreign tuple origin never passes when Host is ours.
            if host.as_deref() == Some("id.example")
                && let Some(o) = h.get("origin").and_then(|o| o.to_str().ok())
                && let Ok(u) = url::Url::parse(&o.trim().to_ascii_lowercase())
                && u.origin().is_tuple()
                && u.origin()
                    != url::Url::parse("https://id.example").map_err(|e| TestCaseError::fail(e.to_string()))?.origin()
            {
                prop_assert!(!ours, "foreign origin {o} passed");
            }
            Ok(())
        });
    }
}
