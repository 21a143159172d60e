//! The expired-password step of sign-in (`password.max_age_days`): a right
//! password that is too old shows [`expired_page`] instead of signing in.
//! It is shown only at the end of a complete sign-in (password and any
//! second step), with a `gh_expired` ticket cookie; the form asks for the
//! current password again and a new one; no secret goes into a URL. After a valid change the
//! browser goes to `/login?reset=1` with the same `next`, to sign in with the
//! new password.
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::routing::get;
use secrecy::SecretString;
use serde::Deserialize;

use crate::accounts::{self, FieldError};
use crate::app::AppState;
use crate::http::cookies;
use crate::http::error::HtmlError;
use crate::http::extract::{CsrfForm, empty_secret, field_error, safe_next};
use crate::http::pages::{Nav, path_with_query};

/// Routes for this area.
pub fn router() -> Router<AppState> {
    Router::new().route("/password/expired", get(get_expired).post(post_expired))
}

#[derive(Template, WebTemplate)]
#[template(path = "password_expired.html")]
struct ExpiredPage {
    nav: Nav,
    csrf: String,
    username: String,
    next: String,
    hint: String,
    errors: Vec<FieldError>,
}

impl ExpiredPage {
    fn error_for(&self, field: &str) -> Option<&str> {
        field_error(&self.errors, field)
    }
}

/// The "your password has expired" page, answered to a right but expired password.
pub fn expired_page(state: &AppState, csrf: String, username: &str, next: Option<String>) -> Response {
    page(state, csrf, username, next, Vec::new()).into_response()
}

fn page(state: &AppState, csrf: String, username: &str, next: Option<String>, errors: Vec<FieldError>) -> ExpiredPage {
    ExpiredPage {
        nav: Nav::anonymous(),
        csrf,
        username: username.chars().take(accounts::names::EMAIL_MAX).collect(),
        next: next.unwrap_or_default(),
        hint: format!("At least {} characters, not one of your recent passwords.", state.config.password.min_length),
        errors,
    }
}

/// Only reached through the sign-in form; a direct visit starts there.
async fn get_expired() -> Redirect {
    Redirect::to("/login")
}

#[derive(Deserialize)]
struct ExpiredForm {
    #[serde(default)]
    username: String,
    #[serde(default = "empty_secret")]
    current_password: SecretString,
    #[serde(default = "empty_secret")]
    new_password: SecretString,
    new_password_confirm: Option<SecretString>,
    next: Option<String>,
}

async fn post_expired(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    ctx: crate::http::audit::AuditCtx,
    CsrfForm { form, csrf }: CsrfForm<ExpiredForm>,
) -> Result<Response, HtmlError> {
    let next = safe_next(form.next.as_deref());
    let ticket = cookies::get(&headers, cookies::expired_name(state.secure_cookies())).unwrap_or_default();
    let renewed = state
        .accounts
        .renew_expired_password(
            ticket,
            &form.current_password,
            &form.new_password,
            form.new_password_confirm.as_ref(),
            &ctx.confirming(),
        )
        .await;
    match renewed {
        Ok(()) => {
            let mut query = vec![("reset", "1")];
            query.extend(next.as_deref().map(|n| ("next", n)));
            let clear = cookies::clear(cookies::expired_name(state.secure_cookies()), state.secure_cookies());
            Ok((AppendHeaders([(header::SET_COOKIE, clear)]), Redirect::to(&path_with_query("/login", &query)))
                .into_response())
        }
        // No live ticket: the form outlived its sign-in (or never had one).
        Err(accounts::Error::BadLink) => {
            let mut query = vec![("mfa", "expired")];
            query.extend(next.as_deref().map(|n| ("next", n)));
            Ok(Redirect::to(&path_with_query("/login", &query)).into_response())
        }
        Err(accounts::Error::Invalid(errors)) => {
            let page = page(&state, csrf.token, &form.username, next, errors);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(other) => Err(other.into()),
    }
}
