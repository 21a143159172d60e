//! Shared page furniture: the navigation data every template gets, the
//! message page several areas show ([`MessagePage`]), the
//! stylesheet (embedded in the binary and cache-busted by a content hash), and
//! display helpers. Assets are compiled in rather than served from a folder
//! (STYLE.md suggests ServeDir) so that the binary is all an operator deploys.
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::accounts::CurrentUser;
use crate::app::AppState;

const STYLESHEET: &str = include_str!("../../static/css/app.css");
const FORM_POST_JS: &str = include_str!("../../static/js/form_post.js");

/// FNV-1a of the stylesheet, evaluated at compile time: the `?v=` cache buster.
pub const STYLESHEET_VERSION: u64 = fnv1a(STYLESHEET.as_bytes());

const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

/// What the layout needs: who is signed in, and the stylesheet version.
#[derive(Debug, Clone, Default)]
pub struct Nav {
    pub username: Option<String>,
    pub is_admin: bool,
    pub css_version: u64,
}

impl Nav {
    /// Navigation for a visitor who may or may not be signed in.
    pub fn new(user: Option<&CurrentUser>) -> Self {
        Self {
            username: user.map(|u| u.username.clone()),
            is_admin: user.is_some_and(|u| u.has_role("admin")),
            css_version: STYLESHEET_VERSION,
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
    Router::new().route("/static/app.css", get(get_stylesheet)).route("/static/form_post.js", get(get_form_post_js))
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
