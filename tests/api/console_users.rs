//! The console's users section (issue 17): the filtered list, creating a
//! user, one user's page with the edit form under its ETag, the tabs, and
//! the destructive actions behind a recent sign-in and a confirmation.
use gatehouse::security::audit;
use gatehouse::store::AuditRow;

use crate::helpers::{PASSWORD, TestApp, hidden_value, location, spawn_app};

pub async fn events(app: &TestApp) -> Vec<AuditRow> {
    audit::tail(&app.state.store, 1_000).await.unwrap()
}

/// The audit row of `action` on `target` by `actor`.
pub async fn audited(app: &TestApp, action: &str, target: &str, actor: &str) -> AuditRow {
    let rows = events(app).await;
    rows.into_iter()
        .find(|r| r.action == action && r.target == target && r.actor == actor)
        .unwrap_or_else(|| panic!("no {action} on {target} by {actor}"))
}

pub async fn page(app: &TestApp, browser: &reqwest::Client, path: &str) -> (u16, String) {
    let res = browser.get(app.url(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// A hidden field's value as a browser would send it (entities decoded).
fn hidden(html: &str, name: &str) -> String {
    hidden_value(html, name)
        .unwrap()
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
        .replace("&#38;", "&")
}

fn id_of(app: &TestApp, name: &str) -> impl std::future::Future<Output = String> {
    let accounts = app.state.accounts.clone();
    let name = name.to_owned();
    async move { accounts.find(&name).await.unwrap().id }
}

#[tokio::test]
async fn every_users_route_sends_anonymous_visitors_to_sign_in_and_refuses_non_admins() {
    let app = spawn_app().await;
    let id = app.create_user("target", &[]).await;
    let gets = [
        "/admin/users",
        "/admin/users/new",
        "",
        "/sessions",
        "/providers",
        "/consents",
        "/history",
        "/reset-mfa",
        "/delete",
    ];
    let plain = app.signed_in("plain", &[]).await;
    for g in gets {
        let path =
            if g.starts_with('/') && g.starts_with("/admin") { g.to_owned() } else { format!("/admin/users/{id}{g}") };
        let res = app.browser().get(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), 303, "{path}");
        assert!(location(&res).starts_with("/login?next="), "{path}");
        assert_eq!(plain.get(app.url(&path)).send().await.unwrap().status(), 403, "{path}");
    }
    let posts = ["new".to_owned()].into_iter().chain(
        [
            "edit",
            "block",
            "unblock",
            "unlock",
            "sign-out",
            "roles",
            "password-reset",
            "reset-mfa",
            "delete",
            "sessions/x/revoke",
        ]
        .map(|p| format!("{id}/{p}")),
    );
    for p in posts {
        let path = format!("/admin/users/{p}");
        let res = app.submit(&plain, "/account", &path, &[("confirm", "yes")]).await;
        assert_eq!(res.status(), 403, "POST {path}");
    }
    assert!(app.state.accounts.find("target").await.is_ok(), "nothing was deleted");
}

#[tokio::test]
async fn the_list_shows_roles_and_filters_by_role_state_verification_and_date_keeping_them_in_paging() {
    let app = spawn_app().await;
    let admin = app.signed_in("root", &["admin"]).await;
    for i in 0..27 {
        app.create_user(&format!("m{i:02}"), &[]).await;
    }
    let boss = app.create_user("boss", &["admin"]).await;
    let (status, html) = page(&app, &admin, "/admin/users?role=admin").await;
    assert_eq!(status, 200);
    assert!(html.contains("boss") && html.contains("admin, user") && !html.contains(">m01<"), "{html}");
    assert!(html.contains(&format!("href=\"/admin/users/{boss}\"")), "rows link to the detail page");

    let victim = id_of(&app, "m03").await;
    app.submit(&admin, "/admin/users", &format!("/admin/users/{victim}/block"), &[]).await;
    let (_, blocked) = page(&app, &admin, "/admin/users?state=blocked").await;
    assert!(blocked.contains(">m03<") && blocked.contains("1 user on this page"), "{blocked}");
    let (_, locked) = page(&app, &admin, "/admin/users?state=locked").await;
    assert!(locked.contains("0 users on this page"));
    let (_, unverified) = page(&app, &admin, "/admin/users?verified=no").await;
    assert!(unverified.contains("0 users on this page"));
    let (_, later) = page(&app, &admin, "/admin/users?since=2999-01-01").await;
    assert!(later.contains("0 users on this page"));

    // Paging keeps the filters.
    let (_, first) = page(&app, &admin, "/admin/users?state=active&verified=yes").await;
    let next = first.split("href=\"").find_map(|h| h.split_once("\">Next page").map(|(l, _)| l)).unwrap();
    let next = next.replace("&amp;", "&").replace("&#38;", "&");
    assert!(next.contains("state=active") && next.contains("verified=yes") && next.contains("after="), "{next}");
    let (_, second) = page(&app, &admin, &next).await;
    assert!(second.contains("First page") && !second.contains(">m03<"), "{next}: {second}");

    for bad in ["state=gone", "verified=maybe", "since=yesterday", "role=wizard", "after=nonsense"] {
        let (status, html) = page(&app, &admin, &format!("/admin/users?{bad}")).await;
        assert_eq!(status, 422, "{bad}");
        assert!(html.contains("role=\"alert\""), "{bad}: {html}");
    }
}

#[tokio::test]
async fn an_admin_creates_users_with_a_password_or_an_invitation_and_bad_input_is_reshown() {
    let app = spawn_app().await;
    let admin = app.signed_in("root", &["admin"]).await;
    let root = id_of(&app, "root").await;
    let (status, form) = page(&app, &admin, "/admin/users/new").await;
    assert_eq!(status, 200);
    assert!(form.contains("name=\"role_admin\"") && form.contains("name=\"other_roles\""));

    let fields = [
        ("username", "ne w"),
        ("email", "nope"),
        ("display_name", "Typed Name"),
        ("mode", "password"),
        ("password", "x"),
    ];
    let res = app.submit(&admin, "/admin/users/new", "/admin/users/new", &fields).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("value=\"Typed Name\"") && html.contains("value=\"nope\"") && html.contains("aria-invalid"),
        "{html}"
    );

    let fields = [("username", "wizard"), ("email", "w@example.com"), ("mode", "invite"), ("other_roles", "sorcerer")];
    let res = app.submit(&admin, "/admin/users/new", "/admin/users/new", &fields).await;
    assert_eq!(res.status(), 422, "an unknown role is refused");

    let fields = [
        ("username", "newbie"),
        ("email", "newbie@example.com"),
        ("display_name", "New Bie"),
        ("role_admin", "yes"),
        ("mode", "password"),
        ("password", "a long enough passphrase 42"),
    ];
    let res = app.submit(&admin, "/admin/users/new", "/admin/users/new", &fields).await;
    assert_eq!(res.status(), 303);
    let id = id_of(&app, "newbie").await;
    assert_eq!(location(&res), format!("/admin/users/{id}?done=created"));
    let (_, html) = page(&app, &admin, location(&res)).await;
    assert!(html.contains("The user was created.") && html.contains("admin, user"), "{html}");
    audited(&app, "user_created", &id, &root).await;
    assert_eq!(app.login(&app.browser(), "newbie", "a long enough passphrase 42").await.status(), 303);

    let fields = [("username", "invitee"), ("email", "invitee@example.com"), ("mode", "invite"), ("role_user", "yes")];
    assert_eq!(app.submit(&admin, "/admin/users/new", "/admin/users/new", &fields).await.status(), 303);
    app.mail.wait_for("invitee@example.com", "").await;

    let fields = [("username", "newbie"), ("email", "other@example.com"), ("mode", "invite")];
    let res = app.submit(&admin, "/admin/users/new", "/admin/users/new", &fields).await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("That username is taken."));
}

