//! The console's audit log: filters as GET parameters, keyset paging
//! (newest first, by sequence number, so no event repeats or goes missing
//! between pages), names resolved where known, the chain's verification
//! state, and an export of the filtered events (the API's and the CLI's
//! export, `security::audit_log::Export`), streamed.
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::app::AppState;
use crate::http::admin::{Console, Section};
use crate::http::error::HtmlError;
use crate::http::extract::Admin;
use crate::http::pages::{Nav, display_time, path_with_query};
use crate::security::audit::AuditAction;
use crate::security::audit_log::{self, Filter};

const PER_PAGE: i64 = 50;

/// Routes for this area.
pub fn router() -> Router<AppState> {
    Router::new().route("/admin/audit", get(get_audit)).route("/admin/audit/export", get(get_export))
}

/// The filters, as typed (kept in the paging and export links).
#[derive(Debug, Deserialize, Default, Clone)]
struct AuditQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    /// The sequence number of the last event of the previous page.
    before: Option<i64>,
    format: Option<String>,
}

impl AuditQuery {
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        let all = [
            ("actor", self.actor.as_str()),
            ("target", self.target.as_str()),
            ("action", self.action.as_str()),
            ("from", self.from.as_str()),
            ("to", self.to.as_str()),
        ];
        all.into_iter().filter(|(_, v)| !v.is_empty()).collect()
    }

    fn link(&self, path: &str, extra: &[(&'static str, &str)]) -> String {
        let mut pairs = self.pairs();
        pairs.extend_from_slice(extra);
        path_with_query(path, &pairs)
    }
}

/// A time typed into the filter: `YYYY-MM-DDTHH:MM` (a `datetime-local`
/// input, read as UTC) or RFC 3339.
fn parse_time(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    if let Ok(t) = OffsetDateTime::parse(raw, &Rfc3339) {
        return Some(t.unix_timestamp());
    }
    let short = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let long = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    PrimitiveDateTime::parse(raw, short)
        .or_else(|_| PrimitiveDateTime::parse(raw, long))
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

/// Field errors of the filter form.
#[derive(Default)]
struct FilterErrors {
    action: Option<&'static str>,
    from: Option<&'static str>,
    to: Option<&'static str>,
}

impl FilterErrors {
    fn any(&self) -> bool {
        self.action.is_some() || self.from.is_some() || self.to.is_some()
    }
}

/// The service's filter, with actor and target given as usernames resolved to ids.
async fn filter_of(state: &AppState, q: &AuditQuery) -> Result<(Filter, FilterErrors), HtmlError> {
    let mut errors = FilterErrors::default();
    let action = match q.action.trim() {
        "" => None,
        a => AuditAction::parse(a).or_else(|| {
            errors.action = Some("Choose an action from the list.");
            None
        }),
    };
    let time = |raw: &str, slot: &mut Option<&'static str>| match raw.trim() {
        "" => None,
        r => parse_time(r).or_else(|| {
            *slot = Some("Use a date and time like 2026-01-31T14:00 (UTC).");
            None
        }),
    };
    let since = time(&q.from, &mut errors.from);
    let until = time(&q.to, &mut errors.to);
    let subject = async |raw: &str| -> Result<Option<String>, HtmlError> {
        match raw.trim() {
            "" => Ok(None),
            r => Ok(Some(state.accounts.subject_id(r).await?)),
        }
    };
    let filter = Filter { actor: subject(&q.actor).await?, target: subject(&q.target).await?, action, since, until };
    Ok((filter, errors))
}

struct EventView {
    seq: i64,
    at: String,
    actor: String,
    target: String,
    action: String,
    ip: String,
    detail: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    nav: Nav,
    console: Console,
    q: AuditQuery,
    errors: FilterErrors,
    actions: Vec<&'static str>,
    events: Vec<EventView>,
    /// `None` when intact, else the first bad row and why.
    broken: Option<(i64, &'static str)>,
    rows_checked: u64,
    older: Option<String>,
    newest: Option<String>,
    export_csv: String,
    export_jsonl: String,
}

/// A page of events (one more than shown, to know if there are older
/// ones), with actor and target names resolved where they are users.
async fn events_page(
    state: &AppState,
    filter: &Filter,
    before: Option<i64>,
) -> Result<(Vec<EventView>, Option<i64>), HtmlError> {
    let mut events = audit_log::page(&state.store, filter, before, PER_PAGE + 1).await.map_err(HtmlError::internal)?;
    let has_more = events.len() as i64 > PER_PAGE;
    events.truncate(PER_PAGE as usize);
    let ids: Vec<&str> = events.iter().flat_map(|e| [e.actor.as_str(), e.target.as_str()]).collect();
    let names = state.accounts.usernames(&ids).await?;
    let name = |id: &str| names.get(id).map_or_else(|| id.to_owned(), |n| format!("{n} ({id})"));
    let older = if has_more { events.last().map(|e| e.seq) } else { None };
    let views = events
        .iter()
        .map(|e| EventView {
            seq: e.seq,
            at: display_time(e.at),
            actor: name(&e.actor),
            target: name(&e.target),
            action: e.action.clone(),
            ip: e.ip.clone(),
            detail: e.detail.to_string(),
        })
        .collect();
    Ok((views, older))
}

async fn get_audit(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Query(q): Query<AuditQuery>,
) -> Result<Response, HtmlError> {
    let (filter, errors) = filter_of(&state, &q).await?;
    let (events, older) =
        if errors.any() { (Vec::new(), None) } else { events_page(&state, &filter, q.before).await? };
    let chain = audit_log::chain_state(&state.store).await.map_err(HtmlError::internal)?;
    let status = if errors.any() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let page = AuditPage {
        nav: Nav::new(Some(&admin)),
        console: Console::new(Section::Audit),
        errors,
        actions: AuditAction::ALL.iter().map(|a| a.as_str()).collect(),
        events,
        broken: chain.first_bad,
        rows_checked: chain.rows_checked,
        older: older.map(|seq| q.link("/admin/audit", &[("before", seq.to_string().as_str())])),
        newest: q.before.is_some().then(|| q.link("/admin/audit", &[])),
        export_csv: q.link("/admin/audit/export", &[("format", "csv")]),
        export_jsonl: q.link("/admin/audit/export", &[("format", "jsonl")]),
        q,
    };
    Ok((status, page).into_response())
}

/// The filtered events, oldest first, as CSV or JSON lines, as a download.
async fn get_export(
    State(state): State<AppState>,
    Admin(_admin): Admin,
    Query(q): Query<AuditQuery>,
) -> Result<Response, HtmlError> {
    let (filter, errors) = filter_of(&state, &q).await?;
    if errors.any() {
        return Err(HtmlError::new(StatusCode::UNPROCESSABLE_ENTITY, "A filter is not valid."));
    }
    crate::http::api::audit::download(&state, &filter, q.format.as_deref())
        .ok_or_else(|| HtmlError::new(StatusCode::UNPROCESSABLE_ENTITY, "Export as csv or jsonl."))
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn filter_times_are_utc() {
        assert_eq!(parse_time("1970-01-01T01:00"), Some(3600));
        assert_eq!(parse_time("1970-01-01T00:00:05Z"), Some(5));
        assert_eq!(parse_time("yesterday"), None);
    }
}
