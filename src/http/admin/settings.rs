//! The console's settings: the effective configuration, read-only, each key
//! with its value and where it came from. The config module produces the
//! list with secrets redacted (`Config::settings`); this page only renders it.
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::app::AppState;
use crate::config::Setting;
use crate::http::admin::{Console, Section};
use crate::http::extract::Admin;
use crate::http::pages::Nav;

/// Routes for this area.
pub fn router() -> Router<AppState> {
    Router::new().route("/admin/settings", get(get_settings))
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/settings.html")]
struct SettingsPage {
    nav: Nav,
    console: Console,
    settings: Vec<Setting>,
}

async fn get_settings(State(state): State<AppState>, Admin(admin): Admin) -> Response {
    SettingsPage {
        nav: Nav::new(Some(&admin)),
        console: Console::new(Section::Settings),
        settings: state.config.settings(),
    }
    .into_response()
}
