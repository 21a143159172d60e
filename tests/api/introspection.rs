//! Introspection is scoped to who asks (RFC 7662 §2.2 and §4: a resource
//! that may not introspect a token is told it is inactive; RFC 6749 §10.4:
//! refresh tokens stay between the server and their client). A refresh token is shown to its own client only; an access
//! token to its own client, or to a client marked as a resource server for
//! one of its audiences (`client create/update --resource-server`). Anything
//! else is `{"active":false}`, exactly as for an unknown token. And the time
//! members are JSON integers (RFC 7662 §2.2).
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::oidc::{REDIRECT, code_with_scope, redeem, register};

/// An audience that is not the issuer, so the tests show `aud` is what counts.
const API: &str = "https://api.example";

/// A confidential client that is a resource server for `audiences`; returns its secret.
async fn resource_server(app: &TestApp, id: &str, audiences: &[&str]) -> String {
    let registered = app
        .state
        .clients
        .register(gatehouse::oauth::clients::ClientSpec {
            client_id: id.into(),
            name: format!("{id} api"),
            redirect_uris: vec![REDIRECT.into()],
            resource_audiences: audiences.iter().map(|a| (*a).to_owned()).collect(),
            ..Default::default()
        })
        .await
        .unwrap();
    registered.generated_secret.unwrap().expose_secret().to_owned()
}

/// `rp`'s tokens from a code flow with offline_access: (rp's secret, access, refresh).
async fn rp_tokens(app: &TestApp) -> (String, String, String) {
    let secret = register(app, "rp", true).await;
    let browser = app.signed_in("ines", &[]).await;
    let (code, verifier) = code_with_scope(app, &browser, "openid email offline_access").await;
    let body: Value = redeem(app, &secret, &code, Some(&verifier)).await.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap().to_owned();
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    (secret, access, refresh)
}

pub(crate) async fn introspect_raw(app: &TestApp, id: &str, secret: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
}

pub(crate) async fn introspect(app: &TestApp, id: &str, secret: &str, token: &str) -> Value {
    let res = introspect_raw(app, id, secret, token).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Status, headers (but the per-request id and the date) and body bytes.
async fn everything(res: reqwest::Response) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let status = res.status().as_u16();
    let mut headers: Vec<(String, String)> = res
        .headers()
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "x-request-id" | "date"))
        .map(|(name, value)| (name.as_str().to_owned(), value.to_str().unwrap().to_owned()))
        .collect();
    headers.sort();
    (status, headers, res.bytes().await.unwrap().to_vec())
}

fn active(v: &Value) -> bool {
    v["active"].as_bool().unwrap()
}

#[tokio::test]
async fn a_client_introspects_its_own_access_and_refresh_tokens_rfc_7662_2_2() {
    let app = spawn_app().await;
    let (secret, access, refresh) = rp_tokens(&app).await;
    let answer = introspect(&app, "rp", &secret, &access).await;
    assert!(active(&answer), "{answer}");
    assert_eq!((answer["client_id"].as_str(), answer["token_type"].as_str()), (Some("rp"), Some("Bearer")));
    let answer = introspect(&app, "rp", &secret, &refresh).await;
    assert!(active(&answer), "{answer}");
    assert_eq!(answer["token_type"], "refresh_token");
}

