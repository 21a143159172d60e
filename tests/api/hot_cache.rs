//! Introspection, userinfo and client authentication answer from memory
//! (`store::changes`), and the README's guarantee holds at its edges: a
//! revocation or block is refused at once by the instance that made it, and
//! within one second by another instance or after a change by another
//! process (the CLI). RFC 7009 §2: "the revocation of a token takes effect
//! immediately" on the server that revoked it; RFC 7662 §2.2: a revoked token
//! is `{"active": false}`.
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{PASSWORD, TestApp, spawn_app, within_a_second};
use crate::introspection::{introspect, introspect_raw};
use crate::oidc::{code_with_scope, redeem, register};

/// A new user's token from `rp`'s code flow: (rp's secret, access token, user id).
async fn access_token(app: &TestApp, user: &str) -> (String, String, String) {
    let secret = register(app, "rp", true).await;
    let id = app.create_user(user, &[]).await;
    let browser = app.browser();
    assert_eq!(app.login(&browser, user, PASSWORD).await.status(), 303);
    let (code, verifier) = code_with_scope(app, &browser, "openid email").await;
    let body: Value = redeem(app, &secret, &code, Some(&verifier)).await.json().await.unwrap();
    (secret, body["access_token"].as_str().unwrap().to_owned(), id)
}

async fn active(app: &TestApp, secret: &str, token: &str) -> bool {
    introspect(app, "rp", secret, token).await["active"] == true
}

async fn userinfo(app: &TestApp, token: &str) -> u16 {
    let res = reqwest::Client::new().get(app.url("/userinfo")).bearer_auth(token).send().await.unwrap();
    res.status().as_u16()
}

/// Waits until the caches are allowed to answer (the watcher heard from the
/// database), so the checks below really go through them.
async fn caches_warm(app: &TestApp) {
    let started = Instant::now();
    while !app.state.store.changes().fresh() {
        assert!(started.elapsed() < Duration::from_secs(3), "the change watcher never heard from the database");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_revocation_is_refused_at_once_here_and_within_a_second_on_another_instance() {
    let a = spawn_app().await;
    let b = a.second_instance().await;
    let (secret, token, _) = access_token(&a, "ines").await;
    caches_warm(&a).await;
    caches_warm(&b).await;
    // Both instances have the live token (and the client) in memory now.
    for app in [&a, &b, &a, &b] {
        assert!(active(app, &secret, &token).await);
    }
    let res = reqwest::Client::new()
        .post(a.url("/revoke"))
        .basic_auth("rp", Some(&secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // RFC 7009 §2: at once on the instance that revoked.
    assert!(!active(&a, &secret, &token).await, "the revoking instance still says active");
    assert_eq!(userinfo(&a, &token).await, 401);
    // The README's bound for every other instance.
    within_a_second("introspection on the other instance", async || !active(&b, &secret, &token).await).await;
    assert_eq!(userinfo(&b, &token).await, 401);
    b.stop().await;
}

#[tokio::test]
async fn a_block_made_by_another_process_ends_userinfo_within_a_second() {
    let app = spawn_app().await;
    let (_, token, user) = access_token(&app, "otto").await;
    caches_warm(&app).await;
    assert_eq!(userinfo(&app, &token).await, 200);
    assert_eq!(userinfo(&app, &token).await, 200);
    // Another process on the same database (as `gatehouse user block` is):
    // its own pool, so nothing in this process hears of the change directly.
    let other = gatehouse::store::Store::connect(&app.config.database_url(), 1, Duration::ZERO).await.unwrap();
    let mut tx = other.begin().await.unwrap();
    tx.db().set_user_blocked(&user, true, crate::helpers::real_now()).await.unwrap();
    tx.commit().await.unwrap();
    within_a_second("userinfo after a block by another process", async || userinfo(&app, &token).await == 401).await;
    other.close().await;
}

#[tokio::test]
async fn a_rotated_client_secret_is_refused_at_once() {
    let app = spawn_app().await;
    let (secret, token, _) = access_token(&app, "lena").await;
    caches_warm(&app).await;
    assert!(active(&app, &secret, &token).await, "the client row is cached now");
    let ctx = crate::helpers::test_ctx();
    app.state.clients.rotate_secret("rp", None, &ctx).await.unwrap();
    let res = introspect_raw(&app, "rp", &secret, &token).await;
    assert_eq!(res.status(), 401, "the old secret must stop working at once (RFC 6749 §2.3.1)");
}
