//! Issue 14, items 7 and 8: sessions after privilege changes (OWASP Session
//! Management Cheat Sheet: "renew the session ID after any privilege level
//! change"; ASVS V7), `__Host-` cookies and HSTS on https (RFC 6265bis
//! §4.1.3.2, RFC 6797 §6.1), the Origin check on form posts (OWASP CSRF
//! Prevention Cheat Sheet), and "there is always an admin".
use std::sync::Arc;

use reqwest::cookie::{CookieStore, Jar};

use crate::deletion::{fails, ok};
use crate::helpers::{PASSWORD, TestApp, location, set_cookie, spawn_app, spawn_app_with, test_ctx};
use crate::mfa::{code_now, shown_secret};

/// Whether `browser` may open the admin console (200), or is sent to sign in (303) or refused (403).
async fn admin_status(app: &TestApp, browser: &reqwest::Client) -> u16 {
    browser.get(app.url("/admin/users")).send().await.unwrap().status().as_u16()
}

async fn user_id(app: &TestApp, name: &str) -> String {
    app.state.accounts.find(name).await.unwrap().id
}

#[tokio::test]
async fn cli_role_change_ends_the_users_sessions_owasp_session_management_renew_after_privilege_change() {
    let app = spawn_app().await;
    app.create_user("root", &["admin"]).await;
    let ann = app.signed_in("ann", &[]).await;
    assert_eq!(admin_status(&app, &ann).await, 403);

    ok(&app, &["user", "set-roles", "ann", "admin"], "");
    assert_eq!(admin_status(&app, &ann).await, 303, "the old cookie is not lifted to admin: it is dead");
    let again = app.browser();
    assert_eq!(app.login(&again, "ann", PASSWORD).await.status(), 303);
    assert_eq!(admin_status(&app, &again).await, 200, "a new sign-in carries the new role");

    ok(&app, &["user", "set-roles", "ann", "user"], "");
    assert_eq!(admin_status(&app, &again).await, 303, "a demotion ends the sessions too");
}

#[tokio::test]
async fn console_role_change_ends_the_users_sessions_owasp_session_management_renew_after_privilege_change() {
    let app = spawn_app().await;
    let root = app.signed_in("root", &["admin"]).await;
    let bob = app.signed_in("bob", &[]).await;
    let bob_id = user_id(&app, "bob").await;

    let action = format!("/admin/users/{bob_id}/roles");
    let res = app.submit(&root, "/admin/users", &action, &[("admin", "yes")]).await;
    assert_eq!(res.status(), 303);
    assert!(app.state.accounts.roles(&bob_id).await.unwrap().contains(&"admin".to_owned()));
    assert_eq!(admin_status(&app, &bob).await, 303, "bob's old cookie is dead, not admin");
    assert_eq!(admin_status(&app, &root).await, 200, "the acting admin's own session goes on");
}

/// A browser whose cookies the test can read.
fn jar_browser() -> (reqwest::Client, Arc<Jar>) {
    let jar = Arc::new(Jar::default());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(jar.clone())
        .build()
        .unwrap();
    (client, jar)
}

fn session_cookie(app: &TestApp, jar: &Jar) -> String {
    let url = url::Url::parse(&app.url("/")).unwrap();
    let header = jar.cookies(&url).expect("cookies");
    let all = header.to_str().unwrap().to_owned();
    all.split("; ").find_map(|c| c.strip_prefix("gh_session=")).expect("a session cookie").to_owned()
}

