//! The account centre (issue 17): the section pages and their navigation,
//! connected apps, the data download and deleting one's own account.
use serde_json::Value;

use crate::helpers::{PASSWORD, TestApp, hidden_value, location, spawn_app};
use crate::json_api::support::api_rp;
use crate::oidc::{code_with_scope, redeem};

const SECTIONS: [&str; 11] = [
    "/account",
    "/account/profile",
    "/account/email",
    "/account/password",
    "/account/mfa",
    "/account/sessions",
    "/account/apps",
    "/account/providers",
    "/account/activity",
    "/account/export",
    "/account/delete",
];

async fn audit_actions(app: &TestApp) -> Vec<(String, String)> {
    let mut conn = app.state.store.conn().await.unwrap();
    let rows = conn.db().audit_latest(500).await.unwrap();
    rows.into_iter().map(|r| (r.action, r.detail)).collect()
}

#[tokio::test]
async fn every_section_page_shows_the_account_navigation_marking_itself() {
    let app = spawn_app().await;
    let browser = app.signed_in("olga", &[]).await;
    for path in SECTIONS {
        let res = browser.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let html = res.text().await.unwrap();
        assert_eq!(html.matches("<h1").count(), 1, "one h1 on {path}");
        if path == "/account/delete" {
            // The shared confirmation page names what goes.
            assert!(html.contains("Delete my account") && html.contains("name=\"password\""), "{html}");
            continue;
        }
        assert!(html.contains("<nav class=\"section-nav\" aria-label=\"Account\">"), "{path}");
        assert!(html.contains(&format!("<a href=\"{path}\" aria-current=\"page\">")), "{path} is current: {html}");
        assert_eq!(html.matches("aria-current=\"page\"").count(), 1, "{path}");
    }
}

#[tokio::test]
async fn account_pages_send_a_visitor_to_sign_in() {
    let app = spawn_app().await;
    let anonymous = app.browser();
    for path in SECTIONS {
        let res = anonymous.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 303, "{path}");
        assert!(location(&res).starts_with("/login"), "{path}: {}", location(&res));
    }
    let res = anonymous.post(app.url("/account/apps/rp/revoke")).form(&[("csrf_token", "x")]).send().await.unwrap();
    assert_ne!(res.status(), 200);
}

#[tokio::test]
async fn a_form_goes_back_to_its_section_with_a_notice_or_shows_it_again_with_what_was_typed() {
    let app = spawn_app().await;
    let browser = app.signed_in("pete", &[]).await;
    let res = app.submit(&browser, "/account/profile", "/account/profile", &[("display_name", "Pete P.")]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/account/profile?notice=profile");
    let html = browser.get(app.url(location(&res))).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("role=\"status\"") && html.contains("Pete P."), "{html}");
    let fields = [("new_email", "not an address"), ("email_password", PASSWORD)];
    let res = app.submit(&browser, "/account/email", "/account/email", &fields).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("value=\"not an address\"") && html.contains("aria-current=\"page\">Email"), "{html}");
}

/// A user signed in at `app` who connected `rp` (consent plus an access
/// and a refresh token with `offline_access`).
async fn connected(app: &TestApp, name: &str) -> (reqwest::Client, String, Value) {
    let secret = api_rp(app).await;
    let browser = app.signed_in(name, &[]).await;
    let (code, verifier) = code_with_scope(app, &browser, "openid offline_access").await;
    let tokens: Value = redeem(app, &secret, &code, Some(&verifier)).await.json().await.unwrap();
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    (browser, secret, tokens)
}

