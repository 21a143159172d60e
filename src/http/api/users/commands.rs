//! `POST /api/v1/users/{id}/block`, `/unblock`, `/unlock`, `/sign-out`,
//! `/reset-mfa` and `/password-reset`: the console's actions on one user,
//! through the same `accounts` services. Each answers the user as it is now
//! (with its `ETag`).
use axum::extract::{Path, State};
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::user_response;
use crate::app::AppState;
use crate::http::api::types::UserBody;
use crate::http::api::{AdminCaller, Problem, ProblemBody};

/// This file's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(block_user))
        .routes(routes!(unblock_user))
        .routes(routes!(unlock_user))
        .routes(routes!(sign_out_user))
        .routes(routes!(reset_user_mfa))
        .routes(routes!(send_password_reset))
}

/// The user after a change.
async fn now(state: &AppState, id: &str) -> Result<Response, Problem> {
    Ok(user_response(state.accounts.account(id).await?))
}

/// Block a user: their sessions and tokens end at once. You cannot block yourself.
#[utoipa::path(
    post, path = "/api/v1/users/{id}/block", tag = "users",
    security(("bearer" = ["admin"])),
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user, blocked", body = UserBody),
        (status = 409, description = "Your own account, or the last administrator", body = ProblemBody),
    )
)]
async fn block_user(
    State(state): State<AppState>,
    admin: AdminCaller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    state.accounts.block(admin.ctx(), &id).await?;
    now(&state, &id).await
}

/// Lift a user's block.
#[utoipa::path(
    post, path = "/api/v1/users/{id}/unblock", tag = "users",
    security(("bearer" = ["admin"])),
    params(("id" = String, Path, description = "The user's id")),
    responses((status = 200, description = "The user, unblocked", body = UserBody))
)]
async fn unblock_user(
    State(state): State<AppState>,
    admin: AdminCaller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    state.accounts.unblock(admin.ctx(), &id).await?;
    now(&state, &id).await
}

/// End a user's sign-in lock (after too many wrong passwords or codes) now.
#[utoipa::path(
    post, path = "/api/v1/users/{id}/unlock", tag = "users",
    security(("bearer" = ["admin"])),
    params(("id" = String, Path, description = "The user's id")),
    responses((status = 200, description = "The user, unlocked", body = UserBody))
)]
async fn unlock_user(
    State(state): State<AppState>,
    admin: AdminCaller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    state.accounts.unlock(admin.ctx(), &id).await?;
    now(&state, &id).await
}

/// Sign a user out everywhere: every session and token ends.
#[utoipa::path(
    post, path = "/api/v1/users/{id}/sign-out", tag = "users",
    security(("bearer" = ["admin"])),
    params(("id" = String, Path, description = "The user's id")),
    responses((status = 200, description = "The user, signed out", body = UserBody))
)]
async fn sign_out_user(
    State(state): State<AppState>,
    admin: AdminCaller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    state.accounts.sign_out_user(admin.ctx(), &id).await?;
    now(&state, &id).await
}

/// Reset two-step sign-in (a lost phone): factors and recovery codes are removed.
#[utoipa::path(
    post, path = "/api/v1/users/{id}/reset-mfa", tag = "users",
    security(("bearer" = ["admin"])),
    params(("id" = String, Path, description = "The user's id")),
    responses((status = 200, description = "The user, without second factors", body = UserBody))
)]
async fn reset_user_mfa(
    State(state): State<AppState>,
    admin: AdminCaller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    state.accounts.reset_mfa(admin.ctx(), &id).await?;
    now(&state, &id).await
}

/// Mail the user a password-reset link.
#[utoipa::path(
    post, path = "/api/v1/users/{id}/password-reset", tag = "users",
    security(("bearer" = ["admin"])),
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user; the link is on its way", body = UserBody),
        (status = 409, description = "The account is blocked", body = ProblemBody),
    )
)]
async fn send_password_reset(
    State(state): State<AppState>,
    admin: AdminCaller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    state.accounts.send_password_reset(admin.ctx(), &id).await?;
    now(&state, &id).await
}
