//! `GET /admin/users/{id}`: one user's summary, the buttons for the actions
//! on them, and the edit form (`POST /admin/users/{id}/edit`), which carries
//! the user's entity tag: a change made meanwhile is refused (409) and the
//! current version shown, never overwritten (`accounts::provisioning`).
use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::users::{DoneQuery, notice};
use super::users_new::{RoleBox, role_boxes, roles_of, urlencoding};
use super::users_tabs::{Tab, tabs};
use crate::accounts::{self, AccountChanges, CurrentUser, FieldError, UserSummary};
use crate::app::AppState;
use crate::http::admin::{Console, Section};
use crate::http::audit::AuditCtx;
use crate::http::error::HtmlError;
use crate::http::extract::{Admin, CsrfForm, PageCsrf, field_error};
use crate::http::pages::{Nav, display_time};

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/users/{id}", get(get_user)).route("/admin/users/{id}/edit", post(post_edit))
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/users_detail.html")]
struct UserPage {
    nav: Nav,
    console: Console,
    csrf: String,
    tabs: Vec<Tab>,
    id: String,
    /// The name as stored (the heading), whatever the form holds.
    name: String,
    blocked: bool,
    locked: bool,
    verified: bool,
    roles_text: String,
    created: String,
    last_sign_in: Option<String>,
    mfa_on: bool,
    is_self: bool,
    notice: Option<&'static str>,
    /// A refusal of the whole form (changed meanwhile, last administrator).
    alert: Option<&'static str>,
    etag: String,
    roles_before: String,
    username: String,
    email: String,
    display_name: String,
    roles: Vec<RoleBox>,
    other_roles: String,
    errors: Vec<FieldError>,
}

impl UserPage {
    fn error_for(&self, field: &str) -> Option<&str> {
        field_error(&self.errors, field)
    }

    fn new(admin: &accounts::CurrentUser, csrf: &str, s: UserSummary) -> Self {
        let a = s.account;
        let (roles, other_roles) = role_boxes(&a.roles);
        Self {
            nav: Nav::new(Some(admin)),
            console: Console::new(Section::Users),
            csrf: csrf.to_owned(),
            tabs: tabs(&a.user.id, "summary"),
            etag: a.etag(),
            roles_before: a.roles.join(" "),
            is_self: a.user.id == admin.user_id,
            id: a.user.id.clone(),
            name: a.user.username.clone(),
            blocked: a.user.blocked,
            locked: s.locked,
            verified: a.user.email_verified,
            roles_text: a.roles.join(", "),
            created: display_time(a.user.created_at),
            last_sign_in: s.last_sign_in.map(display_time),
            mfa_on: s.mfa_on,
            notice: None,
            alert: None,
            username: a.user.username,
            email: a.user.email,
            display_name: a.user.display_name,
            roles,
            other_roles,
            errors: Vec::new(),
        }
    }
}

async fn get_user(
    State(state): State<AppState>,
    Admin(admin): Admin,
    csrf: PageCsrf,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, HtmlError> {
    let summary = state.accounts.user_summary(&id).await?;
    let mut page = UserPage::new(&admin, &csrf.token, summary);
    page.notice = notice(&q.done);
    Ok((csrf, page).into_response())
}

#[derive(Deserialize)]
struct EditForm {
    #[serde(default)]
    etag: String,
    /// The roles the form showed, separated by spaces.
    #[serde(default)]
    roles_before: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    display_name: String,
    #[serde(flatten)]
    rest: HashMap<String, String>,
}

/// Whether the checked roles differ from the ones the form showed (sent
/// along as `roles_before`): unchanged roles are not sent, so a profile edit
/// records no role change (the ETag covers the roles).
fn roles_changed(roles: &[String], before: &str) -> bool {
    let mut now: Vec<&str> = roles.iter().map(String::as_str).collect();
    let mut shown: Vec<&str> = crate::wire::words(before).collect();
    now.sort_unstable();
    shown.sort_unstable();
    now != shown
}

/// A refused create or edit as the form's status, field errors and alert.
pub(super) fn edit_refused(
    err: accounts::Error,
) -> Result<(StatusCode, Vec<FieldError>, Option<&'static str>), HtmlError> {
    Ok(match err {
        accounts::Error::Invalid(errors) => (StatusCode::UNPROCESSABLE_ENTITY, errors, None),
        accounts::Error::Taken(what) => {
            (StatusCode::CONFLICT, vec![FieldError { field: what, message: format!("That {what} is taken.") }], None)
        }
        accounts::Error::LastAdmin => (
            StatusCode::CONFLICT,
            Vec::new(),
            Some("This is the last administrator: the admin role cannot be taken away. Nothing was changed."),
        ),
        e => return Err(e.into()),
    })
}

/// The current version, in place of what was typed (409).
async fn stale(state: &AppState, admin: &CurrentUser, csrf: PageCsrf, id: &str) -> Result<Response, HtmlError> {
    let mut page = UserPage::new(admin, &csrf.token, state.accounts.user_summary(id).await?);
    page.alert = Some(
        "This user was changed meanwhile, so your changes were not saved. Here is the current version: \
         make your changes again.",
    );
    Ok((StatusCode::CONFLICT, csrf, page).into_response())
}

async fn post_edit(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ctx: AuditCtx,
    Path(id): Path<String>,
    CsrfForm { form, csrf }: CsrfForm<EditForm>,
) -> Result<Response, HtmlError> {
    let roles = roles_of(&form.rest);
    let changes = AccountChanges {
        username: Some(form.username.clone()),
        email: Some(form.email.clone()),
        display_name: Some(form.display_name.clone()),
        roles: roles_changed(&roles, &form.roles_before).then(|| roles.clone()),
    };
    let (status, errors, alert) =
        match state.accounts.update_account(&ctx.context(&admin.user_id), &id, &form.etag, &changes).await {
            Ok(account) => {
                let to = format!("/admin/users/{}?done=saved", urlencoding(&account.user.id));
                return Ok(Redirect::to(&to).into_response());
            }
            Err(accounts::Error::Stale) => return stale(&state, &admin, csrf, &id).await,
            Err(e) => edit_refused(e)?,
        };
    // What was typed, over the stored version.
    let mut page = UserPage::new(&admin, &csrf.token, state.accounts.user_summary(&id).await?);
    (page.roles, page.other_roles) = role_boxes(&roles);
    (page.etag, page.username, page.email, page.display_name) =
        (form.etag, form.username, form.email, form.display_name);
    (page.errors, page.alert) = (errors, alert);
    Ok((status, csrf, page).into_response())
}
