//! The resource-owner password grant at `/token` (RFC 6749 §4.3): off by
//! default, for confidential clients an operator allowed it, counted like
//! `/login`, refused for what only the browser can finish, and never
//! advertised (RFC 9700 §2.4: it MUST NOT be used).
use secrecy::ExposeSecret;
use serde_json::Value;

use super::support::Api;
use crate::helpers::{PASSWORD, TestApp, spawn_app, test_ctx};

/// Registers the confidential client `app` allowed the password grant (and
/// refresh); returns its secret.
async fn password_client(app: &TestApp) -> String {
    let registered = app
        .state
        .clients
        .register(gatehouse::oauth::clients::ClientSpec {
            client_id: "app".into(),
            name: "API-first app".into(),
            grant_types: vec!["password".into(), "refresh_token".into()],
            scope: Some("openid profile email offline_access account admin".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    registered.generated_secret.unwrap().expose_secret().to_owned()
}

async fn password_grant(
    app: &TestApp,
    client: (&str, &str),
    user: &str,
    password: &str,
    scope: &str,
) -> reqwest::Response {
    let form = [("grant_type", "password"), ("username", user), ("password", password), ("scope", scope)];
    reqwest::Client::new()
        .post(app.url("/token"))
        .basic_auth(client.0, Some(client.1))
        .form(&form)
        .send()
        .await
        .unwrap()
}

async fn oauth_error(res: reqwest::Response, status: u16) -> (String, String) {
    assert_eq!(res.status(), status);
    let body: Value = res.json().await.unwrap();
    (body["error"].as_str().unwrap().to_owned(), body["error_description"].as_str().unwrap_or_default().to_owned())
}

async fn audit_actions(app: &TestApp) -> Vec<(String, String)> {
    let mut conn = app.state.store.conn().await.unwrap();
    let rows = conn.db().audit_latest(500).await.unwrap();
    rows.into_iter().map(|r| (r.action, r.detail)).collect()
}

#[tokio::test]
async fn the_password_grant_issues_access_refresh_and_id_tokens_like_the_code_grant_rfc_6749_4_3_3() {
    let app = spawn_app().await;
    let secret = password_client(&app).await;
    app.create_user("alice", &[]).await;
    let res = password_grant(&app, ("app", &secret), "alice", PASSWORD, "openid offline_access account").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert!(body["id_token"].is_string() && body["refresh_token"].is_string(), "{body}");
    assert_eq!(body["token_type"], "Bearer");
    let me = Api::new(&app, body["access_token"].as_str().unwrap()).get("/api/v1/me").await;
    assert_eq!(me.status(), 200);
    assert_eq!(me.json::<Value>().await.unwrap()["username"], "alice");
    // The refresh token works without a browser session (offline_access).
    let form = [("grant_type", "refresh_token"), ("refresh_token", body["refresh_token"].as_str().unwrap())];
    let refreshed = reqwest::Client::new().post(app.url("/token")).basic_auth("app", Some(&secret)).form(&form);
    assert_eq!(refreshed.send().await.unwrap().status(), 200);
    let events = audit_actions(&app).await;
    assert!(events.iter().any(|(a, d)| a == "sign_in" && d.contains("\"password_grant\"")), "{events:?}");
}

#[tokio::test]
async fn the_admin_scope_follows_the_users_roles() {
    let app = spawn_app().await;
    let secret = password_client(&app).await;
    app.create_user("plain", &[]).await;
    app.create_user("boss", &["admin"]).await;
    let res = password_grant(&app, ("app", &secret), "plain", PASSWORD, "account admin").await;
    assert_eq!(res.json::<Value>().await.unwrap()["scope"], "account");
    let res = password_grant(&app, ("app", &secret), "boss", PASSWORD, "account admin").await;
    assert_eq!(res.json::<Value>().await.unwrap()["scope"], "account admin");
    let res = password_grant(&app, ("app", &secret), "plain", PASSWORD, "openid unknown").await;
    assert_eq!(oauth_error(res, 400).await.0, "invalid_scope");
}

#[tokio::test]
async fn the_grant_is_off_by_default_never_public_and_not_advertised_rfc_9700_2_4() {
    let app = spawn_app().await;
    let rp = crate::oidc::register(&app, "rp", true).await;
    let app_secret = password_client(&app).await;
    app.create_user("carol", &[]).await;
    // A client not allowed the grant is refused before the password is
    // checked: six wrong passwords through it lock nothing.
    for _ in 0..6 {
        let res = password_grant(&app, ("rp", &rp), "carol", "wrong password!", "openid").await;
        assert_eq!(oauth_error(res, 400).await.0, "unauthorized_client");
    }
    let res = password_grant(&app, ("app", &app_secret), "carol", PASSWORD, "openid").await;
    assert_eq!(res.status(), 200, "no lockout counted through the refused client");
    let public = app
        .state
        .clients
        .register(gatehouse::oauth::clients::ClientSpec {
            client_id: "spa".into(),
            name: "spa".into(),
            public: true,
            redirect_uris: vec![crate::oidc::REDIRECT.into()],
            grant_types: vec!["authorization_code".into(), "password".into()],
            ..Default::default()
        })
        .await;
    assert!(public.is_err(), "a public client is never given the password grant");
    let doc: Value = reqwest::get(app.url("/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    let grants = doc["grant_types_supported"].as_array().unwrap();
    assert!(!grants.iter().any(|g| g == "password"), "{grants:?}");
    assert!(grants.iter().any(|g| g == "authorization_code"));
}

#[tokio::test]
async fn wrong_passwords_are_invalid_grant_and_lock_like_login_rfc_6749_5_2() {
    let app = spawn_app().await;
    let secret = password_client(&app).await;
    app.create_user("dave", &[]).await;
    for _ in 0..5 {
        let res = password_grant(&app, ("app", &secret), "dave", "not the password", "openid").await;
        assert_eq!(oauth_error(res, 400).await.0, "invalid_grant");
    }
    let res = password_grant(&app, ("app", &secret), "dave", PASSWORD, "openid").await;
    let (error, why) = oauth_error(res, 400).await;
    assert_eq!(error, "invalid_grant");
    assert!(why.contains("too many"), "{why}");
    // The lock is the account's: the sign-in form is refused too.
    let browser = app.browser();
    assert_ne!(app.login(&browser, "dave", PASSWORD).await.status(), 303);
    let unknown = password_grant(&app, ("app", &secret), "nobody", "whatever it is", "openid").await;
    assert_eq!(oauth_error(unknown, 400).await.0, "invalid_grant");
    let events = audit_actions(&app).await;
    assert!(events.iter().any(|(a, d)| a == "sign_in_failed" && d.contains("password_grant")), "{events:?}");
}

#[tokio::test]
async fn two_step_unconfirmed_and_blocked_accounts_are_refused_with_invalid_grant() {
    let app = spawn_app().await;
    let secret = password_client(&app).await;
    let id = app.create_user("erin", &[]).await;
    app.state.store.conn().await.unwrap().db().set_email_mfa(&id, true, 1).await.unwrap();
    let res = password_grant(&app, ("app", &secret), "erin", PASSWORD, "openid").await;
    let (error, why) = oauth_error(res, 400).await;
    assert_eq!(error, "invalid_grant");
    assert!(why.contains("two-step") && why.contains("authorization code flow"), "{why}");

    let body = serde_json::json!({ "username": "frank", "email": "frank@example.com", "password": PASSWORD });
    let registered = reqwest::Client::new().post(app.url("/api/v1/register")).json(&body).send().await.unwrap();
    assert_eq!(registered.status(), 202);
    let res = password_grant(&app, ("app", &secret), "frank", PASSWORD, "openid").await;
    let (error, why) = oauth_error(res, 400).await;
    assert_eq!(error, "invalid_grant");
    assert!(why.contains("not confirmed") && why.contains("browser"), "{why}");

    let gus = app.create_user("gus", &[]).await;
    app.state.accounts.set_blocked(&gus, true, &test_ctx()).await.unwrap();
    let res = password_grant(&app, ("app", &secret), "gus", PASSWORD, "openid").await;
    assert_eq!(oauth_error(res, 400).await.0, "invalid_grant");
}

/// Runs `gatehouse args…` in `dir` (on the test's PostgreSQL database when there is one).
fn gatehouse(dir: &std::path::Path, db: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.args(args).current_dir(dir).env_clear();
    if let Some(url) = db {
        cmd.env("GATEHOUSE_DATABASE__URL", url);
    }
    cmd.output().unwrap()
}

#[tokio::test]
async fn the_cli_gives_the_grant_to_confidential_clients_only() {
    let dir = tempfile::tempdir().unwrap();
    let pg = match crate::helpers::postgres_url().filter(|_| crate::helpers::on_postgres()) {
        Some(url) => Some(gatehouse::store::testing::TempPostgres::create(&url).await.unwrap()),
        None => None,
    };
    let db = pg.as_ref().map(|p| p.url.as_str());
    let create = ["client", "create", "--client-id", "cli-app", "--name", "CLI app", "--grant-type", "password"];
    let ok = gatehouse(dir.path(), db, &create);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let shown = gatehouse(dir.path(), db, &["client", "show", "cli-app"]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("password"));
    let mut public = create.to_vec();
    public[3] = "cli-spa";
    public.extend(["--public", "--redirect-uri", "https://spa.example/cb"]);
    let refused = gatehouse(dir.path(), db, &public);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("password grant"));
}
