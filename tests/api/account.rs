//! `/account`: details, display name, password change, and sessions.
use crate::helpers::{PASSWORD, hidden_value, location, spawn_app};

#[tokio::test]
async fn account_page_shows_the_users_details_and_sessions() {
    let app = spawn_app().await;
    let browser = app.signed_in("nina", &[]).await;
    let mut html = browser.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    // Sessions have their own section since issue 17.
    html += &browser.get(app.url("/account/sessions")).send().await.unwrap().text().await.unwrap();
    for text in ["nina", "nina@example.com", "user", "Active sessions", "this browser", "127.0.0.1"] {
        assert!(html.contains(text), "missing {text}");
    }
}

#[tokio::test]
async fn display_name_is_saved_and_escaped() {
    let app = spawn_app().await;
    let browser = app.signed_in("otto", &[]).await;
    let res = app.submit(&browser, "/account", "/account/profile", &[("display_name", "<b>Otto</b>")]).await;
    assert_eq!(res.status(), 303);
    let html = browser.get(app.url(location(&res))).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Your display name is saved."));
    assert!(html.contains("&#60;b&#62;Otto&#60;/b&#62;") || html.contains("&lt;b&gt;Otto&lt;/b&gt;"), "{html}");
    let too_long = "y".repeat(65);
    let res = app.submit(&browser, "/account", "/account/profile", &[("display_name", &too_long)]).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("at most 64 characters"));
    assert!(html.contains(&format!("value=\"{too_long}\"")), "what was typed is kept");
}

#[tokio::test]
async fn password_change_needs_the_current_password_and_ends_other_sessions() {
    let app = spawn_app().await;
    let here = app.signed_in("pam", &[]).await;
    let elsewhere = app.browser();
    assert_eq!(app.login(&elsewhere, "pam", PASSWORD).await.status(), 303);
    let new = "an entirely new passphrase";

    let res = app
        .submit(
            &here,
            "/account",
            "/account/password",
            &[("current_password", "wrong"), ("new_password", new), ("new_password_confirm", new)],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("current password is not correct"));
    let res = app
        .submit(
            &here,
            "/account",
            "/account/password",
            &[("current_password", PASSWORD), ("new_password", "short"), ("new_password_confirm", "short")],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert_eq!(elsewhere.get(app.url("/account")).send().await.unwrap().status(), 200, "failed changes end nothing");

    let res = app
        .submit(
            &here,
            "/account",
            "/account/password",
            &[("current_password", PASSWORD), ("new_password", new), ("new_password_confirm", new)],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(here.get(app.url("/account")).send().await.unwrap().status(), 200, "this session stays");
    assert_eq!(elsewhere.get(app.url("/account")).send().await.unwrap().status(), 303, "other sessions end");
    assert_eq!(app.login(&app.browser(), "pam", PASSWORD).await.status(), 401);
    assert_eq!(app.login(&app.browser(), "pam", new).await.status(), 303);
}

#[tokio::test]
async fn a_session_can_be_revoked_from_another_one() {
    let app = spawn_app().await;
    let here = app.signed_in("quinn", &[]).await;
    let other = app.browser();
    app.login(&other, "quinn", PASSWORD).await;
    let sessions = app.state.accounts.sessions(&app.state.accounts.find("quinn").await.unwrap().id).await.unwrap();
    assert_eq!(sessions.len(), 2);
    let html = here.get(app.url("/account/sessions")).send().await.unwrap().text().await.unwrap();
    // The session that is not this browser's: the one listed without the tag.
    let other_id = sessions
        .iter()
        .map(|s| s.id.clone())
        .find(|id| {
            let row_start = html.find(&format!("/account/sessions/{id}/revoke")).unwrap();
            let row = &html[html[..row_start].rfind("<tr>").unwrap()..row_start];
            !row.contains("this browser")
        })
        .unwrap();
    let token = hidden_value(&html, "csrf_token").unwrap();
    let res = here
        .post(app.url(&format!("/account/sessions/{other_id}/revoke")))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(other.get(app.url("/account")).send().await.unwrap().status(), 303);
    assert_eq!(here.get(app.url("/account")).send().await.unwrap().status(), 200);
    // Someone else's (or an unknown) session id is a 404, not a revoke.
    let res = here
        .post(app.url("/account/sessions/not-a-session/revoke"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn sign_out_everywhere_ends_every_session() {
    let app = spawn_app().await;
    let here = app.signed_in("rita", &[]).await;
    let other = app.browser();
    app.login(&other, "rita", PASSWORD).await;
    let res = app.submit(&here, "/account", "/account/sessions/revoke-all", &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(here.get(app.url("/account")).send().await.unwrap().status(), 303);
    assert_eq!(other.get(app.url("/account")).send().await.unwrap().status(), 303);
}