#[tokio::test]
async fn the_detail_page_edits_under_the_etag_and_a_stale_one_is_refused_with_the_current_version() {
    let app = spawn_app().await;
    let admin = app.signed_in("root", &["admin"]).await;
    let root = id_of(&app, "root").await;
    let id = app.create_user("kim", &[]).await;
    let (status, html) = page(&app, &admin, &format!("/admin/users/{id}")).await;
    assert_eq!(status, 200);
    for part in ["Two-step sign-in", "Last sign-in", "aria-current=\"page\"", "Send a password-reset mail"] {
        assert!(html.contains(part), "{part}: {html}");
    }
    let etag = hidden(&html, "etag");
    assert_eq!(hidden(&html, "roles_before"), "user");
    let path = format!("/admin/users/{id}");
    let edit = format!("/admin/users/{id}/edit");
    let fields = [
        ("etag", etag.as_str()),
        ("roles_before", "user"),
        ("username", "kim2"),
        ("email", "kim@example.com"),
        ("display_name", "Kim K"),
        ("role_user", "yes"),
    ];
    let res = app.submit(&admin, &path, &edit, &fields).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("/admin/users/{id}?done=saved"));
    assert_eq!(app.state.accounts.user(&id).await.unwrap().username, "kim2");
    audited(&app, "profile_changed", &id, &root).await;
    let rows = events(&app).await;
    assert!(!rows.iter().any(|r| r.action == "role_changed" && r.target == id), "the roles did not change");

    // The old ETag again: refused, nothing overwritten, the current version shown.
    let fields = [
        ("etag", etag.as_str()),
        ("username", "kim3"),
        ("email", "kim@example.com"),
        ("display_name", ""),
        ("role_user", "yes"),
    ];
    let res = app.submit(&admin, &path, &edit, &fields).await;
    assert_eq!(res.status(), 409);
    let html = res.text().await.unwrap();
    assert!(html.contains("changed meanwhile") && html.contains("value=\"kim2\""), "{html}");
    assert_eq!(app.state.accounts.user(&id).await.unwrap().username, "kim2");

    // Bad input keeps what was typed.
    let etag = hidden(&html, "etag");
    let fields =
        [("etag", etag.as_str()), ("username", "k m"), ("email", "kim@example.com"), ("display_name", "Typed")];
    let res = app.submit(&admin, &path, &edit, &fields).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("value=\"k m\"") && html.contains("value=\"Typed\""));

    // The last administrator keeps the role: a 409 page, not a 500.
    let (_, mine) = page(&app, &admin, &format!("/admin/users/{root}")).await;
    let etag = hidden(&mine, "etag");
    let fields = [
        ("etag", etag.as_str()),
        ("username", "root"),
        ("email", "root@example.com"),
        ("display_name", ""),
        ("role_user", "yes"),
    ];
    let res = app.submit(&admin, &format!("/admin/users/{root}"), &format!("/admin/users/{root}/edit"), &fields).await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("last administrator"));

    assert_eq!(page(&app, &admin, "/admin/users/no-such-user").await.0, 404);
}

