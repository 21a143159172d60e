//! The console's dashboard, clients, audit log and IP rules (issue 17):
//! access control on every route, each action and its audit event, the
//! secret shown once, a stale ETag refused, re-authentication on the
//! destructive actions, and the dashboard's figures.
use gatehouse::clock::Clock;
use gatehouse::security::audit::AuditAction;
use gatehouse::security::audit_log::{self, Filter};

use crate::helpers::{PASSWORD, TestApp, hidden_value, location, spawn_app};

/// The audit events of `action`, newest first.
async fn events(app: &TestApp, action: AuditAction) -> Vec<audit_log::Event> {
    let filter = Filter { action: Some(action), ..Filter::default() };
    audit_log::page(&app.state.store, &filter, None, 50).await.unwrap()
}

async fn text(browser: &reqwest::Client, app: &TestApp, path: &str) -> (u16, String) {
    let res = browser.get(app.url(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

const GETS: [&str; 9] = [
    "/admin",
    "/admin/clients",
    "/admin/clients/new",
    "/admin/clients/web",
    "/admin/clients/web/rotate-secret",
    "/admin/clients/web/delete",
    "/admin/audit",
    "/admin/audit/export?format=csv",
    "/admin/ip",
];

const POSTS: [&str; 6] = [
    "/admin/clients/new",
    "/admin/clients/web",
    "/admin/clients/web/rotate-secret",
    "/admin/clients/web/delete",
    "/admin/ip",
    "/admin/ip/1/remove",
];

async fn register_web(app: &TestApp) {
    let spec = gatehouse::oauth::clients::ClientSpec {
        client_id: "web".into(),
        name: "Web".into(),
        redirect_uris: vec!["https://web.example/cb".into()],
        grant_types: vec!["authorization_code".into()],
        ..Default::default()
    };
    app.state.clients.register(spec).await.unwrap();
}

#[tokio::test]
async fn anonymous_visitors_are_sent_to_sign_in_and_non_admins_get_403_everywhere() {
    let app = spawn_app().await;
    register_web(&app).await;
    let anonymous = app.browser();
    for path in GETS {
        let res = anonymous.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 303, "{path}");
        assert!(location(&res).starts_with("/login?next="), "{path}");
    }
    let plain = app.signed_in("plain", &[]).await;
    for path in GETS {
        assert_eq!(plain.get(app.url(path)).send().await.unwrap().status(), 403, "GET {path}");
    }
    for path in POSTS {
        let res = app.submit(&plain, "/account", path, &[("confirm", "yes"), ("cidr", "192.0.2.0/24")]).await;
        assert_eq!(res.status(), 403, "POST {path}");
    }
    assert!(app.state.clients.get("web").await.unwrap().is_some());
    assert!(app.state.ip.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_dashboard_counts_sign_ins_and_failed_sign_ins() {
    let app = spawn_app().await;
    app.create_user("kim", &[]).await;
    for _ in 0..3 {
        app.login(&app.browser(), "kim", PASSWORD).await;
    }
    for _ in 0..2 {
        app.login(&app.browser(), "kim", "wrong password entirely").await;
    }
    let admin = app.signed_in("root", &["admin"]).await;
    let (status, html) = text(&admin, &app, "/admin").await;
    assert_eq!(status, 200);
    // 3 of kim's and the admin's own sign-in; 2 failures.
    assert!(html.contains("Last 24 hours: 4 sign-ins and 2 failed sign-ins"), "{html}");
    assert!(html.contains("Last 7 days: 4 sign-ins and 2 failed sign-ins"));
    assert!(html.contains("role=\"img\"") && html.contains("<title"));
    assert!(html.contains("<td>4</td>") || html.contains("<td>3</td>"), "the table has the figures");
    assert!(html.contains("Active sessions</dt><dd>4</dd>"), "{html}");
    assert!(html.contains("intact"));
    assert!(!html.contains("<script"));
}

#[tokio::test]
async fn admins_create_a_client_and_see_its_secret_once() {
    let app = spawn_app().await;
    let admin = app.signed_in("root", &["admin"]).await;
    // Bad input: shown again with what was typed and the field's message.
    let bad = [("client_id", "shop"), ("name", "Shop"), ("redirect_uris", "not a url"), ("kind", "confidential")];
    let res = app.submit(&admin, "/admin/clients/new", "/admin/clients/new", &bad).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("not a url") && html.contains("redirect_uris-error"), "{html}");
    let fields = [
        ("client_id", "shop"),
        ("name", "Shop"),
        ("redirect_uris", "https://shop.example/cb\r\nhttps://shop.example/cb2"),
        ("post_logout_redirect_uris", "https://shop.example/bye"),
        ("grant_authorization_code", "on"),
        ("grant_refresh_token", "on"),
        ("scope", "openid profile"),
        ("kind", "confidential"),
        ("skip_consent", "on"),
    ];
    let res = app.submit(&admin, "/admin/clients/new", "/admin/clients/new", &fields).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    let secret = html.split("readonly value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    assert!(secret.len() >= 20, "{html}");
    let client = app.state.clients.get("shop").await.unwrap().unwrap();
    assert_eq!(client.redirect_uris.len(), 2);
    assert!(client.skip_consent && !client.public);
    for path in ["/admin/clients", "/admin/clients/shop"] {
        let (_, page) = text(&admin, &app, path).await;
        assert!(page.contains("shop") && !page.contains(&secret), "{path}");
    }
    let created = events(&app, AuditAction::ClientCreated).await;
    assert!(created.iter().any(|e| e.target == "shop" && !e.detail.to_string().contains(&secret)));
    // Taken ids are a field error too.
    let res = app.submit(&admin, "/admin/clients/new", "/admin/clients/new", &fields).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("client_id-error"));
}

#[tokio::test]
async fn an_edit_carries_the_etag_and_a_stale_one_is_refused() {
    let app = spawn_app().await;
    register_web(&app).await;
    let admin = app.signed_in("root", &["admin"]).await;
    let (_, html) = text(&admin, &app, "/admin/clients/web").await;
    let etag = hidden_value(&html, "etag").unwrap().replace("&quot;", "\"").replace("&#34;", "\"");
    let csrf = hidden_value(&html, "csrf_token").unwrap();
    let form = |name: &'static str, tag: String| {
        vec![
            ("csrf_token", csrf.clone()),
            ("etag", tag),
            ("name", name.to_owned()),
            ("redirect_uris", "https://web.example/cb".to_owned()),
            ("grant_authorization_code", "on".to_owned()),
        ]
    };
    let res = admin.post(app.url("/admin/clients/web")).form(&form("Web two", etag.clone())).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(app.state.clients.get("web").await.unwrap().unwrap().name, "Web two");
    assert!(events(&app, AuditAction::ClientUpdated).await.iter().any(|e| e.target == "web"));
    // The same (now stale) version again: refused, the current version shown.
    let res = admin.post(app.url("/admin/clients/web")).form(&form("Web three", etag)).send().await.unwrap();
    assert_eq!(res.status(), 409);
    let html = res.text().await.unwrap();
    assert!(html.contains("Someone else changed this client") && html.contains("value=\"Web two\""), "{html}");
    assert_eq!(app.state.clients.get("web").await.unwrap().unwrap().name, "Web two");
}

#[tokio::test]
async fn rotating_and_deleting_need_a_recent_sign_in_and_a_confirmation() {
    let app = spawn_app().await;
    register_web(&app).await;
    let admin = app.signed_in("root", &["admin"]).await;
    // The confirmation names what will be lost.
    let (status, html) = text(&admin, &app, "/admin/clients/web/delete").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("0 live tokens") && html.contains("0 users&#39; consents") || html.contains("0 users"),
        "{html}"
    );
    let (status, html) = text(&admin, &app, "/admin/clients/web/rotate-secret").await;
    assert_eq!(status, 200);
    assert!(html.contains("stops working at once"));
    let res = app
        .submit(&admin, "/admin/clients/web/rotate-secret", "/admin/clients/web/rotate-secret", &[("confirm", "yes")])
        .await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let secret = html.split("readonly value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    assert!(!text(&admin, &app, "/admin/clients/web").await.1.contains(&secret));
    assert!(events(&app, AuditAction::ClientSecretRotated).await.iter().any(|e| e.target == "web"));

    // A stale sign-in is sent to sign in again, on GET and on POST.
    let csrf = app.csrf_token(&admin, "/admin/clients/web/delete").await;
    app.clock.advance(app.config.session.reauth_secs + 1);
    for path in ["/admin/clients/web/delete", "/admin/clients/web/rotate-secret"] {
        let res = admin.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 303, "GET {path}");
        assert!(location(&res).contains("prompt=login"), "GET {path}");
        let res =
            admin.post(app.url(path)).form(&[("csrf_token", csrf.as_str()), ("confirm", "yes")]).send().await.unwrap();
        assert_eq!(res.status(), 303, "POST {path}");
        assert!(location(&res).contains("prompt=login"), "POST {path}");
    }
    assert!(app.state.clients.get("web").await.unwrap().is_some());

    let fresh = app.browser();
    app.login(&fresh, "root", PASSWORD).await;
    let res = app.submit(&fresh, "/admin/clients/web/delete", "/admin/clients/web/delete", &[("confirm", "yes")]).await;
    assert_eq!(res.status(), 303);
    assert!(app.state.clients.get("web").await.unwrap().is_none());
    assert!(events(&app, AuditAction::ClientDeleted).await.iter().any(|e| e.target == "web"));
}

#[tokio::test]
async fn the_audit_log_filters_pages_and_exports() {
    let app = spawn_app().await;
    app.create_user("kim", &[]).await;
    for _ in 0..3 {
        app.login(&app.browser(), "kim", "wrong password entirely").await;
    }
    let admin = app.signed_in("root", &["admin"]).await;
    let (status, html) = text(&admin, &app, "/admin/audit?action=sign_in_failed").await;
    assert_eq!(status, 200);
    assert_eq!(html.matches("<td>sign_in_failed</td>").count(), 3, "{html}");
    assert!(html.contains("The audit chain is intact"));
    // The actor filter takes a username; names are resolved in the list.
    let (_, html) = text(&admin, &app, "/admin/audit?actor=root").await;
    assert!(html.contains("root ("), "{html}");
    assert!(!html.contains("<td>sign_in_failed</td>"));
    let (status, html) = text(&admin, &app, "/admin/audit?action=nonsense&from=yesterday").await;
    assert_eq!(status, 422);
    assert!(html.contains("action-error") && html.contains("from-error") && html.contains("value=\"yesterday\""));
    let (_, html) = text(&admin, &app, "/admin/audit?action=sign_in_failed").await;
    assert!(html.contains("/admin/audit/export?action=sign_in_failed&#38;format=csv"), "{html}");

    let res = admin.get(app.url("/admin/audit/export?action=sign_in_failed&format=csv")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let csv = res.text().await.unwrap();
    assert!(csv.starts_with(audit_log::CSV_HEADER));
    assert_eq!(csv.lines().count(), 4, "{csv}");
    let res = admin.get(app.url("/admin/audit/export?action=sign_in_failed&format=jsonl")).send().await.unwrap();
    assert_eq!(res.text().await.unwrap().lines().count(), 3);
}

#[tokio::test]
async fn audit_pages_have_no_repeats_or_gaps() {
    let app = spawn_app().await;
    for i in 0..60 {
        let event = crate::helpers::test_ctx().event(AuditAction::SignInFailed, format!("user{i}"));
        gatehouse::security::audit::record(&app.state.store, &event, app.clock.unix()).await.unwrap();
    }
    let admin = app.signed_in("root", &["admin"]).await;
    let (_, first) = text(&admin, &app, "/admin/audit?action=sign_in_failed").await;
    let next = first.split("href=\"").filter_map(|s| s.split('"').next()).find(|l| l.contains("before=")).unwrap();
    let (_, second) = text(&admin, &app, &next.replace("&#38;", "&")).await;
    let total = first.matches("<td>sign_in_failed</td>").count() + second.matches("<td>sign_in_failed</td>").count();
    assert_eq!(total, 60);
    assert!(second.contains("Newest events") && !second.contains("Older events"));
}

#[tokio::test]
async fn ip_rules_are_added_tested_and_removed_and_never_shut_the_admin_out() {
    let app = spawn_app().await;
    let admin = app.signed_in("root", &["admin"]).await;
    let add = |cidr: &'static str, action: &'static str| {
        vec![("action", action), ("cidr", cidr), ("scope", "global"), ("subject", ""), ("note", "test")]
    };
    let res = app.submit(&admin, "/admin/ip", "/admin/ip", &add("not-a-net", "deny")).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("cidr-error"));
    // The tests connect from 127.0.0.1: denying it is refused as the form's error.
    let res = app.submit(&admin, "/admin/ip", "/admin/ip", &add("127.0.0.0/8", "deny")).await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("your own address"));
    let res = app.submit(&admin, "/admin/ip", "/admin/ip", &add("203.0.113.0/24", "deny")).await;
    assert_eq!(res.status(), 303);
    let rule = app.state.ip.list().await.unwrap().pop().unwrap();
    assert!(events(&app, AuditAction::IpRuleChanged).await.iter().any(|e| e.target.contains("203.0.113.0/24")));

    let (status, html) = text(&admin, &app, "/admin/ip?test=203.0.113.9").await;
    assert_eq!(status, 200);
    assert!(html.contains("global:</strong> refused") && html.contains(&format!("by rule {}", rule.id)), "{html}");
    assert!(html.contains("deny 203.0.113.0/24"));
    let (_, html) = text(&admin, &app, "/admin/ip?test=192.0.2.1&role=admin").await;
    assert!(html.contains("role admin:</strong> allowed"), "{html}");
    let (status, _) = text(&admin, &app, "/admin/ip?test=nope").await;
    assert_eq!(status, 422);

    // An allow list for admins without 127.0.0.1: refused; with it, removing it is refused.
    let role = [("action", "allow"), ("cidr", "127.0.0.1"), ("scope", "role"), ("subject", "admin"), ("note", "")];
    assert_eq!(app.submit(&admin, "/admin/ip", "/admin/ip", &role).await.status(), 303);
    let mine = app.state.ip.list().await.unwrap().pop().unwrap();
    let res = app.submit(&admin, "/admin/ip", &format!("/admin/ip/{}/remove", mine.id), &[]).await;
    assert_eq!(res.status(), 303, "the only allow rule: removing it lets everyone in");
    let res = app.submit(&admin, "/admin/ip", &format!("/admin/ip/{}/remove", rule.id), &[]).await;
    assert_eq!(res.status(), 303);
    assert!(app.state.ip.list().await.unwrap().is_empty());
    let removals = events(&app, AuditAction::IpRuleChanged).await;
    assert!(removals.iter().any(|e| e.target == rule.id.to_string()));
}
