//! `/api/v1/clients…` (scope `admin`): the relying parties, through the
//! same `oauth::clients` service as `gatehouse client …`. A confidential
//! client's secret is answered once, at creation or rotation; reads never
//! carry it (only its hash is stored). Updates take `If-Match`.
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::etag::{IfMatch, tagged};
use super::paging::{self, Page, PageQuery};
use super::{AdminCaller, ApiJson, ApiQuery, Problem, ProblemBody};
use crate::app::AppState;
use crate::oauth::tokens::may_delete_client;

pub mod types;
use types::{ClientBody, CreateClient, SecretBody, UpdateClient};

/// This area's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_clients, create_client))
        .routes(routes!(get_client, update_client, delete_client))
        .routes(routes!(rotate_secret))
}

/// The clients, by client_id.
#[utoipa::path(
    get, path = "/api/v1/clients", tag = "clients",
    security(("bearer" = ["admin"])), params(PageQuery),
    responses((status = 200, description = "A page of clients", body = Page<ClientBody>))
)]
async fn list_clients(
    State(state): State<AppState>,
    _admin: AdminCaller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<ClientBody>>, Problem> {
    let limit = paging::limit(q.limit)?;
    let after: Option<String> = paging::after(q.cursor.as_deref())?;
    let clients = state.clients.page(after.as_deref(), i64::from(limit) + 1).await?;
    let items = clients.into_iter().map(ClientBody::from).collect();
    Ok(Json(paging::page(items, limit, |c: &ClientBody| c.client_id.clone())))
}

/// Registers a client (the rules of `gatehouse client create`); a
/// confidential client's generated secret is in this answer only.
#[utoipa::path(
    post, path = "/api/v1/clients", tag = "clients",
    security(("bearer" = ["admin"])), request_body = CreateClient,
    responses(
        (status = 201, description = "Registered; `client_secret` is shown this once", body = ClientBody,
            headers(("Location" = String, description = "The client's address"),
                ("ETag" = String, description = "The client's current version"))),
        (status = 409, description = "The client_id is taken", body = super::ProblemBody,
            content_type = "application/problem+json"),
    )
)]
async fn create_client(
    State(state): State<AppState>,
    admin: AdminCaller,
    ApiJson(body): ApiJson<CreateClient>,
) -> Result<Response, Problem> {
    let registered = state.clients.register_as(body.into(), admin.ctx()).await?;
    let location = format!("/api/v1/clients/{}", registered.client.client_id);
    let etag = registered.client.etag();
    let body = ClientBody::from(registered.client).with_secret(registered.generated_secret.as_ref());
    let headers = [(header::LOCATION, location), (header::CACHE_CONTROL, "no-store".to_owned())];
    let res = (StatusCode::CREATED, headers, Json(body));
    Ok(tagged(res, &etag))
}

/// One client, with its `ETag`.
#[utoipa::path(
    get, path = "/api/v1/clients/{client_id}", tag = "clients",
    security(("bearer" = ["admin"])), params(("client_id" = String, Path, description = "The client_id")),
    responses((status = 200, description = "The client", body = ClientBody,
        headers(("ETag" = String, description = "The client's current version"))))
)]
async fn get_client(
    State(state): State<AppState>,
    _admin: AdminCaller,
    Path(client_id): Path<String>,
) -> Result<Response, Problem> {
    let client = state.clients.get(&client_id).await?.ok_or_else(Problem::not_found)?;
    let etag = client.etag();
    Ok(tagged(Json(ClientBody::from(client)), &etag))
}

/// Changes a client (the rules of `gatehouse client update`); `If-Match`
/// must carry the `ETag` as read.
#[utoipa::path(
    patch, path = "/api/v1/clients/{client_id}", tag = "clients",
    security(("bearer" = ["admin"])), request_body = UpdateClient,
    params(("client_id" = String, Path, description = "The client_id"),
        ("If-Match" = String, Header, description = "The ETag of the client as read")),
    responses(
        (status = 200, description = "The client as it is now", body = ClientBody,
            headers(("ETag" = String, description = "The client's new version"))),
        (status = 412, description = "The client changed since it was read", body = super::ProblemBody,
            content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = super::ProblemBody,
            content_type = "application/problem+json"),
    )
)]
async fn update_client(
    State(state): State<AppState>,
    admin: AdminCaller,
    Path(client_id): Path<String>,
    IfMatch(tag): IfMatch,
    ApiJson(body): ApiJson<UpdateClient>,
) -> Result<Response, Problem> {
    let client = state.clients.update_if_match(&client_id, body.into(), Some(&tag), admin.ctx()).await?;
    let etag = client.etag();
    Ok(tagged(Json(ClientBody::from(client)), &etag))
}

/// Deletes a client with every code, token and consent it holds.
#[utoipa::path(
    delete, path = "/api/v1/clients/{client_id}", tag = "clients",
    security(("bearer" = ["admin"])), params(("client_id" = String, Path, description = "The client_id")),
    responses(
        (status = 204, description = "Deleted; its tokens stop working at once"),
        (status = 409, description = "The client of the caller's own token", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
async fn delete_client(
    State(state): State<AppState>,
    admin: AdminCaller,
    Path(client_id): Path<String>,
) -> Result<StatusCode, Problem> {
    if !may_delete_client(&admin.0.principal, &client_id) {
        return Err(Problem::conflict("this is the client of the token making the call"));
    }
    state.clients.delete(&client_id, admin.ctx()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives a confidential client a new secret, answered this once; the old
/// one stops working at once.
#[utoipa::path(
    post, path = "/api/v1/clients/{client_id}/rotate-secret", tag = "clients",
    security(("bearer" = ["admin"])), params(("client_id" = String, Path, description = "The client_id")),
    responses((status = 200, description = "The new secret, shown this once", body = SecretBody))
)]
async fn rotate_secret(
    State(state): State<AppState>,
    admin: AdminCaller,
    Path(client_id): Path<String>,
) -> Result<Response, Problem> {
    let secret = state.clients.rotate_secret(&client_id, None, admin.ctx()).await?;
    let client_secret = secret.map(|s| secrecy::ExposeSecret::expose_secret(&s).to_owned()).unwrap_or_default();
    let res = Json(SecretBody { client_id, client_secret });
    Ok(([(header::CACHE_CONTROL, "no-store")], res).into_response())
}
