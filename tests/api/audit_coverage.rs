//! Issue 15, item 6: one audit regime. Every event is written by the service
//! inside its change's transaction, with the request's address and user
//! agent; the CLI and the console write the same events through the same
//! service functions; global IP denials are aggregated per address-minute.
use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use gatehouse::security::audit::{self, Verdict};
use gatehouse::security::ip_rules::{Action, Scope};
use gatehouse::store::AuditRow;
use reqwest::redirect::Policy;
use secrecy::ExposeSecret;

use crate::helpers::{PASSWORD, TestApp, spawn_app};

const UA: &str = "audit-coverage/1.0 (test)";

/// A browser that names itself, so the rows can be checked for its user agent.
fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).cookie_store(true).user_agent(UA).build().unwrap()
}

async fn signed_in(app: &TestApp, username: &str, roles: &[&str]) -> (String, reqwest::Client) {
    let id = app.create_user(username, roles).await;
    let b = browser();
    assert_eq!(app.login(&b, username, PASSWORD).await.status(), 303);
    (id, b)
}

async fn rows(app: &TestApp) -> Vec<AuditRow> {
    audit::tail(&app.state.store, 1_000).await.unwrap()
}

fn find<'a>(rows: &'a [AuditRow], action: &str, target: &str) -> &'a AuditRow {
    rows.iter()
        .find(|r| r.action == action && r.target == target)
        .unwrap_or_else(|| panic!("no {action} on {target:?}: {rows:#?}"))
}

/// The row came from the test's request: address and user agent.
fn from_browser(row: &AuditRow) {
    assert_eq!((row.ip.as_str(), row.user_agent.as_deref()), ("127.0.0.1", Some(UA)), "{row:?}");
    assert!(!row.request_id.is_empty(), "{row:?}");
}

fn detail(row: &AuditRow) -> serde_json::Value {
    serde_json::from_str(&row.detail).unwrap()
}

/// The parts of an event that must not depend on who made it.
fn shape(row: &AuditRow) -> (String, String, BTreeSet<String>) {
    let keys = detail(row).as_object().unwrap().keys().cloned().collect();
    (row.action.clone(), row.target.clone(), keys)
}

#[tokio::test]
async fn registration_at_register_is_audited_with_address_and_user_agent() {
    let app = spawn_app().await;
    let b = browser();
    let fields = [
        ("username", "reggie"),
        ("email", "reggie@example.com"),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
    ];
    assert_eq!(app.submit(&b, "/register", "/register", &fields).await.status(), 303);
    let id = app.state.accounts.find("reggie").await.unwrap().id;

    let rows = rows(&app).await;
    let row = find(&rows, "user_registered", &id);
    from_browser(row);
    assert_eq!(row.actor, id, "nobody was signed in: the new account is the actor");
    assert_eq!(detail(row)["roles"], serde_json::json!(["user"]));
    assert!(!row.detail.contains(PASSWORD));
}

#[tokio::test]
async fn display_name_changes_are_audited_without_the_name() {
    let app = spawn_app().await;
    let (id, b) = signed_in(&app, "dora", &[]).await;
    let res = app.submit(&b, "/account", "/account/profile", &[("display_name", "Dora the Explorer")]).await;
    assert_eq!(res.status(), 303);

    let rows = rows(&app).await;
    let row = find(&rows, "profile_changed", &id);
    from_browser(row);
    assert_eq!(row.actor, id);
    assert_eq!(detail(row)["field"], "display_name");
    assert!(!row.detail.contains("Explorer"), "free text stays out of the log");
}

#[tokio::test]
async fn refused_admin_requests_are_audited_for_a_non_admin_and_for_a_refused_address() {
    let app = spawn_app().await;
    let (user, plain) = signed_in(&app, "nina", &[]).await;
    let (admin, boss) = signed_in(&app, "olaf", &["admin"]).await;
    assert_eq!(plain.get(app.url("/admin/users")).send().await.unwrap().status(), 403);
    assert_eq!(boss.get(app.url("/admin/users")).send().await.unwrap().status(), 200, "granted: no row");
    // Admins may no longer use their role from here.
    let ctx = crate::helpers::test_ctx();
    let scope = Scope::Role("admin".into());
    app.state.ip.add(&ctx, Action::Deny, "127.0.0.0/8", &scope, "", app.state.clock.unix()).await.unwrap();
    assert_eq!(boss.get(app.url("/admin/users?q=x")).send().await.unwrap().status(), 403);

    let rows = rows(&app).await;
    let refused: Vec<&AuditRow> = rows.iter().filter(|r| r.action == "admin_refused").collect();
    assert_eq!(refused.len(), 2, "{refused:#?}");
    let not_admin = find(&rows, "admin_refused", &user);
    from_browser(not_admin);
    assert_eq!((not_admin.actor.as_str(), detail(not_admin)["reason"].as_str()), (user.as_str(), Some("not_admin")));
    let address = find(&rows, "admin_refused", &admin);
    from_browser(address);
    assert_eq!(detail(address)["reason"], "address");
    assert_eq!(detail(address)["path"], "/admin/users", "the path, without the query");
}

