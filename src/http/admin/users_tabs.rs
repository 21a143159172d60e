//! One user's tabs: sessions (with revoke), linked providers, consents and
//! the action history (`accounts::directory`, `accounts::history`: the same
//! services as `GET /api/v1/users/{id}/…`).
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::users::{DoneQuery, parse_day};
use super::users_new::urlencoding;
use crate::accounts::{ActionEntry, ActionFilter, CurrentUser, Party};
use crate::app::AppState;
use crate::http::admin::{Console, Section};
use crate::http::audit::AuditCtx;
use crate::http::error::HtmlError;
use crate::http::extract::{Admin, CsrfForm, PageCsrf};
use crate::http::pages::{Nav, device_name, display_time, path_with_query};
use crate::security::audit::AuditAction;

const HISTORY_PER_PAGE: u32 = 50;
/// A user's sessions, links and consents are few; more are not shown.
const SHOWN: u32 = 200;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users/{id}/sessions", get(get_sessions))
        .route("/admin/users/{id}/sessions/{sid}/revoke", post(post_revoke))
        .route("/admin/users/{id}/providers", get(get_providers))
        .route("/admin/users/{id}/consents", get(get_consents))
        .route("/admin/users/{id}/history", get(get_history))
}

/// One link of a user's tab bar.
pub struct Tab {
    pub href: String,
    pub label: &'static str,
    pub current: bool,
}

/// The tab bar of user `id`, `current` marked.
pub(super) fn tabs(id: &str, current: &str) -> Vec<Tab> {
    let base = format!("/admin/users/{}", urlencoding(id));
    [
        ("summary", "Summary"),
        ("sessions", "Sessions"),
        ("providers", "Linked providers"),
        ("consents", "Consents"),
        ("history", "Action history"),
    ]
    .into_iter()
    .map(|(key, label)| Tab {
        href: if key == "summary" { base.clone() } else { format!("{base}/{key}") },
        label,
        current: key == current,
    })
    .collect()
}

