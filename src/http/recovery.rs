//! Pages behind mailed links, and the forms that send them: address
//! confirmation and resend, forgot/reset password, email-change confirm and
//! undo, and "this wasn't me". A link's GET shows a page with one button; only
//! the POST spends the link, so mail scanners that prefetch links spend
//! nothing. A dead link (unknown, used or expired) gets a 410 page.
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use secrecy::SecretString;
use serde::Deserialize;

use crate::accounts::{self, FieldError, Purpose};
use crate::app::AppState;
use crate::http::audit::AuditCtx;
use crate::http::error::HtmlError;
use crate::http::extract::{CsrfForm, MaybeUser, PageCsrf, empty_secret, field_error};
use crate::http::pages::{MessagePage, Nav};

/// Routes for this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/register/confirm", get(get_confirm).post(post_confirm))
        .route("/register/resend", post(post_resend))
        .route("/password/forgot", get(get_forgot).post(post_forgot))
        .route("/password/reset", get(get_reset).post(post_reset))
        .route("/account/email/confirm", get(get_email_confirm).post(post_email_confirm))
        .route("/account/email/undo", get(get_email_undo).post(post_email_undo))
        .route("/account/not-me", get(get_not_me).post(post_not_me))
}

#[derive(Template, WebTemplate)]
#[template(path = "link.html")]
struct LinkPage {
    nav: Nav,
    csrf: String,
    title: &'static str,
    text: &'static str,
    button: &'static str,
    action: &'static str,
    token: String,
}

#[derive(Deserialize, Default)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    token: String,
}

fn dead_link() -> Response {
    let page = MessagePage::new(
        "This link no longer works",
        vec!["The link has expired or was already used. Links in our mail work once, for a limited time."],
        Some(("/login", "Go to sign in")),
    );
    (StatusCode::GONE, page).into_response()
}

/// What a link's page says and where its button posts.
struct LinkText {
    purpose: Purpose,
    title: &'static str,
    text: &'static str,
    button: &'static str,
}

const CONFIRM: LinkText = LinkText {
    purpose: Purpose::Confirm,
    title: "Confirm your email address",
    text: "Confirm this address to finish creating your account.",
    button: "Confirm my address",
};
const EMAIL_CHANGE: LinkText = LinkText {
    purpose: Purpose::EmailChange,
    title: "Confirm your new email address",
    text: "Confirm this address as the new email address of your account.",
    button: "Confirm my new address",
};
const EMAIL_UNDO: LinkText = LinkText {
    purpose: Purpose::EmailUndo,
    title: "Undo the email change",
    text: "Restore your previous email address. Every session of your account will be signed out, and we will send you a link to choose a new password.",
    button: "Undo the change",
};
const NOT_ME: LinkText = LinkText {
    purpose: Purpose::NotMe,
    title: "Secure your account",
    text: "Sign out every session of your account. We will then send you a link to choose a new password.",
    button: "Sign out everywhere",
};

/// Whether `token` is a live link for `purpose` (its page may show).
async fn is_live(state: &AppState, token: &str, purpose: Purpose) -> Result<bool, HtmlError> {
    Ok(state.accounts.link_is_live(token, purpose).await?)
}

async fn show_link(state: &AppState, csrf: PageCsrf, token: String, t: &LinkText) -> Result<Response, HtmlError> {
    if !is_live(state, &token, t.purpose).await? {
        return Ok(dead_link());
    }
    let page = LinkPage {
        nav: Nav::anonymous(),
        csrf: csrf.token.clone(),
        title: t.title,
        text: t.text,
        button: t.button,
        action: t.purpose.path(),
        token,
    };
    Ok((csrf, page).into_response())
}

/// Maps the outcome of spending a link to a page.
fn after_link(result: accounts::Result<()>, done: impl FnOnce() -> Response) -> Result<Response, HtmlError> {
    match result {
        Ok(()) => Ok(done()),
        Err(accounts::Error::BadLink) => Ok(dead_link()),
        Err(accounts::Error::Invalid(errors)) => {
            let why = if errors.iter().any(|e| e.field == "email") {
                "That address is now used by another account, so it cannot be set."
            } else {
                "The request could not be completed."
            };
            Ok((
                StatusCode::CONFLICT,
                MessagePage::new("Not changed", vec![why], Some(("/account", "Go to my account"))),
            )
                .into_response())
        }
        Err(other) => Err(other.into()),
    }
}

async fn get_confirm(
    State(state): State<AppState>,
    csrf: PageCsrf,
    Query(q): Query<TokenQuery>,
) -> Result<Response, HtmlError> {
    show_link(&state, csrf, q.token, &CONFIRM).await
}

async fn post_confirm(
    State(state): State<AppState>,
    CsrfForm { form, .. }: CsrfForm<TokenForm>,
) -> Result<Response, HtmlError> {
    after_link(state.accounts.confirm_email(&form.token).await, || Redirect::to("/login?confirmed=1").into_response())
}

#[derive(Deserialize)]
struct ResendForm {
    #[serde(default)]
    login: String,
}

/// Runs account work that must not show in the response time: whether an
/// address has an account decides how much work there is (a lookup, or a
/// link, a sealed mail and a commit), so the page is answered first.
fn in_background(what: &'static str, work: impl Future<Output = accounts::Result<()>> + Send + 'static) {
    tokio::spawn(async move {
        if let Err(e) = work.await {
            tracing::error!(error = %e, what, "background account request failed");
        }
    });
}

/// The same answer whatever the account's state, or whether it exists.
async fn post_resend(
    State(state): State<AppState>,
    CsrfForm { form, .. }: CsrfForm<ResendForm>,
) -> Result<Response, HtmlError> {
    let accounts = state.accounts.clone();
    in_background("resend", async move { accounts.resend_confirmation(&form.login).await });
    Ok(MessagePage::new(
        "Check your email",
        vec!["If that account is waiting for its address to be confirmed, we have sent a new link. It works once, for 24 hours."],
        Some(("/login", "Back to sign in")),
    )
    .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "forgot.html")]
