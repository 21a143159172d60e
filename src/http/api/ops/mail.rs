//! `/api/v1/mail…`: the outbox through `mail::Outbox` (as `gatehouse mail`
//! reads it). Metadata only: a body holds single-use links and never leaves
//! the server.
use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::http::api::paging::{self, Page, PageQuery};
use crate::http::api::types::timestamp;
use crate::http::api::{AdminCaller, ApiQuery, Problem};
use crate::mail::outbox::{MailState, MailSummary, Retry};

/// This area's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_mail)).routes(routes!(list_dead_letters)).routes(routes!(retry_mail))
}

/// Filter and paging of the outbox.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MailParams {
    /// `pending`, `sent` or `dead`; every message when absent.
    state: Option<String>,
    /// 1 to 200; default 50.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// One message's metadata (never its body).
#[derive(Debug, Serialize, ToSchema)]
pub struct MailBody {
    id: String,
    to: String,
    /// What the mail is (`reset`, `confirm`, …).
    kind: String,
    subject: String,
    /// `pending`, `sent` or `dead`.
    state: String,
    attempts: i64,
    /// The last failure, with anything link-like cut out.
    last_error: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    next_attempt_at: String,
    #[schema(format = DateTime)]
    sent_at: Option<String>,
    #[schema(format = DateTime)]
    dead_at: Option<String>,
}

impl From<MailSummary> for MailBody {
    fn from(m: MailSummary) -> Self {
        Self {
            id: m.id,
            to: m.to,
            kind: m.kind,
            subject: m.subject,
            state: m.state.as_str().to_owned(),
            attempts: m.attempts,
            last_error: m.last_error,
            created_at: timestamp(m.created_at),
            next_attempt_at: timestamp(m.next_attempt_at),
            sent_at: m.sent_at.map(timestamp),
            dead_at: m.dead_at.map(timestamp),
        }
    }
}

/// A page of the outbox in `state`.
async fn page(
    state: &AppState,
    which: Option<MailState>,
    limit: Option<u32>,
    cursor: Option<&str>,
) -> Result<Page<MailBody>, Problem> {
    let limit = paging::limit(limit)?;
    let after: Option<(i64, String)> = paging::after(cursor)?;
    let mut mails = state.outbox.page(which, after, i64::from(limit) + 1).await.map_err(Problem::internal)?;
    let more = mails.len() > limit as usize;
    mails.truncate(limit as usize);
    let next_cursor = if more { mails.last().map(|m| paging::cursor_of(&m.key())) } else { None };
    Ok(Page { items: mails.into_iter().map(MailBody::from).collect(), next_cursor })
}

/// The outbox, newest first.
#[utoipa::path(
    get, path = "/api/v1/mail", tag = "operations",
    security(("bearer" = ["admin"])), params(MailParams),
    responses((status = 200, description = "A page of messages, newest first", body = Page<MailBody>))
)]
async fn list_mail(
    State(state): State<AppState>,
    _admin: AdminCaller,
    ApiQuery(q): ApiQuery<MailParams>,
) -> Result<Json<Page<MailBody>>, Problem> {
    let which = match q.state.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => {
            Some(MailState::parse(s).ok_or_else(|| Problem::invalid_field("state", "use pending, sent or dead"))?)
        }
        None => None,
    };
    Ok(Json(page(&state, which, q.limit, q.cursor.as_deref()).await?))
}

/// The dead letters (attempts used up, or refused for good), newest first.
#[utoipa::path(
    get, path = "/api/v1/mail/dead-letters", tag = "operations",
    security(("bearer" = ["admin"])), params(PageQuery),
    responses((status = 200, description = "A page of dead letters, newest first", body = Page<MailBody>))
)]
async fn list_dead_letters(
    State(state): State<AppState>,
    _admin: AdminCaller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<MailBody>>, Problem> {
    Ok(Json(page(&state, Some(MailState::Dead), q.limit, q.cursor.as_deref()).await?))
}

/// Makes an unsent (pending or dead) message due now, with fresh attempts.
#[utoipa::path(
    post, path = "/api/v1/mail/{id}/retry", tag = "operations",
    security(("bearer" = ["admin"])), params(("id" = String, Path, description = "The message id")),
    responses(
        (status = 200, description = "Queued again", body = MailBody),
        (status = 409, description = "Sent already, or being sent right now", body = crate::http::api::ProblemBody,
            content_type = "application/problem+json"),
    )
)]
async fn retry_mail(
    State(state): State<AppState>,
    admin: AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<MailBody>, Problem> {
    match state.outbox.retry_by(&id, admin.ctx()).await.map_err(Problem::internal)? {
        Retry::Queued(m) => Ok(Json(MailBody::from(m))),
        Retry::Unknown => Err(Problem::not_found()),
        Retry::AlreadySent => Err(Problem::conflict("the message was sent already")),
        Retry::Sending => Err(Problem::conflict("the message is being sent right now; try again in a moment")),
    }
}
