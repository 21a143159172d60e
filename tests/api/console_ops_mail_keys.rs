//! The console's mail and keys sections (issue 17): the outbox by state
//! (never a body), retry and purge, the signing keys and rotating them
//! behind a recent sign-in and a confirmation.
use crate::console_users::{audited, page};
use crate::helpers::{TestApp, location, spawn_app, spawn_app_with};
use crate::smtp::SmtpSink;

async fn forgot(app: &TestApp, username: &str) {
    app.create_user(username, &[]).await;
    let email = format!("{username}@example.com");
    app.submit(&app.browser(), "/password/forgot", "/password/forgot", &[("email", email.as_str())]).await;
}

#[tokio::test]
async fn mail_and_keys_routes_send_anonymous_visitors_to_sign_in_and_refuse_non_admins() {
    let app = spawn_app().await;
    let plain = app.signed_in("plain", &[]).await;
    for path in ["/admin/mail", "/admin/mail?state=dead", "/admin/keys", "/admin/keys/rotate"] {
        let res = app.browser().get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 303, "{path}");
        assert!(location(&res).starts_with("/login?next="), "{path}");
        assert_eq!(plain.get(app.url(path)).send().await.unwrap().status(), 403, "{path}");
    }
    let kid = app.state.keys.current_kid();
    for path in ["/admin/mail/x/retry", "/admin/mail/purge", "/admin/keys/rotate"] {
        let res = app.submit(&plain, "/account", path, &[("confirm", "yes"), ("older_than_days", "1")]).await;
        assert_eq!(res.status(), 403, "POST {path}");
    }
    assert_eq!(app.state.keys.current_kid(), kid, "no rotation");
}

#[tokio::test]
async fn a_dead_letter_is_listed_without_its_body_and_retried_and_old_mail_is_purged() {
    let sink = SmtpSink::start().await;
    sink.set_hang_up(true);
    let app = spawn_app_with(|c| {
        c.mail.smtp_url = Some(sink.url().into());
        c.mail.max_attempts = 1;
    })
    .await;
    let admin = app.signed_in("root", &["admin"]).await;
    let root = app.state.accounts.find("root").await.unwrap().id;
    forgot(&app, "dora").await;
    let mut html = String::new();
    for _ in 0..500 {
        html = page(&app, &admin, "/admin/mail?state=dead").await.1;
        if html.contains("dora@example.com") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(html.contains("dora@example.com") && html.contains("Reset your password"), "{html}");
    assert!(!html.contains("token="), "never the body");
    let (_, waiting) = page(&app, &admin, "/admin/mail?state=waiting").await;
    assert!(!waiting.contains("dora@example.com"));
    let start = html.find("/admin/mail/").unwrap() + "/admin/mail/".len();
    let id = html[start..start + html[start..].find('/').unwrap()].to_owned();

    sink.set_hang_up(false);
    let res = app.submit(&admin, "/admin/mail", &format!("/admin/mail/{id}/retry"), &[]).await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/admin/mail?done=retried"));
    sink.wait_for("dora@example.com", "Reset your password").await;
    audited(&app, "mail_retried", &id, &root).await;
    assert_eq!(app.submit(&admin, "/admin/mail", "/admin/mail/nothing/retry", &[]).await.status(), 404);

    for bad in ["-3", "abc", "1.5", "99999"] {
        let res = app.submit(&admin, "/admin/mail", "/admin/mail/purge", &[("older_than_days", bad)]).await;
        assert_eq!(res.status(), 422, "{bad}");
        let html = res.text().await.unwrap();
        assert!(html.contains("role=\"alert\"") && html.contains(&format!("value=\"{bad}\"")), "{html}");
    }
    let res = app.submit(&admin, "/admin/mail", "/admin/mail/purge", &[("older_than_days", "30")]).await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/admin/mail?done=purged&purged=0"));
    let row = audited(&app, "mail_purged", "outbox", &root).await;
    assert!(row.detail.contains("\"older_than_days\":30"), "{}", row.detail);
    assert_eq!(page(&app, &admin, "/admin/mail?state=lost").await.0, 422);
}

#[tokio::test]
async fn the_keys_page_lists_public_facts_and_rotating_needs_a_recent_sign_in_and_confirmation() {
    let app = spawn_app().await;
    let admin = app.signed_in("root", &["admin"]).await;
    let root = app.state.accounts.find("root").await.unwrap().id;
    let kid = app.state.keys.current_kid();
    let (status, html) = page(&app, &admin, "/admin/keys").await;
    assert_eq!(status, 200);
    assert!(html.contains(&kid) && html.contains("RS256") && html.contains("current"), "{html}");
    assert!(!html.contains("PRIVATE KEY") && !html.contains("\"d\""), "no key material");

    let (status, html) = page(&app, &admin, "/admin/keys/rotate").await;
    assert!(status == 200 && html.contains("starts retiring") && html.contains(&kid), "{html}");
    let res = app.submit(&admin, "/admin/keys/rotate", "/admin/keys/rotate", &[]).await;
    assert_eq!(res.status(), 400, "no confirmation, no rotation");
    assert_eq!(app.state.keys.current_kid(), kid);
    let res = app.submit(&admin, "/admin/keys/rotate", "/admin/keys/rotate", &[("confirm", "yes")]).await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/admin/keys?done=rotated"));
    let new_kid = app.state.keys.current_kid();
    assert_ne!(new_kid, kid);
    let rows = crate::console_users::events(&app).await;
    assert!(rows.iter().any(|r| r.action == "key_rotated" && r.actor == root), "audited from the admin");
    let (_, html) = page(&app, &admin, "/admin/keys?done=rotated").await;
    assert!(html.contains("retiring") && html.contains(&new_kid));

    // A stale sign-in is sent to sign in again on the GET and the POST.
    let token = app.csrf_token(&admin, "/admin/keys/rotate").await;
    app.clock.advance(700);
    let res = admin.get(app.url("/admin/keys/rotate")).send().await.unwrap();
    assert!(res.status() == 303 && location(&res).starts_with("/login?prompt=login"));
    let form = [("csrf_token", token.as_str()), ("confirm", "yes")];
    let res = admin.post(app.url("/admin/keys/rotate")).form(&form).send().await.unwrap();
    assert!(res.status() == 303 && location(&res).starts_with("/login?prompt=login"));
    assert_eq!(app.state.keys.current_kid(), new_kid);
}
