//! Brute-force defence and rate limits (issue 6, items 2 and 3): per-account
//! lockout (unknown names alike), unlock by time, admin and CLI, the owner's
//! mail, per-address delays and 429s with `Retry-After` (RFC 6585 §4,
//! RFC 9110 §10.2.3), and counters shared by instances on one PostgreSQL.
use std::time::{Duration, Instant};

use gatehouse::config::Limit;

use crate::helpers::{PASSWORD, TestApp, on_postgres, spawn_app, spawn_app_with};

const LOCKED: &str = "Too many failed attempts";
const WRONG: &str = "a wrong password, nearly";

/// POSTs the sign-in form from a fresh browser; returns status, Retry-After and body.
async fn sign_in(app: &TestApp, username: &str, password: &str) -> (u16, Option<i64>, String) {
    let res = app.login(&app.browser(), username, password).await;
    let retry = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    (res.status().as_u16(), retry, res.text().await.unwrap())
}

async fn metrics(app: &TestApp) -> String {
    reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn five_failures_lock_the_account_even_for_the_right_password_and_mail_the_owner_once() {
    let app = spawn_app().await;
    app.create_user("olga", &[]).await;
    for _ in 0..4 {
        assert_eq!(sign_in(&app, "olga", WRONG).await.0, 401);
    }
    let (status, retry, body) = sign_in(&app, "olga", WRONG).await;
    assert_eq!((status, retry), (429, Some(60)), "the fifth failure locks for a minute");
    assert!(body.contains(LOCKED), "{body}");
    let (status, retry, body) = sign_in(&app, "OLGA@example.com", PASSWORD).await;
    assert_eq!((status, retry), (429, Some(60)), "locked: the right password is not even checked");
    assert!(body.contains(LOCKED));
    let mail = app.mail.wait_for("olga@example.com", "Sign-in to your account is paused").await;
    assert!(mail.text.contains("/password/forgot"), "{}", mail.text);
    sign_in(&app, "olga", WRONG).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.mail.count_to("olga@example.com"), 1, "one mail per lock");
    let text = metrics(&app).await;
    assert!(text.contains("gatehouse_lockouts_total 1"), "{text}");
    assert!(text.contains("gatehouse_logins_total{outcome=\"locked\"} 3"), "{text}");
}

#[tokio::test]
async fn an_unknown_name_locks_with_the_same_answers_as_a_real_account() {
    let app = spawn_app_with(|c| c.rate_limits.free_failures = 0).await;
    app.create_user("pat", &[]).await;
    let mut real = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..6 {
        let (s, r, body) = sign_in(&app, "pat", WRONG).await;
        real.push((s, r, body.contains(LOCKED), body.contains("The username or password is not correct.")));
        let (s, r, body) = sign_in(&app, "no-such-person", WRONG).await;
        unknown.push((s, r, body.contains(LOCKED), body.contains("The username or password is not correct.")));
    }
    assert_eq!(real, unknown);
    assert_eq!(real.iter().map(|a| a.0).collect::<Vec<_>>(), [401, 401, 401, 401, 429, 429]);
    // The page differs only in the echoed name.
    let (_, _, a) = sign_in(&app, "pat", WRONG).await;
    let (_, _, b) = sign_in(&app, "no-such-persoN", WRONG).await;
    let strip = |html: &str, name: &str| {
        let html = html.replace(name, "NAME");
        html.lines().filter(|l| !l.contains("csrf_token")).collect::<Vec<_>>().join("\n")
    };
    assert_eq!(strip(&a, "pat"), strip(&b, "no-such-persoN"));
}

#[tokio::test]
async fn a_lock_ends_when_its_time_runs_out_and_the_next_one_lasts_twice_as_long() {
    let app = spawn_app().await;
    app.create_user("quinn", &[]).await;
    for _ in 0..5 {
        sign_in(&app, "quinn", WRONG).await;
    }
    assert_eq!(sign_in(&app, "quinn", PASSWORD).await.0, 429);
    app.clock.advance(59);
    assert_eq!(sign_in(&app, "quinn", PASSWORD).await.1, Some(1));
    app.clock.advance(1);
    assert_eq!(sign_in(&app, "quinn", PASSWORD).await.0, 303, "unlocked when the minute is over");
    // The success reset the count: four more failures do not lock.
    for _ in 0..4 {
        assert_eq!(sign_in(&app, "quinn", WRONG).await.0, 401);
    }
    let (status, retry, _) = sign_in(&app, "quinn", WRONG).await;
    assert_eq!((status, retry), (429, Some(120)), "the second lock in a day lasts two minutes");
}

