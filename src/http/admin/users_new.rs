//! `GET/POST /admin/users/new`: an administrator creates a user, with a
//! password now or an invitation mail, through `accounts::provisioning`
//! (the same function as `POST /api/v1/users` and `gatehouse user create`).
use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use secrecy::SecretString;
use serde::Deserialize;

use crate::accounts::{self, FieldError, NewAccount};
use crate::app::AppState;
use crate::http::admin::{Console, Section};
use crate::http::audit::AuditCtx;
use crate::http::error::HtmlError;
use crate::http::extract::{Admin, CsrfForm, PageCsrf, field_error};
use crate::http::pages::Nav;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/users/new", get(get_new).post(post_new))
}

/// A role checkbox.
pub(super) struct RoleBox {
    pub name: &'static str,
    pub checked: bool,
}

/// The roles part of a user form: one checkbox per known role
/// (`role_admin=yes`) and a text field for others (`other_roles`).
pub(super) fn roles_of(fields: &HashMap<String, String>) -> Vec<String> {
    let mut roles: Vec<String> = accounts::ROLES
        .iter()
        .filter(|r| fields.get(&format!("role_{r}")).is_some_and(|v| !v.is_empty()))
        .map(|r| (*r).to_owned())
        .collect();
    let others = fields.get("other_roles").map(String::as_str).unwrap_or_default();
    roles.extend(others.split([',', ' ']).filter(|r| !r.is_empty()).map(str::to_owned));
    roles
}

/// The checkboxes for `roles`, and the text of the roles that have none.
pub(super) fn role_boxes(roles: &[String]) -> (Vec<RoleBox>, String) {
    let boxes =
        accounts::ROLES.iter().map(|&name| RoleBox { name, checked: roles.iter().any(|r| r == name) }).collect();
    let others: Vec<&str> = roles.iter().map(String::as_str).filter(|r| !accounts::ROLES.contains(r)).collect();
    (boxes, others.join(", "))
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/users_new.html")]
struct NewUserPage {
    nav: Nav,
    console: Console,
    csrf: String,
    username: String,
    email: String,
    display_name: String,
    roles: Vec<RoleBox>,
    other_roles: String,
    invite: bool,
    errors: Vec<FieldError>,
}

impl NewUserPage {
    fn error_for(&self, field: &str) -> Option<&str> {
        field_error(&self.errors, field)
    }
}

async fn get_new(Admin(admin): Admin, csrf: PageCsrf) -> Response {
    let (roles, other_roles) = role_boxes(&["user".to_owned()]);
    let page = NewUserPage {
        nav: Nav::new(Some(&admin)),
        console: Console::new(Section::Users),
        csrf: csrf.token.clone(),
        username: String::new(),
        email: String::new(),
        display_name: String::new(),
        roles,
        other_roles,
        invite: true,
        errors: Vec::new(),
    };
    (csrf, page).into_response()
}

#[derive(Deserialize)]
struct NewUserForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    display_name: String,
    /// `password` (set one now) or `invite` (mail an invitation).
    #[serde(default)]
    mode: String,
    #[serde(default)]
    password: String,
    #[serde(flatten)]
    rest: HashMap<String, String>,
}

async fn post_new(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ctx: AuditCtx,
    CsrfForm { form, csrf }: CsrfForm<NewUserForm>,
) -> Result<Response, HtmlError> {
    let roles = roles_of(&form.rest);
    // A typed password is never dropped: with one, the account gets it even
    // if the "invitation" choice was left as it was.
    let invite = form.mode != "password" && form.password.is_empty();
    let password = SecretString::from(form.password.clone());
    let new = NewAccount {
        username: &form.username,
        email: &form.email,
        password: (!invite).then_some(&password),
        roles: &roles,
        display_name: &form.display_name,
    };
    let (status, errors, _) = match state.accounts.create_account(&ctx.context(&admin.user_id), &new).await {
        Ok(account) => {
            let to = format!("/admin/users/{}?done=created", urlencoding(&account.user.id));
            return Ok(Redirect::to(&to).into_response());
        }
        Err(e) => super::users_detail::edit_refused(e)?,
    };
    let page = typed_page(&admin, &csrf.token, form, &roles, invite, errors);
    Ok((status, csrf, page).into_response())
}

/// The form again with what was typed (never the password) and the errors.
fn typed_page(
    admin: &crate::accounts::CurrentUser,
    csrf: &str,
    form: NewUserForm,
    roles: &[String],
    invite: bool,
    errors: Vec<FieldError>,
) -> NewUserPage {
    let (boxes, other_roles) = role_boxes(roles);
    NewUserPage {
        nav: Nav::new(Some(admin)),
        console: Console::new(Section::Users),
        csrf: csrf.to_owned(),
        username: form.username,
        email: form.email,
        display_name: form.display_name,
        roles: boxes,
        other_roles,
        invite,
        errors,
    }
}

/// `s` as one path segment.
pub(super) fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