#[tokio::test]
async fn enrolling_totp_gives_a_new_session_id_and_kills_the_old_one_owasp_session_management() {
    let app = spawn_app().await;
    app.create_user("tess", &[]).await;
    let (browser, jar) = jar_browser();
    assert_eq!(app.login(&browser, "tess", PASSWORD).await.status(), 303);
    let before = session_cookie(&app, &jar);

    let res = app.submit(&browser, "/account/mfa", "/account/mfa/totp", &[]).await;
    let secret = shown_secret(&res.text().await.unwrap());
    let code = code_now(&app, &secret);
    let res = app.submit(&browser, "/account/mfa", "/account/mfa/totp/confirm", &[("code", &code)]).await;
    assert_eq!(res.status(), 200);
    assert!(set_cookie(&res, "gh_session").is_some(), "the new session's cookie is set");
    let after = session_cookie(&app, &jar);
    assert_ne!(before, after, "a new session id after a new second factor");

    assert_eq!(browser.get(app.url("/account")).send().await.unwrap().status(), 200, "the new cookie works");
    let old = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = old.get(app.url("/account")).header("cookie", format!("gh_session={before}")).send().await.unwrap();
    assert_eq!(res.status(), 303, "the old session id is dead");
    // The CSRF cookie was rotated with it, so the page's forms still post.
    let res = app.submit(&browser, "/account/mfa", "/account/mfa/recovery", &[]).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn with_an_https_issuer_every_cookie_is_host_prefixed_and_hsts_is_sent_rfc6265bis_4_1_3_2_rfc6797_6_1() {
    let app = spawn_app_with(|c| c.issuer = Some("https://id.example".parse().unwrap())).await;
    app.create_user("hana", &[]).await;
    let browser = app.browser();
    let page = browser.get(app.url("/login")).send().await.unwrap();
    assert_eq!(page.headers()["strict-transport-security"], "max-age=31536000");
    let res = app.login(&browser, "hana", PASSWORD).await;
    assert_eq!(res.status(), 303);
    let cookies: Vec<&str> = res.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    for name in ["__Host-gh_session", "__Host-gh_device", "__Host-gh_csrf"] {
        assert!(cookies.iter().any(|c| c.starts_with(&format!("{name}="))), "{name} in {cookies:?}");
    }
    for cookie in &cookies {
        assert!(cookie.starts_with("__Host-"), "every cookie is __Host- prefixed: {cookie}");
        assert!(cookie.contains("; Secure") && cookie.contains("Path=/") && !cookie.contains("Domain"), "{cookie}");
    }
    let health = reqwest::get(app.url("/health/live")).await.unwrap();
    assert_eq!(health.headers()["strict-transport-security"], "max-age=31536000", "on every response");

    let plain = spawn_app().await;
    let res = reqwest::get(plain.url("/login")).await.unwrap();
    assert!(res.headers().get("strict-transport-security").is_none(), "never over an http issuer");
    assert!(set_cookie(&res, "gh_csrf").is_some(), "plain names on http");
    let off = spawn_app_with(|c| {
        c.issuer = Some("https://id.example".parse().unwrap());
        c.http.hsts_max_age_secs = 0;
    })
    .await;
    let res = reqwest::get(off.url("/login")).await.unwrap();
    assert!(res.headers().get("strict-transport-security").is_none(), "0 turns it off");
}

/// Posts the admin console's block form for `target` with one extra header.
async fn block_with(app: &TestApp, admin: &reqwest::Client, target: &str, header: (&str, &str)) -> u16 {
    let token = app.csrf_token(admin, "/admin/users").await;
    admin
        .post(app.url(&format!("/admin/users/{target}/block")))
        .header(header.0, header.1)
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_valid_csrf_token_from_a_foreign_origin_is_refused_owasp_csrf_verifying_origin() {
    let app = spawn_app().await;
    let root = app.signed_in("root", &["admin"]).await;
    let target = app.create_user("tom", &[]).await;
    let blocked = || async { app.state.accounts.find("tom").await.unwrap().blocked };

    for foreign in [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
    ] {
        assert_eq!(block_with(&app, &root, &target, foreign).await, 403, "{foreign:?}");
        assert!(!blocked().await, "nothing changed after {foreign:?}");
    }
    assert_eq!(block_with(&app, &root, &target, ("sec-fetch-site", "same-origin")).await, 303);
    assert!(blocked().await);
    let ours = app.url("");
    let res = app.submit(&root, "/admin/users", &format!("/admin/users/{target}/unblock"), &[]).await;
    assert_eq!(res.status(), 303, "no Origin and no Sec-Fetch-Site: the token alone holds");
    assert_eq!(block_with(&app, &root, &target, ("origin", &ours)).await, 303, "our own origin passes");

    // The OAuth endpoints are not form pages: browser apps call them cross-origin.
    let res = reqwest::Client::new()
        .post(app.url("/token"))
        .header("origin", "https://evil.example")
        .form(&[("grant_type", "nonsense")])
        .send()
        .await
        .unwrap();
    assert_ne!(res.status(), 403);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
}

#[tokio::test]
async fn cli_refuses_to_demote_or_block_the_last_admin_issue_14_there_is_always_an_admin() {
    let app = spawn_app().await;
    let root = app.create_user("root", &["admin"]).await;

    assert!(fails(&app, &["user", "set-roles", "root", "user"], "").contains("last administrator"));
    assert!(fails(&app, &["user", "block", "root"], "").contains("last administrator"));
    let ops = app.create_user("ops", &["admin"]).await;
    ok(&app, &["user", "block", "ops"], "");
    // A blocked admin is no admin: root is still the last one.
    assert!(fails(&app, &["user", "set-roles", "root", "user"], "").contains("last administrator"));
    assert!(fails(&app, &["user", "block", "root"], "").contains("last administrator"));
    assert!(app.state.accounts.roles(&root).await.unwrap().contains(&"admin".to_owned()));
    assert!(!app.state.accounts.find("root").await.unwrap().blocked);

    ok(&app, &["user", "unblock", "ops"], "");
    ok(&app, &["user", "set-roles", "root", "user"], "");
    assert!(fails(&app, &["user", "block", "ops"], "").contains("last administrator"));
    assert!(!app.state.accounts.find(&ops).await.unwrap().blocked);
}

#[tokio::test]
async fn the_console_answers_409_for_the_last_admin_issue_14_there_is_always_an_admin() {
    let app = spawn_app().await;
    let root = app.signed_in("root", &["admin"]).await;
    let id = user_id(&app, "root").await;
    let res = app.submit(&root, "/admin/users", &format!("/admin/users/{id}/roles"), &[("admin", "no")]).await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("last administrator"));
    assert!(app.state.accounts.roles(&id).await.unwrap().contains(&"admin".to_owned()));
    assert_eq!(admin_status(&app, &root).await, 200, "nothing changed, the session goes on");
}

#[tokio::test]
async fn two_admins_blocking_or_demoting_each_other_at_once_cannot_both_succeed_issue_14_always_an_admin() {
    let app = spawn_app().await;
    let a = app.create_user("ada", &["admin"]).await;
    let b = app.create_user("bea", &["admin"]).await;
    let accounts = &app.state.accounts;
    let event = test_ctx();
    for _ in 0..3 {
        let (x, y) = tokio::join!(accounts.set_blocked(&a, true, &event), accounts.set_blocked(&b, true, &event));
        assert_eq!([x.is_ok(), y.is_ok()].iter().filter(|ok| **ok).count(), 1, "{x:?} {y:?}");
        let refused = if x.is_ok() { y } else { x };
        assert!(matches!(refused, Err(gatehouse::accounts::Error::LastAdmin)), "{refused:?}");
        accounts.set_blocked(&a, false, &event).await.unwrap();
        accounts.set_blocked(&b, false, &event).await.unwrap();

        let none = Vec::new();
        let (x, y) = tokio::join!(accounts.set_roles(&event, &a, &none), accounts.set_roles(&event, &b, &none));
        assert_eq!([x.is_ok(), y.is_ok()].iter().filter(|ok| **ok).count(), 1, "{x:?} {y:?}");
        let admin = vec!["admin".to_owned()];
        accounts.set_roles(&event, &a, &admin).await.unwrap();
        accounts.set_roles(&event, &b, &admin).await.unwrap();
    }

    // Through the console: each signed in, each blocking the other.
    let ada = app.browser();
    let bea = app.browser();
    assert_eq!(app.login(&ada, "ada", PASSWORD).await.status(), 303);
    assert_eq!(app.login(&bea, "bea", PASSWORD).await.status(), 303);
    let (ta, tb) = (app.csrf_token(&ada, "/admin/users").await, app.csrf_token(&bea, "/admin/users").await);
    let post = |browser: &reqwest::Client, target: &str, token: &str| {
        browser.post(app.url(&format!("/admin/users/{target}/block"))).form(&[("csrf_token", token.to_owned())]).send()
    };
    let (ra, rb) = tokio::join!(post(&ada, &b, &ta), post(&bea, &a, &tb));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let blocked = [accounts.find(&a).await.unwrap().blocked, accounts.find(&b).await.unwrap().blocked];
    assert_eq!(blocked.iter().filter(|b| **b).count(), 1, "exactly one block went through: {ra:?} {rb:?}");
    let loser = if blocked[0] { &ra } else { &rb };
    assert!(
        loser.status() == 409 || location(loser).starts_with("/login"),
        "the other was refused (409), or its session had already ended: {loser:?}"
    );
}
