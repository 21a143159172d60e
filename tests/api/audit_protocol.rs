//! The OAuth protocol's audit events (issue 15): consent granted, a replayed
//! code or refresh token, failed client authentication and a refused
//! redirect URI, each written by the service with the request's address and
//! user agent.
use gatehouse::security::audit::{self, Verdict};
use gatehouse::store::AuditRow;
use reqwest::redirect::Policy;

use crate::helpers::{PASSWORD, TestApp, spawn_app};
use crate::oidc::{authorize_as, authorize_url, code_for, code_with_scope, redeem, register};

const UA: &str = "audit-protocol-test/1.0";

async fn events(app: &TestApp) -> Vec<AuditRow> {
    audit::tail(&app.state.store, 1_000).await.unwrap()
}

/// The one `action` row, which must carry the test's address and user agent.
async fn the_event(app: &TestApp, action: &str) -> AuditRow {
    let rows = events(app).await;
    let found: Vec<&AuditRow> = rows.iter().filter(|r| r.action == action).collect();
    assert_eq!(found.len(), 1, "one {action} event: {rows:?}");
    let row = found[0].clone();
    assert_eq!((row.ip.as_str(), row.user_agent.as_deref()), ("127.0.0.1", Some(UA)), "{row:?}");
    assert!(!row.request_id.is_empty(), "{row:?}");
    assert!(matches!(audit::verify(&app.state.store).await.unwrap(), Verdict::Intact(_)));
    row
}

/// A browser that names itself `UA`, signed in as a new user; returns it and the user id.
async fn browser(app: &TestApp, username: &str) -> (reqwest::Client, String) {
    let id = app.create_user(username, &[]).await;
    let browser =
        reqwest::Client::builder().redirect(Policy::none()).cookie_store(true).user_agent(UA).build().unwrap();
    assert_eq!(app.login(&browser, username, PASSWORD).await.status(), 303);
    (browser, id)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().user_agent(UA).build().unwrap()
}

#[tokio::test]
async fn approving_consent_is_audited_by_the_user_with_the_scopes() {
    let app = spawn_app().await;
    register(&app, "rp", false).await;
    let (browser, user_id) = browser(&app, "cora").await;
    let back = authorize_as(&app, &browser, &authorize_url(&app, "openid email", None)).await;
    assert!(back.query_pairs().any(|(k, _)| k == "code"));
    let row = the_event(&app, "consent_granted").await;
    assert_eq!((row.actor.as_str(), row.target.as_str()), (user_id.as_str(), "rp"));
    assert!(row.detail.contains("openid email"), "{row:?}");
}

/// RFC 6749 §4.1.2: a replayed code revokes what it issued, and says so in the log.
#[tokio::test]
async fn a_replayed_code_is_audited_with_the_revocations_rfc_6749_4_1_2() {
    let app = spawn_app().await;
    let secret = register(&app, "rp", true).await;
    let (browser, user_id) = browser(&app, "dara").await;
    let (code, verifier) = code_for(&app, &browser).await;
    assert_eq!(redeem(&app, &secret, &code, Some(&verifier)).await.status(), 200);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "https://rp.example/callback"),
        ("code_verifier", verifier.as_str()),
    ];
    let replay = client().post(app.url("/token")).basic_auth("rp", Some(&secret)).form(&form).send().await.unwrap();
    assert_eq!(replay.status(), 400);
    let row = the_event(&app, "code_replayed").await;
    assert_eq!((row.actor.as_str(), row.target.as_str()), ("rp", user_id.as_str()));
    // The access token and the refresh family the first redemption issued.
    assert!(row.detail.contains("\"revoked\":2"), "{row:?}");
    assert!(!row.detail.contains(&code), "the code is never logged");
}

/// RFC 9700 §4.14.2: a replayed refresh token revokes its family, audited.
#[tokio::test]
async fn a_replayed_refresh_token_is_audited_with_its_family_revoked_rfc_9700_4_14_2() {
    let app = spawn_app().await;
    let secret = register(&app, "rp", true).await;
    let (browser, user_id) = browser(&app, "edda").await;
    let (code, verifier) = code_with_scope(&app, &browser, "openid offline_access").await;
    let tokens: serde_json::Value = redeem(&app, &secret, &code, Some(&verifier)).await.json().await.unwrap();
    let old = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |token: String| {
        let req = client().post(app.url("/token")).basic_auth("rp", Some(&secret));
        async move { req.form(&[("grant_type", "refresh_token"), ("refresh_token", &token)]).send().await.unwrap() }
    };
    assert_eq!(refresh(old.clone()).await.status(), 200);
    assert_eq!(refresh(old.clone()).await.status(), 400);
    let row = the_event(&app, "refresh_replayed").await;
    assert_eq!((row.actor.as_str(), row.target.as_str()), ("rp", user_id.as_str()));
    assert!(row.detail.contains("\"revoked\":"), "{row:?}");
    assert!(!row.detail.contains(&old), "the token is never logged");
}

/// RFC 6749 §2.3.1: a wrong secret is `invalid_client`, audited without the secret.
#[tokio::test]
async fn a_failed_client_authentication_is_audited_without_the_secret() {
    let app = spawn_app().await;
    register(&app, "rp", true).await;
    let wrong = "a wrong secret that is long enough to be one";
    let res = client()
        .post(app.url("/token"))
        .basic_auth("rp", Some(wrong))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let row = the_event(&app, "client_auth_failed").await;
    assert_eq!((row.actor.as_str(), row.target.as_str()), ("rp", "rp"));
    assert!(!row.detail.contains(wrong), "{row:?}");
}

/// RFC 6749 §4.1.2.1: an unregistered redirect URI gets an error page, and the
/// attempt is audited against the client it named.
#[tokio::test]
async fn a_refused_redirect_uri_is_audited_against_the_client() {
    let app = spawn_app().await;
    register(&app, "rp", true).await;
    let (browser, _) = browser(&app, "fynn").await;
    let query = "response_type=code&client_id=rp&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&scope=openid";
    let res = browser.get(app.url(&format!("/authorize?{query}"))).send().await.unwrap();
    assert_eq!(res.status(), 400);
    let row = the_event(&app, "redirect_uri_refused").await;
    assert_eq!(row.target, "rp");
    assert!(row.detail.contains("https://evil.example/cb"), "{row:?}");
}
