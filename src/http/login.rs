//! Sign-up and sign-in pages: `/register`, `/login` (sign-out is `http::logout`).
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::routing::get;
use secrecy::SecretString;
use serde::Deserialize;

use crate::accounts::mfa::{self, FirstFactor, NextStep};
use crate::accounts::{self, CurrentUser, FieldError, Registration, SignInOrigin, SignInOutcome};
use crate::app::AppState;
use crate::http::audit::{self, AuditCtx};
use crate::http::cookies;
use crate::http::error::HtmlError;
use crate::http::extract::{ClientInfo, CsrfForm, MaybeUser, PageCsrf, empty_secret, field_error, safe_next};
use crate::http::ip_gate;
use crate::http::pages::{Nav, path_with_query};
use crate::http::recovery::MessagePage;
use crate::http::throttle;
use crate::metrics::LoginOutcome;
use crate::security::audit::{AuditAction, AuditEvent};
use crate::security::token;
use crate::store::UserRow;

/// Routes for this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/register", get(get_register).post(post_register))
        .route("/login", get(get_login).post(post_login))
}

const BAD_LOGIN: &str = "The username or password is not correct.";
/// For a blocked account, however it signs in.
pub(super) const BLOCKED: &str = "This account is blocked. Contact your administrator.";
/// The same for every name, known or not (issue 6: lockout says nothing about existence).
const LOCKED: &str = "Too many failed attempts. Signing in with this name is paused for a while; try again later or reset your password.";

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Nav,
    csrf: String,
    username: String,
    next: String,
    error: Option<&'static str>,
    notice: Option<&'static str>,
    /// One "Sign in with …" link per upstream provider: (href, name).
    providers: Vec<(String, String)>,
}

/// The upstream providers' links, each carrying `next` along.
fn provider_links(state: &AppState, next: Option<&str>) -> Vec<(String, String)> {
    state
        .upstream
        .iter()
        .map(|p| {
            let path = format!("/login/{}", p.id());
            let href = match next.filter(|n| !n.is_empty()) {
                Some(n) => path_with_query(&path, &[("next", n)]),
                None => path,
            };
            (href, p.display_name().to_owned())
        })
        .collect()
}

#[derive(Deserialize, Default)]
struct LoginQuery {
    next: Option<String>,
    /// `login`: sign in again even if signed in (OIDC `prompt=login`, `max_age`).
    prompt: Option<String>,
    registered: Option<String>,
    signed_out: Option<String>,
    confirmed: Option<String>,
    reset: Option<String>,
    /// Prefills the username (from an OIDC `login_hint`).
    login_hint: Option<String>,
    /// Why the second step sent the user back: `expired` or `failed`.
    mfa: Option<String>,
    /// A sensitive change asked for a fresh sign-in.
    reauth: Option<String>,
}

async fn get_login(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    csrf: PageCsrf,
    Query(q): Query<LoginQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    if user.is_some() && q.prompt.as_deref() != Some("login") {
        return Redirect::to(next.as_deref().unwrap_or("/account")).into_response();
    }
    let error = match q.mfa.as_deref() {
        Some("failed") => Some("Too many wrong codes. Sign in again to get a new chance."),
        Some(_) => Some("The second step took too long. Sign in again."),
        None => None,
    };
    let notice = if q.reauth.is_some() {
        Some("For your security, sign in again before changing two-step settings.")
    } else if q.registered.is_some() {
        Some("Check your email: follow the link we sent to confirm your address, then sign in.")
    } else if q.confirmed.is_some() {
        Some("Your email address is confirmed. Sign in to continue.")
    } else if q.reset.is_some() {
        Some("Your password is changed. Sign in with the new one.")
    } else if q.signed_out.is_some() {
        Some("You are signed out.")
    } else {
        None
    };
    let page = LoginPage {
        nav: Nav::anonymous(),
        csrf: csrf.token.clone(),
        username: q.login_hint.map(|h| h.chars().take(256).collect()).unwrap_or_default(),
        providers: provider_links(&state, next.as_deref()),
        next: next.unwrap_or_default(),
        error,
        notice,
    };
    (csrf, page).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default = "empty_secret")]
    password: SecretString,
    next: Option<String>,
}

