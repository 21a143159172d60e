//! The revocation table of the README ("Token lifetimes and revocation"),
//! row by row: what each way of ending things reaches. A token is dead when
//! introspection says inactive (RFC 7662 §2.2), userinfo answers 401 (RFC
//! 6750 §3.1) and a refresh answers `invalid_grant` (RFC 6749 §5.2).
use openidconnect::PkceCodeChallenge;
use serde_json::Value;

use crate::helpers::{PASSWORD, TestApp, location, set_cookie, spawn_app, test_ctx};
use crate::oidc::{REDIRECT, authorize_as, param, register};

/// What one grant handed out, and to which client.
pub struct Issued {
    pub client: String,
    pub secret: String,
    pub access: String,
    pub refresh: String,
}

/// The code flow for `client` in `browser`, redeemed; `scope` decides
/// whether the refresh token is an offline one.
pub async fn issue(app: &TestApp, browser: &reqwest::Client, client: &str, secret: &str, scope: &str) -> Issued {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut url = url::Url::parse(&app.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", scope)
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256");
    let back = authorize_as(app, browser, url.as_str()).await;
    let code = param(&back, "code").unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.secret()),
    ];
    let res = reqwest::Client::new().post(app.url("/token")).basic_auth(client, Some(secret)).form(&form).send();
    let body: Value = res.await.unwrap().json().await.unwrap();
    Issued {
        client: client.into(),
        secret: secret.into(),
        access: body["access_token"].as_str().expect("an access token").into(),
        refresh: body["refresh_token"].as_str().expect("a refresh token").into(),
    }
}

