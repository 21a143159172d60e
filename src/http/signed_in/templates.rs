//! The pages of the sign-in steps (login form, second step, authenticator
//! set-up, recovery codes, expired password, link offer), shared by the
//! responder and the handlers that show them directly. Display-ready data
//! only; no service calls.
use askama::Template;
use askama_web::WebTemplate;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::accounts::mfa::Enrolment;
use crate::accounts::{self, FieldError};
use crate::app::AppState;
use crate::http::extract::field_error;
use crate::http::pages::{MessagePage, Nav, path_with_query};

/// The sign-in form.
#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub nav: Nav,
    pub csrf: String,
    pub username: String,
    pub next: String,
    pub error: Option<&'static str>,
    pub notice: Option<&'static str>,
    /// One "Sign in with …" link per upstream provider: (href, name).
    pub providers: Vec<(String, String)>,
}

/// The upstream providers' links, each carrying `next` along.
pub fn provider_links(state: &AppState, next: Option<&str>) -> Vec<(String, String)> {
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

/// The sign-in form again, with `message`, keeping what was typed.
pub fn login_again(
    state: &AppState,
    csrf: &str,
    username: &str,
    next: Option<&str>,
    message: &'static str,
) -> LoginPage {
    LoginPage {
        nav: Nav::anonymous(),
        csrf: csrf.to_owned(),
        username: username.chars().take(accounts::names::EMAIL_MAX).collect(),
        next: next.unwrap_or_default().to_owned(),
        error: Some(message),
        notice: None,
        providers: provider_links(state, next),
    }
}

/// The page for a right password on an unconfirmed account: a resend button.
pub fn unconfirmed(csrf: &str, login: &str) -> Response {
    let page = MessagePage {
        csrf: csrf.to_owned(),
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

/// The second step: choose a method, type a code.
#[derive(Template, WebTemplate)]
#[template(path = "mfa_challenge.html")]
pub struct ChallengePage {
    pub nav: Nav,
    pub csrf: String,
    pub next: String,
    pub totp: bool,
    pub email: bool,
    pub notice: Option<&'static str>,
    pub error: Option<String>,
}

/// The authenticator set-up page, used at sign-in and on `/account/mfa`.
#[derive(Template, WebTemplate)]
#[template(path = "mfa_setup.html")]
pub struct SetupPage {
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

/// The set-up page inside a sign-in challenge, with its status (422 when
/// the code was wrong).
pub fn setup_in_sign_in(csrf: &str, next: String, e: Enrolment, error: Option<String>) -> (StatusCode, SetupPage) {
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let page = SetupPage {
        nav: Nav::anonymous(),
        csrf: csrf.to_owned(),
        next,
        action: "/login/mfa/setup",
        back: "/login",
        qr_svg: e.qr_svg,
        secret: e.secret_text,
        notice: Some("Your account needs two-step sign-in. Set it up now to finish signing in."),
        error,
    };
    (status, page)
}

/// The recovery codes, shown once.
#[derive(Template, WebTemplate)]
#[template(path = "recovery_codes.html")]
pub struct CodesPage {
    pub nav: Nav,
    pub codes: Vec<String>,
    pub next: String,
}

/// "Your password has expired": the current password again and a new one.
#[derive(Template, WebTemplate)]
#[template(path = "password_expired.html")]
pub struct ExpiredPage {
    nav: Nav,
    csrf: String,
    username: String,
    next: String,
    hint: String,
    errors: Vec<FieldError>,
}

impl ExpiredPage {
    /// The page for `username`, with the policy's hint and any field errors.
    pub fn new(state: &AppState, csrf: &str, username: &str, next: Option<&str>, errors: Vec<FieldError>) -> Self {
        Self {
            nav: Nav::anonymous(),
            csrf: csrf.to_owned(),
            username: username.chars().take(accounts::names::EMAIL_MAX).collect(),
            next: next.unwrap_or_default().to_owned(),
            hint: format!(
                "At least {} characters, not one of your recent passwords.",
                state.config.password.min_length
            ),
            errors,
        }
    }

    fn error_for(&self, field: &str) -> Option<&str> {
        field_error(&self.errors, field)
    }
}

/// The link offer (no `username`) and its confirmation.
#[derive(Template, WebTemplate)]
#[template(path = "upstream_link.html")]
pub struct LinkPage {
    pub nav: Nav,
    pub csrf: String,
    pub provider: String,
    /// The upstream account's address ("" if none).
    pub email: String,
    /// Set on the confirmation page: the local account to link to.
    pub username: Option<String>,
    /// Where "sign in to link" goes (the offer page).
    pub prove: String,
    /// Where "not now" goes.
    pub back: String,
}

/// Where the user proves a local account before a link (OIDC-style
/// `prompt=login`: a session already open does not count), the address
/// filled in.
pub fn prove_url(email: &str) -> String {
    path_with_query("/login", &[("prompt", "login"), ("next", "/login/link"), ("login_hint", email)])
}
