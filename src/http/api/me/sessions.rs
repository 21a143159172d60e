//! Your browser sessions and sign-in activity, newest first, a page at a time.
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::super::paging::PageQuery;
use super::super::paging::{self, Page};
use super::super::types::{SessionBody, timestamp};
use super::super::{AccountCaller, ApiQuery, Problem};
use crate::accounts::{SignInOutcome, SignInRecord};
use crate::app::AppState;

/// Your live sessions, newest first.
#[utoipa::path(
    get, path = "/api/v1/me/sessions", tag = "account",
    security(("bearer" = ["account"])),
    params(PageQuery),
    responses((status = 200, description = "A page of sessions", body = Page<SessionBody>)),
)]
pub async fn get_sessions(
    State(state): State<AppState>,
    me: AccountCaller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Response, Problem> {
    let limit = paging::limit(q.limit)?;
    let after = paging::after::<(i64, String)>(q.cursor.as_deref())?;
    let rows = state.accounts.sessions_page(&me.user_id, after, i64::from(limit) + 1).await?;
    let page = paging::page(rows.into_iter().map(SessionBody::from).collect(), limit, |s| s.key.clone());
    Ok(Json(page).into_response())
}

/// End one of your sessions (and the tokens issued in it, except
/// `offline_access` refresh tokens). 404 for a session that is not yours.
#[utoipa::path(
    delete, path = "/api/v1/me/sessions/{id}", tag = "account",
    security(("bearer" = ["account"])),
    params(("id" = String, Path, description = "The session's id")),
    responses((status = 204, description = "The session has ended")),
)]
pub async fn delete_session(
    State(state): State<AppState>,
    me: AccountCaller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    if !state.accounts.revoke_session(me.ctx(), &me.user_id, &id).await? {
        return Err(Problem::not_found());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A sign-in attempt on your account.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptBody {
    pub id: String,
    #[schema(format = DateTime)]
    pub at: String,
    /// `success`, `wrong_password`, `blocked`, `unconfirmed`, `locked`,
    /// `mfa_failed`, `denied` or `browser_only`.
    pub outcome: String,
    /// In words.
    pub description: &'static str,
    /// `password`, `password+totp`, `federated`, `password_grant` …
    pub method: String,
    pub ip: String,
    pub user_agent: String,
    #[serde(skip)]
    key: (i64, String),
}

impl From<SignInRecord> for AttemptBody {
    fn from(a: SignInRecord) -> Self {
        Self {
            key: (a.at, a.id.clone()),
            at: timestamp(a.at),
            description: SignInOutcome::describe(&a.outcome),
            id: a.id,
            outcome: a.outcome,
            method: a.method,
            ip: a.ip,
            user_agent: a.user_agent,
        }
    }
}

/// Sign-in activity on your account, newest first.
#[utoipa::path(
    get, path = "/api/v1/me/activity", tag = "account",
    security(("bearer" = ["account"])),
    params(PageQuery),
    responses((status = 200, description = "A page of sign-in attempts", body = Page<AttemptBody>)),
)]
pub async fn get_activity(
    State(state): State<AppState>,
    me: AccountCaller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Response, Problem> {
    let limit = paging::limit(q.limit)?;
    let after = paging::after::<(i64, String)>(q.cursor.as_deref())?;
    let rows = state.accounts.activity_page(&me.user_id, after, i64::from(limit) + 1).await?;
    let page = paging::page(rows.into_iter().map(AttemptBody::from).collect(), limit, |a| a.key.clone());
    Ok(Json(page).into_response())
}
