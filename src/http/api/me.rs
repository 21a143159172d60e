//! `/api/v1/me…`: the token's user on their own account (scope `account`),
//! through the same `accounts` services as the account pages.
use axum::Json;
use axum::extract::State;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::etag::tagged;
use super::types::UserBody;
use super::{AccountCaller, Problem};
use crate::app::AppState;

/// This area's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_me))
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