async fn introspect(app: &TestApp, t: &Issued, token: &str) -> bool {
    let res = reqwest::Client::new()
        .post(app.url("/introspect"))
        .basic_auth(&t.client, Some(&t.secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    body["active"].as_bool().unwrap()
}

async fn userinfo(app: &TestApp, access: &str) -> u16 {
    reqwest::Client::new().get(app.url("/userinfo")).bearer_auth(access).send().await.unwrap().status().as_u16()
}

/// Refreshes; the new tokens on success, or the error code.
pub async fn refresh(app: &TestApp, t: &Issued) -> Result<Issued, String> {
    let res = reqwest::Client::new()
        .post(app.url("/token"))
        .basic_auth(&t.client, Some(&t.secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", t.refresh.as_str())])
        .send()
        .await
        .unwrap();
    let ok = res.status() == 200;
    let body: Value = res.json().await.unwrap();
    if !ok {
        return Err(body["error"].as_str().unwrap_or_default().to_owned());
    }
    Ok(Issued {
        client: t.client.clone(),
        secret: t.secret.clone(),
        access: body["access_token"].as_str().unwrap().into(),
        refresh: body["refresh_token"].as_str().unwrap().into(),
    })
}

/// Asserts the access token is dead everywhere it is checked.
async fn access_dead(app: &TestApp, t: &Issued, why: &str) {
    assert!(!introspect(app, t, &t.access).await, "{why}: access token introspects inactive");
    assert_eq!(userinfo(app, &t.access).await, 401, "{why}: userinfo refuses the access token");
}

/// Asserts the access and refresh tokens are dead everywhere.
async fn all_dead(app: &TestApp, t: &Issued, why: &str) {
    access_dead(app, t, why).await;
    assert!(!introspect(app, t, &t.refresh).await, "{why}: refresh token introspects inactive");
    assert_eq!(refresh(app, t).await.err().as_deref(), Some("invalid_grant"), "{why}: refresh refused");
}

/// Asserts both tokens still work (without spending the refresh token).
async fn alive(app: &TestApp, t: &Issued, why: &str) {
    assert!(introspect(app, t, &t.access).await, "{why}: access token active");
    assert_eq!(userinfo(app, &t.access).await, 200, "{why}: userinfo answers");
    assert!(introspect(app, t, &t.refresh).await, "{why}: refresh token active");
}

/// A user signed in twice (two browsers), with tokens for two clients:
/// offline and session-bound ones.
struct Scene {
    home: reqwest::Client,
    away: reqwest::Client,
    /// Client `rp` in `home`: offline_access.
    offline: Issued,
    /// Client `rp` in `home`: bound to the session.
    online: Issued,
    /// Client `other` in `away`: offline_access.
    other: Issued,
}

async fn scene(app: &TestApp, user: &str) -> Scene {
    let rp = register(app, "rp", true).await;
    let other = register(app, "other", true).await;
    let home = app.signed_in(user, &[]).await;
    // A new device on another network: its sign-in mails a notice.
    let away = crate::helpers::away_browser();
    assert_eq!(app.login(&away, user, PASSWORD).await.status(), 303);
    let offline = issue(app, &home, "rp", &rp, "openid email offline_access").await;
    let online = issue(app, &home, "rp", &rp, "openid email").await;
    let other = issue(app, &away, "other", &other, "openid profile offline_access").await;
    for t in [&offline, &online, &other] {
        alive(app, t, "before").await;
    }
    Scene { home, away, offline, online, other }
}

async fn signed_out(app: &TestApp, browser: &reqwest::Client) -> bool {
    browser.get(app.url("/account")).send().await.unwrap().status() == 303
}

async fn everything_ended(app: &TestApp, s: &Scene, why: &str) {
    assert!(signed_out(app, &s.home).await && signed_out(app, &s.away).await, "{why}: every session ended");
    for t in [&s.offline, &s.online, &s.other] {
        all_dead(app, t, why).await;
    }
}

#[tokio::test]
async fn sign_out_everywhere_ends_every_token_of_every_client() {
    let app = spawn_app().await;
    let s = scene(&app, "ada").await;
    let res = app.submit(&s.home, "/account", "/account/sessions/revoke-all", &[]).await;
    assert_eq!(location(&res), "/login?signed_out=1");
    everything_ended(&app, &s, "sign out everywhere").await;
}

#[tokio::test]
async fn an_admins_sign_out_user_ends_every_session_and_token() {
    let app = spawn_app().await;
    let s = scene(&app, "bob").await;
    let admin = app.signed_in("root", &["admin"]).await;
    let id = app.state.accounts.find("bob").await.unwrap().id;
    let res = app.submit(&admin, "/admin/users", &format!("/admin/users/{id}/sign-out"), &[]).await;
    assert_eq!(res.status(), 303);
    everything_ended(&app, &s, "admin sign-out").await;
    assert!(!signed_out(&app, &admin).await, "the admin stays signed in");
}

#[tokio::test]
async fn blocking_ends_every_session_and_token() {
    let app = spawn_app().await;
    let s = scene(&app, "cyd").await;
    let id = app.state.accounts.find("cyd").await.unwrap().id;
    app.state.accounts.set_blocked(&id, true, &test_ctx()).await.unwrap();
    everything_ended(&app, &s, "block").await;
}

#[tokio::test]
async fn a_password_reset_ends_every_session_and_token() {
    let app = spawn_app().await;
    let s = scene(&app, "dot").await;
    let other = app.browser();
    app.submit(&other, "/password/forgot", "/password/forgot", &[("email", "dot@example.com")]).await;
    let mail = app.mail.wait_for("dot@example.com", "Reset your password").await;
    let reset = crate::smtp::link(&mail, &app.url("/password/reset?"));
    let html = other.get(&reset).send().await.unwrap().text().await.unwrap();
    let token = crate::helpers::hidden_value(&html, "token").unwrap();
    let csrf = crate::helpers::hidden_value(&html, "csrf_token").unwrap();
    let new = "a brand new passphrase for dot";
    let form = [("token", token.as_str()), ("csrf_token", &csrf), ("password", new), ("password_confirm", new)];
    let done = other.post(app.url("/password/reset")).form(&form).send().await.unwrap();
    assert_eq!(location(&done), "/login?reset=1");
    everything_ended(&app, &s, "password reset").await;
}

#[tokio::test]
async fn this_wasnt_me_ends_every_session_and_token() {
    let app = spawn_app().await;
    let s = scene(&app, "eve").await;
    // The away browser's sign-in was news: its notice has the link.
    let mail = app.mail.wait_for("eve@example.com", "New sign-in").await;
    let res = app.follow_link(&app.browser(), &crate::smtp::link(&mail, &app.url("/account/not-me?"))).await;
    assert_eq!(res.status(), 200);
    everything_ended(&app, &s, "this wasn't me").await;
}

#[tokio::test]
async fn a_password_change_keeps_this_browser_under_a_new_session_id_and_revokes_every_refresh_token() {
    let app = spawn_app().await;
    let s = scene(&app, "fay").await;
    let before = app.state.store.conn().await.unwrap().db().user_sessions(&fay(&app).await, 0, 0).await.unwrap();
    let new = "fay has a new long passphrase";
    let form = [("current_password", PASSWORD), ("new_password", new), ("new_password_confirm", new)];
    let res = app.submit(&s.home, "/account", "/account/password", &form).await;
    assert_eq!(location(&res), "/account/password?notice=password");
    // OWASP Session Management: a new session id after re-authentication.
    let cookie = set_cookie(&res, "gh_session").expect("a new session cookie");
    assert!(!cookie.starts_with("gh_session=;"), "{cookie}");
    assert!(!signed_out(&app, &s.home).await, "this browser stays signed in");
    assert!(signed_out(&app, &s.away).await, "the other session ended");
    let after = app.state.store.conn().await.unwrap().db().user_sessions(&fay(&app).await, 0, 0).await.unwrap();
    assert_eq!(after.len(), 1);
    assert!(before.iter().all(|old| old.id != after[0].id), "the session id changed");
    for t in [&s.offline, &s.online, &s.other] {
        all_dead(&app, t, "password change").await;
    }
    // The browser can start new grants under its new session.
    let secret = register(&app, "third", true).await;
    alive(&app, &issue(&app, &s.home, "third", &secret, "openid").await, "after the change").await;
}

async fn fay(app: &TestApp) -> String {
    app.state.accounts.find("fay").await.unwrap().id
}

#[tokio::test]
async fn logout_ends_the_sessions_tokens_but_offline_refresh_tokens_live_on_oidc_core_11() {
    let app = spawn_app().await;
    let s = scene(&app, "gus").await;
    let res = app.submit(&s.home, "/logout", "/logout", &[("logout", "yes")]).await;
    assert_eq!(res.status(), 303);
    assert!(signed_out(&app, &s.home).await);
    // The session-bound refresh token and every access token of the session are dead.
    all_dead(&app, &s.online, "logout, session-bound").await;
    access_dead(&app, &s.offline, "logout, access token of the session").await;
    // OIDC Core §11: offline_access "even when the End-User is not present".
    assert!(introspect(&app, &s.offline, &s.offline.refresh).await);
    let renewed = refresh(&app, &s.offline).await.expect("the offline token still refreshes");
    alive(&app, &renewed, "renewed offline").await;
    // The other browser's session and its client were not touched.
    assert!(!signed_out(&app, &s.away).await);
    alive(&app, &s.other, "other session").await;
}

#[tokio::test]
async fn revoking_one_session_on_the_account_page_ends_its_tokens_only() {
    let app = spawn_app().await;
    let s = scene(&app, "hal").await;
    let id = app.state.accounts.find("hal").await.unwrap().id;
    let sessions = app.state.store.conn().await.unwrap().db().user_sessions(&id, 0, 0).await.unwrap();
    // Newest first: the away session signed in second.
    let away_session = &sessions[0].id;
    let res = app.submit(&s.home, "/account", &format!("/account/sessions/{away_session}/revoke"), &[]).await;
    assert_eq!(location(&res), "/account/sessions?notice=session");
    assert!(signed_out(&app, &s.away).await);
    access_dead(&app, &s.other, "revoked session").await;
    assert!(refresh(&app, &s.other).await.is_ok(), "its offline refresh token lives on");
    alive(&app, &s.online, "the home session").await;
}

#[tokio::test]
async fn a_session_bound_refresh_token_dies_with_its_session_however_it_ends() {
    let app = spawn_app().await;
    let rp = register(&app, "rp", true).await;
    let browser = app.signed_in("ivy", &[]).await;
    let online = issue(&app, &browser, "rp", &rp, "openid").await;
    // Refreshing counts as activity, and rotates as usual.
    app.clock.advance(3600);
    let online = refresh(&app, &online).await.expect("a live session refreshes");
    // The session's absolute lifetime (8 hours) ends it without a revocation.
    app.clock.advance(8 * 3600);
    assert!(!introspect(&app, &online, &online.refresh).await, "inactive once the session expired");
    assert_eq!(refresh(&app, &online).await.err().as_deref(), Some("invalid_grant"));
}

#[tokio::test]
async fn a_revocation_racing_refreshes_leaves_no_live_token() {
    let app = spawn_app().await;
    let rp = register(&app, "rp", true).await;
    let browser = app.signed_in("jolene", &[]).await;
    let id = app.state.accounts.find("jolene").await.unwrap().id;
    let event = test_ctx();
    for round in 0..5 {
        let t = issue(&app, &browser, "rp", &rp, "openid offline_access").await;
        let racing = refresh(&app, &t);
        let revoking = app.state.accounts.sign_out_everywhere(&id, &event);
        let (refreshed, revoked) = tokio::join!(racing, revoking);
        revoked.unwrap();
        // Whoever won, nothing the refresh handed out may still work.
        if let Ok(new) = refreshed {
            all_dead(&app, &new, &format!("round {round}: refreshed before the revocation")).await;
        }
        all_dead(&app, &t, &format!("round {round}: the original")).await;
        // Sign in again for the next round.
        assert_eq!(app.login(&browser, "jolene", PASSWORD).await.status(), 303);
    }
}

#[tokio::test]
async fn each_revocation_is_audited() {
    let app = spawn_app().await;
    let s = scene(&app, "kim").await;
    app.submit(&s.home, "/logout", "/logout", &[("logout", "yes")]).await;
    app.submit(&s.away, "/account", "/account/sessions/revoke-all", &[]).await;
    let tail = gatehouse::security::audit::tail(&app.state.store, 20).await.unwrap();
    let actions: Vec<&str> = tail.iter().map(|r| r.action.as_str()).collect();
    assert!(actions.contains(&"sign_out"), "{actions:?}");
    let all = tail.iter().find(|r| r.action == "session_revoked").expect("sign out everywhere audited");
    assert!(all.detail.contains("\"all\""), "{}", all.detail);
}
