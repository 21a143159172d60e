//! The console's clients: the list, create and edit through
//! `oauth::clients::Clients` (the CLI's and the API's rules and audit
//! events). A generated secret is shown on the page answering the creation,
//! once; an edit carries the client's ETag so a concurrent change is refused
//! (409 with the current version) rather than overwritten. Rotating the
//! secret and deleting are in `clients_danger`.
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use super::clients_form::{ClientForm, FormErrors, reveal};
use crate::app::AppState;
use crate::http::admin::{Console, Section};
use crate::http::audit::AuditCtx;
use crate::http::error::HtmlError;
use crate::http::extract::{Admin, CsrfForm, PageCsrf};
use crate::http::pages::{Nav, path_with_query};
use crate::oauth::clients::{self, Client};

const PER_PAGE: i64 = 50;

/// Routes for this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/clients", get(get_clients))
        .route("/admin/clients/new", get(get_new).post(post_new))
        .route("/admin/clients/{id}", get(get_edit).post(post_edit))
        .merge(super::clients_danger::router())
}

pub(super) fn service_error(err: clients::Error) -> HtmlError {
    match err {
        clients::Error::Unknown(_) => HtmlError::not_found(),
        clients::Error::Invalid { message, .. } => HtmlError::new(StatusCode::UNPROCESSABLE_ENTITY, message),
        other => HtmlError::internal(other),
    }
}

struct ClientRowView {
    client_id: String,
    name: String,
    kind: &'static str,
    grants: String,
    skip_consent: bool,
    service_roles: String,
}

