//! Shared page furniture: the navigation data every template gets, the
//! message page several areas show ([`MessagePage`]), the
//! stylesheet (embedded in the binary and cache-busted by a content hash), and
//! display helpers. Assets are compiled in rather than served from a folder
//! (STYLE.md suggests ServeDir) so that the binary is all an operator deploys.
//! The operator's branding (logo, brand stylesheet) is read at startup and
//! served from memory too, and reaches every layout through [`Nav`].
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::accounts::CurrentUser;
use crate::app::AppState;
use crate::branding::{Asset, Branding};

const STYLESHEET: &str = include_str!("../../static/css/app.css");
const FORM_POST_JS: &str = include_str!("../../static/js/form_post.js");

/// FNV-1a of the stylesheet, evaluated at compile time: the `?v=` cache buster.
pub const STYLESHEET_VERSION: u64 = crate::branding::fnv1a(STYLESHEET.as_bytes());

/// What every layout shows of the deployment: its branding, and whether
/// visitors may sign up (the "Create account" links).
#[derive(Debug, Clone, Default)]
pub struct Site {
    pub brand: Arc<Branding>,
    pub signup_open: bool,
}

tokio::task_local! {
    /// The app's [`Site`] for the request being handled. Pages build [`Nav`]
    /// in many places, some without the `AppState` (`MessagePage::new`, the
    /// error pages `http::error::render_errors` dresses), so [`with_site`]
    /// sets it around each request from that app's own state. It is
    /// request-scoped, not a process global: each app (and each test app)
    /// carries its own branding, and outside a request the defaults apply.
    static SITE: Site;
}

/// Middleware: runs the request with its app's [`Site`] in scope.
pub async fn with_site(State(site): State<Site>, req: Request, next: Next) -> Response {
    SITE.scope(site, next.run(req)).await
}

/// What the layout needs: who is signed in, the stylesheet version, and the
/// deployment's [`Site`] (branding, sign-up).
#[derive(Debug, Clone, Default)]
pub struct Nav {
    pub username: Option<String>,
    pub is_admin: bool,
    pub css_version: u64,
    pub brand: Arc<Branding>,
    pub signup_open: bool,
}

impl Nav {
    /// Navigation for a visitor who may or may not be signed in.
    pub fn new(user: Option<&CurrentUser>) -> Self {
        let site = SITE.try_with(Site::clone).unwrap_or_else(|_| Site { signup_open: true, ..Site::default() });
        Self {
            username: user.map(|u| u.username.clone()),
            is_admin: user.is_some_and(|u| u.has_role("admin")),
            css_version: STYLESHEET_VERSION,
            brand: site.brand,
            signup_open: site.signup_open,
        }
    }

    /// Navigation with nobody signed in.
    pub fn anonymous() -> Self {
        Self::new(None)
    }
}

/// Sends the user to sign in again before a sensitive change, then back
/// to `next` (`session.reauth_secs`).
pub fn reauthenticate(next: &str) -> axum::response::Redirect {
    axum::response::Redirect::to(&path_with_query("/login", &[("prompt", "login"), ("reauth", "1"), ("next", next)]))
}

/// `path?k=v&…` with the pairs form-urlencoded.
pub fn path_with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.extend_pairs(pairs);
    let query = query.finish();
    if query.is_empty() { path.to_owned() } else { format!("{path}?{query}") }
}

pub use crate::accounts::devices::{coarse_agent as device_name, format_time as display_time};

/// Routes for static assets.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/static/app.css", get(get_stylesheet))
        .route("/static/form_post.js", get(get_form_post_js))
        .route("/static/brand.css", get(get_brand_css))
        .route("/static/brand/logo", get(get_logo))
}

/// The brand stylesheet (accent colour, then the operator's CSS), if any.
async fn get_brand_css(State(state): State<AppState>) -> Response {
    serve_asset(state.branding.stylesheet.as_ref())
}

/// The operator's logo, if configured.
async fn get_logo(State(state): State<AppState>) -> Response {
    serve_asset(state.branding.logo.as_ref())
}

fn serve_asset(asset: Option<&Asset>) -> Response {
    let Some(asset) = asset else { return crate::http::error::HtmlError::not_found().into_response() };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
            // The URL carries the content hash.
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")),
        ],
        axum::body::Bytes::from_owner(asset.bytes.clone()),
    )
        .into_response()
}

async fn get_form_post_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
        ],
        FORM_POST_JS,
    )
}

async fn get_stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8")),
            // Safe to cache for a year: the URL changes when the content does.
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")),
        ],
        STYLESHEET,
    )
}

/// A page of a few sentences, optionally with the resend form or a link.
#[derive(Template, WebTemplate)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub nav: Nav,
    pub csrf: String,
    pub title: &'static str,
    pub paragraphs: Vec<&'static str>,
    pub resend_login: Option<String>,
    pub link: Option<(&'static str, &'static str)>,
}

impl MessagePage {
    /// A page with `paragraphs` and an optional link.
    pub fn new(title: &'static str, paragraphs: Vec<&'static str>, link: Option<(&'static str, &'static str)>) -> Self {
        Self { nav: Nav::anonymous(), csrf: String::new(), title, paragraphs, resend_login: None, link }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_times_read_well() {
        let ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
        assert_eq!(device_name(ua), "Chrome on Linux");
        assert_eq!(device_name(""), "Unknown device");
        assert_eq!(display_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(path_with_query("/login", &[("next", "/a?b=c")]), "/login?next=%2Fa%3Fb%3Dc");
        assert_eq!(path_with_query("/login", &[]), "/login");
    }
}
