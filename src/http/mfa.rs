//! The second step of sign-in: `/login/mfa` (choose a method, enter a code),
//! `/login/mfa/email` (send a code), and `/login/mfa/setup` (set up an
//! authenticator app when a role requires one). The `gh_mfa` cookie carries
//! the challenge started by a right password; see `accounts::mfa`.
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::accounts::mfa::{CodeCheck, Method, SetUp};
use crate::accounts::{self, SignInOutcome};
use crate::app::AppState;
use crate::http::audit;
use crate::http::cookies;
use crate::http::error::HtmlError;
use crate::http::extract::{ClientInfo, CsrfForm, MaybeUser, PageCsrf, field_error, safe_next};
use crate::http::login::{Proof, finish_sign_in};
use crate::http::pages::{Nav, path_with_query};
use crate::http::throttle;
use crate::metrics::LoginOutcome;

/// Routes for this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login/mfa", get(get_mfa).post(post_mfa))
        .route("/login/mfa/email", post(post_email_code))
        .route("/login/mfa/setup", post(post_setup))
}

#[derive(Template, WebTemplate)]
#[template(path = "mfa_challenge.html")]
struct ChallengePage {
    nav: Nav,
    csrf: String,
    next: String,
    totp: bool,
    email: bool,
    notice: Option<&'static str>,
    error: Option<String>,
}

/// The authenticator set-up page, used at sign-in and on `/account/mfa`.
#[derive(Template, WebTemplate)]
#[template(path = "mfa_setup.html")]
pub(super) struct SetupPage {
    pub nav: Nav,
    pub csrf: String,
    pub next: String,
    pub action: &'static str,
    pub back: &'static str,
    pub qr_svg: String,
    pub secret: String,
    pub notice: Option<&'static str>,
    pub error: Option<String>,
}

/// The recovery codes, shown once.
#[derive(Template, WebTemplate)]
#[template(path = "recovery_codes.html")]
pub(super) struct CodesPage {
    pub nav: Nav,
    pub codes: Vec<String>,
    pub next: String,
}

#[derive(Deserialize, Default)]
struct NextQuery {
    next: Option<String>,
    sent: Option<String>,
}

/// Back to the password form: the challenge is over or missing.
fn start_again(next: Option<&str>, why: &str) -> Response {
    let mut pairs = vec![("mfa", why)];
    if let Some(n) = next {
        pairs.push(("next", n));
    }
    Redirect::to(&path_with_query("/login", &pairs)).into_response()
}

async fn get_mfa(
    State(state): State<AppState>,
    headers: HeaderMap,
    csrf: PageCsrf,
    Query(q): Query<NextQuery>,
) -> Result<Response, HtmlError> {
    let next = safe_next(q.next.as_deref());
    let token = cookies::get(&headers, cookies::mfa_name(state.secure_cookies())).unwrap_or_default();
    let Some((ch, status)) = state.accounts.challenge(token).await? else {
        return Ok(start_again(next.as_deref(), "expired"));
    };
    if !status.enabled() {
        if !status.required {
            // The factors were removed (by an operator) meanwhile: the
            // password step alone now suffices, so start again.
            return Ok(start_again(next.as_deref(), "expired"));
        }
        return setup_page(&state, &ch.user_id, csrf, next.unwrap_or_default(), None).await;
    }
    let notice = q.sent.is_some().then_some("We sent a code to your email address.");
    let page = ChallengePage {
        nav: Nav::anonymous(),
        csrf: csrf.token.clone(),
        next: next.unwrap_or_default(),
        totp: status.totp,
        email: status.email,
        notice,
        error: None,
    };
    Ok((csrf, page).into_response())
}

async fn setup_page(
    state: &AppState,
    user_id: &str,
    csrf: PageCsrf,
    next: String,
    error: Option<String>,
) -> Result<Response, HtmlError> {
    let user = state.accounts.find(user_id).await?;
    let enrolment = match state.accounts.pending_totp(user_id, &user.username).await? {
        Some(e) => e,
        None => state.accounts.begin_totp(user_id, &user.username).await?,
    };
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let page = SetupPage {
        nav: Nav::anonymous(),
        csrf: csrf.token.clone(),
        next,
        action: "/login/mfa/setup",
        back: "/login",
        qr_svg: enrolment.qr_svg,
        secret: enrolment.secret_text,
        notice: Some("Your account needs two-step sign-in. Set it up now to finish signing in."),
        error,
    };
    Ok((status, csrf, page).into_response())
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    method: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    email_code: String,
    #[serde(default)]
    recovery_code: String,
    next: Option<String>,
}

