//! A browser walks the console's dashboard, clients, audit log, IP rules and
//! settings as an administrator: axe-core on every page, a screenshot of
//! each, one action by keyboard alone and one form with JavaScript off.
use crate::browser::Driver;
use crate::helpers::{PASSWORD, TestApp, spawn_app};

async fn sign_in(driver: &Driver, app: &TestApp) {
    driver.goto(&app.url("/login")).await;
    driver.type_into("#username", "root").await;
    driver.type_into("#password", PASSWORD).await;
    driver.click("button[type=submit]").await;
    driver.wait_for("Your account at a glance").await;
}

async fn visit(driver: &Driver, app: &TestApp, path: &str, name: &str, expect: &str) -> String {
    driver.goto(&app.url(path)).await;
    let html = driver.wait_for(expect).await;
    driver.assert_accessible(name).await;
    driver.screenshot(name).await;
    html
}

#[tokio::test]
async fn an_admin_walks_the_operations_pages_by_browser() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    app.create_user("root", &["admin"]).await;
    app.login(&app.browser(), "root", "not the password at all").await;
    sign_in(&driver, &app).await;

    let html = visit(&driver, &app, "/admin", "console-dashboard", "Sign-ins").await;
    assert!(html.contains("1 sign-in and 1 failed sign-in"), "{html}");

    // Create a client by keyboard: the secret is shown once.
    visit(&driver, &app, "/admin/clients/new", "console-client-new", "Register a client").await;
    driver.type_into("#client_id", "shop").await;
    driver.type_into("#name", "The shop").await;
    driver.type_into("#redirect_uris", "https://shop.example/cb").await;
    driver.keyboard_activate("Register client").await;
    let html = driver.wait_for("shown this once").await;
    driver.assert_accessible("console-client-secret").await;
    driver.screenshot("console-client-secret").await;
    let secret = html.split("readonly=\"\" value=\"").nth(1).or_else(|| html.split("value=\"").last()).unwrap();
    let secret = secret.split('"').next().unwrap().to_owned();

    // Edit it; the secret is not on the edit page.
    let html = visit(&driver, &app, "/admin/clients/shop", "console-client-edit", "Destructive actions").await;
    assert!(!html.contains(&secret));
    driver.type_into("#name", " (EU)").await;
    driver.click("form.card button[type=submit]").await;
    driver.wait_for("The shop (EU)").await;
    visit(&driver, &app, "/admin/clients", "console-clients", "The shop (EU)").await;

    // Rotate through the confirmation page.
    visit(&driver, &app, "/admin/clients/shop/rotate-secret", "console-client-rotate", "stops working at once").await;
    driver.click("button.danger").await;
    driver.wait_for("New client secret").await;
    driver.assert_accessible("console-client-rotated").await;

    // The audit log with a filter, and its export links.
    let html = visit(&driver, &app, "/admin/audit?action=client_created", "console-audit", "Events").await;
    assert!(html.contains("/admin/audit/export?action=client_created&amp;format=csv"), "{html}");
    assert!(html.contains("<td>client_created</td>"));

    // IP rules: add, test an address, remove.
    visit(&driver, &app, "/admin/ip", "console-ip", "Add a rule").await;
    driver.click("input[name=action][value=deny]").await;
    driver.type_into("#cidr", "203.0.113.0/24").await;
    driver.type_into("#note", "abuse").await;
    driver.click("form[method=post][action='/admin/ip'] button[type=submit]").await;
    driver.wait_for("203.0.113.0/24").await;
    let html = visit(&driver, &app, "/admin/ip?test=203.0.113.7", "console-ip-test", "by rule").await;
    assert!(html.contains("refused"));
    driver.click("form[action$='/remove'] button").await;
    driver.wait_for("No rules").await;

    visit(&driver, &app, "/admin/settings", "console-settings", "session.reauth_secs").await;
    drop(driver);

    // With JavaScript off, the add-rule form works too.
    let Some(plain) = Driver::without_javascript().await else { return };
    sign_in(&plain, &app).await;
    plain.goto(&app.url("/admin/ip")).await;
    plain.type_into("#cidr", "198.51.100.0/24").await;
    plain.click("form[method=post][action='/admin/ip'] button[type=submit]").await;
    plain.wait_for("198.51.100.0/24").await;
    assert_eq!(plain.current_path().await, "/admin/ip");
}
