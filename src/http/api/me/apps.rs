//! Connected apps (the `oauth` service's consents and live tokens per
//! client) and the export of all your own data (the `accounts` service).
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::super::paging::PageQuery;
use super::super::paging::{self, Page};
use super::super::types::timestamp;
use super::super::{AccountCaller, ApiQuery, Problem};
use crate::accounts::export::Export;
use crate::app::AppState;
use crate::oauth::tokens::ConnectedApp;

/// A client you allowed, or that holds live tokens of yours.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppBody {
    pub client_id: String,
    /// "" when the client no longer exists.
    pub client_name: String,
    /// The scopes you consented to (empty when the app only holds tokens).
    pub scopes: Vec<String>,
    #[schema(format = DateTime)]
    pub consented_at: Option<String>,
    /// Live access tokens.
    pub access_tokens: i64,
    /// Live refresh tokens.
    pub refresh_tokens: i64,
    /// When the newest live token was issued.
    #[schema(format = DateTime)]
    pub newest_token_at: Option<String>,
}

impl From<ConnectedApp> for AppBody {
    fn from(a: ConnectedApp) -> Self {
        Self {
            scopes: a.scope.iter().map(str::to_owned).collect(),
            client_id: a.client_id,
            client_name: a.client_name,
            consented_at: a.consented_at.map(timestamp),
            access_tokens: a.access_tokens,
            refresh_tokens: a.refresh_tokens,
            newest_token_at: a.newest_token_at.map(timestamp),
        }
    }
}

/// Your connected apps, by client id.
#[utoipa::path(
    get, path = "/api/v1/me/apps", tag = "account",
    security(("bearer" = ["account"])),
    params(PageQuery),
    responses((status = 200, description = "A page of connected apps", body = Page<AppBody>)),
)]
pub async fn get_apps(
    State(state): State<AppState>,
    me: AccountCaller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Response, Problem> {
    let limit = paging::limit(q.limit)?;
    let after = paging::after::<String>(q.cursor.as_deref())?;
    let apps = state.tokens.connected_apps(&me.user_id).await?;
    // A handful per user: the page is cut from the sorted list by its key.
    let fetched: Vec<AppBody> = apps
        .into_iter()
        .filter(|a| after.as_ref().is_none_or(|k| a.client_id > *k))
        .take(limit as usize + 1)
        .map(AppBody::from)
        .collect();
    Ok(Json(paging::page(fetched, limit, |a| a.client_id.clone())).into_response())
}

/// Revoke an app: the consent goes and every access and refresh token of
/// that client for you stops at once. 404 when it has neither.
#[utoipa::path(
    delete, path = "/api/v1/me/apps/{client_id}", tag = "account",
    security(("bearer" = ["account"])),
    params(("client_id" = String, Path, description = "The app's client id")),
    responses((status = 204, description = "The app is revoked")),
)]
pub async fn delete_app(
    State(state): State<AppState>,
    me: AccountCaller,
    Path(client_id): Path<String>,
) -> Result<Response, Problem> {
    if !state.tokens.revoke_app(me.ctx(), &me.user_id, &client_id).await? {
        return Err(Problem::not_found());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// All your own data as one JSON document (no secrets, no other user's data).
#[utoipa::path(
    get, path = "/api/v1/me/export", tag = "account",
    security(("bearer" = ["account"])),
    responses((status = 200, description = "Your data", body = Export)),
)]
pub async fn get_export(State(state): State<AppState>, me: AccountCaller) -> Result<Response, Problem> {
    let export = state.accounts.export(&me.user_id).await?;
    Ok(Json(export).into_response())
}
