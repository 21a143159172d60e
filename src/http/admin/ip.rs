//! The console's IP rules: the list, add and remove through
//! `security::ip_policy` (the CLI's and the API's checks, including the one
//! that refuses a change shutting the acting administrator out), and a
//! "test an address" form answered by [`crate::security::ip_policy::IpPolicy::test_address`].
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::accounts::CurrentUser;
use crate::app::AppState;
use crate::http::admin::{Console, Section};
use crate::http::audit::AuditCtx;
use crate::http::error::HtmlError;
use crate::http::extract::{Admin, CsrfForm, PageCsrf};
use crate::http::pages::{Nav, display_time, path_with_query};
use crate::security::ip_policy;
use crate::security::ip_rules::{Action, Decision, Rule, RuleError, Scope};

const PER_PAGE: i64 = 50;

/// Routes for this area.
pub fn router() -> Router<AppState> {
    Router::new().route("/admin/ip", get(get_ip).post(post_add)).route("/admin/ip/{id}/remove", post(post_remove))
}

struct RuleView {
    id: i64,
    scope: String,
    action: &'static str,
    net: String,
    note: String,
    created: String,
}

impl From<&Rule> for RuleView {
    fn from(r: &Rule) -> Self {
        Self {
            id: r.id,
            scope: r.scope.to_string(),
            action: r.action.as_str(),
            net: r.net.to_string(),
            note: r.note.clone(),
            created: display_time(r.created_at),
        }
    }
}

struct DecisionView {
    scope: String,
    allowed: bool,
    rule: Option<RuleView>,
}

impl From<&Decision> for DecisionView {
    fn from(d: &Decision) -> Self {
        Self { scope: d.scope.to_string(), allowed: d.allowed, rule: d.rule.as_ref().map(RuleView::from) }
    }
}

/// The add form, as typed.
#[derive(Debug, Deserialize, Default)]
struct AddForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    cidr: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    note: String,
}

/// The test form and paging.
#[derive(Debug, Deserialize, Default)]
struct IpQuery {
    #[serde(default)]
    test: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    client: String,
    after: Option<i64>,
}

