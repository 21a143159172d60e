//! `GET /api/v1/users/{id}/sessions`, `/providers` and `/consents`: what a
//! user has, each paged like every list (`cursor`, `limit`).
use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::{Consent, LinkedProvider};
use crate::app::AppState;
use crate::http::api::paging::{self, Page, PageQuery};
use crate::http::api::types::SessionBody;
use crate::http::api::types::timestamp;
use crate::http::api::{AdminCaller, ApiQuery, Problem};

/// This file's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_user_sessions))
        .routes(routes!(list_user_providers))
        .routes(routes!(list_user_consents))
}

/// A user's live sessions, newest first.
#[utoipa::path(
    get, path = "/api/v1/users/{id}/sessions", tag = "users",
    security(("bearer" = ["admin"])),
    params(("id" = String, Path, description = "The user's id"), PageQuery),
    responses((status = 200, description = "The sessions", body = Page<SessionBody>))
)]
async fn list_user_sessions(
    State(state): State<AppState>,
    _admin: AdminCaller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<SessionBody>>, Problem> {
    let limit = paging::limit(q.limit)?;
    let after = paging::after::<String>(q.cursor.as_deref())?;
    let sessions = state.accounts.sessions_of(&id, after.as_deref(), limit + 1).await?;
    let bodies = sessions.into_iter().map(SessionBody::from).collect();
    Ok(Json(paging::page(bodies, limit, |s: &SessionBody| s.id.clone())))
}

/// A linked upstream account (a provider's subject).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderBody {
    /// The provider's id (as in `/login/{provider}`).
    pub provider: String,
    /// The user's id at the provider.
    pub subject: String,
    pub email: String,
    #[schema(format = DateTime)]
    pub linked_at: String,
    #[schema(format = DateTime)]
    pub last_used_at: String,
}

impl From<LinkedProvider> for ProviderBody {
    fn from(p: LinkedProvider) -> Self {
        Self {
            provider: p.provider,
            subject: p.subject,
            email: p.email,
            linked_at: timestamp(p.linked_at),
            last_used_at: timestamp(p.last_used_at),
        }
    }
}

/// A user's linked upstream identities.
#[utoipa::path(
    get, path = "/api/v1/users/{id}/providers", tag = "users",
    security(("bearer" = ["admin"])),
    params(("id" = String, Path, description = "The user's id"), PageQuery),
    responses((status = 200, description = "The linked providers", body = Page<ProviderBody>))
)]
async fn list_user_providers(
    State(state): State<AppState>,
    _admin: AdminCaller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<ProviderBody>>, Problem> {
    let limit = paging::limit(q.limit)?;
    let after = paging::after::<(String, String)>(q.cursor.as_deref())?;
    let providers = state.accounts.providers_of(&id, after.as_ref(), limit + 1).await?;
    let bodies = providers.into_iter().map(ProviderBody::from).collect();
    Ok(Json(paging::page(bodies, limit, |p: &ProviderBody| (p.provider.clone(), p.subject.clone()))))
}

/// A client the user allowed scopes.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentBody {
    pub client_id: String,
    /// Null when the client has been deleted.
    pub client_name: Option<String>,
    pub scopes: Vec<String>,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<Consent> for ConsentBody {
    fn from(c: Consent) -> Self {
        Self {
            client_id: c.client_id,
            client_name: c.client_name,
            scopes: c.scopes,
            updated_at: timestamp(c.updated_at),
        }
    }
}

/// The clients a user consented to, and the scopes.
#[utoipa::path(
    get, path = "/api/v1/users/{id}/consents", tag = "users",
    security(("bearer" = ["admin"])),
    params(("id" = String, Path, description = "The user's id"), PageQuery),
    responses((status = 200, description = "The consents", body = Page<ConsentBody>))
)]
async fn list_user_consents(
    State(state): State<AppState>,
    _admin: AdminCaller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<ConsentBody>>, Problem> {
    let limit = paging::limit(q.limit)?;
    let after = paging::after::<String>(q.cursor.as_deref())?;
    let consents = state.accounts.consents_of(&id, after.as_deref(), limit + 1).await?;
    let bodies = consents.into_iter().map(ConsentBody::from).collect();
    Ok(Json(paging::page(bodies, limit, |c: &ConsentBody| c.client_id.clone())))
}
