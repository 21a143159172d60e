//! `/api/v1/me…`: the account centre over bearer tokens, through the same
//! services as the account pages.
use gatehouse::config::Limit;
use serde_json::{Value, json};

use super::support::{Api, admin_token, api_rp, problem, user_token};
use crate::helpers::{PASSWORD, TestApp, spawn_app, spawn_app_with};
use crate::oidc::{code_with_scope, redeem};

const NEW_PASSWORD: &str = "a different horse, battery staple";

/// An app with `rp` and an `account` token of a new user `name` (`roles`).
async fn account(app: &TestApp, name: &str, roles: &[&str]) -> String {
    let secret = api_rp(app).await;
    user_token(app, &secret, name, roles, "openid account offline_access").await
}

async fn delete_with(api: &Api<'_>, path: &str, body: &Value) -> reqwest::Response {
    api.request(reqwest::Method::DELETE, path).json(body).send().await.unwrap()
}

async fn audit_actions(app: &TestApp) -> Vec<(String, String)> {
    let mut conn = app.state.store.conn().await.unwrap();
    let rows = conn.db().audit_latest(500).await.unwrap();
    rows.into_iter().map(|r| (r.action, r.detail)).collect()
}

#[tokio::test]
async fn the_display_name_changes_only_with_the_current_etag_rfc_9110_13_1_1() {
    let app = spawn_app().await;
    let api = Api::new(&app, account(&app, "alice", &[]).await);
    let read = api.get("/api/v1/me").await;
    let etag = read.headers()["etag"].to_str().unwrap().to_owned();
    let body = json!({ "display_name": "Alice A." });
    // RFC 6585 §3: an update without If-Match is 428.
    let res = api.request(reqwest::Method::PATCH, "/api/v1/me").json(&body).send().await.unwrap();
    problem(res, 428).await;
    problem(api.patch("/api/v1/me", "\"stale\"", &body).await, 412).await;
    let res = api.patch("/api/v1/me", &etag, &body).await;
    assert_eq!(res.status(), 200);
    let new_etag = res.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    assert_eq!(res.json::<Value>().await.unwrap()["display_name"], "Alice A.");
    problem(api.patch("/api/v1/me", &etag, &json!({ "display_name": "again" })).await, 412).await;
    let long = "x".repeat(500);
    problem(api.patch("/api/v1/me", &new_etag, &json!({ "display_name": long })).await, 422).await;
    assert_eq!(api.get("/api/v1/me").await.headers()["etag"].to_str().unwrap(), new_etag);
}

#[tokio::test]
async fn me_routes_need_an_account_token_rfc_6750_3_1() {
    let app = spawn_app().await;
    let res = reqwest::get(app.url("/api/v1/me/sessions")).await.unwrap();
    problem(res, 401).await;
    // A client's own admin token has no account: 403.
    let admin = Api::new(&app, admin_token(&app).await);
    problem(admin.get("/api/v1/me/apps").await, 403).await;
    let secret = api_rp(&app).await;
    let scopeless = Api::new(&app, user_token(&app, &secret, "bob", &[], "openid").await);
    problem(scopeless.get("/api/v1/me/export").await, 403).await;
}

#[tokio::test]
async fn a_password_change_checks_the_current_one_and_the_policy() {
    let app = spawn_app().await;
    let api = Api::new(&app, account(&app, "carol", &[]).await);
    let wrong = json!({ "current_password": "not it at all", "new_password": NEW_PASSWORD });
    let body = problem(api.post("/api/v1/me/password", &wrong).await, 422).await;
    assert_eq!(body["errors"][0]["field"], "current_password");
    let weak = json!({ "current_password": PASSWORD, "new_password": "short" });
    let body = problem(api.post("/api/v1/me/password", &weak).await, 422).await;
    assert_eq!(body["errors"][0]["field"], "new_password");
    let good = json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD });
    assert_eq!(api.post("/api/v1/me/password", &good).await.status(), 204);
    let browser = app.browser();
    assert_eq!(app.login(&browser, "carol", NEW_PASSWORD).await.status(), 303);
    let events = audit_actions(&app).await;
    assert!(events.iter().any(|(a, d)| a == "password_changed" && d.contains("\"api\"")), "{events:?}");
    assert!(events.iter().any(|(a, _)| a == "reauth_failed"));
}

#[tokio::test]
async fn wrong_current_passwords_lock_the_account_like_the_page() {
    let app = spawn_app().await;
    let api = Api::new(&app, account(&app, "dora", &[]).await);
    let wrong = json!({ "current_password": "not it at all", "new_password": NEW_PASSWORD });
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(api.post("/api/v1/me/password", &wrong).await.status().as_u16());
    }
    assert!(statuses.contains(&429), "the lockout answers 429: {statuses:?}");
    let browser = app.browser();
    assert_ne!(app.login(&browser, "dora", PASSWORD).await.status(), 303, "the account is locked");
}

