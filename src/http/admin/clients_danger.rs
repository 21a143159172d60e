//! The console's destructive client actions, each a [`ConfirmPage`] on GET
//! and the action on POST (same path), both behind [`RecentAdmin`]:
//! rotating a confidential client's secret (the new one shown once) and
//! deleting a client with its codes, tokens and consents.
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::clients::{SecretPage, service_error};
use super::clients_form::reveal;
use crate::app::AppState;
use crate::http::admin::{Console, Section};
use crate::http::audit::AuditCtx;
use crate::http::confirm::{ConfirmForm, ConfirmPage, RecentAdmin, count};
use crate::http::error::HtmlError;
use crate::http::extract::{CsrfForm, PageCsrf};
use crate::http::pages::Nav;

/// Routes for this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/clients/{id}/rotate-secret", get(get_rotate).post(post_rotate))
        .route("/admin/clients/{id}/delete", get(get_delete).post(post_delete))
}

async fn get_rotate(
    State(state): State<AppState>,
    RecentAdmin(admin): RecentAdmin,
    csrf: PageCsrf,
    Path(id): Path<String>,
) -> Result<Response, HtmlError> {
    let client = state.clients.get(&id).await.map_err(service_error)?.ok_or_else(HtmlError::not_found)?;
    if client.public {
        return Err(HtmlError::bad_request("A public client has no secret to rotate."));
    }
    let page = ConfirmPage::new(
        &admin,
        &csrf.token,
        format!("Rotate the secret of {id}"),
        format!("/admin/clients/{}/rotate-secret", urlencoding(&id)),
        format!("Rotate the secret of {id}"),
        format!("/admin/clients/{}", urlencoding(&id)),
    )
    .losing(vec![format!("The current secret of {id}: it stops working at once, for every copy of the app.")]);
    Ok((csrf, page.response()).into_response())
}

async fn post_rotate(
    State(state): State<AppState>,
    RecentAdmin(admin): RecentAdmin,
    ctx: AuditCtx,
    Path(id): Path<String>,
    CsrfForm { form, .. }: CsrfForm<ConfirmForm>,
) -> Result<Response, HtmlError> {
    if !form.confirmed() {
        return Ok(Redirect::to(&format!("/admin/clients/{}/rotate-secret", urlencoding(&id))).into_response());
    }
    let secret = state.clients.rotate_secret(&id, None, &ctx.context(&admin.user_id)).await.map_err(service_error)?;
    Ok(SecretPage {
        nav: Nav::new(Some(&admin)),
        console: Console::new(Section::Clients),
        client_id: id,
        heading: "New client secret",
        secret: reveal(secret.as_ref()),
    }
    .response())
}

async fn get_delete(
    State(state): State<AppState>,
    RecentAdmin(admin): RecentAdmin,
    csrf: PageCsrf,
    Path(id): Path<String>,
) -> Result<Response, HtmlError> {
    state.clients.get(&id).await.map_err(service_error)?.ok_or_else(HtmlError::not_found)?;
    let usage = state.clients.usage(&id).await.map_err(service_error)?;
    let page = ConfirmPage::new(
        &admin,
        &csrf.token,
        format!("Delete the client {id}"),
        format!("/admin/clients/{}/delete", urlencoding(&id)),
        format!("Delete {id}"),
        format!("/admin/clients/{}", urlencoding(&id)),
    )
    .losing(vec![
        format!("The client {id} and its secret: sign-ins through it stop at once."),
        format!("{} (they stop working at once).", count(usage.live_tokens, "live token", "live tokens")),
        format!("{} to it.", count(usage.consents, "user's consent", "users' consents")),
        format!("{} not yet used.", count(usage.codes, "authorization code", "authorization codes")),
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
    if !form.confirmed() {
        return Ok(Redirect::to(&format!("/admin/clients/{}/delete", urlencoding(&id))).into_response());
    }
    state.clients.delete(&id, &ctx.context(&admin.user_id)).await.map_err(service_error)?;
    Ok(Redirect::to("/admin/clients").into_response())
}

/// A client id as one path segment.
fn urlencoding(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}