impl From<&Client> for ClientRowView {
    fn from(c: &Client) -> Self {
        Self {
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            kind: c.kind(),
            grants: c.grant_types.names().join(", "),
            skip_consent: c.skip_consent,
            service_roles: c.service_roles.join(", "),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/clients.html")]
struct ClientsPage {
    nav: Nav,
    console: Console,
    clients: Vec<ClientRowView>,
    next_page: Option<String>,
    first_page: Option<String>,
}

#[derive(Deserialize, Default)]
struct ListQuery {
    after: Option<String>,
}

async fn get_clients(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Query(q): Query<ListQuery>,
) -> Result<Response, HtmlError> {
    let mut list = state.clients.page(q.after.as_deref(), PER_PAGE + 1).await.map_err(service_error)?;
    let more = list.len() as i64 > PER_PAGE;
    list.truncate(PER_PAGE as usize);
    let next_page =
        more.then(|| list.last().map(|c| path_with_query("/admin/clients", &[("after", &c.client_id)]))).flatten();
    let page = ClientsPage {
        nav: Nav::new(Some(&admin)),
        console: Console::new(Section::Clients),
        clients: list.iter().map(ClientRowView::from).collect(),
        next_page,
        first_page: q.after.is_some().then(|| "/admin/clients".to_owned()),
    };
    Ok(page.into_response())
}

/// The create or edit form.
#[derive(Template, WebTemplate)]
#[template(path = "admin/client_form.html")]
pub(super) struct ClientFormPage {
    nav: Nav,
    console: Console,
    csrf: String,
    /// `None` on the create form, the client_id on the edit form.
    editing: Option<String>,
    form: ClientForm,
    errors: FormErrors,
    /// Why the form is shown again (a concurrent change).
    alert: Option<&'static str>,
    grant_names: [(&'static str, &'static str); 4],
}

const GRANTS: [(&str, &str); 4] = [
    ("grant_authorization_code", "Authorization code"),
    ("grant_refresh_token", "Refresh token"),
    ("grant_client_credentials", "Client credentials"),
    ("grant_password", "Password (legacy; RFC 9700 advises against it)"),
];

impl ClientFormPage {
    fn new(admin: &crate::accounts::CurrentUser, csrf: &PageCsrf, editing: Option<String>, form: ClientForm) -> Self {
        Self {
            nav: Nav::new(Some(admin)),
            console: Console::new(Section::Clients),
            csrf: csrf.token.clone(),
            editing,
            form,
            errors: FormErrors::default(),
            alert: None,
            grant_names: GRANTS,
        }
    }

    fn granted(&self, name: &str) -> bool {
        match name {
            "grant_authorization_code" => self.form.grant_authorization_code.is_some(),
            "grant_refresh_token" => self.form.grant_refresh_token.is_some(),
            "grant_client_credentials" => self.form.grant_client_credentials.is_some(),
            _ => self.form.grant_password.is_some(),
        }
    }
}

/// The page answering a creation or a rotation: the secret, this once.
#[derive(Template, WebTemplate)]
#[template(path = "admin/client_secret.html")]
pub(super) struct SecretPage {
    pub nav: Nav,
    pub console: Console,
    pub client_id: String,
    pub heading: &'static str,
    pub secret: Option<String>,
}

impl SecretPage {
    /// Never cached: the secret is shown this once.
    pub fn response(self) -> Response {
        ([(header::CACHE_CONTROL, "no-store")], self).into_response()
    }
}

async fn get_new(Admin(admin): Admin, csrf: PageCsrf) -> Response {
    let page = ClientFormPage::new(&admin, &csrf, None, ClientForm::blank());
    (csrf, page).into_response()
}

async fn post_new(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ctx: AuditCtx,
    CsrfForm { form, csrf }: CsrfForm<ClientForm>,
) -> Result<Response, HtmlError> {
    match state.clients.register_as(form.spec(), &ctx.context(&admin.user_id)).await {
        Ok(registered) => Ok(SecretPage {
            nav: Nav::new(Some(&admin)),
            console: Console::new(Section::Clients),
            client_id: registered.client.client_id.clone(),
            heading: "Client created",
            secret: reveal(registered.generated_secret.as_ref()),
        }
        .response()),
        Err(e) => {
            let errors = FormErrors::of(&e).ok_or_else(|| service_error(e))?;
            let mut page = ClientFormPage::new(&admin, &csrf, None, form);
            page.errors = errors;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, csrf, page).into_response())
        }
    }
}

async fn get_edit(
    State(state): State<AppState>,
    Admin(admin): Admin,
    csrf: PageCsrf,
    Path(id): Path<String>,
) -> Result<Response, HtmlError> {
    let client = state.clients.get(&id).await.map_err(service_error)?.ok_or_else(HtmlError::not_found)?;
    let page = ClientFormPage::new(&admin, &csrf, Some(id), ClientForm::of(&client));
    Ok((csrf, page).into_response())
}

async fn post_edit(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ctx: AuditCtx,
    Path(id): Path<String>,
    CsrfForm { form, csrf }: CsrfForm<ClientForm>,
) -> Result<Response, HtmlError> {
    let ctx = ctx.context(&admin.user_id);
    let tag = Some(form.etag.as_str()).filter(|t| !t.is_empty());
    match state.clients.update_if_match(&id, form.changes(), tag.or(Some("\"none\"")), &ctx).await {
        Ok(_) => Ok(Redirect::to("/admin/clients").into_response()),
        Err(clients::Error::Stale) => {
            // Shown again as it is now, with its current version.
            let current = state.clients.get(&id).await.map_err(service_error)?.ok_or_else(HtmlError::not_found)?;
            let mut page = ClientFormPage::new(&admin, &csrf, Some(id), ClientForm::of(&current));
            page.alert = Some(
                "Someone else changed this client since you opened it. This is the current version: make your change again.",
            );
            Ok((StatusCode::CONFLICT, csrf, page).into_response())
        }
        Err(e) => {
            let errors = FormErrors::of(&e).ok_or_else(|| service_error(e))?;
            let mut page = ClientFormPage::new(&admin, &csrf, Some(id), form);
            page.errors = errors;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, csrf, page).into_response())
        }
    }
}
