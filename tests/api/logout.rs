//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) at the
//! discovery document's `end_session_endpoint`.
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::helpers::{TestApp, hidden_value, location, spawn_app};
use crate::oidc::{code_with_scope, redeem};

const BACK: &str = "https://rp.example/signed-out";

/// A signed-in browser, its client's secret, and tokens from a code flow.
async fn session_with_tokens(app: &TestApp) -> (reqwest::Client, String, Value) {
    let registered = app
        .state
        .clients
        .register(gatehouse::oauth::clients::ClientSpec {
            client_id: "rp".into(),
            name: "RP".into(),
            redirect_uris: vec!["https://rp.example/callback".into()],
            post_logout_redirect_uris: vec![BACK.into()],
            skip_consent: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let secret = registered.generated_secret.unwrap().expose_secret().to_owned();
    let browser = app.signed_in("lena", &[]).await;
    let (code, verifier) = code_with_scope(app, &browser, "openid offline_access").await;
    let tokens: Value = redeem(app, &secret, &code, Some(&verifier)).await.json().await.unwrap();
    (browser, secret, tokens)
}

fn end_session_url(app: &TestApp, pairs: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&app.url("/logout")).unwrap();
    url.query_pairs_mut().extend_pairs(pairs);
    url.into()
}

#[tokio::test]
async fn discovery_names_the_end_session_endpoint() {
    let app = spawn_app().await;
    let doc: Value = reqwest::get(app.url("/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    assert_eq!(doc["end_session_endpoint"], app.url("/logout"));
}

#[tokio::test]
async fn a_valid_id_token_hint_signs_out_at_once_and_returns_with_state() {
    let app = spawn_app().await;
    let (browser, secret, tokens) = session_with_tokens(&app).await;
    let hint = tokens["id_token"].as_str().unwrap();
    let url = end_session_url(&app, &[("id_token_hint", hint), ("post_logout_redirect_uri", BACK), ("state", "a b&c")]);
    let res = browser.get(url).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let back = url::Url::parse(location(&res)).unwrap();
    assert_eq!(&back[..url::Position::AfterPath], BACK);
    assert_eq!(back.query_pairs().find(|(k, _)| k == "state").unwrap().1, "a b&c");
    assert_eq!(browser.get(app.url("/account")).send().await.unwrap().status(), 303, "session ended");
    // And the access tokens issued under that session; the offline_access
    // refresh token outlives it (OIDC Core §11; see tests/api/revocation.rs).
    let refreshed = reqwest::Client::new()
        .post(app.url("/token"))
        .basic_auth("rp", Some(&secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);
    let userinfo = reqwest::Client::new()
        .get(app.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 401);
}

#[tokio::test]
async fn an_unregistered_post_logout_redirect_uri_is_never_followed() {
    let app = spawn_app().await;
    let (browser, _, tokens) = session_with_tokens(&app).await;
    let hint = tokens["id_token"].as_str().unwrap();
    let url = end_session_url(&app, &[("id_token_hint", hint), ("post_logout_redirect_uri", "https://evil.example/")]);
    let res = browser.get(url).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
    assert_eq!(browser.get(app.url("/account")).send().await.unwrap().status(), 200, "still signed in");
    let forged = end_session_url(&app, &[("id_token_hint", "not.a.token")]);
    assert_eq!(browser.get(forged).send().await.unwrap().status(), 400);
}

#[tokio::test]
async fn without_a_hint_the_user_confirms_and_state_is_carried_through() {
    let app = spawn_app().await;
    let (browser, _, _) = session_with_tokens(&app).await;
    let url = end_session_url(&app, &[("client_id", "rp"), ("post_logout_redirect_uri", BACK), ("state", "xyz")]);
    let page = browser.get(url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<button type=\"submit\" name=\"logout\" value=\"yes\">"));
    let token = hidden_value(&html, "csrf_token").unwrap();
    let res = browser
        .post(app.url("/logout"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("logout", "yes"),
            ("client_id", "rp"),
            ("post_logout_redirect_uri", BACK),
            ("state", "xyz"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), format!("{BACK}?state=xyz"));
    assert_eq!(browser.get(app.url("/account")).send().await.unwrap().status(), 303);
}