#[tokio::test]
async fn the_detail_page_buttons_act_and_come_back_with_a_notice() {
    let app = spawn_app().await;
    let admin = app.signed_in("root", &["admin"]).await;
    let root = id_of(&app, "root").await;
    let id = app.create_user("lee", &[]).await;
    let path = format!("/admin/users/{id}");
    let back = format!("{path}?done=reset-sent");
    let res = app.submit(&admin, &path, &format!("{path}/password-reset"), &[("back", &back)]).await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, back.as_str()));
    app.mail.wait_for("lee@example.com", "Reset your password").await;
    audited(&app, "password_reset_sent", &id, &root).await;
    let (_, html) = page(&app, &admin, &back).await;
    assert!(html.contains("role=\"status\"") && html.contains("on its way"));

    let back = format!("{path}?done=signed-out");
    let res = app.submit(&admin, &path, &format!("{path}/sign-out"), &[("back", &back)]).await;
    assert_eq!(location(&res), back);
    audited(&app, "session_revoked", &id, &root).await;
    let res = app.submit(&admin, &path, &format!("{path}/block"), &[("back", &format!("{path}?done=blocked"))]).await;
    assert_eq!(res.status(), 303);
    audited(&app, "user_blocked", &id, &root).await;
    let res = app.submit(&admin, &path, &format!("{path}/unblock"), &[("back", &path)]).await;
    assert_eq!(res.status(), 303);
    audited(&app, "user_unblocked", &id, &root).await;

    // Locked by wrong passwords, unlocked from the console.
    for _ in 0..app.config.lockout.max_failures {
        app.login(&app.browser(), "lee", "not the password").await;
    }
    let res = app.submit(&admin, &path, &format!("{path}/unlock"), &[("back", &path)]).await;
    assert_eq!(res.status(), 303);
    audited(&app, "account_unlocked", &id, &root).await;
    assert_eq!(app.login(&app.browser(), "lee", PASSWORD).await.status(), 303, "unlocked");

    // The admin role given and taken.
    for give in ["yes", "no"] {
        let res = app.submit(&admin, &path, &format!("{path}/roles"), &[("admin", give), ("back", &path)]).await;
        assert_eq!(res.status(), 303);
    }
    audited(&app, "role_changed", &id, &root).await;
    assert!(!app.state.accounts.account(&id).await.unwrap().roles.iter().any(|r| r == "admin"));
}

