//! `/api/v1/ip-rules…`: IP allow and deny rules through
//! `security::ip_policy` (as `gatehouse ip …` edits them), with the same
//! validation; a rule that would refuse the caller's own address where the
//! caller needs to get back in is refused (409).
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::http::api::paging::{self, Page, PageQuery};
use crate::http::api::types::timestamp;
use crate::http::api::{AdminCaller, ApiJson, ApiQuery, Problem};
use crate::security::ip_policy;
use crate::security::ip_rules::{Action, Rule, RuleError, Scope};

/// This area's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_ip_rules, add_ip_rule)).routes(routes!(remove_ip_rule))
}

/// What a rule does to the addresses it matches.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    Allow,
    Deny,
}

/// A new rule (the fields of `gatehouse ip allow|deny`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRule {
    action: RuleAction,
    /// An address or CIDR range, IPv4 or IPv6 (`192.0.2.0/24`, `2001:db8::/32`).
    cidr: String,
    /// Only for this client (client_id), at /authorize and /token.
    client: Option<String>,
    /// Only for users with this role, at sign-in and on signed-in requests.
    role: Option<String>,
    /// A note for the operators.
    #[serde(default)]
    note: String,
}

/// A rule.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleBody {
    id: i64,
    action: RuleAction,
    /// The range, host bits cleared.
    cidr: String,
    /// `global`, `client` or `role`.
    scope: String,
    /// The client_id or role; null for a global rule.
    subject: Option<String>,
    note: String,
    #[schema(format = DateTime)]
    created_at: String,
}

impl From<Rule> for RuleBody {
    fn from(r: Rule) -> Self {
        let subject = Some(r.scope.subject().to_owned()).filter(|s| !s.is_empty());
        Self {
            id: r.id,
            action: match r.action {
                Action::Allow => RuleAction::Allow,
                Action::Deny => RuleAction::Deny,
            },
            cidr: r.net.to_string(),
            scope: r.scope.kind().to_owned(),
            subject,
            note: r.note,
            created_at: timestamp(r.created_at),
        }
    }
}

impl From<ip_policy::Error> for Problem {
    fn from(err: ip_policy::Error) -> Self {
        match err {
            ip_policy::Error::Rule(e @ RuleError::BadNet(_)) => Problem::invalid_field("cidr", e.to_string()),
            ip_policy::Error::Rule(e @ RuleError::BadScope(_)) => Problem::invalid_field("scope", e.to_string()),
            ip_policy::Error::Rule(e @ RuleError::LocksOut { .. }) => Problem::conflict(e.to_string()),
            other => Problem::internal(other),
        }
    }
}

/// The rules, oldest first.
#[utoipa::path(
    get, path = "/api/v1/ip-rules", tag = "operations",
    security(("bearer" = ["admin"])), params(PageQuery),
    responses((status = 200, description = "A page of rules, oldest first", body = Page<RuleBody>))
)]
async fn list_ip_rules(
    State(state): State<AppState>,
    _admin: AdminCaller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<RuleBody>>, Problem> {
    let limit = paging::limit(q.limit)?;
    let after: Option<i64> = paging::after(q.cursor.as_deref())?;
    let rules = state.ip.page(after.unwrap_or(0), i64::from(limit) + 1).await?;
    let items = rules.into_iter().map(RuleBody::from).collect();
    Ok(Json(paging::page(items, limit, |r: &RuleBody| r.id)))
}

/// Adds a rule; running instances apply it within seconds, this one at once.
#[utoipa::path(
    post, path = "/api/v1/ip-rules", tag = "operations",
    security(("bearer" = ["admin"])), request_body = NewRule,
    responses(
        (status = 201, description = "Added", body = RuleBody,
            headers(("Location" = String, description = "The rule's address"))),
        (status = 409, description = "The rule would refuse your own address", body = crate::http::api::ProblemBody,
            content_type = "application/problem+json"),
    )
)]
async fn add_ip_rule(
    State(state): State<AppState>,
    admin: AdminCaller,
    ApiJson(body): ApiJson<NewRule>,
) -> Result<Response, Problem> {
    let scope = Scope::from_input(body.client.as_deref(), body.role.as_deref(), &crate::accounts::ROLES)
        .map_err(|e| Problem::invalid_field("scope", e.to_string()))?;
    let action = match body.action {
        RuleAction::Allow => Action::Allow,
        RuleAction::Deny => Action::Deny,
    };
    let rule = (action, body.cidr.as_str(), &scope, body.note.trim());
    let keep = admin.0.principal.ip_scopes();
    let added = state.ip.add_keeping_access(admin.ctx(), rule, &keep, state.clock.unix()).await?;
    let location = format!("/api/v1/ip-rules/{}", added.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(RuleBody::from(added))).into_response())
}

/// Removes a rule.
#[utoipa::path(
    delete, path = "/api/v1/ip-rules/{id}", tag = "operations",
    security(("bearer" = ["admin"])), params(("id" = i64, Path, description = "The rule's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 409, description = "Removing it would refuse your own address", body = crate::http::api::ProblemBody,
            content_type = "application/problem+json"),
    )
)]
async fn remove_ip_rule(
    State(state): State<AppState>,
    admin: AdminCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let id: i64 = id.parse().map_err(|_| Problem::not_found())?;
    let keep = admin.0.principal.ip_scopes();
    if !state.ip.remove_keeping_access(admin.ctx(), id, &keep, state.clock.unix()).await? {
        return Err(Problem::not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}
