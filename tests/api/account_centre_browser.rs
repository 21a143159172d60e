//! A real browser walks every account centre page (screenshots in
//! target/screenshots/, axe-core on each), disconnects a connected app by
//! keyboard alone, downloads the data export, deletes an account through the
//! confirmation page, and saves a profile form with JavaScript off; the login
//! and register pages are checked with custom branding too.
use crate::browser::Driver;
use crate::helpers::{PASSWORD, TestApp, spawn_app};
use crate::json_api::support::api_rp;
use crate::oidc::code_with_scope;

const PAGES: [(&str, &str, &str); 11] = [
    ("/account", "account-overview", "Your account at a glance"),
    ("/account/profile", "account-profile", "Display name"),
    ("/account/email", "account-email", "Change email address"),
    ("/account/password", "account-password", "Change password"),
    ("/account/mfa", "account-mfa", "Authenticator app"),
    ("/account/sessions", "account-sessions", "Active sessions"),
    ("/account/apps", "account-apps", "Connected apps"),
    ("/account/providers", "account-providers", "Linked sign-in"),
    ("/account/activity", "account-activity", "Recent sign-in activity"),
    ("/account/export", "account-data", "Download my data"),
    ("/account/delete", "account-delete", "Delete your account"),
];

async fn sign_in(driver: &Driver, app: &TestApp, name: &str) {
    driver.goto(&app.url("/login")).await;
    driver.type_into("#username", name).await;
    driver.type_into("#password", PASSWORD).await;
    driver.click("button[type=submit]").await;
    driver.wait_for("Your account at a glance").await;
}

#[tokio::test]
async fn a_browser_walks_the_account_centre_revokes_an_app_downloads_its_data_and_deletes_the_account() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    app.create_user("lou", &[]).await;
    // lou connects `rp` from another browser: a consent and live tokens.
    let secret = api_rp(&app).await;
    let other = app.browser();
    assert_eq!(app.login(&other, "lou", PASSWORD).await.status(), 303);
    let (code, verifier) = code_with_scope(&app, &other, "openid offline_access").await;
    assert_eq!(crate::oidc::redeem(&app, &secret, &code, Some(&verifier)).await.status(), 200);

    sign_in(&driver, &app, "lou").await;
    for (path, shot, text) in PAGES {
        driver.goto(&app.url(path)).await;
        driver.wait_for(text).await;
        driver.screenshot(shot).await;
        driver.assert_accessible(shot).await;
    }

    // Disconnect the app by keyboard alone.
    driver.goto(&app.url("/account/apps")).await;
    driver.wait_for("rp app").await;
    driver.keyboard_activate("Disconnect").await;
    driver.wait_for("The app is disconnected").await;
    assert_eq!(driver.current_path().await, "/account/apps");
    driver.screenshot("account-apps-revoked").await;
    driver.assert_accessible("account-apps-revoked").await;

    // The download, from the link on the page, with the browser's session
    // (our CSP allows no fetch from page scripts; WebDriver hands over the
    // HttpOnly cookies).
    driver.goto(&app.url("/account/export")).await;
    let link = driver.find("a[href='/account/export?download=1']").await;
    assert!(!link.is_empty());
    let cookies = driver.call(reqwest::Method::GET, "/cookie", serde_json::Value::Null).await;
    let header: Vec<String> = cookies
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{}={}", c["name"].as_str().unwrap(), c["value"].as_str().unwrap()))
        .collect();
    let res = reqwest::Client::new()
        .get(app.url("/account/export?download=1"))
        .header("cookie", header.join("; "))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-disposition"], "attachment; filename=\"gatehouse-export-lou.json\"");
    let doc: serde_json::Value = res.json().await.unwrap();
    assert_eq!(doc["profile"]["username"], "lou");

    // Delete through the confirmation page.
    driver.goto(&app.url("/account/delete")).await;
    driver.type_into("#password", PASSWORD).await;
    driver.click("button.danger").await;
    driver.wait_for("Your account is deleted").await;
    driver.screenshot("account-deleted").await;
    driver.assert_accessible("account-deleted").await;
    assert!(app.state.accounts.find("lou").await.is_err());
}

#[tokio::test]
async fn the_profile_form_works_with_javascript_off() {
    let Some(plain) = Driver::without_javascript().await else { return };
    let app = spawn_app().await;
    app.create_user("moe", &[]).await;
    sign_in(&plain, &app, "moe").await;
    plain.goto(&app.url("/account/profile")).await;
    plain.type_into("#display_name", "Moe without scripts").await;
    plain.click("form[action='/account/profile'] button[type=submit]").await;
    plain.wait_for("Your display name is saved.").await;
    assert_eq!(plain.current_path().await, "/account/profile");
    assert!(plain.source().await.contains("Moe without scripts"));
}

#[tokio::test]
async fn the_login_and_register_pages_with_custom_branding_pass_axe() {
    let Some(driver) = Driver::start().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let app = crate::branding::branded(dir.path()).await;
    for (path, shot) in [("/login", "branded-login"), ("/register", "branded-register")] {
        driver.goto(&app.url(path)).await;
        driver.wait_for("Acme ID").await;
        driver.screenshot(shot).await;
        driver.assert_accessible(shot).await;
    }
}
