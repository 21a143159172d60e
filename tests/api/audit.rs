//! Activity and audit log over HTTP: sign-in attempts on `/account`, and the
//! audit rows that sign-in, password change, sign-out and `/revoke` write.
use gatehouse::security::audit::{self, Verdict};
use gatehouse::store::AuditRow;

use crate::helpers::{PASSWORD, TestApp, spawn_app};

async fn events(app: &TestApp) -> Vec<AuditRow> {
    audit::tail(&app.state.store, 1_000).await.unwrap()
}

fn find<'a>(rows: &'a [AuditRow], action: &str, target: &str) -> Option<&'a AuditRow> {
    rows.iter().find(|r| r.action == action && r.target == target)
}

#[tokio::test]
async fn account_page_lists_failed_and_successful_sign_ins() {
    let app = spawn_app().await;
    app.create_user("quinn", &[]).await;
    let browser = app.browser();
    assert_eq!(app.login(&browser, "quinn", "not the password").await.status(), 401);
    app.clock.advance(60);
    assert_eq!(app.login(&browser, "quinn", PASSWORD).await.status(), 303);
    let html = browser.get(app.url("/account/activity")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Recent sign-in activity"), "{html}");
    let signed_in = html.find("Signed in<").expect("the successful sign-in is listed");
    let wrong = html.find("Wrong password<").expect("the failed attempt is listed");
    assert!(signed_in < wrong, "newest first");
    assert!(html.contains("127.0.0.1"));
    assert!(!html.contains("not the password"), "what was typed is never shown");
}

#[tokio::test]
async fn sign_in_attempts_are_audited_without_leaking_the_typed_login() {
    let app = spawn_app().await;
    let id = app.create_user("rhea", &[]).await;
    let browser = app.browser();
    assert_eq!(app.login(&browser, "rhea", "not the password").await.status(), 401);
    assert_eq!(app.login(&browser, "my secret password typed here", "x").await.status(), 401);
    let res = app.login(&browser, "rhea", PASSWORD).await;
    assert_eq!(res.status(), 303);
    let request_id = res.headers().get("x-request-id").unwrap().to_str().unwrap().to_owned();

    let rows = events(&app).await;
    let failed = find(&rows, "sign_in_failed", &id).expect("a failure on a known account names it");
    assert!(failed.detail.contains("wrong_password"));
    let unknown = find(&rows, "sign_in_failed", "").expect("a failure on an unknown login has no target");
    assert_eq!(unknown.actor, "anonymous");
    assert!(rows.iter().all(|r| !r.target.contains("secret") && !r.detail.contains("secret")), "{rows:?}");
    let ok = find(&rows, "sign_in", &id).expect("the sign-in");
    assert_eq!((ok.actor.as_str(), ok.ip.as_str()), (id.as_str(), "127.0.0.1"));
    assert_eq!(ok.request_id, request_id, "the request id is carried");
    assert!(matches!(audit::verify(&app.state.store).await.unwrap(), Verdict::Intact(_)));
}

#[tokio::test]
async fn password_change_and_sign_out_are_audited() {
    let app = spawn_app().await;
    let browser = app.signed_in("sven", &[]).await;
    let id = app.state.accounts.find("sven").await.unwrap().id;
    let new = "an entirely new passphrase";
    let fields = [("current_password", PASSWORD), ("new_password", new), ("new_password_confirm", new)];
    assert_eq!(app.submit(&browser, "/account", "/account/password", &fields).await.status(), 303);
    let res = app.submit(&browser, "/logout", "/logout", &[("logout", "yes")]).await;
    assert_eq!(res.status(), 303);

    let rows = events(&app).await;
    let changed = find(&rows, "password_changed", &id).expect("password change audited");
    assert_eq!(changed.actor, id);
    assert!(!changed.request_id.is_empty());
    assert!(find(&rows, "sign_out", &id).is_some(), "sign-out audited");
    assert!(rows.iter().all(|r| !r.detail.contains(new) && !r.detail.contains(PASSWORD)), "no secrets");
}

/// RFC 7009 §2.2: the answer is 200 even for an unknown token; the revocation
/// request is audited with the client as the actor, without the token.
#[tokio::test]
async fn token_revocation_is_audited_with_the_client_as_actor() {
    let app = spawn_app().await;
    let secret = crate::oidc::register(&app, "rp", true).await;
    let token = "some-refresh-token-value";
    let res = reqwest::Client::new()
        .post(app.url("/revoke"))
        .basic_auth("rp", Some(&secret))
        .form(&[("token", token), ("token_type_hint", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let rows = events(&app).await;
    let revoked = find(&rows, "token_revoked", "rp").expect("revocation audited");
    assert_eq!(revoked.actor, "rp");
    assert!(revoked.detail.contains("refresh_token"));
    assert!(rows.iter().all(|r| !r.detail.contains(token)), "the token is never logged");
}

#[tokio::test]
async fn admin_blocks_and_session_revocations_are_audited() {
    let app = spawn_app().await;
    let admin = app.signed_in("ada", &["admin"]).await;
    let admin_id = app.state.accounts.find("ada").await.unwrap().id;
    let victim = app.create_user("vic", &[]).await;
    for action in ["block", "unblock"] {
        let res = app.submit(&admin, "/admin/users", &format!("/admin/users/{victim}/{action}"), &[]).await;
        assert_eq!(res.status(), 303);
    }
    let res = app.submit(&admin, "/account", "/account/sessions/revoke-all", &[]).await;
    assert_eq!(res.status(), 303);

    let rows = events(&app).await;
    for action in ["user_blocked", "user_unblocked"] {
        let row = find(&rows, action, &victim).unwrap_or_else(|| panic!("{action} audited: {rows:?}"));
        assert_eq!((row.actor.as_str(), row.ip.as_str()), (admin_id.as_str(), "127.0.0.1"));
    }
    let revoked = find(&rows, "session_revoked", &admin_id).expect("sign-out everywhere audited");
    assert!(revoked.detail.contains("all"));
    assert_eq!(audit::verify(&app.state.store).await.unwrap(), Verdict::Intact(rows.len() as u64));
}

#[tokio::test]
async fn two_step_sign_in_records_its_method_and_mfa_changes_are_audited() {
    let app = spawn_app().await;
    let (_, secret, _) = crate::mfa::enrolled(&app, "wes").await;
    let id = app.state.accounts.find("wes").await.unwrap().id;
    app.clock.advance(30);
    let browser = app.browser();
    crate::mfa::password_step(&app, &browser, "wes").await;
    let code = crate::mfa::code_now(&app, &secret);
    let res = crate::mfa::second_step(&app, &browser, &[("method", "totp"), ("code", &code)]).await;
    assert_eq!(res.status(), 303);

    let rows = events(&app).await;
    let enabled = find(&rows, "mfa_enabled", &id).expect("enrolment audited");
    assert!(enabled.detail.contains("totp"));
    let sign_ins: Vec<_> = rows.iter().filter(|r| r.action == "sign_in" && r.target == id).collect();
    assert_eq!(sign_ins.len(), 2, "the password step alone is not a sign-in: {rows:?}");
    assert!(sign_ins[1].detail.contains("password+totp"), "{:?}", sign_ins[1]);
    let html = browser.get(app.url("/account/activity")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("password+totp"), "the method is shown on /account/activity");
}
