//! The account centre's forms: display name, password, email change, and
//! ending sessions. After a success each goes back to its section page with
//! a notice; bad input shows that section's form again (422) with what was typed.
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use secrecy::SecretString;
use serde::Deserialize;

use crate::accounts::{self, CurrentUser};
use crate::app::AppState;
use crate::http::account::{Section, account_page};
use crate::http::audit::AuditCtx;
use crate::http::error::HtmlError;
use crate::http::extract::{CsrfForm, PageCsrf, SignedIn, empty_secret};
use crate::http::login::signed_out;

/// Routes for this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account/profile", post(post_profile))
        .route("/account/password", post(post_password))
        .route("/account/email", post(post_email))
        .route("/account/sessions/{id}/revoke", post(post_revoke_session))
        .route("/account/sessions/revoke-all", post(post_revoke_all))
}

/// What the user typed into the form that failed, to show it again.
enum Typed<'a> {
    DisplayName(&'a str),
    Email(&'a str),
    Nothing,
}

/// Shows `section`'s page again with field errors (and what was typed), or fails.
async fn with_errors(
    state: &AppState,
    user: &CurrentUser,
    csrf: &PageCsrf,
    section: Section,
    err: accounts::Error,
    typed: Typed<'_>,
) -> Result<Response, HtmlError> {
    match err {
        accounts::Error::Invalid(errors) => {
            let mut page = account_page(state, user, csrf, section, None, errors).await?;
            // Bounded, so a huge input is not echoed back whole.
            match typed {
                Typed::DisplayName(t) => {
                    page.display_name = t.chars().take(2 * accounts::names::DISPLAY_NAME_MAX).collect();
                }
                Typed::Email(t) => page.new_email = t.chars().take(accounts::names::EMAIL_MAX).collect(),
                Typed::Nothing => {}
            }
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        other => Err(other.into()),
    }
}

#[derive(Deserialize)]
struct ProfileForm {
    #[serde(default)]
    display_name: String,
}

async fn post_profile(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    ctx: AuditCtx,
    CsrfForm { form, csrf }: CsrfForm<ProfileForm>,
) -> Result<Response, HtmlError> {
    match state.accounts.set_display_name(&ctx.context(&user.user_id), &user.user_id, &form.display_name).await {
        Ok(()) => Ok(Redirect::to("/account/profile?notice=profile").into_response()),
        Err(err) => {
            with_errors(&state, &user, &csrf, Section::Profile, err, Typed::DisplayName(&form.display_name)).await
        }
    }
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default = "empty_secret")]
    current_password: SecretString,
    #[serde(default = "empty_secret")]
    new_password: SecretString,
    new_password_confirm: Option<SecretString>,
}

async fn post_password(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    ctx: AuditCtx,
    CsrfForm { form, csrf }: CsrfForm<PasswordForm>,
) -> Result<Response, HtmlError> {
    let changed = state
        .accounts
        .change_password(
            &user.user_id,
            &form.current_password,
            &form.new_password,
            form.new_password_confirm.as_ref(),
            Some(&user.session_id),
            &ctx.context(&user.user_id),
        )
        .await;
    match changed {
        // The browser goes on under a new session id (and a CSRF token for it).
        Ok(Some(session)) => {
            Ok(crate::http::login::session_started(&state, &session, Redirect::to("/account/password?notice=password")))
        }
        Ok(None) => Ok(crate::http::login::signed_out(&state, "/login?signed_out=1")),
        Err(err) => with_errors(&state, &user, &csrf, Section::Password, err, Typed::Nothing).await,
    }
}

#[derive(Deserialize)]
struct EmailForm {
    #[serde(default)]
    new_email: String,
    #[serde(default = "empty_secret")]
    email_password: SecretString,
}

async fn post_email(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    ctx: AuditCtx,
    CsrfForm { form, csrf }: CsrfForm<EmailForm>,
) -> Result<Response, HtmlError> {
    let recent = state.accounts.recently_authenticated(&user);
    let from = ctx.context(&user.user_id);
    match state.accounts.request_email_change(&user.user_id, &form.email_password, &form.new_email, recent, &from).await
    {
        Ok(()) => Ok(Redirect::to("/account/email?notice=email").into_response()),
        Err(err) => with_errors(&state, &user, &csrf, Section::Email, err, Typed::Email(&form.new_email)).await,
    }
}

#[derive(Deserialize)]
struct EmptyForm {}

async fn post_revoke_session(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    ctx: AuditCtx,
    Path(id): Path<String>,
    _: CsrfForm<EmptyForm>,
) -> Result<Response, HtmlError> {
    if !state.accounts.revoke_session(&ctx.context(&user.user_id), &user.user_id, &id).await? {
        return Err(HtmlError::not_found());
    }
    if id == user.session_id {
        return Ok(signed_out(&state, "/login?signed_out=1"));
    }
    Ok(Redirect::to("/account/sessions?notice=session").into_response())
}

async fn post_revoke_all(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    ctx: AuditCtx,
    _: CsrfForm<EmptyForm>,
) -> Result<Response, HtmlError> {
    state.accounts.sign_out_everywhere(&user.user_id, &ctx.context(&user.user_id)).await?;
    Ok(signed_out(&state, "/login?signed_out=1"))
}
