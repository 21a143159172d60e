//! `/admin/users`: access control, search, paging, block and unblock.
use crate::helpers::{PASSWORD, location, spawn_app};

#[tokio::test]
async fn anonymous_visitors_are_sent_to_sign_in() {
    let app = spawn_app().await;
    let res = app.browser().get(app.url("/admin/users")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login?next=%2Fadmin%2Fusers");
}

#[tokio::test]
async fn non_admins_get_403_on_every_admin_route() {
    let app = spawn_app().await;
    let target = app.create_user("target", &[]).await;
    let browser = app.signed_in("plain", &[]).await;
    let res = browser.get(app.url("/admin/users")).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("for administrators"));
    assert_eq!(browser.get(app.url("/admin")).send().await.unwrap().status(), 403);
    for action in ["block", "unblock"] {
        let res = app.submit(&browser, "/account", &format!("/admin/users/{target}/{action}"), &[]).await;
        assert_eq!(res.status(), 403, "{action}");
    }
    assert!(!app.state.accounts.find(&target).await.unwrap().blocked);
}

#[tokio::test]
async fn admins_search_page_and_block_users() {
    let app = spawn_app().await;
    let admin = app.signed_in("root", &["admin"]).await;
    for i in 0..30 {
        app.create_user(&format!("member{i:02}"), &[]).await;
    }
    // Keyset pages of 25 (issue 17: the same directory query as the JSON API).
    let html = admin.get(app.url("/admin/users")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("25 users on this page") && html.contains("Next page"), "{html}");
    let next = html.split("href=\"").find_map(|h| h.split_once("\">Next page").map(|(l, _)| l)).unwrap();
    let page2 = admin
        .get(app.url(&next.replace("&amp;", "&").replace("&#38;", "&")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page2.contains("First page") && !page2.contains("Next page") && page2.contains("6 users on this page"));
    let found = admin.get(app.url("/admin/users?q=MEMBER07")).send().await.unwrap().text().await.unwrap();
    assert!(found.contains("1 user on this page") && found.contains("member07@example.com"), "{found}");

    let victim = app.state.accounts.find("member07").await.unwrap().id;
    let victim_browser = app.browser();
    app.login(&victim_browser, "member07", PASSWORD).await;
    let res = app.submit(&admin, "/admin/users", &format!("/admin/users/{victim}/block"), &[]).await;
    assert_eq!(res.status(), 303);
    assert!(app.state.accounts.find(&victim).await.unwrap().blocked);
    assert_eq!(victim_browser.get(app.url("/account")).send().await.unwrap().status(), 303);
    let res = app.submit(&admin, "/admin/users", &format!("/admin/users/{victim}/unblock"), &[]).await;
    assert_eq!(res.status(), 303);
    assert!(!app.state.accounts.find(&victim).await.unwrap().blocked);
}

#[tokio::test]
async fn admins_cannot_block_themselves_or_unknown_users() {
    let app = spawn_app().await;
    let me = app.create_user("boss", &["admin"]).await;
    let admin = app.browser();
    app.login(&admin, "boss", PASSWORD).await;
    let res = app.submit(&admin, "/account", &format!("/admin/users/{me}/block"), &[]).await;
    assert_eq!(res.status(), 400);
    let res = app.submit(&admin, "/account", "/admin/users/no-such-id/block", &[]).await;
    assert_eq!(res.status(), 404);
}
