//! The destructive actions on one user, each behind a recent sign-in and a
//! confirmation page naming what goes (`http::confirm`):
//! `GET/POST /admin/users/{id}/reset-mfa` and `/admin/users/{id}/delete`.
//! The services refuse to delete the last administrator (a 409 page).
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::users_new::urlencoding;
use crate::app::AppState;
use crate::http::audit::AuditCtx;
use crate::http::confirm::{ConfirmForm, ConfirmPage, RecentAdmin, count};
use crate::http::error::HtmlError;
use crate::http::extract::{CsrfForm, PageCsrf};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users/{id}/reset-mfa", get(get_reset_mfa).post(post_reset_mfa))
        .route("/admin/users/{id}/delete", get(get_delete).post(post_delete))
}

fn confirmed(form: &ConfirmForm) -> Result<(), HtmlError> {
    if form.confirmed() { Ok(()) } else { Err(HtmlError::bad_request("The confirmation is missing.")) }
}

async fn get_reset_mfa(
    State(state): State<AppState>,
    RecentAdmin(admin): RecentAdmin,
    csrf: PageCsrf,
    Path(id): Path<String>,
) -> Result<Response, HtmlError> {
    let s = state.accounts.user_summary(&id).await?;
    let name = &s.account.user.username;
    let here = format!("/admin/users/{}", urlencoding(&id));
    let page = ConfirmPage::new(
        &admin,
        &csrf.token,
        format!("Reset two-step sign-in of {name}"),
        format!("{here}/reset-mfa"),
        format!("Reset two-step sign-in of {name}"),
        here,
    )
    .losing(vec![
        count(
            s.factors,
            "second factor (authenticator app or email codes)",
            "second factors (authenticator app, email codes)",
        ),
        "the recovery codes".to_owned(),
        format!("{name} signs in with the password alone until they set up two-step sign-in again"),
    ]);
    Ok((csrf, page.response()).into_response())
}

async fn post_reset_mfa(
    State(state): State<AppState>,
    RecentAdmin(admin): RecentAdmin,
    ctx: AuditCtx,
    Path(id): Path<String>,
    CsrfForm { form, .. }: CsrfForm<ConfirmForm>,
) -> Result<Response, HtmlError> {
    confirmed(&form)?;
    state.accounts.reset_mfa(&ctx.context(&admin.user_id), &id).await?;
    Ok(Redirect::to(&format!("/admin/users/{}?done=mfa-reset", urlencoding(&id))).into_response())
}

async fn get_delete(
    State(state): State<AppState>,
    RecentAdmin(admin): RecentAdmin,
    csrf: PageCsrf,
    Path(id): Path<String>,
) -> Result<Response, HtmlError> {
    let s = state.accounts.user_summary(&id).await?;
    let name = &s.account.user.username;
    let here = format!("/admin/users/{}", urlencoding(&id));
    let page = ConfirmPage::new(
        &admin,
        &csrf.token,
        format!("Delete the user {name}"),
        format!("{here}/delete"),
        format!("Delete {name}"),
        here,
    )
    .losing(vec![
        format!("the account {name} ({})", s.account.user.email),
        count(s.sessions, "session", "sessions"),
        count(s.consents, "app's consent and tokens", "apps' consents and tokens"),
        count(s.providers, "linked provider", "linked providers"),
        count(s.factors, "second factor", "second factors"),
        "nothing of the audit log: it keeps its events about this user".to_owned(),
    ]);
    Ok((csrf, page.response()).into_response())
}

async fn post_delete(
    State(state): State<AppState>,
    RecentAdmin(admin): RecentAdmin,
    ctx: AuditCtx,
    Path(id): Path<String>,
    CsrfForm { form, .. }: CsrfForm<ConfirmForm>,
) -> Result<Response, HtmlError> {
    confirmed(&form)?;
    state.accounts.delete_user(&id, &ctx.context(&admin.user_id)).await?;
    Ok(Redirect::to("/admin/users?done=deleted").into_response())
}