/// The page for a right password on an unconfirmed account: a resend button.
fn unconfirmed(csrf: String, login: &str) -> Response {
    let page = MessagePage {
        csrf,
        resend_login: Some(login.chars().take(accounts::names::EMAIL_MAX).collect()),
        ..MessagePage::new(
            "Confirm your email address first",
            vec![
                "Your account is waiting for its email address to be confirmed. Follow the link we sent you, then sign in.",
                "No mail? Check your spam folder, or send the link again.",
            ],
            Some(("/login", "Back to sign in")),
        )
    };
    (StatusCode::FORBIDDEN, page).into_response()
}

async fn post_login(
    State(state): State<AppState>,
    MaybeUser(previous): MaybeUser,
    client: ClientInfo,
    ctx: AuditCtx,
    headers: axum::http::HeaderMap,
    CsrfForm { form, csrf }: CsrfForm<LoginForm>,
) -> Result<Response, HtmlError> {
    let next = safe_next(form.next.as_deref());
    let failed = |status: StatusCode, message: &'static str| {
        let page = LoginPage {
            nav: Nav::anonymous(),
            csrf: csrf.token.clone(),
            username: form.username.chars().take(accounts::names::EMAIL_MAX).collect(),
            next: next.clone().unwrap_or_default(),
            error: Some(message),
            notice: None,
            providers: provider_links(&state, next.as_deref()),
        };
        (status, page).into_response()
    };
    if let Some(user_id) = ip_gate::refused_before_password(&state, &form.username, &form.password, client.addr).await?
    {
        audit::known_user_attempt(&state, &client, &headers, &user_id, SignInOutcome::Denied, "password").await;
        return Err(ip_gate::refused_account_page());
    }
    let checked = state.accounts.authenticate(&form.username, &form.password).await;
    audit::sign_in_attempt(&state, &ctx, &form.username, &checked).await;
    let user = match checked {
        Ok(user) => user,
        Err(accounts::Error::InvalidCredentials) => {
            state.metrics.observe_login(LoginOutcome::InvalidCredentials);
            throttle::failed_sign_in(&state, &client.ip).await;
            // 401 tells scripts the sign-in failed; the error layer adds the
            // `Form` challenge every 401 needs (RFC 7235 §3.1).
            return Ok(failed(StatusCode::UNAUTHORIZED, BAD_LOGIN));
        }
        Err(accounts::Error::Locked { retry_after, newly }) => {
            state.metrics.observe_login(LoginOutcome::Locked);
            if newly {
                state.metrics.observe_lockout();
            }
            throttle::failed_sign_in(&state, &client.ip).await;
            return Ok(throttle::with_retry_after(failed(StatusCode::TOO_MANY_REQUESTS, LOCKED), retry_after));
        }
        Err(accounts::Error::Blocked) => {
            state.metrics.observe_login(LoginOutcome::Blocked);
            return Ok(failed(StatusCode::FORBIDDEN, BLOCKED));
        }
        Err(accounts::Error::Unconfirmed) => {
            state.metrics.observe_login(LoginOutcome::Unconfirmed);
            return Ok(unconfirmed(csrf.token.clone(), &form.username));
        }
        Err(other) => return Err(other.into()),
    };
    match state.accounts.begin_second_step(&user, FirstFactor::Password).await {
        Err(accounts::Error::Locked { retry_after, .. }) => {
            // Too many wrong codes lately: whoever is here knows the
            // password, so saying the account is locked reveals nothing.
            state.metrics.observe_login(LoginOutcome::Locked);
            return Ok(throttle::with_retry_after(failed(StatusCode::TOO_MANY_REQUESTS, LOCKED), retry_after));
        }
        Err(other) => return Err(other.into()),
        Ok(NextStep::Done) => {}
        Ok(NextStep::Challenge { token }) => return Ok(to_second_step(&state, &token, next.as_deref())),
    }
    let proof = Proof { credential: user.password_hash.clone(), user, amr: "pwd" };
    match finish_sign_in(&state, previous, &client, &headers, proof, next.as_deref(), &csrf.token).await? {
        Some(done) => Ok(done),
        // The password changed (or the account was blocked) while we checked it.
        None => Ok(failed(StatusCode::UNAUTHORIZED, BAD_LOGIN)),
    }
}

