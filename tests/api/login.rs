//! `/login` and `/logout`: credentials, blocked users, session cookies,
//! fixation, expiry, and CSRF.
use crate::helpers::{PASSWORD, hidden_value, location, set_cookie, spawn_app, test_ctx};

const GENERIC: &str = "The username or password is not correct.";

#[tokio::test]
async fn login_form_has_the_interface_fields() {
    let app = spawn_app().await;
    let html = app.browser().get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("type=\"text\"") && html.contains("name=\"username\""));
    assert!(html.contains("name=\"password\" type=\"password\""));
    assert!(html.contains("type=\"submit\""));
    assert!(hidden_value(&html, "csrf_token").is_some());
}

#[tokio::test]
async fn right_password_signs_in_with_a_secure_session_cookie() {
    let app = spawn_app().await;
    app.create_user("carol", &[]).await;
    let browser = app.browser();
    let res = app.login(&browser, "carol", PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/account");
    let cookie = set_cookie(&res, "gh_session").expect("session cookie");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=28800"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    assert!(!cookie.contains("Secure"), "issuer is http here");
    let page = browser.get(app.url("/account")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("carol@example.com"));
}

#[tokio::test]
async fn session_cookie_is_secure_when_the_issuer_is_https() {
    let app = crate::helpers::spawn_app_with(|c| c.issuer = Some("https://id.example".parse().unwrap())).await;
    app.create_user("dora", &[]).await;
    let res = app.login(&app.browser(), "dora", PASSWORD).await;
    assert!(set_cookie(&res, "__Host-gh_session").unwrap().contains("; Secure"));
    let csrf = set_cookie(&res, "__Host-gh_csrf").expect("__Host- prefixed CSRF cookie on https");
    assert!(csrf.contains("; Secure") && csrf.contains("Path=/") && !csrf.contains("Domain"));
}

#[tokio::test]
async fn sign_in_returns_to_the_page_that_asked_but_never_off_site() {
    let app = spawn_app().await;
    app.create_user("erin", &[]).await;
    let browser = app.browser();
    let res = browser.get(app.url("/account?tab=x")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login?next=%2Faccount%3Ftab%3Dx");
    let res = app
        .submit(
            &browser,
            "/login?next=/account",
            "/login",
            &[("username", "erin"), ("password", PASSWORD), ("next", "/account?tab=x")],
        )
        .await;
    assert_eq!(location(&res), "/account?tab=x");
    let other = app.browser();
    let res = app
        .submit(
            &other,
            "/login",
            "/login",
            &[("username", "erin"), ("password", PASSWORD), ("next", "//evil.example/")],
        )
        .await;
    assert_eq!(location(&res), "/account");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_generic_answer() {
    let app = spawn_app().await;
    app.create_user("frank", &[]).await;
    let browser = app.browser();
    let wrong = app.login(&browser, "frank", "not the password at all").await;
    assert_eq!(wrong.status(), 401);
    let wrong_html = wrong.text().await.unwrap();
    let unknown = app.login(&browser, "nobody-here", "not the password at all").await;
    assert_eq!(unknown.status(), 401);
    let unknown_html = unknown.text().await.unwrap();
    assert!(wrong_html.contains(GENERIC) && unknown_html.contains(GENERIC));
    assert!(wrong_html.contains("value=\"frank\""), "the username is kept");
    assert!(!wrong_html.contains("not the password at all"), "the password is not");
    assert_eq!(browser.get(app.url("/account")).send().await.unwrap().status(), 303, "still signed out");
}

#[tokio::test]
async fn a_blocked_user_cannot_sign_in_and_their_sessions_end_at_once() {
    let app = spawn_app().await;
    let browser = app.signed_in("gina", &[]).await;
    let id = app.state.accounts.find("gina").await.unwrap().id;
    app.state.accounts.set_blocked(&id, true, &test_ctx()).await.unwrap();
    assert_eq!(browser.get(app.url("/account")).send().await.unwrap().status(), 303, "session ended");
    let res = app.login(&app.browser(), "gina", PASSWORD).await;
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("blocked"));
    // A wrong password on a blocked account says nothing about the block.
    let res = app.login(&app.browser(), "gina", "wrong wrong wrong").await;
    assert!(res.text().await.unwrap().contains(GENERIC));
    app.state.accounts.set_blocked(&id, false, &test_ctx()).await.unwrap();
    assert_eq!(app.login(&app.browser(), "gina", PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn sign_in_issues_a_new_session_id_each_time() {
    let app = spawn_app().await;
    app.create_user("hank", &[]).await;
    let browser = app.browser();
    let first = app.login(&browser, "hank", PASSWORD).await;
    let first = set_cookie(&first, "gh_session").unwrap().to_owned();
    // Signed in, /login redirects; the form can still be posted from another page.
    let second = app.submit(&browser, "/account", "/login", &[("username", "hank"), ("password", PASSWORD)]).await;
    let second = set_cookie(&second, "gh_session").unwrap().to_owned();
    assert_ne!(first, second);
    // The earlier session ended when the browser signed in again (no fixation).
    let old = first.split(';').next().unwrap().to_owned();
    let res = app.browser().get(app.url("/account")).header("cookie", old).send().await.unwrap();
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn logout_asks_for_confirmation_then_ends_the_session() {
    let app = spawn_app().await;
    let browser = app.signed_in("ivan", &[]).await;
    let page = browser.get(app.url("/logout")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<button type=\"submit\" name=\"logout\" value=\"yes\">"));
    let token = hidden_value(&html, "csrf_token").unwrap();
    let res = browser
        .post(app.url("/logout"))
        .form(&[("csrf_token", token.as_str()), ("logout", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(set_cookie(&res, "gh_session").unwrap().contains("Max-Age=0"));
    assert_eq!(browser.get(app.url("/account")).send().await.unwrap().status(), 303);
    // The token from before sign-out is refused: the CSRF cookie was replaced.
    let res = browser
        .post(app.url("/logout"))
        .form(&[("csrf_token", token.as_str()), ("logout", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn sessions_expire_after_eight_hours_even_when_active() {
    let app = spawn_app().await;
    let browser = app.signed_in("judy", &[]).await;
    for _ in 0..7 {
        app.clock.advance(3600);
        assert_eq!(browser.get(app.url("/account")).send().await.unwrap().status(), 200);
    }
    app.clock.advance(3600);
    let res = browser.get(app.url("/account")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/login"));
}

#[tokio::test]
async fn idle_sessions_expire() {
    let app = spawn_app_idle(600).await;
    let browser = app.signed_in("kate", &[]).await;
    app.clock.advance(599);
    assert_eq!(browser.get(app.url("/account")).send().await.unwrap().status(), 200);
    app.clock.advance(601);
    assert_eq!(browser.get(app.url("/account")).send().await.unwrap().status(), 303);
}

async fn spawn_app_idle(secs: i64) -> crate::helpers::TestApp {
    crate::helpers::spawn_app_with(|c| c.session.idle_timeout_secs = secs).await
}

#[tokio::test]
async fn forms_without_a_valid_csrf_token_are_refused() {
    let app = spawn_app().await;
    app.create_user("liam", &[]).await;
    let browser = app.browser();
    let _ = browser.get(app.url("/login")).send().await.unwrap();
    // Missing token.
    let res =
        browser.post(app.url("/login")).form(&[("username", "liam"), ("password", PASSWORD)]).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("expired or did not come from this site"));
    // A token minted for another browser's cookie.
    let foreign = app.csrf_token(&app.browser(), "/login").await;
    let res = browser
        .post(app.url("/login"))
        .form(&[("username", "liam"), ("password", PASSWORD), ("csrf_token", foreign.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // A token replayed after sign-in, when the CSRF cookie has been replaced.
    let before = app.csrf_token(&browser, "/login").await;
    assert_eq!(app.login(&browser, "liam", PASSWORD).await.status(), 303);
    let res = browser
        .post(app.url("/account/profile"))
        .form(&[("display_name", "x"), ("csrf_token", before.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // No cookie at all.
    let res = reqwest::Client::new()
        .post(app.url("/login"))
        .form(&[("username", "liam"), ("password", PASSWORD), ("csrf_token", before.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn a_forged_session_cookie_is_just_signed_out() {
    let app = spawn_app().await;
    let res = app.browser().get(app.url("/account")).header("cookie", "gh_session=forged-value").send().await.unwrap();
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn passwords_are_rehashed_on_sign_in_when_parameters_change() {
    let app = spawn_app().await;
    let id = app.create_user("mona", &[]).await;
    let before = app.state.accounts.find(&id).await.unwrap().password_hash.unwrap();
    assert!(before.contains("m=256,t=1,p=1"), "{before}");
    // A second instance on the same data with stronger parameters.
    let mut config = app.config.clone();
    config.password.argon2_memory_kib = 512;
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.database.url = Some(secrecy::SecretString::from(app.config.database_url()));
    let stronger = gatehouse::app::build(config, std::sync::Arc::new(app.clock.clone())).await.unwrap();
    stronger
        .state()
        .accounts
        .authenticate(&gatehouse::security::audit::Context::cli(), "mona", &secrecy::SecretString::from(PASSWORD))
        .await
        .unwrap();
    let after = app.state.accounts.find(&id).await.unwrap().password_hash.unwrap();
    assert!(after.contains("m=512,t=1,p=1"), "{after}");
}

#[tokio::test]
async fn a_form_posted_after_the_session_expired_returns_to_a_page_after_sign_in() {
    let app = spawn_app().await;
    let browser = app.signed_in("vera", &[]).await;
    let token = app.csrf_token(&browser, "/account").await;
    app.clock.advance(9 * 3600);
    let res = browser
        .post(app.url("/account/profile"))
        .form(&[("display_name", "Vera"), ("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    // Not the POST-only path, which a browser would GET after signing in (405).
    assert_eq!(location(&res), "/login?next=%2Faccount");
}

#[tokio::test]
async fn a_request_id_from_the_client_is_kept_only_when_plain() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();
    let res = http.get(app.url("/health/live")).header("x-request-id", "abc-123").send().await.unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    let forged = "x\" level=ERROR msg=\"forged";
    let res = http.get(app.url("/health/live")).header("x-request-id", forged).send().await.unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(id, forged);
    assert_eq!(id.len(), 36, "a fresh UUID");
}
