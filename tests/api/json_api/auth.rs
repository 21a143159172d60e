//! Bearer authentication and the scope rules of the JSON API (RFC 6750),
//! the problem shape of its errors (RFC 9457), and the `api_call` audit.
use serde_json::Value;

use super::support::{Api, api_rp, client_token, problem, service_client, user_token};
use crate::helpers::spawn_app;

fn challenge(res: &reqwest::Response) -> String {
    res.headers().get("www-authenticate").unwrap().to_str().unwrap().to_owned()
}

#[tokio::test]
async fn no_token_is_401_with_a_bare_bearer_challenge_rfc_6750_3_1() {
    let app = spawn_app().await;
    let res = reqwest::get(app.url("/api/v1/me")).await.unwrap();
    // RFC 6750 §3.1: a request without authentication carries no error code.
    assert_eq!(challenge(&res), "Bearer realm=\"gatehouse\"");
    problem(res, 401).await;
}

#[tokio::test]
async fn a_bad_or_revoked_token_is_401_invalid_token_rfc_6750_3_1() {
    let app = spawn_app().await;
    let res = Api::new(&app, "not-a-token").get("/api/v1/me").await;
    assert!(challenge(&res).contains("error=\"invalid_token\""));
    problem(res, 401).await;

    let secret = api_rp(&app).await;
    let token = user_token(&app, &secret, "rhea", &[], "openid account").await;
    let revoked = reqwest::Client::new()
        .post(app.url("/revoke"))
        .basic_auth("rp", Some(&secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let res = Api::new(&app, &token).get("/api/v1/me").await;
    assert!(challenge(&res).contains("error=\"invalid_token\""));
    problem(res, 401).await;
}

#[tokio::test]
async fn an_account_token_reads_its_own_profile_with_an_etag() {
    let app = spawn_app().await;
    let secret = api_rp(&app).await;
    let token = user_token(&app, &secret, "rhea", &[], "openid account").await;
    let res = Api::new(&app, &token).get("/api/v1/me").await;
    assert_eq!(res.status(), 200);
    let etag = res.headers().get("etag").unwrap().to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "a strong tag: {etag}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["username"], "rhea");
    for field in ["id", "username", "email", "email_verified", "display_name", "roles", "blocked", "created_at"] {
        assert!(body.get(field).is_some(), "{field} in {body}");
    }
    assert_eq!(body["roles"], serde_json::json!(["user"]));
}

#[tokio::test]
async fn a_token_without_the_account_scope_is_403_insufficient_scope_rfc_6750_3_1() {
    let app = spawn_app().await;
    let secret = api_rp(&app).await;
    let token = user_token(&app, &secret, "rhea", &[], "openid profile").await;
    let res = Api::new(&app, &token).get("/api/v1/me").await;
    let c = challenge(&res);
    assert!(c.contains("error=\"insufficient_scope\"") && c.contains("scope=\"account\""), "{c}");
    problem(res, 403).await;
}

#[tokio::test]
async fn a_clients_own_token_has_no_account() {
    let app = spawn_app().await;
    let secret = service_client(&app, "svc", &["admin"]).await;
    let body: Value = client_token(&app, "svc", &secret, None).await.json().await.unwrap();
    let res = Api::new(&app, body["access_token"].as_str().unwrap()).get("/api/v1/me").await;
    problem(res, 403).await;
}

#[tokio::test]
async fn the_admin_scope_is_issued_only_to_admins_rfc_6749_3_3() {
    let app = spawn_app().await;
    let secret = api_rp(&app).await;
    let browser = app.signed_in("rhea", &[]).await;
    let (code, verifier) = crate::oidc::code_with_scope(&app, &browser, "openid account admin").await;
    let body: Value = crate::oidc::redeem(&app, &secret, &code, Some(&verifier)).await.json().await.unwrap();
    // RFC 6749 §3.3: the issued scope differs from the request, so it is in the response.
    assert_eq!(body["scope"], "openid account");
}

#[tokio::test]
async fn client_credentials_get_admin_only_with_the_admin_service_role() {
    let app = spawn_app().await;
    let without = service_client(&app, "plain", &[]).await;
    let res = client_token(&app, "plain", &without, Some("admin")).await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_scope");
    let by_default: Value = client_token(&app, "plain", &without, None).await.json().await.unwrap();
    assert_eq!(by_default["scope"], "", "the default leaves admin out");

    let with = service_client(&app, "ops", &["admin"]).await;
    let body: Value = client_token(&app, "ops", &with, None).await.json().await.unwrap();
    assert_eq!(body["scope"], "admin");
}

#[tokio::test]
async fn the_api_stops_for_a_client_no_longer_allowed_the_scope() {
    let app = spawn_app().await;
    let secret = api_rp(&app).await;
    let token = user_token(&app, &secret, "rhea", &[], "openid account").await;
    assert_eq!(Api::new(&app, &token).get("/api/v1/me").await.status(), 200);
    let narrowed =
        gatehouse::oauth::clients::ClientChanges { scope: Some("openid profile email".into()), ..Default::default() };
    app.state.clients.update("rp", narrowed, &crate::helpers::test_ctx()).await.unwrap();
    problem(Api::new(&app, &token).get("/api/v1/me").await, 403).await;
}

#[tokio::test]
async fn every_call_is_audited_with_its_actor_and_via_api() {
    let app = spawn_app().await;
    let secret = api_rp(&app).await;
    let token = user_token(&app, &secret, "rhea", &[], "openid account").await;
    let me: Value = Api::new(&app, &token).get("/api/v1/me").await.json().await.unwrap();
    let store = &app.state.store;
    let rows = store.conn().await.unwrap().db().audit_after(0, 1000).await.unwrap();
    let call = rows.iter().find(|r| r.action == "api_call").expect("an api_call event");
    assert_eq!(call.actor, me["id"].as_str().unwrap());
    let detail: Value = serde_json::from_str(&call.detail).unwrap();
    assert_eq!(detail["via"], "api");
    assert_eq!(detail["route"], "/api/v1/me");
    assert_eq!(detail["status"], 200);
}

#[tokio::test]
async fn unknown_api_paths_and_methods_are_problems_rfc_9457() {
    let app = spawn_app().await;
    problem(reqwest::get(app.url("/api/v1/nothing-here")).await.unwrap(), 404).await;
    let res = reqwest::Client::new().delete(app.url("/api/v1/openapi.json")).send().await.unwrap();
    problem(res, 405).await;
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_describes_the_routes() {
    let app = spawn_app().await;
    let doc: Value = reqwest::get(app.url("/api/v1/openapi.json")).await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    let me = &doc["paths"]["/api/v1/me"]["get"];
    assert_eq!(me["security"][0]["bearer"][0], "account");
    for status in ["200", "401", "403"] {
        assert!(me["responses"].get(status).is_some(), "{status} documented");
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
}

#[tokio::test]
async fn a_token_in_the_query_string_is_not_read_rfc_6750_2_1() {
    let app = spawn_app().await;
    let secret = api_rp(&app).await;
    let token = user_token(&app, &secret, "rhea", &[], "openid account").await;
    let res = reqwest::get(app.url(&format!("/api/v1/me?access_token={token}"))).await.unwrap();
    assert_eq!(challenge(&res), "Bearer realm=\"gatehouse\"", "as if no token was sent");
    problem(res, 401).await;
}

#[tokio::test]
async fn a_body_over_64_kib_is_413_and_not_json_is_415() {
    let app = spawn_app().await;
    let secret = api_rp(&app).await;
    let token = user_token(&app, &secret, "rhea", &[], "openid account").await;
    let api = Api::new(&app, &token);
    let big = serde_json::json!({ "display_name": "x".repeat(70 * 1024) });
    let res =
        api.request(reqwest::Method::PATCH, "/api/v1/me").header("if-match", "*").json(&big).send().await.unwrap();
    problem(res, 413).await;
    let res = api
        .request(reqwest::Method::PATCH, "/api/v1/me")
        .header("if-match", "*")
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    problem(res, 415).await;
}

#[tokio::test]
async fn a_forged_cursor_is_422_on_every_backend() {
    let app = spawn_app().await;
    let secret = api_rp(&app).await;
    let token = user_token(&app, &secret, "rhea", &[], "openid account").await;
    use base64::Engine;
    // A cursor is opaque, not trusted: a NUL inside one never reaches PostgreSQL.
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"[1,"a\u0000b"]"#);
    for path in ["/api/v1/me/sessions", "/api/v1/me/activity"] {
        let res = Api::new(&app, &token).get(&format!("{path}?cursor={forged}")).await;
        let body = problem(res, 422).await;
        assert_eq!(body["errors"][0]["field"], "cursor", "{path}");
    }
}

#[tokio::test]
async fn role_ip_rules_hold_for_api_calls_as_for_pages() {
    let app = spawn_app().await;
    let secret = api_rp(&app).await;
    let token = user_token(&app, &secret, "rhea", &["admin"], "openid account admin").await;
    assert_eq!(Api::new(&app, &token).get("/api/v1/users").await.status(), 200);
    // Admins only from an office network: the test's loopback address is outside it.
    use gatehouse::security::ip_rules::{Action, Scope};
    let office = Scope::Role("admin".into());
    let now = app.state.clock.unix();
    app.state
        .ip
        .add(&crate::helpers::test_ctx(), Action::Allow, "203.0.113.0/24", &office, "office", now)
        .await
        .unwrap();
    let body = problem(Api::new(&app, &token).get("/api/v1/users").await, 403).await;
    assert_eq!(body["type"], "urn:gatehouse:problem:forbidden");
}
