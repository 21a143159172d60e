//! The versioned JSON API (`/api/v1/…`): the same services the pages and
//! the CLI call, with no rule of its own. Each area is a file with its
//! handlers and their request and response types; the OpenAPI 3.1 document
//! (`/api/v1/openapi.json`) is generated from those (`utoipa`), so it cannot
//! drift from the routes.
//!
//! ```text
//! auth.rs      Bearer authentication, AccountCaller / AdminCaller, api_call audit
//! problem.rs   RFC 9457 problem details (every API error)
//! body.rs      ApiJson / ApiQuery: 415, 413, 400, 422, unknown fields refused
//! paging.rs    cursor paging of every list
//! etag.rs      ETag on reads, If-Match on updates (412, 428)
//! types.rs     types several areas send (UserBody), RFC 3339 times
//! register.rs  POST /api/v1/register (public)
//! me.rs        /api/v1/me… (scope account)
//! users/       /api/v1/users… (scope admin)
//! actions.rs   /api/v1/users/{id}/actions (scope admin)
//! clients.rs   /api/v1/clients… (scope admin)
//! audit.rs     /api/v1/audit… (scope admin)
//! ops.rs       /api/v1/mail…, /api/v1/ip-rules…, /api/v1/keys… (scope admin)
//! ```
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::middleware;
use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;

pub mod actions;
pub mod audit;
pub mod auth;
pub mod body;
pub mod clients;
pub mod etag;
pub mod me;
pub mod ops;
pub mod paging;
pub mod problem;
pub mod register;
pub mod types;
pub mod users;

pub use auth::{AccountCaller, AdminCaller, Caller};
pub use body::{ApiJson, ApiQuery};
pub use problem::{FieldProblem, Problem, ProblemBody};

/// The path prefix of every API route.
pub const PREFIX: &str = "/api/";

/// The name of the bearer security scheme in the document.
pub const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gatehouse",
        version = "1",
        description = "The JSON API of gatehouse: your own account (scope `account`) and administration \
            (scope `admin`, for users with the admin role or clients with the admin service role). \
            Authenticate with `Authorization: Bearer <access token>` from this server's `/token`. \
            Errors are RFC 9457 `application/problem+json`.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerScheme),
    components(schemas(ProblemBody, FieldProblem)),
    tags(
        (name = "account", description = "The token's user, on their own account (scope `account`)"),
        (name = "registration", description = "Sign-up for API-first apps"),
        (name = "users", description = "User administration (scope `admin`)"),
        (name = "clients", description = "Client administration (scope `admin`)"),
        (name = "audit", description = "The audit log (scope `admin`)"),
        (name = "operations", description = "Mail, IP rules and signing keys (scope `admin`)"),
    )
)]
struct ApiDoc;

/// Adds the `bearer` security scheme (RFC 6750, JWT access tokens).
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build();
        doc.components.get_or_insert_with(Default::default).add_security_scheme(BEARER, SecurityScheme::Http(scheme));
    }
}

/// The problem responses every operation may give, added to each one that
/// does not describe them itself, so the document lists every status the
/// server can answer (schemathesis checks that): 400, 422 and 429
/// everywhere; 401 and 403 with a bearer requirement; 404 with a path
/// parameter; 413 and 415 with a body.
fn add_problem_responses(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let problem = |description: &str| {
        let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ProblemBody"))).build();
        RefOr::T(ResponseBuilder::new().description(description).content(problem::PROBLEM_JSON, content).build())
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        let operations = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
        for op in operations.into_iter().flatten() {
            let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
            let with_body = op.request_body.is_some();
            let wanted = [
                ("400", "The request is malformed", true),
                ("401", "No live access token", secured),
                // IP rules can refuse any request, signed or not.
                ("403", "The token does not reach this route (scope or role), or an IP rule refuses it", true),
                ("404", "No such resource", path.contains('{')),
                ("413", "The body is too large", with_body),
                ("415", "The body is not application/json", with_body),
                ("422", "Some fields are not valid", true),
                ("429", "Too many requests; see Retry-After", true),
                ("503", "Temporarily unavailable; see Retry-After", true),
            ];
            for (status, description, applies) in wanted {
                if applies && !op.responses.responses.contains_key(status) {
                    op.responses.responses.insert(status.to_owned(), problem(description));
                }
            }
            // An error a handler describes with a JSON body is sent as problem JSON.
            for (status, response) in op.responses.responses.iter_mut() {
                if let (true, RefOr::T(response)) = (status.as_str() >= "400", response)
                    && let Some(content) = response.content.shift_remove("application/json")
                {
                    response.content.insert(problem::PROBLEM_JSON.to_owned(), content);
                }
            }
        }
    }
}

/// The API's routes and its document.
fn parts(state: &AppState) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let protected = OpenApiRouter::new()
        .merge(me::routes())
        .merge(users::routes())
        .merge(actions::routes())
        .merge(clients::routes())
        .merge(audit::routes())
        .merge(ops::routes())
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::authenticate));
    let (routes, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(protected)
        .merge(register::routes())
        // Larger bodies end at the extractor (413) before they are parsed.
        .layer(DefaultBodyLimit::max(body::MAX_BODY))
        .split_for_parts();
    add_problem_responses(&mut doc);
    (routes, doc)
}

/// The API, the document at `/api/v1/openapi.json`, and a problem 404 for
/// any other path under `/api/`.
pub fn router(state: &AppState) -> Router<AppState> {
    let (routes, doc) = parts(state);
    let doc = std::sync::Arc::new(doc.to_json().unwrap_or_else(|_| "{}".into()));
    routes
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], doc.as_str().to_owned()).into_response() }
            }),
        )
        .route("/api/{*rest}", axum::routing::any(|| async { Problem::not_found() }))
        // Answers carry personal data and secrets (a client secret, once).
        .layer(tower_http::set_header::SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        ))
}

/// The document, for tests and tools.
pub fn document(state: &AppState) -> utoipa::openapi::OpenApi {
    parts(state).1
}
