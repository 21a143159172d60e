//! Deleting users and clients (`gatehouse user delete`, `client delete`), and
//! the other client commands (`show`, `update`, `rotate-secret`), run as the
//! real binary against a running app's database: what they remove, what the
//! audit log keeps, and that tokens issued before stop working at once.
use std::io::Write;
use std::process::{Command, Output, Stdio};

use secrecy::ExposeSecret;

use crate::helpers::{PASSWORD, TestApp, spawn_app};
use crate::oidc::register;
use crate::revocation::{Issued, issue, refresh};

/// Runs the binary on the app's database and data directory (its key-encryption key).
pub(crate) fn cli(app: &TestApp, args: &[&str], stdin: &str) -> Output {
    let url = match &app.config.database.url {
        Some(url) => url.expose_secret().to_owned(),
        None => app.config.database_url(),
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .env_clear()
        .env("GATEHOUSE_DATA_DIR", &app.config.data_dir)
        .env("GATEHOUSE_DATABASE__URL", url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// Runs a command that must succeed against `app`'s database; returns stdout.
pub fn ok(app: &TestApp, args: &[&str], stdin: &str) -> String {
    let out = cli(app, args, stdin);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A command that must fail with one line on stderr; returns it.
pub fn fails(app: &TestApp, args: &[&str], stdin: &str) -> String {
    let out = cli(app, args, stdin);
    assert!(!out.status.success(), "{args:?} should fail");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    err
}

async fn count(app: &TestApp, table: &'static str, column: &'static str, value: &str) -> i64 {
    app.state.store.conn().await.unwrap().db().count_where(table, column, value).await.unwrap()
}

async fn dead(app: &TestApp, t: &Issued) {
    let status = reqwest::Client::new().get(app.url("/userinfo")).bearer_auth(&t.access).send().await.unwrap();
    assert_eq!(status.status(), 401, "userinfo refuses a token issued before the deletion");
    assert_eq!(refresh(app, t).await.err().as_deref(), Some("invalid_grant"));
}

#[tokio::test]
async fn user_delete_removes_everything_the_user_owns_and_keeps_the_audit_log() {
    let app = spawn_app().await;
    let rp = register(&app, "rp", false).await;
    let browser = app.signed_in("lia", &[]).await;
    let offline = issue(&app, &browser, "rp", &rp, "openid email offline_access").await;
    let id = app.state.accounts.find("lia").await.unwrap().id;
    // A reset link outstanding, a device known, a consent given, tokens live.
    app.submit(&app.browser(), "/password/forgot", "/password/forgot", &[("email", "lia@example.com")]).await;
    app.mail.wait_for("lia@example.com", "Reset your password").await;
    for (table, column) in [
        ("sessions", "user_id"),
        ("consents", "user_id"),
        ("mail_links", "user_id"),
        ("refresh_tokens", "user_id"),
        ("access_tokens", "user_id"),
        ("known_devices", "user_id"),
        ("login_activity", "user_id"),
    ] {
        assert!(count(&app, table, column, &id).await > 0, "{table} has rows before");
    }

    // Without --yes and without a terminal, nothing happens.
    let err = fails(&app, &["user", "delete", "lia"], "");
    assert!(err.contains("--yes"), "{err}");
    assert!(app.state.accounts.find("lia").await.is_ok());

    let out = ok(&app, &["user", "delete", "lia", "--yes"], "");
    assert!(out.contains("deleted user lia"), "{out}");
    for (table, column) in [
        ("users", "id"),
        ("user_roles", "user_id"),
        ("sessions", "user_id"),
        ("authorization_codes", "user_id"),
        ("consents", "user_id"),
        ("refresh_tokens", "user_id"),
        ("access_tokens", "user_id"),
        ("mail_links", "user_id"),
        ("known_devices", "user_id"),
        ("user_mfa", "user_id"),
        ("recovery_codes", "user_id"),
        ("upstream_identities", "user_id"),
        ("login_activity", "user_id"),
        ("password_history", "user_id"),
    ] {
        assert_eq!(count(&app, table, column, &id).await, 0, "{table} keeps nothing of the user");
    }
    dead(&app, &offline).await;
    assert_eq!(browser.get(app.url("/account")).send().await.unwrap().status(), 303, "signed out");

    // The audit log is intact and says who was deleted.
    assert!(ok(&app, &["audit", "verify"], "").contains("audit log intact"));
    let tail = ok(&app, &["audit", "tail", "--json"], "");
    let deleted = tail.lines().find(|l| l.contains("\"user_deleted\"")).expect("a user_deleted event");
    assert!(deleted.contains(&id) && deleted.contains("lia@example.com") && deleted.contains("\"cli\""), "{deleted}");
    assert!(tail.lines().filter(|l| l.contains(&id)).count() > 1, "earlier events keep the id");

    // The username and the address are free again.
    ok(
        &app,
        &["user", "create", "--username", "lia", "--email", "lia@example.com", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(app.login(&app.browser(), "lia", PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn deleting_unknown_users_and_the_last_admin_is_refused() {
    let app = spawn_app().await;
    assert!(fails(&app, &["user", "delete", "nobody", "--yes"], "").contains("no such user"));
    app.create_user("root", &["admin"]).await;
    let err = fails(&app, &["user", "delete", "root", "--yes"], "");
    assert!(err.contains("last administrator"), "{err}");
    assert!(app.state.accounts.find("root").await.is_ok(), "nothing deleted");
    // With a second admin, the first may go.
    app.create_user("deputy", &["admin"]).await;
    ok(&app, &["user", "delete", "root", "--yes"], "");
    assert!(fails(&app, &["user", "delete", "deputy", "--yes"], "").contains("last administrator"));
}

#[tokio::test]
async fn two_admins_deleting_each_other_at_once_leave_one() {
    let app = spawn_app().await;
    let a = app.create_user("ann", &["admin"]).await;
    let b = app.create_user("ben", &["admin"]).await;
    let ctx = crate::helpers::test_ctx();
    let (ra, rb) = tokio::join!(app.state.accounts.delete_user(&a, &ctx), app.state.accounts.delete_user(&b, &ctx));
    assert!(ra.is_ok() != rb.is_ok(), "exactly one deletion wins: {:?} {:?}", ra.err(), rb.err());
}

#[tokio::test]
async fn client_delete_takes_its_codes_tokens_and_consents_and_a_new_client_with_that_id_starts_empty() {
    let app = spawn_app().await;
    let rp = register(&app, "rp", false).await;
    let browser = app.signed_in("max", &[]).await;
    let tokens = issue(&app, &browser, "rp", &rp, "openid offline_access").await;
    for table in ["consents", "access_tokens", "refresh_tokens", "authorization_codes"] {
        assert!(count(&app, table, "client_id", "rp").await > 0, "{table} before");
    }
    assert!(fails(&app, &["client", "delete", "nope"], "").contains("no client"));
    ok(&app, &["client", "delete", "rp"], "");
    for table in ["consents", "access_tokens", "refresh_tokens", "authorization_codes"] {
        assert_eq!(count(&app, table, "client_id", "rp").await, 0, "{table} after");
    }
    // Registered again with the same id: the old tokens are nothing to it,
    // and the user is asked for consent again.
    let rp2 = register(&app, "rp", false).await;
    let old = Issued { secret: rp2.clone(), ..tokens };
    dead(&app, &old).await;
    let url = format!(
        "/authorize?response_type=code&client_id=rp&redirect_uri={}&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        url::form_urlencoded::byte_serialize(crate::oidc::REDIRECT.as_bytes()).collect::<String>()
    );
    let page = browser.get(app.url(&url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("value=\"approve\""), "consent is asked again");
    let audit = ok(&app, &["audit", "tail", "--json"], "");
    assert!(audit.contains("\"client_deleted\""), "{audit}");
}

#[tokio::test]
async fn client_show_update_and_rotate_secret() {
    let app = spawn_app().await;
    let rp = register(&app, "rp", true).await;
    let show = ok(&app, &["client", "show", "rp"], "");
    assert!(show.contains("client_id:") && show.contains("https://rp.example/callback"), "{show}");
    assert!(fails(&app, &["client", "show", "nope"], "").contains("no client"));

    let out = ok(
        &app,
        &[
            "client",
            "update",
            "rp",
            "--name",
            "Renamed",
            "--redirect-uri",
            "https://new.example/cb",
            "--scope",
            "openid email",
            "--skip-consent",
            "false",
        ],
        "",
    );
    assert!(
        out.contains("Renamed")
            && out.contains("https://new.example/cb")
            && out.contains("skip_consent:              false"),
        "{out}"
    );
    let row = app.state.clients.find("rp").await.unwrap().unwrap();
    assert_eq!(row.scope, "openid email");
    assert_eq!(row.redirect_uri_list().unwrap(), vec!["https://new.example/cb".to_owned()]);
    // Bad input changes nothing.
    assert!(fails(&app, &["client", "update", "rp", "--redirect-uri", "http://evil.example/cb"], "").contains("https"));
    assert!(fails(&app, &["client", "update", "rp", "--public"], "").contains("type cannot change"));
    assert!(fails(&app, &["client", "update", "rp", "--web-origin", "https://*.example"], "").contains("web origin"));
    let out = ok(&app, &["client", "update", "rp", "--web-origin", "https://spa.example"], "");
    assert!(out.contains("web_origins:               https://spa.example"), "{out}");
    assert_eq!(app.state.clients.find("rp").await.unwrap().unwrap().name, "Renamed");

    // A new secret, printed once; the old one stops working at once.
    let grant = |secret: String| {
        let url = app.url("/token");
        async move {
            reqwest::Client::new()
                .post(url)
                .basic_auth("rp", Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(grant(rp.clone()).await, 200);
    let out = ok(&app, &["client", "rotate-secret", "rp"], "");
    let new = out.lines().find_map(|l| l.strip_prefix("client_secret: ")).expect("the new secret").to_owned();
    // The CLI is another process: the server's cached client row goes within
    // a second (README, "Token lifetimes and revocation").
    crate::helpers::within_a_second("the old secret refused", async || grant(rp.clone()).await == 401).await;
    assert_eq!(grant(new).await, 200);
    // A public client has no secret to rotate.
    app.state
        .clients
        .register(gatehouse::oauth::clients::ClientSpec {
            client_id: "spa".into(),
            name: "SPA".into(),
            redirect_uris: vec!["http://127.0.0.1:5000/cb".into()],
            public: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(fails(&app, &["client", "rotate-secret", "spa"], "").contains("public"));
    let audit = ok(&app, &["audit", "tail", "--json"], "");
    assert!(audit.contains("\"client_updated\"") && audit.contains("\"client_secret_rotated\""), "{audit}");
}
