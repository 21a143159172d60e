//! `/api/v1/users…` (scope `admin`): the user list, create, read, update
//! and delete (this file), the console's actions on one user
//! (`commands.rs`: block, unblock, unlock, sign out, reset two-step sign-in,
//! send a reset mail) and what a user has (`owned.rs`: sessions, linked
//! providers, consents). The same `accounts` services as the console and
//! `gatehouse user …`.
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::etag::{IfMatch, tagged};
use super::paging::{self, Page};
use super::types::{UserBody, parse_timestamp};
use super::{AdminCaller, ApiJson, ApiQuery, Problem};
use crate::accounts::{Account, AccountChanges, NewAccount, UserFilter, UserKey, UserState};
use crate::app::AppState;

mod commands;
mod owned;

/// This area's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, patch_user, delete_user))
        .merge(commands::routes())
        .merge(owned::routes())
}

/// A user with its `ETag`.
pub(super) fn user_response(account: Account) -> Response {
    let etag = account.etag();
    tagged(Json(UserBody::from(account)), &etag)
}

/// The list's query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListUsersQuery {
    /// Part of the username or email (case-insensitive).
    q: Option<String>,
    /// Holders of this role (`admin`, `user`).
    role: Option<String>,
    /// `active` (neither blocked nor locked), `blocked` or `locked`.
    state: Option<String>,
    /// Whether the address is confirmed.
    verified: Option<bool>,
    /// Created at or after this time (RFC 3339).
    created_since: Option<String>,
    /// From `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    limit: Option<u32>,
}

impl ListUsersQuery {
    fn filter(&self) -> Result<UserFilter, Problem> {
        let state = match self.state.as_deref() {
            None => None,
            Some(raw) => Some(
                UserState::parse(raw)
                    .ok_or_else(|| Problem::invalid_field("state", "use active, blocked or locked"))?,
            ),
        };
        // An unknown role is refused by `accounts::directory` (422), for the console too.
        let role = self.role.clone().filter(|r| !r.is_empty());
        let created_since = self.created_since.as_deref().map(|t| parse_timestamp("created_since", t)).transpose()?;
        Ok(UserFilter { q: self.q.clone(), role, state, verified: self.verified, created_since })
    }
}

/// List users: search, filters, cursor paging (oldest first).
#[utoipa::path(
    get, path = "/api/v1/users", tag = "users",
    security(("bearer" = ["admin"])),
    params(ListUsersQuery),
    responses((status = 200, description = "A page of users", body = Page<UserBody>))
)]
async fn list_users(
    State(state): State<AppState>,
    _admin: AdminCaller,
    ApiQuery(q): ApiQuery<ListUsersQuery>,
) -> Result<Json<Page<UserBody>>, Problem> {
    let limit = paging::limit(q.limit)?;
    let after = paging::after::<UserKey>(q.cursor.as_deref())?;
    let mut users = state.accounts.list_accounts(&q.filter()?, after.as_ref(), limit + 1).await?;
    let more = users.len() > limit as usize;
    users.truncate(limit as usize);
    let next_cursor = more.then(|| users.last().map(|a| paging::cursor_of(&(a.user.created_at, &a.user.id)))).flatten();
    Ok(Json(Page { items: users.into_iter().map(UserBody::from).collect(), next_cursor }))
}

/// A new user.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    username: String,
    email: String,
    /// Without one, the user is mailed an invitation to choose a password.
    #[schema(value_type = Option<String>, format = Password)]
    password: Option<SecretString>,
    /// Extra roles (`admin`); every user has `user`.
    roles: Option<Vec<String>>,
    display_name: Option<String>,
}

/// Create a user: with a password (the address counts as confirmed), or
/// without one (an invitation mail with a set-password link).
#[utoipa::path(
    post, path = "/api/v1/users", tag = "users",
    security(("bearer" = ["admin"])),
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = UserBody, headers(
            ("Location" = String, description = "The new user's address"),
            ("ETag" = String, description = "The user's current version"))),
        (status = 409, description = "The username or email is taken", body = super::ProblemBody),
    )
)]
async fn create_user(
    State(state): State<AppState>,
    admin: AdminCaller,
    ApiJson(body): ApiJson<CreateUserRequest>,
) -> Result<Response, Problem> {
    let roles = body.roles.unwrap_or_default();
    let new = NewAccount {
        username: &body.username,
        email: &body.email,
        password: body.password.as_ref(),
        roles: &roles,
        display_name: body.display_name.as_deref().unwrap_or_default(),
    };
    let account = state.accounts.create_account(admin.ctx(), &new).await?;
    let location = format!("/api/v1/users/{}", account.user.id);
    let mut res = user_response(account);
    *res.status_mut() = StatusCode::CREATED;
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

/// Read a user.
#[utoipa::path(
    get, path = "/api/v1/users/{id}", tag = "users",
    security(("bearer" = ["admin"])),
    params(("id" = String, Path, description = "The user's id")),
    responses((status = 200, description = "The user", body = UserBody,
        headers(("ETag" = String, description = "The user's current version"))))
)]
async fn get_user(
    State(state): State<AppState>,
    _admin: AdminCaller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    Ok(user_response(state.accounts.account(&id).await?))
}

/// Changes to a user; absent fields stay.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    username: Option<String>,
    /// A new address is unconfirmed until its owner follows the mailed link.
    email: Option<String>,
    display_name: Option<String>,
    /// The roles to hold (`user` is always kept); a change ends the user's sessions.
    roles: Option<Vec<String>>,
}

/// Update a user (send the `ETag` you read in `If-Match`).
#[utoipa::path(
    patch, path = "/api/v1/users/{id}", tag = "users",
    security(("bearer" = ["admin"])),
    params(
        ("id" = String, Path, description = "The user's id"),
        ("If-Match" = String, Header, description = "The ETag of the user as read"),
    ),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "The updated user", body = UserBody,
            headers(("ETag" = String, description = "The user's new version"))),
        (status = 409, description = "Taken username or email, or the last administrator", body = super::ProblemBody),
        (status = 412, description = "The user changed since it was read", body = super::ProblemBody),
        (status = 428, description = "If-Match is missing", body = super::ProblemBody),
    )
)]
async fn patch_user(
    State(state): State<AppState>,
    admin: AdminCaller,
    Path(id): Path<String>,
    IfMatch(tag): IfMatch,
    ApiJson(body): ApiJson<UpdateUserRequest>,
) -> Result<Response, Problem> {
    let changes = AccountChanges {
        username: body.username,
        email: body.email,
        display_name: body.display_name,
        roles: body.roles,
    };
    Ok(user_response(state.accounts.update_account(admin.ctx(), &id, &tag, &changes).await?))
}

/// Delete a user and everything they own (the audit log keeps its events).
#[utoipa::path(
    delete, path = "/api/v1/users/{id}", tag = "users",
    security(("bearer" = ["admin"])),
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "The last administrator", body = super::ProblemBody),
    )
)]
async fn delete_user(
    State(state): State<AppState>,
    admin: AdminCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    state.accounts.delete_user(&id, admin.ctx()).await?;
    Ok(StatusCode::NO_CONTENT)
}