/// Sends a sign-in on to its second step (`/login/mfa`) with the
/// challenge cookie, whatever proved the first.
pub(super) fn to_second_step(state: &AppState, token: &str, next: Option<&str>) -> Response {
    let cookie = cookies::set(
        cookies::mfa_name(state.secure_cookies()),
        token,
        "Lax",
        state.secure_cookies(),
        Some(mfa::CHALLENGE_SECS),
    );
    let to = path_with_query("/login/mfa", &[("next", next.unwrap_or_default())]);
    (AppendHeaders([(header::SET_COOKIE, cookie)]), Redirect::to(&to)).into_response()
}

/// Who signed in, and how.
pub(super) struct Proof {
    pub user: UserRow,
    /// The password hash the user proved at the first step: the session
    /// starts only if it is still current (a reset in between wins).
    pub credential: Option<String>,
    pub amr: &'static str,
}

/// The last step of every sign-in: a new session (no fixation: whatever
/// session the browser had ends), the device note, the cookies, and the
/// redirect. `None` when the password changed or the account was blocked
/// since the proof was checked.
pub(super) async fn finish_sign_in(
    state: &AppState,
    previous: Option<CurrentUser>,
    client: &ClientInfo,
    headers: &axum::http::HeaderMap,
    proof: Proof,
    next: Option<&str>,
    csrf: &str,
) -> Result<Option<Response>, HtmlError> {
    let user = proof.user;
    // Checked here, after every step, so no way of finishing skips them.
    if !ip_gate::roles_allowed(state, &state.accounts.roles(&user.id).await?, client.addr).await {
        let method = audit::method_of(proof.amr);
        audit::known_user_attempt(state, client, headers, &user.id, SignInOutcome::Denied, method).await;
        return Err(ip_gate::refused_account_page());
    }
    // An upstream sign-in used no password, so its age does not matter here.
    let used_password = !proof.amr.starts_with(FirstFactor::Upstream.as_str());
    if used_password && state.accounts.password_expired(&user).await? {
        let ticket = state.accounts.expired_ticket(&user).await?;
        let secure = state.secure_cookies();
        let cookie = cookies::set(cookies::expired_name(secure), &ticket, "Lax", secure, Some(mfa::CHALLENGE_SECS));
        let page = crate::http::expired::expired_page(state, csrf.to_owned(), &user.username, next.map(str::to_owned));
        return Ok(Some((AppendHeaders([(header::SET_COOKIE, cookie)]), page).into_response()));
    }
    if let Some(previous) = previous {
        let event = AuditEvent::new(&previous.user_id, AuditAction::SignOut, &previous.user_id)
            .with_detail(serde_json::json!({ "reason": "signed in again" }));
        state.accounts.end_session(&previous.user_id, &previous.session_id, &event).await?;
    }
    let credential = proof.credential.as_deref();
    let session =
        match state.accounts.start_session(&user.id, credential, proof.amr, &client.ip, &client.user_agent).await {
            Ok(session) => session,
            Err(accounts::Error::InvalidCredentials) => return Ok(None),
            Err(other) => return Err(other.into()),
        };
    state.metrics.observe_login(LoginOutcome::Success);
    tracing::info!(user_id = %user.id, amr = proof.amr, "signed in");
    audit::sign_in_completed(state, client, headers, &user.id, proof.amr).await;
    let secure = state.secure_cookies();
    let device_cookie =
        cookies::get(headers, cookies::device_name(secure)).filter(|d| d.len() <= 64).map(str::to_owned);
    let (device, new_device) = match device_cookie {
        Some(d) => (d, None),
        None => {
            let d = token::new_secret();
            (
                d.clone(),
                Some(cookies::set(cookies::device_name(secure), &d, "Lax", secure, Some(cookies::DEVICE_MAX_AGE))),
            )
        }
    };
    let ip = client.ip.parse().ok();
    let origin = SignInOrigin { ip, user_agent: &client.user_agent, device: &device };
    // The notice is best effort: a failure here must not undo the sign-in.
    if let Err(e) = state.accounts.note_sign_in(&user, origin).await {
        tracing::error!(user_id = %user.id, error = %e, "recording the sign-in device failed");
    }
    let cookie = session_cookie(state, &session.token, session.max_age_secs);
    Ok(Some(
        (
            AppendHeaders([
                (header::SET_COOKIE, cookie),
                (header::SET_COOKIE, cookies::clear(cookies::mfa_name(secure), secure)),
            ]),
            AppendHeaders(new_device.map(|c| (header::SET_COOKIE, c))),
            PageCsrf::rotate(state, &session.id),
            Redirect::to(next.unwrap_or("/account")),
        )
            .into_response(),
    ))
}