#[tokio::test]
async fn an_email_change_needs_the_password_and_mails_the_new_address() {
    let app = spawn_app().await;
    let api = Api::new(&app, account(&app, "emma", &[]).await);
    let body = problem(api.post("/api/v1/me/email", &json!({ "email": "not-an-address" })).await, 422).await;
    assert_eq!(body["errors"][0]["field"], "email");
    let wrong = json!({ "email": "emma2@example.com", "password": "not it at all" });
    let body = problem(api.post("/api/v1/me/email", &wrong).await, 422).await;
    assert_eq!(body["errors"][0]["field"], "password");
    let good = json!({ "email": "emma2@example.com", "password": PASSWORD });
    assert_eq!(api.post("/api/v1/me/email", &good).await.status(), 202);
    app.mail.wait_for("emma2@example.com", "Confirm your new email").await;
    app.mail.wait_for("emma@example.com", "being changed").await;
}

#[tokio::test]
async fn sessions_are_listed_by_page_and_ended_one_by_one() {
    let app = spawn_app().await;
    let api = Api::new(&app, account(&app, "fay", &[]).await);
    let other = app.browser();
    assert_eq!(app.login(&other, "fay", PASSWORD).await.status(), 303);
    let first: Value = api.get("/api/v1/me/sessions?limit=1").await.json().await.unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 1);
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let second: Value = api.get(&format!("/api/v1/me/sessions?limit=1&cursor={cursor}")).await.json().await.unwrap();
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert!(second["next_cursor"].is_null());
    let newest = first["items"][0]["id"].as_str().unwrap().to_owned();
    assert_ne!(newest, second["items"][0]["id"].as_str().unwrap());
    problem(api.delete("/api/v1/me/sessions/no-such-session").await, 404).await;
    assert_eq!(api.delete(&format!("/api/v1/me/sessions/{newest}")).await.status(), 204);
    problem(api.delete(&format!("/api/v1/me/sessions/{newest}")).await, 404).await;
    // The newest session was the second browser's: it is signed out.
    let page = other.get(app.url("/account")).send().await.unwrap();
    assert_ne!(page.status(), 200);
    problem(api.get("/api/v1/me/sessions?limit=0").await, 422).await;
}

