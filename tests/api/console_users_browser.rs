//! Issue 17 in a real browser: the console's users, mail and keys pages
//! pass axe-core (no serious or critical violations), a user is created by
//! keyboard alone, edited, and deleted through the confirmation page, and
//! the create form works with JavaScript off.
use crate::browser::Driver;
use crate::helpers::{PASSWORD, TestApp, spawn_app};

async fn sign_in(driver: &Driver, app: &TestApp, name: &str) {
    driver.goto(&app.url("/login")).await;
    driver.type_into("#username", name).await;
    driver.type_into("#password", PASSWORD).await;
    driver.click("button[type=submit]").await;
    driver.wait_for("Your account at a glance").await;
}

async fn check(driver: &Driver, name: &str) {
    driver.screenshot(name).await;
    driver.assert_accessible(name).await;
}

#[tokio::test]
async fn an_admin_walks_the_users_mail_and_keys_pages_by_browser() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    app.create_user("root", &["admin"]).await;
    let mallory = app.create_user("mallory", &[]).await;
    let kim = app.create_user("kim", &[]).await;
    sign_in(&driver, &app, "root").await;

    driver.goto(&app.url("/admin/users?state=active")).await;
    driver.type_into("#q", "mal").await;
    driver.click("form.filters button[type=submit]").await;
    driver.wait_for("1 user on this page").await;
    assert!(driver.current_url().await.as_str().contains("q=mal"));
    check(&driver, "console-users").await;

    driver.goto(&app.url("/admin/users/new")).await;
    check(&driver, "console-users-new").await;
    driver.type_into("#username", "newt").await;
    driver.type_into("#email", "newt@example.com").await;
    driver.keyboard_activate("Create user").await;
    driver.wait_for("The user was created.").await;
    check(&driver, "console-users-detail").await;
    let newt = app.state.accounts.find("newt").await.unwrap().id;

    driver.type_into("#display_name", "Newt Scamander").await;
    driver.click("form[action$=\"/edit\"] button[type=submit]").await;
    driver.wait_for("The changes were saved.").await;
    assert_eq!(app.state.accounts.user(&newt).await.unwrap().display_name, "Newt Scamander");

    for tab in ["sessions", "providers", "consents", "history"] {
        driver.goto(&app.url(&format!("/admin/users/{kim}/{tab}"))).await;
        driver.wait_for("aria-current=\"page\"").await;
        check(&driver, &format!("console-users-{tab}")).await;
    }

    driver.goto(&app.url(&format!("/admin/users/{mallory}/delete"))).await;
    driver.wait_for("Delete the user mallory").await;
    check(&driver, "console-users-delete").await;
    driver.click("button.danger").await;
    driver.wait_for("The user was deleted.").await;
    assert!(app.state.accounts.user(&mallory).await.is_err());

    driver.goto(&app.url("/admin/mail")).await;
    driver.wait_for("Purge old messages").await;
    check(&driver, "console-mail").await;
    driver.goto(&app.url("/admin/keys")).await;
    driver.wait_for("RS256").await;
    check(&driver, "console-keys").await;
    driver.goto(&app.url("/admin/keys/rotate")).await;
    driver.wait_for("starts retiring").await;
    check(&driver, "console-keys-rotate").await;
    drop(driver);

    let Some(plain) = Driver::without_javascript().await else { return };
    sign_in(&plain, &app, "root").await;
    plain.goto(&app.url("/admin/users/new")).await;
    plain.type_into("#username", "nojs").await;
    plain.type_into("#email", "nojs@example.com").await;
    plain.click("form[action=\"/admin/users/new\"] button[type=submit]").await;
    plain.wait_for("The user was created.").await;
    assert!(app.state.accounts.find("nojs").await.is_ok());
}