#[derive(Template, WebTemplate)]
#[template(path = "register.html")]
struct RegisterPage {
    nav: Nav,
    csrf: String,
    username: String,
    email: String,
    next: String,
    errors: Vec<FieldError>,
}

impl RegisterPage {
    fn error_for(&self, field: &str) -> Option<&str> {
        field_error(&self.errors, field)
    }
}

#[derive(Deserialize, Default)]
struct NextQuery {
    next: Option<String>,
}

async fn get_register(MaybeUser(user): MaybeUser, csrf: PageCsrf, Query(q): Query<NextQuery>) -> Response {
    if user.is_some() {
        return Redirect::to("/account").into_response();
    }
    let page = RegisterPage {
        nav: Nav::anonymous(),
        csrf: csrf.token.clone(),
        username: String::new(),
        email: String::new(),
        next: safe_next(q.next.as_deref()).unwrap_or_default(),
        errors: Vec::new(),
    };
    (csrf, page).into_response()
}

#[derive(Deserialize)]
struct RegisterForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default = "empty_secret")]
    password: SecretString,
    password_confirm: Option<SecretString>,
    next: Option<String>,
}

async fn post_register(
    State(state): State<AppState>,
    CsrfForm { form, csrf }: CsrfForm<RegisterForm>,
) -> Result<Response, HtmlError> {
    let registration = Registration {
        username: &form.username,
        email: &form.email,
        password: &form.password,
        password_confirm: form.password_confirm.as_ref(),
        email_verified: false,
        roles: &[],
    };
    let next = safe_next(form.next.as_deref());
    match state.accounts.register(&registration).await {
        Ok(_) => {
            let mut query = vec![("registered", "1")];
            query.extend(next.as_deref().map(|n| ("next", n)));
            Ok(Redirect::to(&path_with_query("/login", &query)).into_response())
        }
        Err(accounts::Error::Invalid(errors)) => {
            let page = RegisterPage {
                nav: Nav::anonymous(),
                csrf: csrf.token,
                // Kept so the user can fix them; bounded so a huge input is not echoed back.
                username: form.username.chars().take(64).collect(),
                email: form.email.chars().take(accounts::names::EMAIL_MAX).collect(),
                next: next.unwrap_or_default(),
                errors,
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

/// The `Set-Cookie` value of a session cookie: `token` for `max_age`
/// seconds, or (empty, 0) to clear it.
fn session_cookie(state: &AppState, token: &str, max_age: i64) -> axum::http::HeaderValue {
    let secure = state.secure_cookies();
    cookies::set(cookies::session_name(secure), token, "Lax", secure, Some(max_age))
}

/// Sets the cookie of a new session (with a CSRF cookie bound to it) and
/// answers `then` (a redirect or a page); for a session that replaces the
/// browser's current one.
pub fn session_started(state: &AppState, session: &accounts::StartedSession, then: impl IntoResponse) -> Response {
    let cookie = session_cookie(state, &session.token, session.max_age_secs);
    (AppendHeaders([(header::SET_COOKIE, cookie)]), PageCsrf::rotate(state, &session.id), then).into_response()
}

/// Clears the session cookie, rotates the CSRF cookie, and redirects.
pub fn signed_out(state: &AppState, to: &str) -> Response {
    signed_out_page(state, Redirect::to(to))
}

/// Like [`signed_out`], but answers `then` (a page) instead of redirecting.
pub fn signed_out_page(state: &AppState, then: impl IntoResponse) -> Response {
    let clear = session_cookie(state, "", 0);
    (AppendHeaders([(header::SET_COOKIE, clear)]), PageCsrf::rotate(state, ""), then).into_response()
}