#[tokio::test]
async fn another_users_session_is_404() {
    let app = spawn_app().await;
    let api = Api::new(&app, account(&app, "gil", &[]).await);
    app.signed_in("hal", &[]).await;
    let hal = app.state.accounts.find("hal").await.unwrap();
    let sessions = app.state.accounts.sessions(&hal.id).await.unwrap();
    problem(api.delete(&format!("/api/v1/me/sessions/{}", sessions[0].id)).await, 404).await;
    assert_eq!(app.state.accounts.sessions(&hal.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn sign_in_activity_is_newest_first() {
    let app = spawn_app().await;
    let api = Api::new(&app, account(&app, "ida", &[]).await);
    let browser = app.browser();
    app.login(&browser, "ida", "not the password").await;
    let page: Value = api.get("/api/v1/me/activity").await.json().await.unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items[0]["outcome"], "wrong_password");
    assert_eq!(items[1]["outcome"], "success");
}

#[tokio::test]
async fn revoking_an_app_stops_its_tokens_at_once() {
    let app = spawn_app().await;
    let secret = api_rp(&app).await;
    let browser = app.signed_in("jonas", &[]).await;
    let (code, verifier) = code_with_scope(&app, &browser, "openid account offline_access").await;
    let tokens: Value = redeem(&app, &secret, &code, Some(&verifier)).await.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let api = Api::new(&app, access);
    let apps: Value = api.get("/api/v1/me/apps").await.json().await.unwrap();
    let rp = apps["items"].as_array().unwrap().iter().find(|a| a["client_id"] == "rp").expect("rp listed").clone();
    assert!(rp["access_tokens"].as_i64().unwrap() >= 1 && rp["refresh_tokens"].as_i64().unwrap() >= 1, "{rp}");
    assert!(rp["newest_token_at"].is_string());
    problem(api.delete("/api/v1/me/apps/no-such-app").await, 404).await;
    assert_eq!(api.delete("/api/v1/me/apps/rp").await.status(), 204);
    // The token used for the call was rp's own: it stops too.
    problem(api.get("/api/v1/me").await, 401).await;
    let userinfo = reqwest::Client::new().get(app.url("/userinfo")).bearer_auth(access).send().await.unwrap();
    assert_eq!(userinfo.status(), 401);
    let form = [("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())];
    let refreshed = reqwest::Client::new().post(app.url("/token")).basic_auth("rp", Some(&secret)).form(&form);
    let refused = refreshed.send().await.unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let events = audit_actions(&app).await;
    assert!(events.iter().any(|(a, d)| a == "token_revoked" && d.contains("\"rp\"")), "{events:?}");
}

#[tokio::test]
async fn the_export_holds_my_data_and_no_secret() {
    let app = spawn_app().await;
    let api = Api::new(&app, account(&app, "kim", &[]).await);
    let res = api.get("/api/v1/me/export").await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(!text.contains("$argon2") && !text.contains("password_hash"), "no hash in the export");
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["profile"]["username"], "kim");
    assert_eq!(doc["roles"], json!(["user"]));
    assert!(!doc["sessions"].as_array().unwrap().is_empty());
    assert_eq!(doc["activity"][0]["outcome"], "success");
    assert!(doc["connected_apps"].as_array().unwrap().iter().any(|a| a["client_id"] == "rp"));
    assert_eq!(doc["mfa"]["totp"], false);
    assert!(doc["audit_events"].as_array().unwrap().iter().any(|e| e["action"] == "sign_in" && e["target"] == "you"));
}

#[tokio::test]
async fn deleting_my_account_needs_the_password_and_mails_me() {
    let app = spawn_app().await;
    let api = Api::new(&app, account(&app, "lea", &[]).await);
    let body = problem(delete_with(&api, "/api/v1/me", &json!({ "password": "not it at all" })).await, 422).await;
    assert_eq!(body["errors"][0]["field"], "password");
    assert_eq!(delete_with(&api, "/api/v1/me", &json!({ "password": PASSWORD })).await.status(), 204);
    app.mail.wait_for("lea@example.com", "account was deleted").await;
    assert!(app.state.accounts.find("lea").await.is_err());
    problem(api.get("/api/v1/me").await, 401).await;
    let events = audit_actions(&app).await;
    assert!(events.iter().any(|(a, d)| a == "user_deleted" && d.contains("\"api\"")), "{events:?}");
}

#[tokio::test]
async fn the_last_administrator_cannot_delete_themselves() {
    let app = spawn_app().await;
    let api = Api::new(&app, account(&app, "max", &["admin"]).await);
    problem(delete_with(&api, "/api/v1/me", &json!({ "password": PASSWORD })).await, 409).await;
    assert!(app.state.accounts.find("max").await.is_ok());
}

#[tokio::test]
async fn password_checking_routes_share_the_login_rate_limit() {
    // The browser sign-in behind the token is one request of the bucket.
    let app = spawn_app_with(|c| c.rate_limits.login = Limit { max: 2, per_secs: 600 }).await;
    let api = Api::new(&app, account(&app, "ned", &[]).await);
    let wrong = json!({ "password": "not it at all" });
    problem(delete_with(&api, "/api/v1/me", &wrong).await, 422).await;
    let limited = delete_with(&api, "/api/v1/me", &wrong).await;
    assert!(limited.headers().get("retry-after").is_some());
    problem(limited, 429).await;
}

#[tokio::test]
async fn revoking_another_app_leaves_the_calling_token_working() {
    let app = spawn_app().await;
    let api = Api::new(&app, account(&app, "olaf", &[]).await);
    let registered = app
        .state
        .clients
        .register(gatehouse::oauth::clients::ClientSpec {
            client_id: "other".into(),
            name: "Other app".into(),
            grant_types: vec!["password".into()],
            scope: Some("openid".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let secret = secrecy::ExposeSecret::expose_secret(&registered.generated_secret.unwrap()).to_owned();
    let form = [("grant_type", "password"), ("username", "olaf"), ("password", PASSWORD), ("scope", "openid")];
    let res = reqwest::Client::new().post(app.url("/token")).basic_auth("other", Some(&secret)).form(&form);
    let body: Value = res.send().await.unwrap().json().await.unwrap();
    let other_token = body["access_token"].as_str().unwrap().to_owned();
    let apps: Value = api.get("/api/v1/me/apps").await.json().await.unwrap();
    let other = apps["items"].as_array().unwrap().iter().find(|a| a["client_id"] == "other").expect("listed").clone();
    assert_eq!((other["access_tokens"].as_i64(), other["client_name"].as_str()), (Some(1), Some("Other app")));
    assert!(other["consented_at"].is_null(), "the password grant records no consent");
    assert_eq!(api.delete("/api/v1/me/apps/other").await.status(), 204);
    assert_eq!(api.get("/api/v1/me").await.status(), 200, "the calling token is rp's, not other's");
    let userinfo = reqwest::Client::new().get(app.url("/userinfo")).bearer_auth(&other_token).send().await.unwrap();
    assert_eq!(userinfo.status(), 401);
    problem(api.delete("/api/v1/me/apps/other").await, 404).await;
}
