//! IP allow/deny rules (issue 6, item 5) and the client address behind
//! trusted proxies (`Forwarded`, RFC 7239; `X-Forwarded-For`). The test client
//! connects from 127.0.0.1; rules are fixtures added through the service.
use gatehouse::security::ip_rules::{Action, Scope};
use reqwest::header::{HeaderName, HeaderValue};

use crate::helpers::{PASSWORD, TestApp, location, set_cookie, spawn_app, spawn_app_with};
use crate::oidc::{REDIRECT, code_for, error_code, redeem, register};

async fn rule(app: &TestApp, action: Action, cidr: &str, scope: Scope) {
    app.state
        .ip
        .add(&gatehouse::security::audit::Context::cli(), action, cidr, &scope, "test", app.state.clock.unix())
        .await
        .unwrap();
}

/// GET `path` with one extra header; returns the status.
async fn get_with(app: &TestApp, path: &str, header: Option<(&'static str, &str)>) -> u16 {
    let mut req = reqwest::Client::new().get(app.url(path));
    if let Some((name, value)) = header {
        req = req.header(name, value);
    }
    req.send().await.unwrap().status().as_u16()
}

fn refusals(app: &TestApp, scope: &str) -> bool {
    app.state.metrics.render().contains(&format!("gatehouse_ip_refusals_total{{scope=\"{scope}\"}}"))
}

#[tokio::test]
async fn a_global_deny_refuses_direct_requests_with_a_page_or_json_but_not_health_checks() {
    let app = spawn_app().await;
    assert_eq!(get_with(&app, "/login", None).await, 200);
    rule(&app, Action::Deny, "127.0.0.0/8", Scope::Global).await;

    let res = reqwest::get(app.url("/login")).await.unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(res.text().await.unwrap().contains("Access from your network is not allowed"));
    let token = reqwest::Client::new().post(app.url("/token")).form(&[("grant_type", "x")]).send().await.unwrap();
    assert_eq!(token.status(), 403);
    assert_eq!(error_code(token).await, "access_denied", "OAuth endpoints answer JSON");
    assert_eq!(get_with(&app, "/health/live", None).await, 200, "probes are never refused");
    assert_eq!(get_with(&app, "/health/ready", None).await, 200);
    assert!(refusals(&app, "global"));
}

#[tokio::test]
async fn a_deny_applies_to_the_client_behind_a_trusted_proxy_via_x_forwarded_for_and_forwarded() {
    let app = spawn_app_with(|c| c.network.trusted_proxies = vec!["127.0.0.1".into()]).await;
    rule(&app, Action::Deny, "203.0.113.0/24", Scope::Global).await;
    rule(&app, Action::Deny, "2001:db8::/32", Scope::Global).await;

    assert_eq!(get_with(&app, "/login", None).await, 200, "the proxy itself is not denied");
    assert_eq!(get_with(&app, "/login", Some(("x-forwarded-for", "203.0.113.9"))).await, 403);
    assert_eq!(get_with(&app, "/login", Some(("x-forwarded-for", "198.51.100.1, 127.0.0.1"))).await, 200);
    // Walked from the right past trusted proxies: the spoofable left entry is not the client.
    assert_eq!(get_with(&app, "/login", Some(("x-forwarded-for", "198.51.100.1, 203.0.113.9, 127.0.0.1"))).await, 403);
    assert_eq!(get_with(&app, "/login", Some(("x-forwarded-for", "203.0.113.9, 198.51.100.1"))).await, 200);
    // RFC 7239 §6: IPv6 nodes are quoted and bracketed, with an optional port.
    assert_eq!(get_with(&app, "/login", Some(("forwarded", "for=\"[2001:db8::1]:443\";proto=https"))).await, 403);
    assert_eq!(get_with(&app, "/login", Some(("forwarded", "for=203.0.113.77"))).await, 403);
    assert_eq!(get_with(&app, "/login", Some(("forwarded", "for=198.51.100.2"))).await, 200);
    // A malformed header falls back to the peer (the proxy), which is allowed.
    assert_eq!(get_with(&app, "/login", Some(("x-forwarded-for", "203.0.113.9, not-an-ip"))).await, 200);

    // The resolved address is what the session list records.
    let browser = browser_with(&[("x-forwarded-for", "198.51.100.7")]);
    app.create_user("pia", &[]).await;
    assert_eq!(app.login(&browser, "pia", PASSWORD).await.status(), 303);
    let page = browser.get(app.url("/account/sessions")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("198.51.100.7"), "session lists the client address: {page}");
}

#[tokio::test]
async fn spoofed_forwarding_headers_from_an_untrusted_peer_are_ignored() {
    let app = spawn_app().await; // no trusted proxies
    rule(&app, Action::Deny, "203.0.113.0/24", Scope::Global).await;
    assert_eq!(get_with(&app, "/login", Some(("x-forwarded-for", "203.0.113.9"))).await, 200);
    assert_eq!(get_with(&app, "/login", Some(("forwarded", "for=203.0.113.9"))).await, 200);
    // Nor can a denied peer escape by claiming another address.
    rule(&app, Action::Deny, "127.0.0.1", Scope::Global).await;
    assert_eq!(get_with(&app, "/login", Some(("x-forwarded-for", "198.51.100.1"))).await, 403);
    assert_eq!(get_with(&app, "/login", Some(("forwarded", "for=198.51.100.1"))).await, 403);
}

#[tokio::test]
async fn an_allow_list_refuses_every_address_it_does_not_name_and_deny_wins() {
    let app = spawn_app().await;
    rule(&app, Action::Allow, "10.0.0.0/8", Scope::Global).await;
    assert_eq!(get_with(&app, "/login", None).await, 403, "127.0.0.1 is not on the list");
    rule(&app, Action::Allow, "::ffff:127.0.0.1", Scope::Global).await;
    assert_eq!(get_with(&app, "/login", None).await, 200, "now it is (IPv4-mapped counts as IPv4)");
    rule(&app, Action::Deny, "127.0.0.0/30", Scope::Global).await;
    assert_eq!(get_with(&app, "/login", None).await, 403, "a deny match beats an allow match");
}

#[tokio::test]
async fn client_rules_redirect_access_denied_at_authorize_rfc_6749_4_1_2_1_and_refuse_at_token() {
    let app = spawn_app().await;
    let secret = register(&app, "rp", true).await;
    let browser = app.signed_in("quinn", &[]).await;
    let (code, verifier) = code_for(&app, &browser).await;
    rule(&app, Action::Deny, "127.0.0.1", Scope::Client("rp".into())).await;

    let mut url = url::Url::parse(&app.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "rp")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid")
        .append_pair("state", "st8")
        .append_pair("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        .append_pair("code_challenge_method", "S256");
    let res = browser.get(url.as_str()).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let back = url::Url::parse(location(&res)).unwrap();
    assert!(back.as_str().starts_with(REDIRECT), "{back}");
    let q: Vec<(String, String)> = back.query_pairs().into_owned().collect();
    assert!(q.contains(&("error".into(), "access_denied".into())), "{q:?}");
    assert!(q.contains(&("state".into(), "st8".into())), "RFC 6749 §4.1.2.1: state comes back");
    assert!(!q.iter().any(|(k, _)| k == "code"));

    // Before the redirect URI is validated, never redirect: a 403 page.
    let bad = url.as_str().replace("rp.example", "evil.example");
    let res = browser.get(bad).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.headers().get("location").is_none());

    let res = redeem(&app, &secret, &code, Some(&verifier)).await;
    assert_eq!(res.status(), 400, "RFC 6749 §5.2");
    assert_eq!(error_code(res).await, "unauthorized_client");
    assert!(refusals(&app, "client"));

    // Other clients are not affected.
    register(&app, "other", true).await;
    let other = url.as_str().replace("client_id=rp", "client_id=other");
    let res = browser.get(other).send().await.unwrap();
    assert_ne!(res.status(), 403);
}

#[tokio::test]
async fn role_rules_refuse_sign_in_and_requests_of_existing_sessions() {
    let app = spawn_app().await;
    let admin = app.signed_in("root", &["admin"]).await;
    let user = app.signed_in("uma", &[]).await;
    assert_eq!(admin.get(app.url("/account")).send().await.unwrap().status(), 200);
    // Admins only from the office.
    rule(&app, Action::Allow, "10.0.0.0/8", Scope::Role("admin".into())).await;

    let res = admin.get(app.url("/account")).send().await.unwrap();
    assert_eq!(res.status(), 403, "the existing session is refused on its next request");
    assert!(res.text().await.unwrap().contains("not allowed for this account"));
    assert_eq!(admin.get(app.url("/admin/users")).send().await.unwrap().status(), 403);
    assert_eq!(user.get(app.url("/account")).send().await.unwrap().status(), 200, "other roles are unaffected");

    let fresh = app.browser();
    let res = app.login(&fresh, "root", PASSWORD).await;
    assert_eq!(res.status(), 403);
    assert!(set_cookie(&res, "gh_session").is_none(), "no session");
    let html = res.text().await.unwrap();
    assert!(html.contains("not allowed for this account"), "{html}");
    assert!(!html.to_lowercase().contains("password"), "says nothing about the password: {html}");
    assert_eq!(fresh.get(app.url("/account")).send().await.unwrap().status(), 303, "not signed in");
    assert_eq!(app.login(&app.browser(), "uma", PASSWORD).await.status(), 303);
    assert!(refusals(&app, "role"));
}

/// A browser (cookies, no redirects) that sends `headers` with every request.
fn browser_with(headers: &[(&'static str, &'static str)]) -> reqwest::Client {
    let headers = headers.iter().map(|(n, v)| (HeaderName::from_static(n), HeaderValue::from_static(v))).collect();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .default_headers(headers)
        .build()
        .unwrap()
}

/// A sign-in from 203.0.113.5 (behind the trusted proxy) with a fixed request
/// id, so two answers can be compared byte for byte.
async fn outside_login(app: &TestApp, username: &str, password: &str) -> (u16, String) {
    let browser = browser_with(&[("x-forwarded-for", "203.0.113.5"), ("x-request-id", "same-request-id")]);
    let res = app.login(&browser, username, password).await;
    assert!(set_cookie(&res, "gh_session").is_none(), "no session from outside");
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn role_rules_answer_alike_for_right_and_wrong_passwords_and_lock_nothing_issue_14_item_3() {
    let app = spawn_app_with(|c| c.network.trusted_proxies = vec!["127.0.0.1".into()]).await;
    app.create_user("root", &["admin"]).await;
    rule(&app, Action::Allow, "10.0.0.0/8", Scope::Role("admin".into())).await;

    let right = outside_login(&app, "root", PASSWORD).await;
    let wrong = outside_login(&app, "root", "not the password at all").await;
    assert_eq!(right.0, 403, "{}", right.1);
    assert_eq!(right, wrong, "status and body say nothing about the password");
    assert!(right.1.contains("not allowed for this account"));
    assert!(refusals(&app, "role"), "still counted as a role refusal");

    // The password was never checked, so guesses from outside are no
    // password failures: they cannot lock the admin out of the office.
    for _ in 0..12 {
        assert_eq!(outside_login(&app, "root", "guess").await.0, 403);
    }
    let office = browser_with(&[("x-forwarded-for", "10.1.2.3")]);
    assert_eq!(app.login(&office, "root", PASSWORD).await.status(), 303, "not locked");
    assert_eq!(app.login(&app.browser(), "nobody", "x").await.status(), 401, "unknown names answer as before");
}
