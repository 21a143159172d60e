//! `[branding]` (issue 17): the product name, logo, accent colour, extra
//! stylesheet and footer links on every page and every mail.
use gatehouse::config::{BrandLink, BrandingConfig, Config};
use serde_json::json;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::json_api::support::{Api, admin_token};

const LOGO: &[u8] = b"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"><rect width=\"10\" height=\"10\" fill=\"#0a7d5a\"/></svg>";

/// An app branded "Acme ID", with its files in `dir`.
pub async fn branded(dir: &std::path::Path) -> TestApp {
    let logo = dir.join("logo.svg");
    std::fs::write(&logo, LOGO).unwrap();
    let css = dir.join("extra.css");
    std::fs::write(&css, "body { letter-spacing: .01em; }\n").unwrap();
    spawn_app_with(move |c| {
        c.branding = BrandingConfig {
            product_name: "Acme ID".into(),
            logo_file: Some(logo),
            accent_color: Some("#0a7d5a".into()),
            stylesheet_file: Some(css),
            privacy_url: Some("https://acme.example/privacy".into()),
            terms_url: None,
            links: vec![BrandLink { label: "Help".into(), url: "https://acme.example/help".into() }],
        }
    })
    .await
}

fn attr_after<'a>(html: &'a str, prefix: &str) -> &'a str {
    let start = html.find(prefix).unwrap_or_else(|| panic!("{prefix} in {html}")) + prefix.len();
    let end = html[start..].find('"').unwrap() + start;
    &html[start..end]
}

#[tokio::test]
async fn pages_show_the_brand_and_serve_its_logo_and_stylesheet() {
    let dir = tempfile::tempdir().unwrap();
    let app = branded(dir.path()).await;
    let client = app.browser();
    // A page with its own handler, and the 404 page the error layer renders.
    for path in ["/login", "/no-such-page"] {
        let html = client.get(app.url(path)).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("· Acme ID</title>"), "{path}: {html}");
        assert!(html.contains("Acme ID</a>") && !html.contains(">gatehouse<"), "{path}");
        assert!(html.contains("href=\"https://acme.example/privacy\">Privacy</a>"), "{path}");
        assert!(html.contains("href=\"https://acme.example/help\">Help</a>"), "{path}");
        assert!(!html.contains("style="), "no inline styles (CSP style-src 'self')");
    }
    let html = client.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    let logo = attr_after(&html, "<img class=\"logo\" src=\"");
    assert!(logo.starts_with("/static/brand/logo?v="), "{logo}");
    let res = client.get(app.url(logo)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/svg+xml");
    assert_eq!(res.bytes().await.unwrap().as_ref(), LOGO);
    let css = attr_after(&html, "<link rel=\"stylesheet\" href=\"/static/brand.css");
    let res = client.get(app.url(&format!("/static/brand.css{css}"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/css"));
    let body = res.text().await.unwrap();
    assert!(body.contains("--accent: #0a7d5a") && body.contains("letter-spacing"), "{body}");
    // Loaded after app.css, so it wins.
    assert!(html.find("/static/app.css").unwrap() < html.find("/static/brand.css").unwrap());
}

#[tokio::test]
async fn mail_carries_the_brand() {
    let dir = tempfile::tempdir().unwrap();
    let app = branded(dir.path()).await;
    let api = Api::new(&app, admin_token(&app).await);
    let res = api.post("/api/v1/users", &json!({ "username": "ivo", "email": "ivo@example.com" })).await;
    assert_eq!(res.status(), 201);
    let mail = app.mail.wait_for("ivo@example.com", "invited").await;
    assert_eq!(mail.subject, "You have been invited to Acme ID");
    assert!(mail.text.contains("Acme ID, ") && mail.text.contains("Help: https://acme.example/help"), "{}", mail.text);
    assert!(mail.html.contains("#0a7d5a") && mail.html.contains("https://acme.example/privacy"), "{}", mail.html);
    assert!(!mail.html.contains("gatehouse,"));
}

#[tokio::test]
async fn the_defaults_are_unchanged() {
    let app = spawn_app().await;
    let html = app.browser().get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("· gatehouse</title>") && html.contains("class=\"brand\" href=\"/\">gatehouse</a>"));
    assert!(!html.contains("/static/brand.css") && !html.contains("<footer"), "{html}");
    let res = app.browser().get(app.url("/static/brand/logo")).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

#[test]
fn a_bad_accent_colour_or_link_is_a_startup_error_naming_the_key() {
    let mut c = Config::default();
    c.branding.accent_color = Some("green".into());
    let err = c.validate().unwrap_err().to_string();
    assert!(err.contains("branding.accent_color"), "{err}");
    c.branding.accent_color = Some("#00ff00".into());
    c.branding.links = vec![BrandLink { label: "x".into(), url: "ftp://acme.example".into() }];
    let err = c.validate().unwrap_err().to_string();
    assert!(err.contains("branding.links"), "{err}");
}
