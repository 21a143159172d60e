//! `/api/v1/me…`: the token's user on their own account (scope `account`),
//! through the same `accounts` (and, for connected apps, `oauth`) services
//! as the account pages.
//!
//! ```text
//! mod.rs       GET, PATCH, DELETE /api/v1/me
//! security.rs  POST /api/v1/me/password, /api/v1/me/email
//! sessions.rs  /api/v1/me/sessions…, /api/v1/me/activity
//! apps.rs      /api/v1/me/apps…, /api/v1/me/export
//! ```
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::etag::{IfMatch, tagged};
use super::types::UserBody;
use super::{AccountCaller, ApiJson, Problem};
use crate::app::AppState;

mod apps;
mod security;
mod sessions;

/// This area's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_me, patch_me, delete_me))
        .routes(routes!(security::post_password))
        .routes(routes!(security::post_email))
        .routes(routes!(sessions::get_sessions))
        .routes(routes!(sessions::delete_session))
        .routes(routes!(sessions::get_activity))
        .routes(routes!(apps::get_apps))
        .routes(routes!(apps::delete_app))
        .routes(routes!(apps::get_export))
}

/// Your own profile.
#[utoipa::path(
    get, path = "/api/v1/me", tag = "account",
    security(("bearer" = ["account"])),
    responses(
        (status = 200, description = "Your account", body = UserBody,
            headers(("ETag" = String, description = "The account's current version"))),
    )
)]
async fn get_me(State(state): State<AppState>, me: AccountCaller) -> Result<Response, Problem> {
    let account = state.accounts.account(&me.user_id).await?;
    let etag = account.etag();
    Ok(tagged(Json(UserBody::from(account)), &etag))
}

/// What you may change about your profile.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    /// Shown instead of the username; "" clears it.
    pub display_name: String,
}

/// Change your display name (send the `ETag` you read in `If-Match`).
#[utoipa::path(
    patch, path = "/api/v1/me", tag = "account",
    security(("bearer" = ["account"])),
    params(("If-Match" = String, Header, description = "The ETag of the account as read")),
    request_body = ProfilePatch,
    responses(
        (status = 200, description = "The account as it now is", body = UserBody,
            headers(("ETag" = String, description = "The account's new version"))),
        (status = 412, description = "The account changed since it was read", body = super::ProblemBody),
        (status = 428, description = "If-Match is missing", body = super::ProblemBody),
    )
)]
async fn patch_me(
    State(state): State<AppState>,
    me: AccountCaller,
    IfMatch(tag): IfMatch,
    ApiJson(body): ApiJson<ProfilePatch>,
) -> Result<Response, Problem> {
    let account = state.accounts.set_display_name_if(me.ctx(), &me.user_id, &body.display_name, Some(&tag)).await?;
    let etag = account.etag();
    Ok(tagged(Json(UserBody::from(account)), &etag))
}

/// Your password, to confirm a deletion.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteMe {
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

/// Delete your account and everything it owns (you get a mail). An account
/// without a password is deleted on the account page instead (422).
#[utoipa::path(
    delete, path = "/api/v1/me", tag = "account",
    security(("bearer" = ["account"])),
    request_body = DeleteMe,
    responses(
        (status = 204, description = "The account is deleted"),
        (status = 409, description = "You are the last administrator", body = super::ProblemBody),
    )
)]
async fn delete_me(
    State(state): State<AppState>,
    me: AccountCaller,
    ApiJson(body): ApiJson<DeleteMe>,
) -> Result<Response, Problem> {
    state.accounts.delete_own_account(me.ctx(), &me.user_id, &body.password).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
