//! `/api/v1/keys…`: the token signing keys through `keys::KeyRing` (as
//! `gatehouse keys` reads them): public facts only, never key material.
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::http::api::paging::{self, Page, PageQuery};
use crate::http::api::types::timestamp;
use crate::http::api::{AdminCaller, ApiQuery, Problem};
use crate::keys::KeyInfo;

/// This area's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_keys)).routes(routes!(rotate_keys))
}

/// A signing key.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyBody {
    /// The `kid` in token headers and `/jwks.json`.
    kid: String,
    /// `next` (published, not signing yet), `current` (signing), `retiring`
    /// (published, no longer signing) or `retired`.
    state: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    activated_at: Option<String>,
    #[schema(format = DateTime)]
    retiring_at: Option<String>,
}

impl From<KeyInfo> for KeyBody {
    fn from(k: KeyInfo) -> Self {
        Self {
            kid: k.kid,
            state: k.state,
            created_at: timestamp(k.created_at),
            activated_at: k.activated_at.map(timestamp),
            retiring_at: k.retiring_at.map(timestamp),
        }
    }
}

/// What a rotation did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedBody {
    /// The key that signs from now on.
    current_kid: String,
}

/// The signing keys, newest first.
#[utoipa::path(
    get, path = "/api/v1/keys", tag = "operations",
    security(("bearer" = ["admin"])), params(PageQuery),
    responses((status = 200, description = "A page of keys, newest first", body = Page<KeyBody>))
)]
async fn list_keys(
    State(state): State<AppState>,
    _admin: AdminCaller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<KeyBody>>, Problem> {
    let limit = paging::limit(q.limit)?;
    let after: Option<(i64, String)> = paging::after(q.cursor.as_deref())?;
    let mut keys = state.keys.page(after, i64::from(limit) + 1).await.map_err(Problem::internal)?;
    let more = keys.len() > limit as usize;
    keys.truncate(limit as usize);
    let next_cursor = if more { keys.last().map(|k| paging::cursor_of(&k.key())) } else { None };
    Ok(Json(Page { items: keys.into_iter().map(KeyBody::from).collect(), next_cursor }))
}

/// Rotates now: the published `next` key starts signing and a new `next`
/// is made (as `gatehouse keys rotate`); audited `key_rotated`.
#[utoipa::path(
    post, path = "/api/v1/keys/rotate", tag = "operations",
    security(("bearer" = ["admin"])),
    responses((status = 200, description = "Rotated", body = RotatedBody))
)]
async fn rotate_keys(State(state): State<AppState>, admin: AdminCaller) -> Result<Json<RotatedBody>, Problem> {
    state.keys.rotate_now_by(admin.ctx()).await.map_err(Problem::internal)?;
    Ok(Json(RotatedBody { current_kid: state.keys.current_kid() }))
}