struct ForgotPage {
    nav: Nav,
    csrf: String,
    email: String,
    error: Option<&'static str>,
}

async fn get_forgot(MaybeUser(user): MaybeUser, csrf: PageCsrf) -> Response {
    let page = ForgotPage { nav: Nav::new(user.as_ref()), csrf: csrf.token.clone(), email: String::new(), error: None };
    (csrf, page).into_response()
}

#[derive(Deserialize)]
struct ForgotForm {
    #[serde(default)]
    email: String,
}

/// Answers the same for known and unknown addresses (only a malformed one
/// is pointed out, which says nothing about accounts).
async fn post_forgot(
    State(state): State<AppState>,
    CsrfForm { form, csrf }: CsrfForm<ForgotForm>,
) -> Result<Response, HtmlError> {
    if let Err(message) = accounts::Email::parse(&form.email) {
        let email = form.email.chars().take(accounts::names::EMAIL_MAX).collect();
        let page = ForgotPage { nav: Nav::anonymous(), csrf: csrf.token, email, error: Some(message) };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    let accounts = state.accounts.clone();
    in_background("forgot-password", async move { accounts.forgot_password(&form.email).await });
    Ok(MessagePage::new(
        "Check your email",
        vec![
            "If an account uses that address, we have sent it a link to choose a new password. The link works once, for one hour.",
            "No mail? Check your spam folder, or try again in a few minutes.",
        ],
        Some(("/login", "Back to sign in")),
    )
    .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "reset.html")]
struct ResetPage {
    nav: Nav,
    csrf: String,
    token: String,
    errors: Vec<FieldError>,
}

impl ResetPage {
    fn error_for(&self, field: &str) -> Option<&str> {
        field_error(&self.errors, field)
    }
}

async fn get_reset(
    State(state): State<AppState>,
    csrf: PageCsrf,
    Query(q): Query<TokenQuery>,
) -> Result<Response, HtmlError> {
    if !is_live(&state, &q.token, Purpose::Reset).await? {
        return Ok(dead_link());
    }
    let page = ResetPage { nav: Nav::anonymous(), csrf: csrf.token.clone(), token: q.token, errors: Vec::new() };
    Ok((csrf, page).into_response())
}

#[derive(Deserialize)]
struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default = "empty_secret")]
    password: SecretString,
    password_confirm: Option<SecretString>,
}

async fn post_reset(
    State(state): State<AppState>,
    ctx: AuditCtx,
    CsrfForm { form, csrf }: CsrfForm<ResetForm>,
) -> Result<Response, HtmlError> {
    match state
        .accounts
        .reset_password(&ctx.context(""), &form.token, &form.password, form.password_confirm.as_ref())
        .await
    {
        Ok(()) => Ok(Redirect::to("/login?reset=1").into_response()),
        Err(accounts::Error::BadLink) => Ok(dead_link()),
        Err(accounts::Error::Invalid(errors)) => {
            let page = ResetPage { nav: Nav::anonymous(), csrf: csrf.token, token: form.token, errors };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

async fn get_email_confirm(
    State(state): State<AppState>,
    csrf: PageCsrf,
    Query(q): Query<TokenQuery>,
) -> Result<Response, HtmlError> {
    show_link(&state, csrf, q.token, &EMAIL_CHANGE).await
}

async fn post_email_confirm(
    State(state): State<AppState>,
    ctx: AuditCtx,
    CsrfForm { form, .. }: CsrfForm<TokenForm>,
) -> Result<Response, HtmlError> {
    after_link(state.accounts.confirm_email_change(&ctx.context(""), &form.token).await, || {
        MessagePage::new(
            "Email address changed",
            vec!["Your account now uses the new address."],
            Some(("/account", "Go to my account")),
        )
        .into_response()
    })
}

async fn get_email_undo(
    State(state): State<AppState>,
    csrf: PageCsrf,
    Query(q): Query<TokenQuery>,
) -> Result<Response, HtmlError> {
    show_link(&state, csrf, q.token, &EMAIL_UNDO).await
}

async fn post_email_undo(
    State(state): State<AppState>,
    ctx: AuditCtx,
    CsrfForm { form, .. }: CsrfForm<TokenForm>,
) -> Result<Response, HtmlError> {
    after_link(state.accounts.undo_email_change(&ctx.context(""), &form.token).await, || {
        super::signed_in::signed_out_page(
            &state,
            MessagePage::new(
                "Email address restored",
                vec![
                    "Your previous address is back, and every session of your account is signed out.",
                    "We have sent a link to that address to choose a new password.",
                ],
                Some(("/login", "Go to sign in")),
            ),
        )
    })
}

async fn get_not_me(
    State(state): State<AppState>,
    csrf: PageCsrf,
    Query(q): Query<TokenQuery>,
) -> Result<Response, HtmlError> {
    show_link(&state, csrf, q.token, &NOT_ME).await
}

async fn post_not_me(
    State(state): State<AppState>,
    ctx: AuditCtx,
    CsrfForm { form, .. }: CsrfForm<TokenForm>,
) -> Result<Response, HtmlError> {
    after_link(state.accounts.not_me(&ctx.context(""), &form.token).await, || {
        super::signed_in::signed_out_page(
            &state,
            MessagePage::new(
                "Your account is secured",
                vec![
                    "Every session of your account is signed out, and the apps you use must sign in again.",
                    "We have sent you a link to choose a new password.",
                ],
                Some(("/login", "Go to sign in")),
            ),
        )
    })
}
