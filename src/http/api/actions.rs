//! `GET /api/v1/users/{id}/actions` (scope `admin`): the user's action
//! history (audit events where the user is actor or target), newest first,
//! with names resolved, filtered by action and time, paged by sequence
//! number. A deleted user's history stays readable by their id (see
//! `accounts::history`).
use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::paging::{self, Page};
use super::types::{parse_timestamp, timestamp};
use super::{AdminCaller, ApiQuery, Problem};
use crate::accounts::{ActionEntry, ActionFilter, Party};
use crate::app::AppState;
use crate::security::audit::AuditAction;

/// This area's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_user_actions))
}

/// The history's query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActionsQuery {
    /// One action, e.g. `user_blocked`.
    action: Option<String>,
    /// At or after this time (RFC 3339).
    since: Option<String>,
    /// At or before this time (RFC 3339).
    until: Option<String>,
    /// From `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    limit: Option<u32>,
}

impl ActionsQuery {
    fn filter(&self) -> Result<ActionFilter, Problem> {
        let action = match self.action.as_deref().filter(|a| !a.is_empty()) {
            None => None,
            Some(raw) => {
                Some(AuditAction::parse(raw).ok_or_else(|| Problem::invalid_field("action", "no such action"))?)
            }
        };
        let since = self.since.as_deref().map(|t| parse_timestamp("since", t)).transpose()?;
        let until = self.until.as_deref().map(|t| parse_timestamp("until", t)).transpose()?;
        Ok(ActionFilter { action, since, until })
    }
}

/// One side of an event.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartyBody {
    /// A user id, a client id, `cli` or `system`; "" when none.
    pub id: String,
    /// The username, the client's name, `cli` or `system`; null when
    /// unknown (a deleted user, or no one).
    pub name: Option<String>,
}

impl From<Party> for PartyBody {
    fn from(p: Party) -> Self {
        Self { id: p.id, name: p.name }
    }
}

/// One event of a user's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionBody {
    /// The event's sequence number in the audit log.
    pub seq: i64,
    #[schema(format = DateTime)]
    pub at: String,
    pub action: String,
    pub actor: PartyBody,
    pub target: PartyBody,
    pub ip: String,
    /// `api` for a JSON API call; null for pages, the CLI and background work.
    pub via: Option<String>,
    /// The event's details.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl From<ActionEntry> for ActionBody {
    fn from(e: ActionEntry) -> Self {
        Self {
            seq: e.seq,
            at: timestamp(e.at),
            action: e.action,
            actor: e.actor.into(),
            target: e.target.into(),
            ip: e.ip,
            via: Some(e.via).filter(|v| !v.is_empty()),
            detail: e.detail,
        }
    }
}

/// A user's action history, newest first.
#[utoipa::path(
    get, path = "/api/v1/users/{id}/actions", tag = "users",
    security(("bearer" = ["admin"])),
    params(("id" = String, Path, description = "The user's id"), ActionsQuery),
    responses((status = 200, description = "A page of events", body = Page<ActionBody>))
)]
async fn list_user_actions(
    State(state): State<AppState>,
    _admin: AdminCaller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ActionsQuery>,
) -> Result<Json<Page<ActionBody>>, Problem> {
    let limit = paging::limit(q.limit)?;
    let before = paging::after::<i64>(q.cursor.as_deref())?;
    let entries = state.accounts.actions_of(&id, &q.filter()?, before, limit + 1).await?;
    let bodies = entries.into_iter().map(ActionBody::from).collect();
    Ok(Json(paging::page(bodies, limit, |a: &ActionBody| a.seq)))
}