#[tokio::test]
async fn the_tabs_show_sessions_links_consents_and_the_action_history() {
    let app = spawn_app().await;
    let admin = app.signed_in("root", &["admin"]).await;
    let root = id_of(&app, "root").await;
    let lee = app.signed_in("lee", &[]).await;
    let id = id_of(&app, "lee").await;
    let base = format!("/admin/users/{id}");
    let (status, html) = page(&app, &admin, &format!("{base}/sessions")).await;
    assert_eq!(status, 200);
    assert!(html.contains("127.0.0.1") && html.contains("Revoke"), "{html}");
    let marker = format!("{base}/sessions/");
    let start = html.find(&marker).unwrap() + marker.len();
    let sid = &html[start..start + html[start..].find('/').unwrap()];
    let res = app.submit(&admin, &format!("{base}/sessions"), &format!("{base}/sessions/{sid}/revoke"), &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(lee.get(app.url("/account")).send().await.unwrap().status(), 303, "signed out");
    audited(&app, "session_revoked", &id, &root).await;
    let (_, html) = page(&app, &admin, &format!("{base}/sessions")).await;
    assert!(html.contains("No live sessions."));

    let (status, html) = page(&app, &admin, &format!("{base}/providers")).await;
    assert!(status == 200 && html.contains("No upstream accounts are linked."));
    let (status, html) = page(&app, &admin, &format!("{base}/consents")).await;
    assert!(status == 200 && html.contains("No app has been allowed anything."));

    let (status, html) = page(&app, &admin, &format!("{base}/history")).await;
    assert_eq!(status, 200);
    assert!(html.contains("session_revoked") && html.contains(">root<") && html.contains("sign_in"), "{html}");
    let (_, only) = page(&app, &admin, &format!("{base}/history?action=session_revoked")).await;
    assert!(only.contains("session_revoked") && !only.contains("<td>sign_in</td>"), "{only}");
    let (_, none) = page(&app, &admin, &format!("{base}/history?until=2000-01-01")).await;
    assert!(none.contains("No events."));
    for bad in ["action=nothing", "since=soon", "before=x"] {
        assert_eq!(page(&app, &admin, &format!("{base}/history?{bad}")).await.0, 422, "{bad}");
    }
}

#[tokio::test]
async fn deleting_and_resetting_two_step_need_a_recent_sign_in_and_a_confirmation() {
    let app = spawn_app().await;
    let admin = app.signed_in("root", &["admin"]).await;
    let root = id_of(&app, "root").await;
    let id = app.create_user("gone", &[]).await;
    app.login(&app.browser(), "gone", PASSWORD).await;

    let (status, html) = page(&app, &admin, &format!("/admin/users/{id}/delete")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Delete the user gone") && html.contains("1 session") && html.contains("audit log"),
        "{html}"
    );
    let (status, html) = page(&app, &admin, &format!("/admin/users/{id}/reset-mfa")).await;
    assert!(status == 200 && html.contains("recovery codes"), "{html}");
    let res = app
        .submit(
            &admin,
            &format!("/admin/users/{id}/reset-mfa"),
            &format!("/admin/users/{id}/reset-mfa"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(location(&res), format!("/admin/users/{id}?done=mfa-reset"));
    audited(&app, "mfa_disabled", &id, &root).await;

    // Without `confirm=yes` nothing happens.
    let res = app.submit(&admin, &format!("/admin/users/{id}/delete"), &format!("/admin/users/{id}/delete"), &[]).await;
    assert_eq!(res.status(), 400);
    let res = app
        .submit(
            &admin,
            &format!("/admin/users/{id}/delete"),
            &format!("/admin/users/{id}/delete"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/admin/users?done=deleted"));
    assert!(app.state.accounts.user(&id).await.is_err());
    audited(&app, "user_deleted", &id, &root).await;

    // The last administrator: a 409 page.
    let res = app
        .submit(
            &admin,
            &format!("/admin/users/{root}/delete"),
            &format!("/admin/users/{root}/delete"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("last administrator"));

    // A stale sign-in is sent to sign in again, on the GET and on the POST.
    let other = app.create_user("other", &[]).await;
    let token = app.csrf_token(&admin, "/admin/users").await;
    app.clock.advance(700);
    for action in ["delete", "reset-mfa"] {
        let path = format!("/admin/users/{other}/{action}");
        let res = admin.get(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), 303, "GET {path}");
        assert!(location(&res).starts_with("/login?prompt=login"), "{}", location(&res));
        let res = admin
            .post(app.url(&path))
            .form(&[("csrf_token", token.as_str()), ("confirm", "yes")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "POST {path}");
        assert!(location(&res).starts_with("/login?prompt=login"));
    }
    assert!(app.state.accounts.user(&other).await.is_ok());
}
