//! `[registration]` (issue 17): open, invitation-only and closed sign-up,
//! and the allowed email domains, on the page and the API alike.
use gatehouse::config::RegistrationMode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, location, spawn_app, spawn_app_with};
use crate::json_api::support::{Api, admin_token, problem};

fn sign_up(name: &str, email: &str) -> Value {
    json!({ "username": name, "email": email, "password": PASSWORD })
}

#[tokio::test]
async fn closed_and_invite_only_registration_hide_the_link_and_answer_404() {
    for mode in [RegistrationMode::Invite, RegistrationMode::Closed] {
        let app = spawn_app_with(|c| c.registration.mode = mode).await;
        let browser = app.browser();
        let login = browser.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
        assert!(!login.contains("href=\"/register"), "no Create account link ({mode:?}): {login}");
        let res = browser.get(app.url("/register")).send().await.unwrap();
        assert_eq!(res.status(), 404, "{mode:?}");
        assert!(res.text().await.unwrap().contains("There is nothing at this address."), "the normal 404 page");
        let form = [("username", "zed"), ("email", "zed@example.com"), ("password", PASSWORD)];
        let res = browser.post(app.url("/register")).form(&form).send().await.unwrap();
        assert_eq!(res.status(), 404, "POST /register ({mode:?})");
        let res = reqwest::Client::new()
            .post(app.url("/api/v1/register"))
            .json(&sign_up("zed", "zed@example.com"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        problem(res, 404).await;
        assert!(app.state.accounts.find("zed").await.is_err(), "no account was made");
        // Administrators still make accounts: by invitation mail when
        // invitation-only, with a password only when closed.
        let api = Api::new(&app, admin_token(&app).await);
        let invite = json!({ "username": "ivy", "email": "ivy@example.com" });
        if mode == RegistrationMode::Closed {
            let res = api.post("/api/v1/users", &invite).await;
            let body = problem(res, 422).await;
            assert!(body.to_string().contains("invitations too"), "{body}");
            let with_password = json!({ "username": "ivy", "email": "ivy@example.com", "password": PASSWORD });
            assert_eq!(api.post("/api/v1/users", &with_password).await.status(), 201);
            assert_eq!(app.login(&app.browser(), "ivy", PASSWORD).await.status(), 303);
            continue;
        }
        let res = api.post("/api/v1/users", &invite).await;
        assert_eq!(res.status(), 201, "{mode:?}");
        let mail = app.mail.wait_for("ivy@example.com", "invited").await;
        let link = crate::smtp::link(&mail, &app.url("/password/reset?"));
        let html = browser.get(&link).send().await.unwrap().text().await.unwrap();
        let token = crate::helpers::hidden_value(&html, "token").unwrap();
        let csrf = crate::helpers::hidden_value(&html, "csrf_token").unwrap();
        let form = [("token", token.as_str()), ("csrf_token", csrf.as_str()), ("password", PASSWORD)];
        let set = browser.post(app.url("/password/reset")).form(&form).send().await.unwrap();
        assert_eq!(set.status(), 303, "the invitation still works ({mode:?})");
        assert_eq!(app.login(&app.browser(), "ivy", PASSWORD).await.status(), 303);
    }
}

#[tokio::test]
async fn open_registration_keeps_the_link_by_default() {
    let app = spawn_app().await;
    let login = app.browser().get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(login.contains("href=\"/register\""), "{login}");
    assert!(login.contains("Create account"));
}

#[tokio::test]
async fn only_allowed_domains_may_sign_up_on_the_page_and_the_api() {
    let app = spawn_app_with(|c| c.registration.allowed_domains = vec!["Example.com".into()]).await;
    let browser = app.browser();
    let fields =
        [("username", "mia"), ("email", "mia@sub.example.com"), ("password", PASSWORD), ("password_confirm", PASSWORD)];
    let res = app.submit(&browser, "/register", "/register", &fields).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"email-error\"") && html.contains("example.com"), "{html}");
    assert!(html.contains("value=\"mia@sub.example.com\""), "what was typed stays");
    let client = reqwest::Client::new();
    let res = client.post(app.url("/api/v1/register")).json(&sign_up("mia", "mia@other.test")).send().await.unwrap();
    let body = problem(res, 422).await;
    assert!(body.to_string().contains("\"email\""), "the field is named: {body}");
    // The domain matches case-insensitively.
    let fields =
        [("username", "mia"), ("email", "mia@EXAMPLE.com"), ("password", PASSWORD), ("password_confirm", PASSWORD)];
    let res = app.submit(&browser, "/register", "/register", &fields).await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/login?registered=1"));
}

#[tokio::test]
async fn an_own_email_change_must_stay_within_the_allowed_domains() {
    let app = spawn_app_with(|c| c.registration.allowed_domains = vec!["example.com".into()]).await;
    let browser = app.signed_in("noor", &[]).await;
    let fields = [("new_email", "noor@elsewhere.test"), ("email_password", PASSWORD)];
    let res = app.submit(&browser, "/account/email", "/account/email", &fields).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("id=\"new_email-error\""));
    let fields = [("new_email", "noor2@example.com"), ("email_password", PASSWORD)];
    let res = app.submit(&browser, "/account/email", "/account/email", &fields).await;
    assert_eq!(res.status(), 303);
}

/// A first upstream sign-in makes an account, so it is a sign-up too: closed
/// and invite-only registration refuse it (a page, no account, no session),
/// and a domain list holds for the address the provider vouches for. An
/// existing account still signs in through its linked provider.
#[tokio::test]
async fn an_upstream_sign_in_cannot_make_an_account_the_policy_does_not_allow() {
    use gatehouse::config::RegistrationConfig;

    use crate::upstream_env::{Corp, Options};
    for mode in [RegistrationMode::Invite, RegistrationMode::Closed] {
        let registration = RegistrationConfig { mode, allowed_domains: Vec::new() };
        let corp = Corp::start_with(Options { registration, ..Options::default() }).await;
        let browser = corp.upstream_user_browser("newcomer").await;
        let res = corp.sign_in(&browser, "/account").await;
        assert_eq!(res.status(), 403, "{mode:?}");
        assert!(res.text().await.unwrap().contains("Ask an administrator for an invitation"));
        assert!(corp.down.state.accounts.find("newcomer@example.com").await.is_err(), "no account made");
    }

    let registration = RegistrationConfig { mode: RegistrationMode::Open, allowed_domains: vec!["corp.test".into()] };
    let corp = Corp::start_with(Options { registration, ..Options::default() }).await;
    let browser = corp.upstream_user_browser("outsider").await;
    assert_eq!(corp.sign_in(&browser, "/account").await.status(), 403, "example.com is not listed");
    assert!(corp.down.state.accounts.find("outsider@example.com").await.is_err());
}