/// RFC 6749 §6: a revoked grant's refresh token is refused with
/// `invalid_grant` (§5.2); RFC 7009 §2.2: its access tokens stop too.
#[tokio::test]
async fn revoking_a_connected_app_stops_its_refresh_token_at_once_rfc_6749_6() {
    let app = spawn_app().await;
    let (browser, secret, tokens) = connected(&app, "rita").await;
    let html = browser.get(app.url("/account/apps")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("/account/apps/rp/revoke") && html.contains("rp app"), "{html}");
    assert!(!html.contains("no live tokens"), "last used is shown: {html}");

    let res = app.submit(&browser, "/account/apps", "/account/apps/rp/revoke", &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/account/apps?notice=revoked");

    let form = [("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())];
    let refused = reqwest::Client::new()
        .post(app.url("/token"))
        .basic_auth("rp", Some(&secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let access = tokens["access_token"].as_str().unwrap();
    let userinfo = reqwest::Client::new().get(app.url("/userinfo")).bearer_auth(access).send().await.unwrap();
    assert_eq!(userinfo.status(), 401);
    let html = browser.get(app.url("/account/apps")).send().await.unwrap().text().await.unwrap();
    assert!(!html.contains("/account/apps/rp/revoke"), "gone from the list");
    let events = audit_actions(&app).await;
    assert!(events.iter().any(|(a, d)| a == "token_revoked" && d.contains("\"rp\"")), "{events:?}");
    // Nothing left to revoke: 404.
    let again = app.submit(&browser, "/account/profile", "/account/apps/rp/revoke", &[]).await;
    assert_eq!(again.status(), 404);
}

#[tokio::test]
async fn the_data_download_is_a_json_attachment_without_secrets() {
    let app = spawn_app().await;
    let (browser, _, tokens) = connected(&app, "sven").await;
    let page = browser.get(app.url("/account/export")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("href=\"/account/export?download=1\""), "{page}");
    let res = browser.get(app.url("/account/export?download=1")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(res.headers()["content-disposition"], "attachment; filename=\"gatehouse-export-sven.json\"");
    assert_eq!(res.headers()["cache-control"], "no-store");
    let text = res.text().await.unwrap();
    for secret in ["$argon2", "password_hash", "totp_secret", "\"recovery_codes\"", "refresh_token\"", "csrf"] {
        assert!(!text.contains(secret), "no {secret} in the export");
    }
    for token in ["access_token", "refresh_token", "id_token"] {
        assert!(!text.contains(tokens[token].as_str().unwrap()), "the {token} itself is not in the export");
    }
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["profile"]["username"], "sven");
    assert!(doc["connected_apps"].as_array().unwrap().iter().any(|a| a["client_id"] == "rp"));
}

#[tokio::test]
async fn deleting_my_account_needs_the_password_then_signs_out_and_mails_me() {
    let app = spawn_app().await;
    let browser = app.signed_in("tove", &[]).await;
    let page = browser.get(app.url("/account/delete")).send().await.unwrap().text().await.unwrap();
    let token = hidden_value(&page, "csrf_token").unwrap();
    let wrong = [("csrf_token", token.as_str()), ("confirm", "yes"), ("password", "not the password")];
    let res = browser.post(app.url("/account/delete")).form(&wrong).send().await.unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("role=\"alert\""));
    let events = audit_actions(&app).await;
    assert!(events.iter().any(|(a, _)| a.contains("fail") || a.contains("wrong")), "a wrong password is recorded");

    let right = [("csrf_token", token.as_str()), ("confirm", "yes"), ("password", PASSWORD)];
    let res = browser.post(app.url("/account/delete")).form(&right).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let cleared = res.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().contains("Max-Age=0"));
    assert!(cleared, "the session cookie is cleared");
    assert!(res.text().await.unwrap().contains("Your account is deleted"));
    assert_eq!(browser.get(app.url("/account")).send().await.unwrap().status(), 303, "signed out");
    assert!(app.state.accounts.find("tove").await.is_err(), "the account is gone");
    let mail = app.mail.wait_for("tove@example.com", "deleted").await;
    assert!(mail.text.contains("tove"));
    let events = audit_actions(&app).await;
    assert!(events.iter().any(|(a, _)| a == "user_deleted"), "{events:?}");
}

#[tokio::test]
async fn the_last_administrator_cannot_delete_their_account() {
    let app = spawn_app().await;
    let browser = app.signed_in("ulla", &["admin"]).await;
    let token = app.csrf_token(&browser, "/account/delete").await;
    let form = [("csrf_token", token.as_str()), ("confirm", "yes"), ("password", PASSWORD)];
    let res = browser.post(app.url("/account/delete")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 409);
    assert_eq!(browser.get(app.url("/account")).send().await.unwrap().status(), 200, "still signed in");
}

/// An account made by an upstream sign-in has no password: a recent sign-in
/// is its proof. Once that is old, both the confirmation page and the form
/// send the browser to sign in again, and nothing is deleted.
#[tokio::test]
async fn an_account_without_a_password_deletes_itself_only_after_a_recent_sign_in() {
    let corp = crate::upstream_env::Corp::start().await;
    let browser = corp.signed_in_via_corp("pat").await;
    let down = &corp.down;
    let page = browser.get(down.url("/account/delete")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(!page.text().await.unwrap().contains("name=\"password\""), "no password to ask for");
    let id = down.state.accounts.find("pat@example.com").await.unwrap().id;

    down.clock.advance(down.config.session.reauth_secs + 1);
    let res = browser.get(down.url("/account/delete")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/login?prompt=login"), "{}", location(&res));
    let res = down.submit(&browser, "/account", "/account/delete", &[("confirm", "yes")]).await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/login?prompt=login"));
    assert!(down.state.accounts.find(&id).await.is_ok(), "nothing deleted without a recent sign-in");

    // Signing in again through the provider makes it recent.
    let browser = corp.signed_in_via_corp("pat").await;
    let res = down.submit(&browser, "/account", "/account/delete", &[("confirm", "yes")]).await;
    assert_eq!(res.status(), 200, "the deleted page");
    assert!(res.text().await.unwrap().contains("Your account is deleted"));
    assert!(down.state.accounts.find(&id).await.is_err());
    assert!(audit_actions(down).await.iter().any(|(a, _)| a == "user_deleted"));
}
