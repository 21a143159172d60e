//! The janitor (issue 13, item 5) through the real server: rows made by HTTP
//! (sign-in, the code flow, refresh, client_credentials, a reset link), the
//! FixedClock moved past their ends, `run_once`, and the table counts read
//! through the store. Expired rows go; live ones stay and keep working.
use std::collections::HashMap;

use serde_json::Value;

use crate::helpers::{TestApp, on_postgres, spawn_app_with};
use crate::oidc::{code_with_scope, error_code, redeem, register};

const DAY: i64 = 86_400;

/// An app whose `/token` has no per-address limit (the tests fetch many tokens).
async fn app() -> TestApp {
    spawn_app_with(|c| c.rate_limits.token.max = 0).await
}

async fn rows(app: &TestApp) -> HashMap<&'static str, i64> {
    app.state.store.conn().await.unwrap().db().purged_table_rows().await.unwrap().into_iter().collect()
}

async fn run(app: &TestApp) -> gatehouse::janitor::Report {
    let report = app.state.janitor.run_once().await.unwrap();
    assert!(report.ran && report.failed.is_empty(), "{report:?}");
    report
}

async fn client_token(app: &TestApp, secret: &str) -> String {
    let res = reqwest::Client::new()
        .post(app.url("/token"))
        .basic_auth("rp", Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
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

async fn active(app: &TestApp, secret: &str, token: &str) -> bool {
    let res = reqwest::Client::new()
        .post(app.url("/introspect"))
        .basic_auth("rp", Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    body["active"] == true
}

fn field(v: &Value, name: &str) -> String {
    v[name].as_str().unwrap_or_else(|| panic!("no {name} in {v}")).to_owned()
}

#[tokio::test]
async fn each_table_loses_what_expired_and_keeps_what_lives() {
    let app = app().await;
    let secret = register(&app, "rp", true).await;
    // A sign-in: a session, a known device and network, activity, rate windows.
    let browser = app.signed_in("jan", &[]).await;
    // The code flow with offline_access: a used code, an access and a refresh token.
    let (code, verifier) = code_with_scope(&app, &browser, "openid email offline_access").await;
    let first: Value = redeem(&app, &secret, &code, Some(&verifier)).await.json().await.unwrap();
    // A code never redeemed, and client_credentials tokens.
    code_with_scope(&app, &browser, "openid email").await;
    for _ in 0..3 {
        client_token(&app, &secret).await;
    }
    // A reset link, mailed (sent mail).
    let res = app.submit(&app.browser(), "/password/forgot", "/password/forgot", &[("email", "jan@example.com")]).await;
    assert_eq!(res.status(), 200);
    app.mail.wait_for("jan@example.com", "Reset your password").await;
    let before = rows(&app).await;
    for table in ["authorization_codes", "sessions", "known_devices", "mail_links", "rate_counters", "login_activity"] {
        assert!(before[table] > 0, "{table} has rows: {before:?}");
    }
    assert_eq!((before["access_tokens"], before["refresh_tokens"]), (4, 1));

    // Nothing has ended yet: nothing goes.
    assert_eq!(run(&app).await.total(), 0);
    assert_eq!(rows(&app).await, before);

    // Two days on, codes, access tokens, the session (8 h), the link (1 h)
    // and the rate windows are over, and a day of grace has passed. The
    // refresh family lives (14 days idle): it refreshes once more.
    app.clock.advance(2 * DAY);
    let live = client_token(&app, &secret).await;
    let res = refresh(&app, &secret, &field(&first, "refresh_token")).await;
    assert_eq!(res.status(), 200);
    let second: Value = res.json().await.unwrap();
    let report = run(&app).await;

    let after = rows(&app).await;
    assert_eq!(report.deleted_from("access_tokens"), 4);
    for table in ["authorization_codes", "sessions", "mail_links", "rate_counters"] {
        assert_eq!(after[table], 0, "{table}: {after:?}");
        assert_eq!(report.deleted_from(table) as i64, before[table], "{table}");
    }
    assert_eq!(after["access_tokens"], 2, "the two issued after the advance");
    assert!(active(&app, &secret, &live).await, "a live token introspects active");
    assert!(active(&app, &secret, &field(&second, "access_token")).await);
    assert_eq!(after["refresh_tokens"], 2, "the spent token stays while its family lives");
    for table in ["known_devices", "login_activity", "outbox"] {
        assert_eq!(after[table], before[table], "{table} is kept longer");
    }
    // RFC 9700 §4.14.2: replaying the spent token is still detected and
    // revokes the family, because the janitor kept its row.
    assert_eq!(error_code(refresh(&app, &secret, &field(&first, "refresh_token")).await).await, "invalid_grant");
    assert_eq!(error_code(refresh(&app, &secret, &field(&second, "refresh_token")).await).await, "invalid_grant");

    // Eight days more: the revoked family is past its grace, sent mail past its week.
    app.clock.advance(8 * DAY);
    run(&app).await;
    let later = rows(&app).await;
    assert_eq!((later["refresh_tokens"], later["outbox"], later["access_tokens"]), (0, 0, 0), "{later:?}");
    assert_eq!(later["login_activity"], before["login_activity"]);

    // A year on: activity (90 days) and devices unseen for 365 days go too.
    app.clock.advance(356 * DAY);
    run(&app).await;
    let year = rows(&app).await;
    assert_eq!((year["login_activity"], year["known_devices"]), (0, 0), "{year:?}");
    let audit = gatehouse::security::audit::tail(&app.state.store, 5).await.unwrap();
    assert!(!audit.is_empty(), "the audit log is never purged");
}

#[tokio::test]
async fn a_retired_key_goes_after_its_retention_and_jwks_keeps_every_published_key() {
    let app = app().await;
    let jwks_kids = || async {
        let jwks: Value = reqwest::get(app.url("/jwks.json")).await.unwrap().json().await.unwrap();
        let mut kids: Vec<String> = jwks["keys"].as_array().unwrap().iter().map(|k| field(k, "kid")).collect();
        kids.sort();
        kids
    };
    let original = app.state.keys.current_kid();
    app.state.keys.rotate_now().await.unwrap();
    // The replaced key stays published for keys.retain_secs (1 day), then retires.
    app.clock.advance(DAY + 1);
    app.state.keys.refresh().await.unwrap();
    let published = jwks_kids().await;
    assert!(!published.contains(&original), "retired: out of JWKS");
    run(&app).await;
    assert_eq!(rows(&app).await["signing_keys"], 3, "kept for retention.retired_keys_secs");

    app.clock.advance(7 * DAY + 1);
    let report = run(&app).await;

    assert_eq!(report.deleted_from("signing_keys"), 1);
    let mut stored: Vec<String> = app.state.keys.list().await.unwrap().into_iter().map(|k| k.kid).collect();
    stored.sort();
    assert_eq!(stored, published, "every key in JWKS is still stored");
    assert_eq!(jwks_kids().await, published);
}

#[tokio::test]
async fn a_purge_while_tokens_are_issued_breaks_nothing() {
    let app = spawn_app_with(|c| {
        c.rate_limits.token.max = 0;
        // Small batches: many short transactions interleave with the inserts.
        c.retention.batch_size = 7;
    })
    .await;
    let secret = register(&app, "rp", true).await;
    for _ in 0..120 {
        client_token(&app, &secret).await;
    }
    app.clock.advance(DAY);

    let issue = |app: &TestApp, secret: &str| {
        let (url, secret) = (app.url("/token"), secret.to_owned());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut tokens = Vec::new();
            for _ in 0..25 {
                let res = http
                    .post(&url)
                    .basic_auth("rp", Some(&secret))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200, "issuing during a purge");
                let body: Value = res.json().await.unwrap();
                tokens.push(field(&body, "access_token"));
            }
            tokens
        })
    };
    let issuers: Vec<_> = (0..4).map(|_| issue(&app, &secret)).collect();
    let report = run(&app).await;
    let mut fresh = Vec::new();
    for task in issuers {
        fresh.extend(task.await.unwrap());
    }

    assert_eq!(report.deleted_from("access_tokens"), 120);
    assert_eq!(rows(&app).await["access_tokens"], 100, "only the tokens issued during the run");
    for token in &fresh {
        assert!(active(&app, &secret, token).await, "a token issued during the purge is live");
    }
}