/// A table row: cells as text.
pub struct Row {
    pub cells: Vec<String>,
    /// The session id, for the revoke button (sessions tab only).
    pub session: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/users_tab.html")]
struct TabPage {
    nav: Nav,
    console: Console,
    csrf: String,
    tabs: Vec<Tab>,
    id: String,
    name: String,
    heading: &'static str,
    empty: &'static str,
    columns: Vec<&'static str>,
    rows: Vec<Row>,
    notice: Option<&'static str>,
}

async fn tab_page(
    state: &AppState,
    admin: &CurrentUser,
    csrf: &PageCsrf,
    id: &str,
    tab: &str,
    heading: &'static str,
) -> Result<TabPage, HtmlError> {
    let user = state.accounts.user(id).await?;
    Ok(TabPage {
        nav: Nav::new(Some(admin)),
        console: Console::new(Section::Users),
        csrf: csrf.token.clone(),
        tabs: tabs(id, tab),
        id: id.to_owned(),
        name: user.username,
        heading,
        empty: "",
        columns: Vec::new(),
        rows: Vec::new(),
        notice: None,
    })
}

async fn get_sessions(
    State(state): State<AppState>,
    Admin(admin): Admin,
    csrf: PageCsrf,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, HtmlError> {
    let mut page = tab_page(&state, &admin, &csrf, &id, "sessions", "Sessions").await?;
    let sessions = state.accounts.sessions_of(&id, None, SHOWN).await?;
    page.empty = "No live sessions.";
    page.columns = vec!["Device", "IP address", "Signed in", "Last seen"];
    page.rows = sessions
        .into_iter()
        .map(|s| Row {
            cells: vec![device_name(&s.user_agent), s.ip, display_time(s.created_at), display_time(s.last_seen_at)],
            session: Some(s.id),
        })
        .collect();
    page.notice = super::users::notice(&q.done);
    Ok((csrf, page).into_response())
}

async fn post_revoke(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ctx: AuditCtx,
    Path((id, sid)): Path<(String, String)>,
    CsrfForm { .. }: CsrfForm<serde::de::IgnoredAny>,
) -> Result<Response, HtmlError> {
    if !state.accounts.revoke_session(&ctx.context(&admin.user_id), &id, &sid).await? {
        return Err(HtmlError::not_found());
    }
    Ok(Redirect::to(&format!("/admin/users/{}/sessions?done=revoked", urlencoding(&id))).into_response())
}

async fn get_providers(
    State(state): State<AppState>,
    Admin(admin): Admin,
    csrf: PageCsrf,
    Path(id): Path<String>,
) -> Result<Response, HtmlError> {
    let mut page = tab_page(&state, &admin, &csrf, &id, "providers", "Linked providers").await?;
    let providers = state.accounts.providers_of(&id, None, SHOWN).await?;
    page.empty = "No upstream accounts are linked.";
    page.columns = vec!["Provider", "Subject", "Email", "Linked", "Last used"];
    page.rows = providers
        .into_iter()
        .map(|p| Row {
            cells: vec![p.provider, p.subject, p.email, display_time(p.linked_at), display_time(p.last_used_at)],
            session: None,
        })
        .collect();
    Ok((csrf, page).into_response())
}

async fn get_consents(
    State(state): State<AppState>,
    Admin(admin): Admin,
    csrf: PageCsrf,
    Path(id): Path<String>,
) -> Result<Response, HtmlError> {
    let mut page = tab_page(&state, &admin, &csrf, &id, "consents", "Consents").await?;
    let consents = state.accounts.consents_of(&id, None, SHOWN).await?;
    page.empty = "No app has been allowed anything.";
    page.columns = vec!["App", "Scopes", "Last changed"];
    page.rows = consents
        .into_iter()
        .map(|c| Row {
            cells: vec![
                c.client_name.unwrap_or_else(|| format!("{} (deleted)", c.client_id)),
                c.scopes.join(" "),
                display_time(c.updated_at),
            ],
            session: None,
        })
        .collect();
    Ok((csrf, page).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/users_history.html")]
struct HistoryPage {
    nav: Nav,
    console: Console,
    tabs: Vec<Tab>,
    id: String,
    name: String,
    actions: Vec<&'static str>,
    query: HistoryQuery,
    error: Option<&'static str>,
    entries: Vec<EntryView>,
    next_page: Option<String>,
}

impl HistoryPage {
    /// The tab's frame with the filter form, without entries yet.
    fn of(tab: TabPage, query: &HistoryQuery) -> Self {
        Self {
            nav: tab.nav,
            console: tab.console,
            tabs: tab.tabs,
            id: tab.id,
            name: tab.name,
            actions: AuditAction::ALL.iter().map(|a| a.as_str()).collect(),
            query: query.clone(),
            error: None,
            entries: Vec::new(),
            next_page: None,
        }
    }
}

struct EntryView {
    at: String,
    action: String,
    actor: String,
    target: String,
    ip: String,
    via: String,
}

fn party_name(p: Party) -> String {
    p.name.unwrap_or(if p.id.is_empty() { "—".to_owned() } else { p.id })
}

impl From<ActionEntry> for EntryView {
    fn from(e: ActionEntry) -> Self {
        Self {
            at: display_time(e.at),
            action: e.action,
            actor: party_name(e.actor),
            target: party_name(e.target),
            ip: e.ip,
            via: e.via,
        }
    }
}

#[derive(Deserialize, Default, Clone)]
struct HistoryQuery {
    #[serde(default)]
    action: String,
    /// `YYYY-MM-DD`, from its start.
    #[serde(default)]
    since: String,
    /// `YYYY-MM-DD`, to its end.
    #[serde(default)]
    until: String,
    /// The sequence number of the previous page's last event.
    #[serde(default)]
    before: String,
}

impl HistoryQuery {
    fn filter(&self) -> Result<(ActionFilter, Option<i64>), &'static str> {
        let action = match self.action.as_str() {
            "" => None,
            a => Some(AuditAction::parse(a).ok_or("Choose an action from the list.")?),
        };
        let day = |s: &str| match s.trim() {
            "" => Ok(None),
            s => parse_day(s).map(Some).ok_or("Give dates as YYYY-MM-DD, e.g. 2026-12-01."),
        };
        let since = day(&self.since)?;
        let until = day(&self.until)?.map(|t| t + 86_399);
        let before = match self.before.as_str() {
            "" => None,
            b => Some(b.parse().map_err(|_| "That page link is broken.")?),
        };
        Ok((ActionFilter { action, since, until }, before))
    }

    /// The next (older) page of `id`'s history, before `last`, keeping the filters.
    fn older(&self, id: &str, last: &str) -> String {
        let pairs: Vec<(&str, &str)> =
            [("action", self.action.as_str()), ("since", &self.since), ("until", &self.until), ("before", last)]
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .collect();
        path_with_query(&format!("/admin/users/{}/history", urlencoding(id)), &pairs)
    }
}

async fn get_history(
    State(state): State<AppState>,
    Admin(admin): Admin,
    csrf: PageCsrf,
    Path(id): Path<String>,
    Query(query): Query<HistoryQuery>,
) -> Result<Response, HtmlError> {
    let tab = tab_page(&state, &admin, &csrf, &id, "history", "Action history").await?;
    let mut page = HistoryPage::of(tab, &query);
    let (filter, before) = match query.filter() {
        Ok(f) => f,
        Err(e) => {
            page.error = Some(e);
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, csrf, page).into_response());
        }
    };
    let mut entries = state.accounts.actions_of(&id, &filter, before, HISTORY_PER_PAGE + 1).await?;
    if entries.len() > HISTORY_PER_PAGE as usize {
        entries.truncate(HISTORY_PER_PAGE as usize);
        let last = entries.last().map(|e| e.seq.to_string()).unwrap_or_default();
        page.next_page = Some(query.older(&id, &last));
    }
    page.entries = entries.into_iter().map(EntryView::from).collect();
    Ok((csrf, page).into_response())
}
