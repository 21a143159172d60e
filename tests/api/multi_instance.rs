//! Several `gatehouse` instances on one PostgreSQL database behave as one
//! server (sessions live in the database). Runs under TEST_DATABASE=postgres.
use crate::helpers::{on_postgres, spawn_app};

#[tokio::test]
async fn a_session_from_one_instance_works_on_another_and_revocation_is_shared() {
    if !on_postgres() {
        eprintln!("skipped: runs with TEST_DATABASE=postgres");
        return;
    }
    let a = spawn_app().await;
    let b = a.second_instance().await;
    let browser = a.signed_in("shared", &[]).await;
    // Cookies do not keep ports apart, so the same jar reaches instance B.
    let on_b = browser.get(b.url("/account")).send().await.unwrap();
    assert_eq!(on_b.status(), 200, "session created on A is valid on B");

    // Revoke on A (sign out everywhere), refused on B at once.
    let res = a.submit(&browser, "/account", "/account/sessions/revoke-all", &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(browser.get(b.url("/account")).send().await.unwrap().status(), 303);

    // A form rendered by B is accepted by A: the CSRF key is shared too.
    a.create_user("again", &[]).await;
    let token = b.csrf_token(&browser, "/login").await;
    let res = browser
        .post(a.url("/login"))
        .form(&[("username", "again"), ("password", crate::helpers::PASSWORD), ("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    b.stop().await;
}