#[derive(Default)]
struct AddErrors {
    cidr: Option<String>,
    scope: Option<String>,
    /// The rule would shut the acting administrator out (or another refusal of the whole form).
    form: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/ip.html")]
struct IpPage {
    nav: Nav,
    console: Console,
    csrf: String,
    rules: Vec<RuleView>,
    next_page: Option<String>,
    add: AddForm,
    errors: AddErrors,
    /// A refused removal.
    remove_error: Option<String>,
    test: IpQuery,
    test_error: Option<&'static str>,
    decisions: Vec<DecisionView>,
}

/// The scopes whose rules apply to `admin` getting back in: every request and each of their roles.
fn keep_scopes(admin: &CurrentUser) -> Vec<Scope> {
    std::iter::once(Scope::Global).chain(admin.roles.iter().map(|r| Scope::Role(r.clone()))).collect()
}

/// What the rules say about the address of the test form (global, and for
/// the role or client given), or why the form cannot be answered.
async fn decisions(state: &AppState, test: &IpQuery) -> Result<(Vec<DecisionView>, Option<&'static str>), HtmlError> {
    if test.test.trim().is_empty() {
        return Ok((Vec::new(), None));
    }
    let role = Some(test.role.as_str()).filter(|r| !r.trim().is_empty());
    let client = Some(test.client.as_str()).filter(|c| !c.trim().is_empty());
    match (test.test.trim().parse(), Scope::from_input(client, role, &crate::accounts::ROLES)) {
        (Ok(ip), Ok(scope)) => {
            let scopes: Vec<Scope> =
                std::iter::once(Scope::Global).chain(Some(scope).filter(|s| *s != Scope::Global)).collect();
            let found = state.ip.test_address(ip, &scopes).await.map_err(HtmlError::internal)?;
            Ok((found.iter().map(DecisionView::from).collect(), None))
        }
        (Err(_), _) => Ok((Vec::new(), Some("Enter one IP address, like 192.0.2.7 or 2001:db8::7."))),
        (_, Err(_)) => Ok((Vec::new(), Some("Name a known role or a client, not both."))),
    }
}

async fn page(
    state: &AppState,
    admin: &CurrentUser,
    csrf: &PageCsrf,
    test: IpQuery,
    add: AddForm,
    errors: AddErrors,
) -> Result<IpPage, HtmlError> {
    let mut rules = state.ip.page(test.after.unwrap_or(0), PER_PAGE + 1).await.map_err(HtmlError::internal)?;
    let next_page = (rules.len() as i64 > PER_PAGE)
        .then(|| {
            rules.get(PER_PAGE as usize - 1).map(|r| path_with_query("/admin/ip", &[("after", &r.id.to_string())]))
        })
        .flatten();
    rules.truncate(PER_PAGE as usize);
    let (decisions, test_error) = decisions(state, &test).await?;
    Ok(IpPage {
        nav: Nav::new(Some(admin)),
        console: Console::new(Section::Ip),
        csrf: csrf.token.clone(),
        rules: rules.iter().map(RuleView::from).collect(),
        next_page,
        add,
        errors,
        remove_error: None,
        test,
        test_error,
        decisions,
    })
}

async fn get_ip(
    State(state): State<AppState>,
    Admin(admin): Admin,
    csrf: PageCsrf,
    Query(test): Query<IpQuery>,
) -> Result<Response, HtmlError> {
    let view = page(
        &state,
        &admin,
        &csrf,
        test,
        AddForm { scope: "global".into(), ..AddForm::default() },
        AddErrors::default(),
    )
    .await?;
    let status = if view.test_error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok((status, csrf, view).into_response())
}

/// The service's refusal of a new rule as the form's error and status.
fn add_refusal(err: ip_policy::Error) -> Result<(StatusCode, AddErrors), HtmlError> {
    let none = AddErrors::default;
    match err {
        ip_policy::Error::Rule(e @ RuleError::BadNet(_)) => {
            Ok((StatusCode::UNPROCESSABLE_ENTITY, AddErrors { cidr: Some(e.to_string()), ..none() }))
        }
        ip_policy::Error::Rule(e @ RuleError::BadScope(_)) => {
            Ok((StatusCode::UNPROCESSABLE_ENTITY, AddErrors { scope: Some(e.to_string()), ..none() }))
        }
        ip_policy::Error::Rule(e @ RuleError::LocksOut { .. }) => {
            Ok((StatusCode::CONFLICT, AddErrors { form: Some(e.to_string()), ..none() }))
        }
        other => Err(HtmlError::internal(other)),
    }
}

/// The scope the form names (validated like the CLI's `--role`/`--client`).
fn scope_of(form: &AddForm) -> Result<Scope, RuleError> {
    let subject = form.subject.trim();
    match form.scope.as_str() {
        "role" => Scope::from_input(None, Some(subject), &crate::accounts::ROLES),
        "client" => Scope::from_input(Some(subject), None, &crate::accounts::ROLES),
        _ => Ok(Scope::Global),
    }
}

async fn post_add(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ctx: AuditCtx,
    CsrfForm { form, csrf }: CsrfForm<AddForm>,
) -> Result<Response, HtmlError> {
    let action = if form.action == "deny" { Action::Deny } else { Action::Allow };
    let result = match scope_of(&form) {
        Ok(scope) => {
            let rule = (action, form.cidr.trim(), &scope, form.note.trim());
            let ctx = ctx.context(&admin.user_id);
            state.ip.add_keeping_access(&ctx, rule, &keep_scopes(&admin), state.clock.unix()).await
        }
        Err(e) => Err(e.into()),
    };
    let Err(err) = result else { return Ok(Redirect::to("/admin/ip").into_response()) };
    let (status, errors) = add_refusal(err)?;
    let view = page(&state, &admin, &csrf, IpQuery::default(), form, errors).await?;
    Ok((status, csrf, view).into_response())
}

#[derive(Deserialize)]
struct RemoveForm {}

async fn post_remove(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ctx: AuditCtx,
    Path(id): Path<String>,
    CsrfForm { csrf, .. }: CsrfForm<RemoveForm>,
) -> Result<Response, HtmlError> {
    let id: i64 = id.parse().map_err(|_| HtmlError::not_found())?;
    let ctx = ctx.context(&admin.user_id);
    match state.ip.remove_keeping_access(&ctx, id, &keep_scopes(&admin), state.clock.unix()).await {
        Ok(true) => Ok(Redirect::to("/admin/ip").into_response()),
        Ok(false) => Err(HtmlError::not_found()),
        Err(ip_policy::Error::Rule(e @ RuleError::LocksOut { .. })) => {
            let blank = AddForm { scope: "global".into(), ..AddForm::default() };
            let mut view = page(&state, &admin, &csrf, IpQuery::default(), blank, AddErrors::default()).await?;
            view.remove_error = Some(e.to_string());
            Ok((StatusCode::CONFLICT, csrf, view).into_response())
        }
        Err(other) => Err(HtmlError::internal(other)),
    }
}
