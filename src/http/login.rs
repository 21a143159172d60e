//! Sign-up and sign-in pages: `/register`, `/login` (sign-out is
//! `http::logout`). The sign-in itself is `accounts::sign_in`'s and its
//! answer `http::signed_in`'s; this file extracts and renders. Names no store row.
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use secrecy::SecretString;
use serde::Deserialize;

use crate::accounts::sign_in::Proof;
use crate::accounts::{self, FieldError, Registration};
use crate::app::AppState;
use crate::http::audit::AuditCtx;
use crate::http::error::HtmlError;
use crate::http::extract::{CsrfForm, MaybeUser, PageCsrf, empty_secret, field_error, safe_next};
use crate::http::pages::{Nav, path_with_query};
use crate::http::signed_in::templates::{LoginPage, provider_links};
use crate::http::signed_in::{self, Asked, SignInRequest};

/// Routes for this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/register", get(get_register).post(post_register))
        .route("/login", get(get_login).post(post_login))
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

impl LoginQuery {
    /// Why the second step sent the user back, if it did.
    fn error(&self) -> Option<&'static str> {
        match self.mfa.as_deref() {
            Some("failed") => Some("Too many wrong codes. Sign in again to get a new chance."),
            Some(_) => Some("The second step took too long. Sign in again."),
            None => None,
        }
    }

    /// What the page that sent the user here wants said.
    fn notice(&self) -> Option<&'static str> {
        if self.reauth.is_some() {
            Some("For your security, sign in again before changing two-step settings.")
        } else if self.registered.is_some() {
            Some("Check your email: follow the link we sent to confirm your address, then sign in.")
        } else if self.confirmed.is_some() {
            Some("Your email address is confirmed. Sign in to continue.")
        } else if self.reset.is_some() {
            Some("Your password is changed. Sign in with the new one.")
        } else if self.signed_out.is_some() {
            Some("You are signed out.")
        } else {
            None
        }
    }
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
    let page = LoginPage {
        nav: Nav::anonymous(),
        csrf: csrf.token.clone(),
        username: q.login_hint.as_deref().map(|h| h.chars().take(256).collect()).unwrap_or_default(),
        providers: provider_links(&state, next.as_deref()),
        next: next.unwrap_or_default(),
        error: q.error(),
        notice: q.notice(),
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

async fn post_login(
    State(state): State<AppState>,
    request: SignInRequest,
    CsrfForm { form, csrf }: CsrfForm<LoginForm>,
) -> Result<Response, HtmlError> {
    let ctx = request.going_to(safe_next(form.next.as_deref()));
    let proof = Proof::Password { login: form.username.clone(), password: form.password };
    let next = state.accounts.sign_in(proof, &ctx).await;
    signed_in::respond(&state, &ctx, &csrf.token, Asked::Password { login: &form.username }, next)
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

/// Only while self-registration is open (`registration.mode = "open"`);
/// otherwise `/register` answers the normal 404 page, before any other check.
pub struct SignupOpen;

impl axum::extract::FromRequestParts<AppState> for SignupOpen {
    type Rejection = HtmlError;

    async fn from_request_parts(_: &mut axum::http::request::Parts, state: &AppState) -> Result<Self, HtmlError> {
        if state.accounts.self_registration_open() { Ok(SignupOpen) } else { Err(HtmlError::not_found()) }
    }
}

async fn get_register(
    _: SignupOpen,
    MaybeUser(user): MaybeUser,
    csrf: PageCsrf,
    Query(q): Query<NextQuery>,
) -> Response {
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
    _: SignupOpen,
    State(state): State<AppState>,
    ctx: AuditCtx,
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
    match state.accounts.register(&ctx.context(""), &registration).await {
        Ok(_) => {
            let mut query = vec![("registered", "1")];
            query.extend(next.as_deref().map(|n| ("next", n)));
            Ok(Redirect::to(&path_with_query("/login", &query)).into_response())
        }
        Err(accounts::Error::Invalid(errors)) => {
            Ok((StatusCode::UNPROCESSABLE_ENTITY, form.again(csrf.token, next, errors)).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

impl RegisterForm {
    /// The form again with its errors, keeping what was typed so the user can
    /// fix it (bounded, so a huge input is not echoed back).
    fn again(&self, csrf: String, next: Option<String>, errors: Vec<FieldError>) -> RegisterPage {
        RegisterPage {
            nav: Nav::anonymous(),
            csrf,
            username: self.username.chars().take(64).collect(),
            email: self.email.chars().take(accounts::names::EMAIL_MAX).collect(),
            next: next.unwrap_or_default(),
            errors,
        }
    }
}

/// The session cookie helpers live with the sign-in responder; logout and
/// the account pages keep using them from here.
pub use crate::http::signed_in::{session_started, signed_out, signed_out_page};