/// Runs the real binary on the app's database.
fn gatehouse(app: &TestApp, args: &[&str], stdin: &str) {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.args(args)
        .env_clear()
        .env("GATEHOUSE_DATA_DIR", &app.config.data_dir)
        .env("GATEHOUSE_PASSWORD__ARGON2_MEMORY_KIB", "256");
    if let Some(url) = &app.config.database.url {
        cmd.env("GATEHOUSE_DATABASE__URL", url.expose_secret());
    }
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Locks the account as five wrong passwords would.
async fn lock(app: &TestApp, user_id: &str) {
    let now = app.state.clock.unix();
    let subject = format!("user:{user_id}");
    let mut conn = app.state.store.conn().await.unwrap();
    let row = conn.db().count_failure(&subject, now, 900).await.unwrap().unwrap();
    assert!(conn.db().lock_subject(&subject, row.level, 1, now + 600, now).await.unwrap());
}

#[tokio::test]
async fn cli_and_console_admin_changes_write_events_of_the_same_shape() {
    let app = spawn_app().await;
    let (admin, boss) = signed_in(&app, "ada", &["admin"]).await;
    gatehouse(
        &app,
        &["user", "create", "--username", "cleo", "--email", "cleo@example.com", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    let by_cli = app.state.accounts.find("cleo").await.unwrap().id;
    let by_console = app.create_user("cora", &[]).await;
    lock(&app, &by_cli).await;
    lock(&app, &by_console).await;

    for cmd in ["block", "unblock", "unlock", "sign-out"] {
        gatehouse(&app, &["user", cmd, "cleo"], "");
        let res = app.submit(&boss, "/admin/users", &format!("/admin/users/{by_console}/{cmd}"), &[]).await;
        assert_eq!(res.status(), 303, "{cmd}");
    }
    gatehouse(&app, &["user", "set-roles", "cleo", "admin"], "");
    let res = app.submit(&boss, "/admin/users", &format!("/admin/users/{by_console}/roles"), &[("admin", "yes")]).await;
    assert_eq!(res.status(), 303);

    let rows = rows(&app).await;
    let created = find(&rows, "user_created", &by_cli);
    assert_eq!((created.actor.as_str(), created.ip.as_str()), ("cli", ""));
    assert_eq!(detail(created)["roles"], serde_json::json!(["user"]));
    for action in ["user_blocked", "user_unblocked", "account_unlocked", "session_revoked", "role_changed"] {
        let cli = find(&rows, action, &by_cli);
        let console = find(&rows, action, &by_console);
        let ((a, _, keys), (b, _, other)) = (shape(cli), shape(console));
        assert_eq!((a, keys), (b, other), "{action}: {cli:?} / {console:?}");
        assert_eq!((cli.actor.as_str(), cli.ip.as_str(), cli.user_agent.as_deref()), ("cli", "", Some("")));
        assert_eq!(console.actor, admin);
        from_browser(console);
    }
    assert_eq!(
        detail(find(&rows, "role_changed", &by_cli))["roles"],
        detail(find(&rows, "role_changed", &by_console))["roles"]
    );
    assert_eq!(audit::verify(&app.state.store).await.unwrap(), Verdict::Intact(rows.len() as u64));
}

#[tokio::test]
async fn two_hundred_denied_requests_from_one_address_in_one_minute_write_one_ip_denied_row() {
    let app = spawn_app().await;
    let ctx = crate::helpers::test_ctx();
    let now = app.state.clock.unix();
    app.state.ip.add(&ctx, Action::Deny, "127.0.0.0/8", &Scope::Global, "scan", now).await.unwrap();
    // Start at the beginning of a minute, so all 200 fall into it.
    app.clock.advance(60 - now.rem_euclid(60));
    let minute_start = app.state.clock.unix();
    let b = browser();
    for n in 0..200 {
        let path = if n % 2 == 0 { "/login" } else { "/token" };
        assert_eq!(b.get(app.url(path)).send().await.unwrap().status(), 403);
    }
    assert!(rows(&app).await.iter().all(|r| r.action != "ip_denied"), "the minute has not ended yet");

    app.clock.advance(60);
    assert_eq!(b.get(app.url("/login")).send().await.unwrap().status(), 403, "the next minute's first denial");

    let rows = rows(&app).await;
    let denied: Vec<&AuditRow> = rows.iter().filter(|r| r.action == "ip_denied").collect();
    assert_eq!(denied.len(), 1, "one row for the address-minute: {denied:#?}");
    from_browser(denied[0]);
    assert_eq!((denied[0].actor.as_str(), denied[0].target.as_str()), ("anonymous", ""));
    let d = detail(denied[0]);
    assert_eq!((d["count"].as_i64(), d["scope"].as_str()), (Some(200), Some("global")));
    assert_eq!(d["minute_start"].as_i64(), Some(minute_start));
    assert_eq!(audit::verify(&app.state.store).await.unwrap(), Verdict::Intact(rows.len() as u64));
}

/// The tail of a scan is not lost: an instance that stops audits the
/// denials it counted in the minute that had not ended yet.
#[tokio::test]
async fn denials_counted_before_a_shutdown_are_audited_at_shutdown() {
    let app = spawn_app().await;
    let now = app.state.clock.unix();
    app.state
        .ip
        .add(&crate::helpers::test_ctx(), Action::Deny, "127.0.0.0/8", &Scope::Global, "scan", now)
        .await
        .unwrap();
    app.clock.advance(60 - now.rem_euclid(60));
    let other = app.second_instance().await;
    let b = browser();
    for _ in 0..3 {
        assert_eq!(b.get(other.url("/login")).send().await.unwrap().status(), 403);
    }
    assert!(rows(&app).await.iter().all(|r| r.action != "ip_denied"), "the minute has not ended yet");
    other.stop().await;
    let rows = rows(&app).await;
    let denied: Vec<&AuditRow> = rows.iter().filter(|r| r.action == "ip_denied").collect();
    assert_eq!(denied.len(), 1, "{denied:#?}");
    assert_eq!(detail(denied[0])["count"].as_i64(), Some(3));
}
