//! The console's users section: the list with its filters (this file; the
//! same `accounts::directory` query as `GET /api/v1/users`), the row
//! actions (`users_actions.rs`), creating one (`users_new.rs`), one user's
//! page and edit form (`users_detail.rs`), the destructive actions
//! (`users_confirm.rs`) and the tabs (`users_tabs.rs`). Every handler takes
//! [`Admin`] or [`crate::http::confirm::RecentAdmin`], so access control
//! cannot be forgotten on a new route.
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::accounts::{self, ListedAccount, UserFilter, UserKey, UserState};
use crate::app::AppState;
use crate::http::admin::{Console, Section};
use crate::http::error::HtmlError;
use crate::http::extract::{Admin, PageCsrf};
use crate::http::pages::{Nav, display_time, path_with_query};

const PER_PAGE: u32 = 25;

/// Routes for this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(get_users))
        .merge(super::users_actions::router())
        .merge(super::users_new::router())
        .merge(super::users_detail::router())
        .merge(super::users_confirm::router())
        .merge(super::users_tabs::router())
}

struct UserView {
    id: String,
    username: String,
    email: String,
    created: String,
    verified: bool,
    roles: String,
    blocked: bool,
    locked: bool,
    is_self: bool,
    admin: bool,
}

impl From<ListedAccount> for UserView {
    fn from(l: ListedAccount) -> Self {
        let u = l.account.user;
        Self {
            created: display_time(u.created_at),
            admin: l.account.roles.iter().any(|r| r == "admin"),
            roles: l.account.roles.join(", "),
            id: u.id,
            username: u.username,
            email: u.email,
            verified: u.email_verified,
            blocked: u.blocked,
            locked: l.locked,
            is_self: l.is_viewer,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/users.html")]
struct UsersPage {
    nav: Nav,
    console: Console,
    csrf: String,
    query: UsersQuery,
    roles: &'static [&'static str],
    error: Option<String>,
    notice: Option<&'static str>,
    users: Vec<UserView>,
    /// This page, for the row actions to come back to.
    here: String,
    first_page: Option<String>,
    next_page: Option<String>,
}

/// The list's filters, as typed (kept in the paging links).
#[derive(Deserialize, Default, Clone)]
pub(super) struct UsersQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    verified: String,
    #[serde(default)]
    since: String,
    /// `created_at.id` of the previous page's last row.
    #[serde(default)]
    after: String,
    #[serde(default)]
    done: String,
}

impl UsersQuery {
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        let all = [
            ("q", self.q.as_str()),
            ("role", &self.role),
            ("state", &self.state),
            ("verified", &self.verified),
            ("since", &self.since),
        ];
        all.into_iter().filter(|(_, v)| !v.is_empty()).collect()
    }

    fn link(&self, after: Option<&UserKey>) -> String {
        let mut pairs = self.pairs();
        let cursor = after.map(|(at, id)| format!("{at}.{id}"));
        if let Some(c) = &cursor {
            pairs.push(("after", c));
        }
        path_with_query("/admin/users", &pairs)
    }

    fn filter(&self) -> Result<(UserFilter, Option<UserKey>), String> {
        let state = match self.state.as_str() {
            "" => None,
            s => Some(UserState::parse(s).ok_or("Choose a state: active, blocked or locked.")?),
        };
        let verified = match self.verified.as_str() {
            "" => None,
            "yes" => Some(true),
            "no" => Some(false),
            _ => return Err("Choose whether the address is confirmed: yes or no.".into()),
        };
        let created_since = match self.since.trim() {
            "" => None,
            s => Some(parse_day(s).ok_or("Give the date as YYYY-MM-DD, e.g. 2026-12-01.")?),
        };
        let after = match self.after.split_once('.') {
            _ if self.after.is_empty() => None,
            Some((at, id)) if !id.is_empty() => {
                Some((at.parse().map_err(|_| "That page link is broken.")?, id.to_owned()))
            }
            _ => return Err("That page link is broken.".into()),
        };
        let q = Some(self.q.clone()).filter(|q| !q.trim().is_empty());
        let role = Some(self.role.clone()).filter(|r| !r.is_empty());
        Ok((UserFilter { q, role, state, verified, created_since }, after))
    }
}

/// `YYYY-MM-DD` as the unix time of its midnight (UTC).
pub(super) fn parse_day(s: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &format).ok().map(|d| d.midnight().assume_utc().unix_timestamp())
}

/// The notice for `done=…` after an action (fixed texts; nothing typed is echoed).
pub(super) fn notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "created" => "The user was created.",
        "saved" => "The changes were saved.",
        "blocked" => "The user is blocked.",
        "unblocked" => "The user is unblocked.",
        "unlocked" => "The user is unlocked.",
        "signed-out" => "The user was signed out everywhere.",
        "reset-sent" => "A password-reset link is on its way.",
        "mfa-reset" => "Two-step sign-in was reset.",
        "deleted" => "The user was deleted.",
        "revoked" => "The session was ended.",
        _ => return None,
    })
}

impl UsersPage {
    /// The list's frame (filters, notice, paging back) without rows yet.
    fn new(admin: &accounts::CurrentUser, csrf: &PageCsrf, query: &UsersQuery) -> Self {
        Self {
            nav: Nav::new(Some(admin)),
            console: Console::new(Section::Users),
            csrf: csrf.token.clone(),
            roles: &accounts::ROLES,
            error: None,
            notice: notice(&query.done),
            users: Vec::new(),
            here: here_of(query),
            first_page: (!query.after.is_empty()).then(|| query.link(None)),
            next_page: None,
            query: query.clone(),
        }
    }
}

/// `?done=…`: which action a page comes back from (its notice).
#[derive(Deserialize, Default)]
pub(super) struct DoneQuery {
    #[serde(default)]
    pub(super) done: String,
}

/// The list's own address (filters and position), where row actions go back to.
fn here_of(query: &UsersQuery) -> String {
    let mut pairs = query.pairs();
    if !query.after.is_empty() {
        pairs.push(("after", &query.after));
    }
    path_with_query("/admin/users", &pairs)
}

/// A refused filter as the page's message (field errors), or a failure.
fn bad_filter(err: accounts::Error) -> Result<String, HtmlError> {
    match err {
        accounts::Error::Invalid(errors) => {
            Ok(errors.into_iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))
        }
        other => Err(other.into()),
    }
}

async fn get_users(
    State(state): State<AppState>,
    Admin(admin): Admin,
    csrf: PageCsrf,
    Query(mut query): Query<UsersQuery>,
) -> Result<Response, HtmlError> {
    query.q = accounts::bounded_query(&query.q);
    let mut page = UsersPage::new(&admin, &csrf, &query);
    let listed = match query.filter() {
        Ok((filter, after)) => {
            state.accounts.console_accounts(&filter, after.as_ref(), PER_PAGE, &admin.user_id).await.map_err(bad_filter)
        }
        Err(message) => Err(Ok(message)),
    };
    match listed {
        Ok(listed) => {
            page.next_page = listed.next.as_ref().map(|k| query.link(Some(k)));
            page.users = listed.rows.into_iter().map(UserView::from).collect();
            Ok((csrf, page).into_response())
        }
        Err(message) => {
            page.error = Some(message?);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, csrf, page).into_response())
        }
    }
}