#[tokio::test]
async fn admins_see_and_end_a_lock() {
    let app = spawn_app().await;
    let admin = app.signed_in("root", &["admin"]).await;
    let id = app.create_user("rita", &[]).await;
    for _ in 0..5 {
        sign_in(&app, "rita", WRONG).await;
    }
    let html = admin.get(app.url("/admin/users?q=rita")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("locked") && html.contains(&format!("/admin/users/{id}/unlock")), "{html}");
    let res = app.submit(&admin, "/admin/users", &format!("/admin/users/{id}/unlock"), &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(sign_in(&app, "rita", PASSWORD).await.0, 303);
    // Only admins may.
    let user = app.signed_in("sam", &[]).await;
    let res = app.submit(&user, "/account", &format!("/admin/users/{id}/unlock"), &[]).await;
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn gatehouse_user_unlock_ends_a_lock() {
    let app = spawn_app().await;
    app.create_user("tess", &[]).await;
    for _ in 0..5 {
        sign_in(&app, "tess", WRONG).await;
    }
    assert_eq!(sign_in(&app, "tess", PASSWORD).await.0, 429);
    // The real binary, on the app's database.
    let show = gatehouse(&app, &["user", "show", "tess"]);
    assert!(String::from_utf8_lossy(&show.stdout).contains("sign-in locked"), "{show:?}");
    let out = gatehouse(&app, &["user", "unlock", "tess"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("unlocked tess"));
    assert_eq!(sign_in(&app, "tess", PASSWORD).await.0, 303);
}

/// Runs the `gatehouse` binary on `app`'s database and data directory.
fn gatehouse(app: &TestApp, args: &[&str]) -> std::process::Output {
    use secrecy::ExposeSecret;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.args(args)
        .env_clear()
        .env("GATEHOUSE_DATA_DIR", &app.config.data_dir)
        .env("GATEHOUSE_PASSWORD__ARGON2_MEMORY_KIB", "256");
    if let Some(url) = app.config.database.url.as_ref() {
        cmd.env("GATEHOUSE_DATABASE__URL", url.expose_secret());
    }
    cmd.output().unwrap()
}

/// Limits of 2 per minute on every bucket.
async fn tight_app() -> TestApp {
    spawn_app_with(|c| {
        let two = Limit { max: 2, per_secs: 60 };
        let r = &mut c.rate_limits;
        (r.login, r.register, r.forgot, r.token) = (two, two, two, two);
    })
    .await
}

#[tokio::test]
async fn pages_answer_429_with_retry_after_past_their_limit() {
    let app = tight_app().await;
    let cases: [(&str, &[(&str, &str)]); 3] = [
        ("/login", &[("username", "nobody"), ("password", WRONG)]),
        ("/register", &[("username", "x"), ("email", "bad"), ("password", "short")]),
        ("/password/forgot", &[("email", "someone@example.com")]),
    ];
    for (path, fields) in cases {
        let browser = app.browser();
        for _ in 0..2 {
            assert_ne!(app.submit(&browser, path, path, fields).await.status(), 429, "{path}");
        }
        let res = app.submit(&browser, path, path, fields).await;
        assert_eq!(res.status(), 429, "{path}");
        assert_eq!(res.headers()["retry-after"], "60", "{path}");
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        assert!(res.text().await.unwrap().contains("Too many attempts from your network"));
    }
    // The window ends, and the address may try again.
    app.clock.advance(60);
    assert_eq!(app.submit(&app.browser(), "/login", "/login", cases[0].1).await.status(), 401);
    let text = metrics(&app).await;
    assert!(text.contains("gatehouse_rate_limited_total{bucket=\"forgot\"} 1"), "{text}");
}

#[tokio::test]
async fn token_answers_429_json_with_retry_after_past_its_limit() {
    let app = tight_app().await;
    let http = reqwest::Client::new();
    let post = || http.post(app.url("/token")).form(&[("grant_type", "client_credentials"), ("client_id", "none")]);
    for _ in 0..2 {
        assert_eq!(post().send().await.unwrap().status(), 401);
    }
    app.clock.advance(30);
    let res = post().send().await.unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "30");
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "slow_down");
    assert!(body["error_description"].as_str().unwrap().contains("30 seconds"));
}

#[tokio::test]
async fn failed_sign_ins_from_one_address_slow_down_and_then_get_429() {
    let app = spawn_app_with(|c| {
        let r = &mut c.rate_limits;
        r.free_failures = 2;
        r.failure_delay_ms = 200;
        r.failed_logins = Limit { max: 4, per_secs: 900 };
    })
    .await;
    app.create_user("uma", &[]).await;
    let mut took = Vec::new();
    for i in 0..4 {
        let started = Instant::now();
        // Different names, so no account lock gets in the way.
        assert_eq!(sign_in(&app, &format!("guess{i}"), WRONG).await.0, 401);
        took.push(started.elapsed());
    }
    // Lower bounds only: a loaded machine makes requests slower, never faster.
    assert!(took[2] >= Duration::from_millis(200) && took[3] >= Duration::from_millis(400), "{took:?}");
    // Past the limit the address gets 429, even with a right password.
    let (status, retry, _) = sign_in(&app, "uma", PASSWORD).await;
    assert_eq!((status, retry), (429, Some(900)));
    app.clock.advance(900);
    assert_eq!(sign_in(&app, "uma", PASSWORD).await.0, 303);
}

#[tokio::test]
async fn two_instances_share_lockouts_and_rate_counters() {
    if !on_postgres() {
        eprintln!("skipped: runs with TEST_DATABASE=postgres");
        return;
    }
    let a = spawn_app_with(|c| c.rate_limits.register = Limit { max: 2, per_secs: 600 }).await;
    let b = a.second_instance().await;
    a.create_user("vera", &[]).await;
    for app in [&a, &b, &a, &b] {
        assert_eq!(sign_in(app, "vera", WRONG).await.0, 401);
    }
    assert_eq!(sign_in(&b, "vera", WRONG).await.0, 429, "the fifth failure, counted across instances, locks");
    assert_eq!(sign_in(&a, "vera", PASSWORD).await.0, 429, "and the lock holds on the other instance");
    let fields = [("username", "x"), ("email", "bad"), ("password", "short")];
    assert_eq!(a.submit(&a.browser(), "/register", "/register", &fields).await.status(), 422);
    assert_eq!(b.submit(&b.browser(), "/register", "/register", &fields).await.status(), 422);
    assert_eq!(a.submit(&a.browser(), "/register", "/register", &fields).await.status(), 429);
    b.stop().await;
}

#[tokio::test]
async fn a_password_reset_by_the_mailed_link_ends_the_lock() {
    let app = spawn_app().await;
    app.create_user("rhea", &[]).await;
    for _ in 0..5 {
        sign_in(&app, "rhea", WRONG).await;
    }
    assert_eq!(sign_in(&app, "rhea", PASSWORD).await.0, 429, "locked");
    // The lock mail points at the reset; following it proves the mailbox.
    let browser = app.browser();
    app.submit(&browser, "/password/forgot", "/password/forgot", &[("email", "rhea@example.com")]).await;
    let mail = app.mail.wait_for("rhea@example.com", "Reset your password").await;
    let page = browser.get(crate::smtp::link(&mail, &app.url("/password/reset?"))).send().await.unwrap();
    let html = page.text().await.unwrap();
    let token = crate::helpers::hidden_value(&html, "token").unwrap();
    let csrf = crate::helpers::hidden_value(&html, "csrf_token").unwrap();
    let new = "a quite different passphrase";
    let form = [("token", token.as_str()), ("csrf_token", &csrf), ("password", new), ("password_confirm", new)];
    let res = browser.post(app.url("/password/reset")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(sign_in(&app, "rhea", new).await.0, 303, "no lock after the reset");
}
