//! Destructive actions: a recent sign-in and a confirmation page that names
//! what will be lost. The pattern (one path, two methods):
//! - `GET /admin/…/delete` takes [`RecentAdmin`] and shows a [`ConfirmPage`];
//! - `POST /admin/…/delete` takes [`RecentAdmin`] and a CSRF form, and acts.
//!
//! Without a recent sign-in (`session.reauth_secs`) both answer with a
//! redirect to sign in again (`prompt=login`), then back to the GET, so a
//! form posted from a stale page is confirmed again rather than acted on.
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::accounts::CurrentUser;
use crate::app::AppState;
use crate::http::extract::{Admin, AuthRejection};
use crate::http::pages::{Nav, reauthenticate};

/// An administrator who signed in recently enough for a destructive action.
#[derive(Debug, Clone)]
pub struct RecentAdmin(pub CurrentUser);

impl FromRequestParts<AppState> for RecentAdmin {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Admin(user) = Admin::from_request_parts(parts, state).await?;
        if state.accounts.recently_authenticated(&user) {
            return Ok(RecentAdmin(user));
        }
        // Back to the confirmation page (the GET of the same path), never
        // straight into the action.
        let next = match parts.method {
            axum::http::Method::GET => parts.uri.path_and_query().map_or(parts.uri.path(), |pq| pq.as_str()),
            _ => parts.uri.path(),
        };
        Err(AuthRejection::SignIn(reauthenticate(next)))
    }
}

/// "Are you sure?": what will be lost, and one button that does it.
#[derive(Template, WebTemplate)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub nav: Nav,
    pub csrf: String,
    /// The page's heading, e.g. "Delete the user kim".
    pub title: String,
    /// What goes, one line each.
    pub losses: Vec<String>,
    /// Where the form posts (the same path as this page).
    pub action: String,
    /// The button's label, e.g. "Delete kim".
    pub button: String,
    /// Where "Cancel" goes.
    pub cancel: String,
    /// Ask for the current password too (account deletion).
    pub password: bool,
    /// An error to show above the form (a wrong password).
    pub error: Option<&'static str>,
}

impl ConfirmPage {
    /// A confirmation for `user`, posting to `action`.
    pub fn new(user: &CurrentUser, csrf: &str, title: String, action: String, button: String, cancel: String) -> Self {
        Self {
            nav: Nav::new(Some(user)),
            csrf: csrf.to_owned(),
            title,
            losses: Vec::new(),
            action,
            button,
            cancel,
            password: false,
            error: None,
        }
    }

    /// Names what will be lost.
    pub fn losing(mut self, losses: Vec<String>) -> Self {
        self.losses = losses;
        self
    }

    pub fn response(self) -> Response {
        self.into_response()
    }
}

/// The confirmation page's form: `confirm=yes` from its button (and the CSRF
/// token, checked by `CsrfForm`).
#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    pub confirm: String,
}

impl ConfirmForm {
    /// Whether the form came from the confirmation page's button.
    pub fn confirmed(&self) -> bool {
        self.confirm == "yes"
    }
}

/// "1 session", "3 sessions": a count for a confirmation page's list.
pub fn count<N: std::fmt::Display + PartialEq + From<u8>>(n: N, one: &str, many: &str) -> String {
    if n == N::from(1) { format!("1 {one}") } else { format!("{n} {many}") }
}
