//! `POST /api/v1/register` (public, no token): sign-up for API-first apps,
//! the same `Accounts::register` call as the `/register` page, with the same
//! policy, confirmation mail and rate limit (the Register bucket). Whether
//! the address already has an account is never told: both answer 202 with
//! the same body (that address's owner gets a mail instead). Invalid input
//! is 422 per field; a taken username is said, as the page says it
//! (usernames are public).
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, Problem};
use crate::accounts::Registration;
use crate::app::AppState;
use crate::http::audit::AuditCtx;

/// This area's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(post_register))
}

/// A new account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub username: String,
    pub email: String,
    /// Checked against the password policy.
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

/// The answer to every accepted registration.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisterResponse {
    /// Always `pending_confirmation`.
    pub status: &'static str,
    pub message: &'static str,
}

/// The one body of a 202, whether or not the address was taken.
const PENDING: RegisterResponse = RegisterResponse {
    status: "pending_confirmation",
    message: "Check your mail: follow the link we sent to confirm the address, then sign in.",
};

/// Sign up: the account waits for its address to be confirmed.
#[utoipa::path(
    post, path = "/api/v1/register", tag = "registration",
    request_body = RegisterRequest,
    responses(
        (status = 202, description = "Registered, or the address already had an account (the same answer)",
            body = RegisterResponse),
        (status = 404, description = "Self-registration is off (`registration.mode` is not `open`)"),
    )
)]
async fn post_register(
    State(state): State<AppState>,
    ctx: AuditCtx,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<Response, Problem> {
    let registration = Registration {
        username: &body.username,
        email: &body.email,
        password: &body.password,
        password_confirm: None,
        email_verified: false,
        roles: &[],
    };
    state.accounts.register(&ctx.context("").via(crate::security::audit::VIA_API), &registration).await?;
    Ok((StatusCode::ACCEPTED, Json(PENDING)).into_response())
}
