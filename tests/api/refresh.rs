//! Refresh tokens (RFC 6749 §6, rotation and reuse detection per RFC 9700
//! §4.14.2), revocation (RFC 7009) and introspection (RFC 7662).
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app, test_ctx};
use crate::oidc::{code_with_scope, error_code, redeem, register};

/// Signs `user` in and runs the code flow with offline_access; returns (secret, token response).
async fn offline_tokens(app: &TestApp, user: &str) -> (String, Value) {
    let secret = register(app, "rp", true).await;
    let browser = app.signed_in(user, &[]).await;
    let (code, verifier) = code_with_scope(app, &browser, "openid email offline_access").await;
    let res = redeem(app, &secret, &code, Some(&verifier)).await;
    assert_eq!(res.status(), 200);
    (secret, res.json().await.unwrap())
}

async fn refresh(app: &TestApp, secret: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/token"))
        .basic_auth("rp", Some(secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
        .unwrap()
}

async fn userinfo_status(app: &TestApp, access: &str) -> u16 {
    reqwest::Client::new().get(app.url("/userinfo")).bearer_auth(access).send().await.unwrap().status().as_u16()
}

async fn introspect(app: &TestApp, secret: &str, token: &str) -> Value {
    let res = reqwest::Client::new()
        .post(app.url("/introspect"))
        .basic_auth("rp", Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn rt(v: &Value) -> String {
    v["refresh_token"].as_str().expect("a refresh token").to_owned()
}

#[tokio::test]
async fn without_offline_access_the_refresh_token_is_bound_to_the_session_oidc_core_11() {
    let app = spawn_app().await;
    let secret = register(&app, "rp", true).await;
    let browser = app.signed_in("vic", &[]).await;
    let (code, verifier) = code_with_scope(&app, &browser, "openid email").await;
    let body: Value = redeem(&app, &secret, &code, Some(&verifier)).await.json().await.unwrap();
    let online = rt(&body);
    let renewed: Value = refresh(&app, &secret, &online).await.json().await.unwrap();
    // Signing out ends the session, and the refresh token with it.
    app.submit(&browser, "/logout", "/logout", &[("logout", "yes")]).await;
    assert_eq!(error_code(refresh(&app, &secret, &rt(&renewed)).await).await, "invalid_grant");
}

#[tokio::test]
async fn refresh_rotates_and_reusing_an_old_token_revokes_the_family() {
    let app = spawn_app().await;
    let (secret, first) = offline_tokens(&app, "wanda").await;
    let res = refresh(&app, &secret, &rt(&first)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let second: Value = res.json().await.unwrap();
    assert_ne!(rt(&second), rt(&first), "rotated on use");
    assert!(second["id_token"].is_string());
    let access = second["access_token"].as_str().unwrap().to_owned();
    assert_eq!(userinfo_status(&app, &access).await, 200);

    // The spent token comes back: refused, and the whole family is revoked.
    assert_eq!(error_code(refresh(&app, &secret, &rt(&first)).await).await, "invalid_grant");
    assert_eq!(error_code(refresh(&app, &secret, &rt(&second)).await).await, "invalid_grant");
    assert_eq!(userinfo_status(&app, &access).await, 401, "access tokens of the family too");
}

#[tokio::test]
async fn twenty_parallel_refreshes_with_one_token_have_exactly_one_winner() {
    let app = spawn_app().await;
    let (secret, first) = offline_tokens(&app, "xena").await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (url, secret, token) = (app.url("/token"), secret.clone(), rt(&first));
        set.spawn(async move {
            let form = [("grant_type", "refresh_token"), ("refresh_token", token.as_str())];
            reqwest::Client::new().post(url).basic_auth("rp", Some(secret)).form(&form).send().await.unwrap().status()
        });
    }
    let statuses = set.join_all().await;
    assert_eq!(statuses.iter().filter(|s| s.as_u16() == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| matches!(s.as_u16(), 200 | 400)), "{statuses:?}");
}

#[tokio::test]
async fn refresh_tokens_expire_when_idle_and_at_the_absolute_limit() {
    let app = spawn_app().await;
    let (secret, first) = offline_tokens(&app, "yuri").await;
    app.clock.advance(14 * 86_400 + 1);
    assert_eq!(error_code(refresh(&app, &secret, &rt(&first)).await).await, "invalid_grant", "idle limit");

    let app = spawn_app().await;
    let (secret, first) = offline_tokens(&app, "yuri").await;
    let mut token = rt(&first);
    for _ in 0..6 {
        app.clock.advance(13 * 86_400);
        let next: Value = refresh(&app, &secret, &token).await.json().await.unwrap();
        token = rt(&next);
    }
    app.clock.advance(13 * 86_400); // 91 days after sign-in
    assert_eq!(error_code(refresh(&app, &secret, &token).await).await, "invalid_grant", "absolute limit");
}

#[tokio::test]
async fn a_blocked_users_refresh_is_refused() {
    let app = spawn_app().await;
    let (secret, first) = offline_tokens(&app, "zack").await;
    let id = app.state.accounts.find("zack").await.unwrap().id;
    app.state.accounts.set_blocked(&id, true, &test_ctx()).await.unwrap();
    assert_eq!(error_code(refresh(&app, &secret, &rt(&first)).await).await, "invalid_grant");
}

#[tokio::test]
async fn refresh_may_narrow_the_scope_but_not_widen_it_rfc_6749_6() {
    let app = spawn_app().await;
    let (secret, first) = offline_tokens(&app, "abel").await;
    let http = reqwest::Client::new();
    let narrow = http
        .post(app.url("/token"))
        .basic_auth("rp", Some(&secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", &rt(&first)), ("scope", "openid")])
        .send()
        .await
        .unwrap();
    let narrow: Value = narrow.json().await.unwrap();
    assert_eq!(narrow["scope"], "openid");
    let wide = http
        .post(app.url("/token"))
        .basic_auth("rp", Some(&secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", &rt(&narrow)), ("scope", "openid profile")])
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(wide).await, "invalid_scope");
}

#[tokio::test]
async fn revocation_ends_refresh_families_and_access_tokens_rfc_7009() {
    let app = spawn_app().await;
    let (secret, first) = offline_tokens(&app, "bea").await;
    let access = first["access_token"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    let revoke = |token: String| {
        let (url, secret) = (app.url("/revoke"), secret.clone());
        let http = http.clone();
        async move { http.post(url).basic_auth("rp", Some(secret)).form(&[("token", token)]).send().await.unwrap().status() }
    };
    assert_eq!(revoke(access.clone()).await, 200);
    assert_eq!(userinfo_status(&app, &access).await, 401);
    assert_eq!(introspect(&app, &secret, &access).await, serde_json::json!({"active": false}));

    assert_eq!(revoke(rt(&first)).await, 200);
    assert_eq!(error_code(refresh(&app, &secret, &rt(&first)).await).await, "invalid_grant");
    // RFC 7009 §2.2: an unknown token is answered 200 as well.
    assert_eq!(revoke("no-such-token".into()).await, 200);
}

#[tokio::test]
async fn introspection_describes_live_tokens_and_nothing_else_rfc_7662() {
    let app = spawn_app().await;
    let (secret, first) = offline_tokens(&app, "carl").await;
    let access = first["access_token"].as_str().unwrap();
    let answer = introspect(&app, &secret, access).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["client_id"], "rp");
    assert_eq!(answer["scope"], "openid email offline_access");
    let refresh_answer = introspect(&app, &secret, &rt(&first)).await;
    assert_eq!(
        (refresh_answer["active"].as_bool(), refresh_answer["token_type"].as_str()),
        (Some(true), Some("refresh_token"))
    );
    assert_eq!(introspect(&app, &secret, "garbage").await, serde_json::json!({"active": false}));
    app.clock.advance(901);
    assert_eq!(introspect(&app, &secret, access).await["active"], false, "expired");
    // A wrong secret is not told anything about the token.
    let res = reqwest::Client::new()
        .post(app.url("/introspect"))
        .basic_auth("rp", Some("wrong"))
        .form(&[("token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

/// A trigger that makes recording an access token fail, on either backend.
const BREAK_ACCESS: (&str, &str) = (
    "create trigger no_access before insert on access_tokens begin select raise(abort, 'broken on purpose'); end;",
    "create function no_access() returns trigger language plpgsql as $$ begin raise exception 'broken on purpose'; end $$; \
     create trigger no_access before insert on access_tokens for each row execute function no_access();",
);
const MEND_ACCESS: (&str, &str) =
    ("drop trigger no_access;", "drop trigger no_access on access_tokens; drop function no_access();");

#[tokio::test]
async fn a_code_redemption_that_fails_midway_leaves_no_refresh_token_and_the_code_unspent() {
    let app = spawn_app().await;
    let secret = register(&app, "rp", true).await;
    let browser = app.signed_in("uma", &[]).await;
    let (code, verifier) = code_with_scope(&app, &browser, "openid offline_access").await;
    let pick = |(sqlite, postgres): (&'static str, &'static str)| {
        if crate::helpers::on_postgres() { postgres } else { sqlite }
    };
    let raw = |sql: &'static str| {
        let store = app.state.store.clone();
        async move { store.conn().await.unwrap().db().execute_raw(sql).await.unwrap() }
    };
    raw(pick(BREAK_ACCESS)).await;
    // The refresh token is written before the access token fails.
    let failed = redeem(&app, &secret, &code, Some(&verifier)).await;
    assert_eq!(failed.status(), 500);
    let count = || async {
        app.state.store.conn().await.unwrap().db().count_where("refresh_tokens", "client_id", "rp").await.unwrap()
    };
    assert_eq!(count().await, 0, "rolled back: no refresh token that no client received");
    raw(pick(MEND_ACCESS)).await;
    let res = redeem(&app, &secret, &code, Some(&verifier)).await;
    assert_eq!(res.status(), 200, "the code was not spent by the failed attempt");
    assert!(res.json::<Value>().await.unwrap()["refresh_token"].is_string());
    assert_eq!(count().await, 1);
}
