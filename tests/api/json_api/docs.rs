//! `/docs` (Swagger UI) and `/redoc` (ReDoc): served by the binary, nothing
//! fetched from another host, under a policy that allows their scripts on
//! those two pages only; "Try it out" works against the running server
//! with a token, in a real browser.
use std::time::Duration;

use serde_json::Value;

use super::support::{api_rp, user_token};
use crate::browser::Driver;
use crate::helpers::{on_postgres, spawn_app};

fn csp(res: &reqwest::Response) -> String {
    res.headers().get("content-security-policy").unwrap().to_str().unwrap().to_owned()
}

#[tokio::test]
async fn both_pages_and_their_files_are_served_from_the_binary() {
    let app = spawn_app().await;
    for (page, assets) in [
        ("/docs", &["/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/init.js"][..]),
        ("/redoc", &["/redoc/redoc.standalone.js"][..]),
    ] {
        let res = reqwest::get(app.url(page)).await.unwrap();
        assert_eq!(res.status(), 200, "{page}");
        let policy = csp(&res);
        assert!(policy.contains("script-src 'self'") && !policy.contains("unsafe-eval"), "{policy}");
        assert!(policy.contains("connect-src 'self'"), "{policy}");
        let html = res.text().await.unwrap();
        assert!(!html.contains("https://") && !html.contains("//cdn"), "{page} names another host");
        for asset in assets {
            assert!(html.contains(asset), "{page} loads {asset}");
            let res = reqwest::get(app.url(asset)).await.unwrap();
            assert_eq!(res.status(), 200, "{asset}");
            assert!(res.bytes().await.unwrap().len() > 100, "{asset}");
        }
    }
}

#[tokio::test]
async fn other_pages_keep_the_strict_policy_without_scripts() {
    let app = spawn_app().await;
    let res = reqwest::get(app.url("/login")).await.unwrap();
    let policy = csp(&res);
    assert!(policy.starts_with("default-src 'none'") && !policy.contains("script-src"), "{policy}");
}

/// Polls `js` (an expression) in the page until it is true.
async fn until(driver: &Driver, what: &str, js: &str) {
    for _ in 0..150 {
        if driver.script(&format!("return !!({js});")).await == Value::Bool(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    driver.screenshot(&format!("docs-timeout-{what}")).await;
    panic!("{what} never happened");
}

/// Resource URLs the page loaded, for the "nothing from another host" check.
async fn loaded_hosts(driver: &Driver) -> Vec<String> {
    let names = driver.script("return performance.getEntriesByType('resource').map(e => e.name);").await;
    names.as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn swagger_ui_tries_out_an_operation_with_a_token_in_a_real_browser() {
    // The pages do not depend on the database: once, on SQLite.
    if on_postgres() {
        return;
    }
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    let secret = api_rp(&app).await;
    let token = user_token(&app, &secret, "tryout", &[], "openid account").await;

    driver.goto(&app.url("/docs")).await;
    until(&driver, "swagger-rendered", "document.querySelector('.opblock-summary-path')").await;
    driver.click("button.authorize").await;
    until(&driver, "auth-dialog", "document.querySelector('.auth-container input')").await;
    driver.type_into(".auth-container input", &token).await;
    driver.click(".auth-btn-wrapper button.authorize").await;
    driver.click(".auth-btn-wrapper button.btn-done").await;
    driver.click("#operations-account-get_me .opblock-summary-control").await;
    until(&driver, "try-out-button", "document.querySelector('.try-out__btn')").await;
    driver.click(".try-out__btn").await;
    driver.click(".execute").await;
    until(&driver, "live-response", "document.querySelector('.live-responses-table tbody .response-col_status')").await;
    let status = driver
        .script("return document.querySelector('.live-responses-table tbody .response-col_status').innerText;")
        .await;
    assert_eq!(status.as_str().unwrap().trim(), "200", "the call went through");
    assert!(driver.source().await.contains("tryout"), "the response shows the user");
    driver.script("document.querySelector('.live-responses-table').scrollIntoView(); return 0;").await;
    driver.screenshot("docs-swagger-try-it-out").await;
    for url in loaded_hosts(&driver).await {
        assert!(url.starts_with(&app.base), "fetched from another host: {url}");
    }
}

#[tokio::test]
async fn redoc_renders_the_document_in_a_real_browser() {
    if on_postgres() {
        return;
    }
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    driver.goto(&app.url("/redoc")).await;
    until(&driver, "redoc-rendered", "document.body.innerText.includes('/api/v1/me')").await;
    driver.screenshot("docs-redoc").await;
    for url in loaded_hosts(&driver).await {
        assert!(url.starts_with(&app.base) || url.starts_with("blob:"), "fetched from another host: {url}");
    }
}