async fn post_mfa(
    State(state): State<AppState>,
    MaybeUser(previous): MaybeUser,
    client: ClientInfo,
    headers: HeaderMap,
    CsrfForm { form, csrf }: CsrfForm<CodeForm>,
) -> Result<Response, HtmlError> {
    let next = safe_next(form.next.as_deref());
    let token = cookies::get(&headers, cookies::mfa_name(state.secure_cookies())).unwrap_or_default();
    let (method, code) = match Method::parse(&form.method) {
        Some(Method::Totp) => (Method::Totp, &form.code),
        Some(Method::Email) => (Method::Email, &form.email_code),
        Some(Method::Recovery) => (Method::Recovery, &form.recovery_code),
        None => return Err(HtmlError::bad_request("Choose a way to finish signing in.")),
    };
    match state.accounts.check_code(token, method, code).await? {
        CodeCheck::Passed { user_id, credential, amr } => {
            let user = state.accounts.find(&user_id).await?;
            let proof = Proof { user, credential, amr };
            match finish_sign_in(&state, previous, &client, &headers, proof, next.as_deref(), &csrf.token).await? {
                Some(done) => Ok(done),
                None => Ok(start_again(next.as_deref(), "expired")),
            }
        }
        CodeCheck::Wrong { user_id, tries_left } => {
            state.metrics.observe_login(LoginOutcome::InvalidCredentials);
            audit::known_user_attempt(&state, &client, &headers, &user_id, SignInOutcome::MfaFailed, method.name())
                .await;
            // Wrong codes count toward the per-address delay like wrong passwords.
            throttle::failed_sign_in(&state, &client.ip).await;
            let Some((_, status)) = state.accounts.challenge(token).await? else {
                return Ok(start_again(next.as_deref(), "failed"));
            };
            let page = ChallengePage {
                nav: Nav::anonymous(),
                csrf: csrf.token.clone(),
                next: next.unwrap_or_default(),
                totp: status.totp,
                email: status.email,
                notice: None,
                error: Some(format!("That code is not right. {tries_left} tries left.")),
            };
            Ok((StatusCode::UNAUTHORIZED, page).into_response())
        }
        CodeCheck::Over { user_id } => {
            state.metrics.observe_login(LoginOutcome::InvalidCredentials);
            audit::known_user_attempt(&state, &client, &headers, &user_id, SignInOutcome::MfaFailed, method.name())
                .await;
            throttle::failed_sign_in(&state, &client.ip).await;
            Ok(start_again(next.as_deref(), "failed"))
        }
        CodeCheck::Expired => Ok(start_again(next.as_deref(), "expired")),
    }
}

#[derive(Deserialize)]
struct NextForm {
    next: Option<String>,
}

async fn post_email_code(
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfForm { form, .. }: CsrfForm<NextForm>,
) -> Result<Response, HtmlError> {
    let next = safe_next(form.next.as_deref()).unwrap_or_default();
    let token = cookies::get(&headers, cookies::mfa_name(state.secure_cookies())).unwrap_or_default();
    if state.accounts.send_email_code(token).await? {
        return Ok(Redirect::to(&path_with_query("/login/mfa", &[("next", &next), ("sent", "1")])).into_response());
    }
    match state.accounts.challenge(token).await? {
        Some((_, status)) if !status.email => {
            Err(HtmlError::bad_request("Codes by email are not turned on for this account."))
        }
        Some(_) => Err(HtmlError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "We already sent three codes for this sign-in. Use the latest one, or start again.",
        )),
        None => Ok(start_again(Some(&next), "expired")),
    }
}

async fn post_setup(
    State(state): State<AppState>,
    MaybeUser(previous): MaybeUser,
    client: ClientInfo,
    headers: HeaderMap,
    CsrfForm { form, csrf }: CsrfForm<SetupForm>,
) -> Result<Response, HtmlError> {
    let next = safe_next(form.next.as_deref());
    let token = cookies::get(&headers, cookies::mfa_name(state.secure_cookies())).unwrap_or_default();
    let SetUp { user_id, credential, codes, amr } = match state.accounts.setup_in_challenge(token, &form.code).await {
        Ok(Some(done)) => done,
        Ok(None) => return Ok(start_again(next.as_deref(), "expired")),
        Err(accounts::Error::Invalid(errors)) => {
            let Some((ch, _)) = state.accounts.challenge(token).await? else {
                return Ok(start_again(next.as_deref(), "expired"));
            };
            let message = field_error(&errors, "code").map(str::to_owned);
            return setup_page(&state, &ch.user_id, csrf, next.unwrap_or_default(), message).await;
        }
        Err(other) => return Err(other.into()),
    };
    // The code just proved the new factor: this sign-in is two-step. The
    // recovery codes are shown once, on the page that carries the session cookie.
    let user = state.accounts.find(&user_id).await?;
    let landing = CodesPage { nav: Nav::anonymous(), codes, next: next.clone().unwrap_or_else(|| "/account".into()) };
    let proof = Proof { user, credential, amr };
    match finish_sign_in(&state, previous, &client, &headers, proof, None, &csrf.token).await? {
        Some(done) => Ok(with_page(done, landing.into_response())),
        None => Ok(start_again(next.as_deref(), "expired")),
    }
}

#[derive(Deserialize)]
struct SetupForm {
    #[serde(default)]
    code: String,
    next: Option<String>,
}

/// Keeps the cookies of a finished sign-in but answers with `page` instead of its redirect.
fn with_page(done: Response, page: Response) -> Response {
    let (parts, _) = done.into_parts();
    let mut page = page;
    for value in parts.headers.get_all(axum::http::header::SET_COOKIE) {
        page.headers_mut().append(axum::http::header::SET_COOKIE, value.clone());
    }
    page
}