#[tokio::test]
async fn another_clients_access_token_is_inactive_byte_for_byte_as_an_unknown_one_rfc_7662_4() {
    let app = spawn_app().await;
    let (_, access, _) = rp_tokens(&app).await;
    let other = register(&app, "other", true).await;
    let theirs = everything(introspect_raw(&app, "other", &other, &access).await).await;
    let unknown = everything(introspect_raw(&app, "other", &other, "no-such-token").await).await;
    let unknown_jwt = everything(introspect_raw(&app, "other", &other, "a.b.c").await).await;
    assert_eq!(String::from_utf8_lossy(&theirs.2), r#"{"active":false}"#);
    assert_eq!(theirs, unknown, "another client's token answers exactly as an unknown one");
    assert_eq!(theirs, unknown_jwt);
}

#[tokio::test]
async fn another_clients_refresh_token_is_inactive_rfc_6749_10_4() {
    let app = spawn_app().await;
    let (_, _, refresh) = rp_tokens(&app).await;
    let other = register(&app, "other", true).await;
    let theirs = everything(introspect_raw(&app, "other", &other, &refresh).await).await;
    let unknown = everything(introspect_raw(&app, "other", &other, "no-such-token").await).await;
    assert_eq!(String::from_utf8_lossy(&theirs.2), r#"{"active":false}"#);
    assert_eq!(theirs, unknown);
}

#[tokio::test]
async fn a_resource_server_for_the_tokens_audience_sees_it_active_rfc_7662_4() {
    let app = spawn_app_with(|c| c.tokens.audience = Some(API.into())).await;
    let (_, access, _) = rp_tokens(&app).await;
    let api = resource_server(&app, "api", &[API]).await;
    let answer = introspect(&app, "api", &api, &access).await;
    assert!(active(&answer), "{answer}");
    assert_eq!(answer["client_id"], "rp", "still the token's own client");
    // RFC 7519 §4.1.3: one audience may be a plain string.
    assert!(answer["aud"] == API || answer["aud"] == serde_json::json!([API]), "{answer}");
    // A resource server for another audience (here the issuer) learns nothing.
    let elsewhere = resource_server(&app, "elsewhere", &[&app.base]).await;
    assert_eq!(introspect(&app, "elsewhere", &elsewhere, &access).await, serde_json::json!({"active": false}));
}

#[tokio::test]
async fn a_resource_server_still_cannot_introspect_another_clients_refresh_token_rfc_6749_10_4() {
    let app = spawn_app_with(|c| c.tokens.audience = Some(API.into())).await;
    let (_, _, refresh) = rp_tokens(&app).await;
    let api = resource_server(&app, "api", &[API]).await;
    assert_eq!(introspect(&app, "api", &api, &refresh).await, serde_json::json!({"active": false}));
}

#[tokio::test]
async fn introspection_times_are_integers_for_both_token_kinds_rfc_7662_2_2() {
    let app = spawn_app().await;
    let (secret, access, refresh) = rp_tokens(&app).await;
    for (kind, token) in [("access", &access), ("refresh", &refresh)] {
        let answer = introspect(&app, "rp", &secret, token).await;
        assert!(active(&answer), "{kind}: {answer}");
        for member in ["iat", "exp", "nbf"] {
            assert!(answer[member].is_i64(), "{kind} token: {member} is {}", answer[member]);
        }
        assert!(answer["iat"].as_i64() < answer["exp"].as_i64(), "{kind}: {answer}");
        assert!(answer["nbf"].as_i64() <= answer["iat"].as_i64(), "{kind}: {answer}");
    }
}

#[tokio::test]
async fn a_resource_server_marked_by_the_cli_sees_tokens_for_its_audience_until_unmarked_rfc_7662_4() {
    use crate::deletion::{fails, ok};
    let app = spawn_app_with(|c| c.tokens.audience = Some(API.into())).await;
    let (_, access, _) = rp_tokens(&app).await;
    let create = ["client", "create", "--client-id", "api", "--name", "API", "--redirect-uri", REDIRECT];
    let bad: Vec<&str> = create.iter().copied().chain(["--resource-server", "has space"]).collect();
    assert!(fails(&app, &bad, "").contains("resource server audience \"has space\""));
    assert!(app.state.clients.find("api").await.unwrap().is_none(), "nothing half made");
    let args: Vec<&str> = create.iter().copied().chain(["--resource-server", API]).collect();
    let out = ok(&app, &args, "");
    assert!(out.contains(&format!("resource server for: {API}")), "{out}");
    let secret = out.lines().find_map(|l| l.strip_prefix("client_secret: ")).unwrap().to_owned();
    assert!(ok(&app, &["client", "show", "api"], "").contains(&format!("resource_server_for:       {API}")));
    assert!(active(&introspect(&app, "api", &secret, &access).await));

    // `--resource-server ""` clears the list, and the token is not api's to see.
    let out = ok(&app, &["client", "update", "api", "--resource-server", ""], "");
    assert!(out.lines().any(|l| l.trim_end() == "resource_server_for:"), "{out}");
    // The CLI is another process: the server's cached client row goes within a second.
    let unmarked = async || !active(&introspect(&app, "api", &secret, &access).await);
    crate::helpers::within_a_second("api no longer sees the token", unmarked).await;
    // So does `--no-resource-server`; a plain update keeps the list.
    ok(&app, &["client", "update", "api", "--resource-server", API, "--resource-server", "https://b.example"], "");
    ok(&app, &["client", "update", "api", "--name", "Still API"], "");
    let row = app.state.clients.find("api").await.unwrap().unwrap();
    assert_eq!(row.resource_audience_list().unwrap(), [API, "https://b.example"]);
    let marked = async || active(&introspect(&app, "api", &secret, &access).await);
    crate::helpers::within_a_second("api sees the token again", marked).await;
    ok(&app, &["client", "update", "api", "--no-resource-server"], "");
    crate::helpers::within_a_second("api no longer sees the token", unmarked).await;
}
