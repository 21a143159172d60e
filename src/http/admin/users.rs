//! The console's users section: the user list with search, paging,
//! block/unblock and the admin role. Every handler takes [`Admin`], so access control cannot
//! be forgotten on a new route.
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::accounts;
use crate::app::AppState;
use crate::http::admin::{Console, Section};
use crate::http::audit::AuditCtx;
use crate::http::error::HtmlError;
use crate::http::extract::{Admin, CsrfForm, PageCsrf};
use crate::http::pages::{Nav, display_time, path_with_query};

const PER_PAGE: i64 = 25;

/// Routes for this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(get_users))
        .route("/admin/users/{id}/block", post(post_block))
        .route("/admin/users/{id}/unblock", post(post_unblock))
        .route("/admin/users/{id}/unlock", post(post_unlock))
        .route("/admin/users/{id}/sign-out", post(post_sign_out))
        .route("/admin/users/{id}/roles", post(post_roles))
}

struct UserView {
    id: String,
    username: String,
    email: String,
    created: String,
    blocked: bool,
    /// Locked after too many failed sign-ins (issue 6).
    locked: bool,
    is_self: bool,
    /// Holds the `admin` role (one button gives or takes it).
    admin: bool,
}

impl From<accounts::ListedUser> for UserView {
    fn from(l: accounts::ListedUser) -> Self {
        Self {
            created: display_time(l.user.created_at),
            id: l.user.id,
            username: l.user.username,
            email: l.user.email,
            blocked: l.user.blocked,
            locked: l.locked,
            is_self: l.is_viewer,
            admin: l.admin,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/users.html")]
struct UsersPage {
    nav: Nav,
    console: Console,
    csrf: String,
    query: String,
    users: Vec<UserView>,
    total: i64,
    page: i64,
    prev_page: Option<String>,
    next_page: Option<String>,
}

#[derive(Deserialize, Default)]
struct UsersQuery {
    #[serde(default)]
    q: String,
    page: Option<i64>,
}

fn page_link(q: &str, page: i64) -> String {
    let page = page.to_string();
    let mut query = vec![("page", page.as_str())];
    if !q.is_empty() {
        query.insert(0, ("q", q));
    }
    path_with_query("/admin/users", &query)
}

async fn get_users(
    State(state): State<AppState>,
    Admin(admin): Admin,
    csrf: PageCsrf,
    Query(query): Query<UsersQuery>,
) -> Result<Response, HtmlError> {
    let list = state.accounts.list_users(&query.q, query.page.unwrap_or(1), PER_PAGE, &admin.user_id).await?;
    let q = accounts::bounded_query(&query.q);
    let page_view = UsersPage {
        nav: Nav::new(Some(&admin)),
        console: Console::new(Section::Users),
        csrf: csrf.token.clone(),
        prev_page: (list.page > 1).then(|| page_link(&q, list.page - 1)),
        next_page: list.has_next.then(|| page_link(&q, list.page + 1)),
        query: q,
        users: list.users.into_iter().map(UserView::from).collect(),
        total: list.total,
        page: list.page,
    };
    Ok((csrf, page_view).into_response())
}

#[derive(Deserialize)]
struct BlockForm {
    back: Option<String>,
}

/// Where to go after the action: only back into the user list, whatever the
/// form says. Checked before the action runs: a CR or LF (CWE-93) or another
/// control character cannot go into a `Location` header, and refusing it
/// after the change would leave the change made behind a 500.
fn back_to(form: &BlockForm) -> Result<String, HtmlError> {
    if form.back.as_deref().is_some_and(|b| b.chars().any(char::is_control)) {
        return Err(HtmlError::bad_request("The form contains a line break or control character."));
    }
    Ok(form
        .back
        .as_deref()
        .filter(|b| b.starts_with("/admin/users") && !b.contains('\\'))
        .unwrap_or("/admin/users")
        .to_owned())
}

async fn post_block(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ctx: AuditCtx,
    Path(id): Path<String>,
    CsrfForm { form, .. }: CsrfForm<BlockForm>,
) -> Result<Response, HtmlError> {
    let back = back_to(&form)?;
    state.accounts.block(&ctx.context(&admin.user_id), &id).await?;
    Ok(Redirect::to(&back).into_response())
}

async fn post_unblock(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ctx: AuditCtx,
    Path(id): Path<String>,
    CsrfForm { form, .. }: CsrfForm<BlockForm>,
) -> Result<Response, HtmlError> {
    let back = back_to(&form)?;
    state.accounts.unblock(&ctx.context(&admin.user_id), &id).await?;
    Ok(Redirect::to(&back).into_response())
}

/// An administrator's "sign out user": every session and token of the user.
async fn post_sign_out(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ctx: AuditCtx,
    Path(id): Path<String>,
    CsrfForm { form, .. }: CsrfForm<BlockForm>,
) -> Result<Response, HtmlError> {
    let back = back_to(&form)?;
    state.accounts.sign_out_user(&ctx.context(&admin.user_id), &id).await?;
    Ok(Redirect::to(&back).into_response())
}

/// Ends a sign-in lock (issue 6) before its time runs out.
async fn post_unlock(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ctx: AuditCtx,
    Path(id): Path<String>,
    CsrfForm { form, .. }: CsrfForm<BlockForm>,
) -> Result<Response, HtmlError> {
    let back = back_to(&form)?;
    state.accounts.unlock(&ctx.context(&admin.user_id), &id).await?;
    Ok(Redirect::to(&back).into_response())
}

#[derive(Deserialize)]
struct RolesForm {
    /// `yes` gives the admin role, anything else takes it away.
    #[serde(default)]
    admin: String,
    back: Option<String>,
}

/// Gives or takes the admin role. The service ends the user's sessions and
/// refuses to take the role from the last administrator (409).
async fn post_roles(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ctx: AuditCtx,
    Path(id): Path<String>,
    CsrfForm { form, .. }: CsrfForm<RolesForm>,
) -> Result<Response, HtmlError> {
    // Validated before the change is made (CWE-93).
    let back = back_to(&BlockForm { back: form.back })?;
    let roles: Vec<String> = if form.admin == "yes" { vec!["admin".into()] } else { Vec::new() };
    state.accounts.set_roles(&ctx.context(&admin.user_id), &id, &roles).await?;
    Ok(Redirect::to(&back).into_response())
}
