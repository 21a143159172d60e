//! `/api/v1/audit…` (scope `admin`): the audit log, read through
//! `security::audit_log` (as `gatehouse audit export` reads it): a filtered
//! query paged by sequence number (newest first), the chain's verification
//! state, and an export as JSON lines or CSV, streamed in batches.
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::paging::{self, Page};
use super::types::{parse_timestamp, timestamp};
use super::{AdminCaller, ApiQuery, Problem};
use crate::app::AppState;
use crate::security::audit::AuditAction;
use crate::security::audit_log::{self, Event, Export, Filter, Format};

/// This area's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit)).routes(routes!(verify_audit)).routes(routes!(export_audit))
}

/// Filters and paging of `GET /api/v1/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only events by this actor (a user id, a client id, `cli`, `system`).
    actor: Option<String>,
    /// Only events done to this target.
    target: Option<String>,
    /// Only this action (e.g. `client_created`).
    action: Option<String>,
    /// Only events at or after this time (RFC 3339).
    since: Option<String>,
    /// Only events at or before this time (RFC 3339).
    until: Option<String>,
    /// 1 to 200; default 50.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Filters of `GET /api/v1/audit/export`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// `jsonl` (default) or `csv`.
    format: Option<String>,
    actor: Option<String>,
    target: Option<String>,
    action: Option<String>,
    /// RFC 3339.
    since: Option<String>,
    /// RFC 3339.
    until: Option<String>,
}

/// The filter the parameters describe (422 naming a bad one).
fn filter(
    actor: Option<String>,
    target: Option<String>,
    action: Option<String>,
    since: Option<String>,
    until: Option<String>,
) -> Result<Filter, Problem> {
    let action = match action.filter(|a| !a.is_empty()) {
        Some(a) => Some(AuditAction::parse(&a).ok_or_else(|| Problem::invalid_field("action", "no such action"))?),
        None => None,
    };
    let time = |field: &str, raw: Option<String>| raw.filter(|r| !r.is_empty()).map(|r| parse_timestamp(field, &r));
    Ok(Filter {
        actor: actor.filter(|a| !a.is_empty()),
        target: target.filter(|t| !t.is_empty()),
        action,
        since: time("since", since).transpose()?,
        until: time("until", until).transpose()?,
    })
}

/// One audit event.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventBody {
    /// The sequence number in the hash chain.
    seq: i64,
    #[schema(format = DateTime)]
    at: String,
    actor: String,
    target: String,
    action: String,
    ip: String,
    request_id: String,
    /// As stored; null on rows from before user agents were recorded.
    user_agent: Option<String>,
    /// `api` for calls through this API; null otherwise.
    via: Option<String>,
    /// A small object; never a secret.
    #[schema(value_type = Object)]
    detail: serde_json::Value,
}

impl From<Event> for EventBody {
    fn from(e: Event) -> Self {
        Self {
            seq: e.seq,
            at: timestamp(e.at),
            actor: e.actor,
            target: e.target,
            action: e.action,
            ip: e.ip,
            request_id: e.request_id,
            user_agent: e.user_agent,
            via: e.via,
            detail: e.detail,
        }
    }
}

/// Audit events matching the filters, newest first.
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "audit",
    security(("bearer" = ["admin"])), params(AuditParams),
    responses((status = 200, description = "A page of events, newest first", body = Page<EventBody>))
)]
async fn list_audit(
    State(state): State<AppState>,
    _admin: AdminCaller,
    ApiQuery(q): ApiQuery<AuditParams>,
) -> Result<Json<Page<EventBody>>, Problem> {
    let limit = paging::limit(q.limit)?;
    let before: Option<i64> = paging::after(q.cursor.as_deref())?;
    let filter = filter(q.actor, q.target, q.action, q.since, q.until)?;
    let events = audit_log::page(&state.store, &filter, before, i64::from(limit) + 1).await?;
    let items = events.into_iter().map(EventBody::from).collect();
    Ok(Json(paging::page(items, limit, |e: &EventBody| e.seq)))
}

/// The first row of the chain that does not fit.
#[derive(Debug, Serialize, ToSchema)]
pub struct FirstBad {
    seq: i64,
    reason: String,
}

/// The hash chain's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyBody {
    /// Whether every row fits the chain.
    ok: bool,
    /// Rows found in order before the first bad one (all of them when ok).
    rows_checked: u64,
    first_bad: Option<FirstBad>,
}

/// Walks the whole hash chain (as `gatehouse audit verify` does).
#[utoipa::path(
    get, path = "/api/v1/audit/verify", tag = "audit",
    security(("bearer" = ["admin"])),
    responses((status = 200, description = "The chain's verification state", body = VerifyBody))
)]
async fn verify_audit(State(state): State<AppState>, _admin: AdminCaller) -> Result<Json<VerifyBody>, Problem> {
    let chain = audit_log::chain_state(&state.store).await?;
    let first_bad = chain.first_bad.map(|(seq, reason)| FirstBad { seq, reason: reason.to_owned() });
    Ok(Json(VerifyBody { ok: first_bad.is_none(), rows_checked: chain.rows_checked, first_bad }))
}

/// The export's body: batches of text as the service hands them out.
fn stream(export: Export) -> Body {
    Body::from_stream(futures_util::stream::unfold(Some(export), |export| async move {
        let mut export = export?;
        match export.next_chunk().await {
            Ok(Some(text)) => Some((Ok(text), Some(export))),
            Ok(None) => None,
            // The status is sent already: the connection is cut short.
            Err(e) => Some((Err(e), None)),
        }
    }))
}

/// Every matching event, oldest first, as JSON lines or CSV (RFC 4180,
/// with a header record), streamed.
#[utoipa::path(
    get, path = "/api/v1/audit/export", tag = "audit",
    security(("bearer" = ["admin"])), params(ExportParams),
    responses((status = 200, description = "The events, oldest first", content(
        (String = "application/x-ndjson"),
        (String = "text/csv"),
    )))
)]
async fn export_audit(
    State(state): State<AppState>,
    _admin: AdminCaller,
    ApiQuery(q): ApiQuery<ExportParams>,
) -> Result<Response, Problem> {
    let format = q.format.clone();
    let filter = filter(q.actor, q.target, q.action, q.since, q.until)?;
    download(&state, &filter, format.as_deref()).ok_or_else(|| Problem::invalid_field("format", "use jsonl or csv"))
}

/// The streamed download of the events `filter` selects (the API's and the
/// console's export): `format` is `jsonl` (the default) or `csv`; `None`
/// for any other.
pub(crate) fn download(state: &AppState, filter: &Filter, format: Option<&str>) -> Option<Response> {
    let (format, media, ext) = match format.unwrap_or("jsonl") {
        "jsonl" => (Format::JsonLines, "application/x-ndjson", "jsonl"),
        "csv" => (Format::Csv, "text/csv; charset=utf-8", "csv"),
        _ => return None,
    };
    let body = stream(Export::new(state.store.clone(), filter, format));
    let disposition = format!("attachment; filename=\"audit.{ext}\"");
    let headers = [(header::CONTENT_TYPE, media.to_owned()), (header::CONTENT_DISPOSITION, disposition)];
    Some((headers, body).into_response())
}