#[tokio::test]
async fn rows_removed_per_table_are_counted_in_metrics() {
    let app = app().await;
    let secret = register(&app, "rp", true).await;
    let metrics = || async { reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap() };
    let text = metrics().await;
    assert!(text.contains("gatehouse_janitor_deleted_total{table=\"access_tokens\"} 0"), "{text}");
    for _ in 0..3 {
        client_token(&app, &secret).await;
    }
    app.clock.advance(DAY);

    run(&app).await;

    let text = metrics().await;
    assert!(text.contains("gatehouse_janitor_deleted_total{table=\"access_tokens\"} 3"), "{text}");
    assert!(text.contains("gatehouse_janitor_deleted_total{table=\"sessions\"} 0"), "{text}");
}

#[tokio::test]
async fn two_instances_on_postgres_never_purge_at_once() {
    if !on_postgres() {
        eprintln!("skipped: runs with TEST_DATABASE=postgres");
        return;
    }
    let a = app().await;
    let b = a.second_instance().await;
    let secret = register(&a, "rp", true).await;
    for _ in 0..30 {
        client_token(&a, &secret).await;
    }
    a.clock.advance(DAY);
    b.clock.advance(DAY);

    // While A holds the advisory lock, B skips its run and deletes nothing.
    let held = a.state.store.janitor_lock().await.unwrap().expect("the lock is free");
    let skipped = b.state.janitor.run_once().await.unwrap();
    assert!(!skipped.ran && skipped.total() == 0, "{skipped:?}");
    assert_eq!(rows(&a).await["access_tokens"], 30);
    held.release().await.unwrap();

    // Both at once: whoever runs deletes each row once, and nothing fails.
    let (ra, rb) = tokio::join!(a.state.janitor.run_once(), b.state.janitor.run_once());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert!(ra.ran || rb.ran);
    assert!(ra.failed.is_empty() && rb.failed.is_empty());
    assert_eq!(ra.deleted_from("access_tokens") + rb.deleted_from("access_tokens"), 30);
    assert_eq!(rows(&a).await["access_tokens"], 0);
    b.stop().await;
}

#[tokio::test]
async fn a_parked_authorization_request_goes_once_it_expired() {
    let app = app().await;
    crate::oidc::register(&app, "rp", true).await;
    // An anonymous visitor: the request is parked while they sign in.
    let url = "/authorize?response_type=code&client_id=rp&redirect_uri=https%3A%2F%2Frp.example%2Fcallback&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256";
    let res = app.browser().get(app.url(url)).send().await.unwrap();
    assert!(crate::helpers::location(&res).starts_with("/login"), "sent to sign in");
    assert_eq!(rows(&app).await["pending_authorize_requests"], 1);
    run(&app).await;
    assert_eq!(rows(&app).await["pending_authorize_requests"], 1, "still resumable");
    app.clock.advance(31 * 60);
    run(&app).await;
    assert_eq!(rows(&app).await["pending_authorize_requests"], 0);
}
