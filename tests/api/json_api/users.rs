//! `/api/v1/users…` (scope `admin`): create, read, update under `If-Match`,
//! delete, the console's actions, what a user has, and the list (filters
//! here; paging over 10 000 users in `users_paging.rs`). Every mutation is
//! audited with the acting admin and `via: "api"`.
use serde_json::{Value, json};

use super::support::{Api, admin_token, api_rp, problem, user_token};
use crate::helpers::{PASSWORD, TestApp, spawn_app};

#[path = "users_paging.rs"]
mod paging;

/// The admin API as the service client `svc-admin`.
pub async fn admin(app: &TestApp) -> Api<'_> {
    Api::new(app, admin_token(app).await)
}

fn etag(res: &reqwest::Response) -> String {
    res.headers().get("etag").expect("an ETag").to_str().unwrap().to_owned()
}

/// The audit events `action` on `target`, as (actor, detail).
pub async fn audited(app: &TestApp, action: &str, target: &str) -> Vec<(String, Value)> {
    let rows = app.state.store.conn().await.unwrap().db().audit_after(0, 100_000).await.unwrap();
    rows.into_iter()
        .filter(|r| r.action == action && r.target == target)
        .map(|r| (r.actor, serde_json::from_str(&r.detail).unwrap()))
        .collect()
}

/// Asserts one `action` event on `target` by `svc-admin` through the API.
async fn audited_by_api(app: &TestApp, action: &str, target: &str) -> Value {
    let events = audited(app, action, target).await;
    let (actor, detail) = events.last().unwrap_or_else(|| panic!("no {action} event on {target}"));
    assert_eq!(actor, "svc-admin", "{action} by the acting admin");
    assert_eq!(detail["via"], "api", "{action} via the API");
    detail.clone()
}

async fn create(api: &Api<'_>, username: &str, extra: Value) -> Value {
    let mut body = json!({ "username": username, "email": format!("{username}@example.com"), "password": PASSWORD });
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let res = api.post("/api/v1/users", &body).await;
    assert_eq!(res.status(), 201, "create {username}");
    res.json().await.unwrap()
}

#[tokio::test]
async fn create_answers_201_with_location_and_etag_and_the_user_signs_in() {
    let app = spawn_app().await;
    let api = admin(&app).await;
    let body = json!({ "username": "ann", "email": "ann@example.com", "password": PASSWORD,
        "roles": ["admin"], "display_name": "Ann A." });
    let res = api.post("/api/v1/users", &body).await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let tag = etag(&res);
    let user: Value = res.json().await.unwrap();
    assert_eq!(location, format!("/api/v1/users/{}", user["id"].as_str().unwrap()));
    assert_eq!(user["roles"], json!(["admin", "user"]));
    assert_eq!((user["email_verified"].clone(), user["display_name"].clone()), (json!(true), json!("Ann A.")));
    let read = api.get(&location).await;
    assert_eq!(etag(&read), tag, "the read has the tag the create answered");
    assert_eq!(read.json::<Value>().await.unwrap(), user);
    let detail = audited_by_api(&app, "user_created", user["id"].as_str().unwrap()).await;
    assert_eq!(detail["invited"], false);
    assert_eq!(app.login(&app.browser(), "ann", PASSWORD).await.status(), 303, "a password makes it usable");
}

#[tokio::test]
async fn create_without_a_password_mails_an_invitation_that_sets_one_and_confirms_the_address() {
    let app = spawn_app().await;
    let api = admin(&app).await;
    let res = api.post("/api/v1/users", &json!({ "username": "ivy", "email": "ivy@example.com" })).await;
    assert_eq!(res.status(), 201);
    let user: Value = res.json().await.unwrap();
    assert_eq!(user["email_verified"], false);
    let mail = app.mail.wait_for("ivy@example.com", "invited").await;
    let link = crate::smtp::link(&mail, &app.url("/password/reset?"));
    let browser = app.browser();
    let html = browser.get(&link).send().await.unwrap().text().await.unwrap();
    let token = crate::helpers::hidden_value(&html, "token").unwrap();
    let csrf = crate::helpers::hidden_value(&html, "csrf_token").unwrap();
    let form = [("token", token.as_str()), ("csrf_token", csrf.as_str()), ("password", PASSWORD)];
    let set = browser.post(app.url("/password/reset")).form(&form).send().await.unwrap();
    assert_eq!(set.status(), 303, "the invitation sets the password");
    assert_eq!(app.login(&app.browser(), "ivy", PASSWORD).await.status(), 303);
    let read: Value = api.get(&format!("/api/v1/users/{}", user["id"].as_str().unwrap())).await.json().await.unwrap();
    assert_eq!(read["email_verified"], true, "following the link confirms the address");
    assert_eq!(audited_by_api(&app, "user_created", user["id"].as_str().unwrap()).await["invited"], true);
}

#[tokio::test]
async fn create_refuses_taken_names_409_bad_fields_422_and_other_media_types_415() {
    let app = spawn_app().await;
    let api = admin(&app).await;
    create(&api, "bob", json!({})).await;
    let taken = json!({ "username": "BOB", "email": "other@example.com", "password": PASSWORD });
    problem(api.post("/api/v1/users", &taken).await, 409).await;
    let taken = json!({ "username": "other", "email": "Bob@Example.com", "password": PASSWORD });
    problem(api.post("/api/v1/users", &taken).await, 409).await;
    let weak = json!({ "username": "cy", "email": "cy@example.com", "password": "short", "roles": ["root"] });
    let body = problem(api.post("/api/v1/users", &weak).await, 422).await;
    let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert!(fields.contains(&"password") && fields.contains(&"role"), "{body}");
    let unknown = json!({ "username": "cy", "email": "cy@example.com", "colour": "red" });
    assert_eq!(problem(api.post("/api/v1/users", &unknown).await, 422).await["errors"][0]["field"], "colour");
    let text = api.request(reqwest::Method::POST, "/api/v1/users").body("username=cy").send().await.unwrap();
    problem(text, 415).await;
    let rows = app.state.store.conn().await.unwrap().db().audit_after(0, 100_000).await.unwrap();
    assert_eq!(rows.iter().filter(|r| r.action == "user_created").count(), 1, "refusals create nothing");
}

#[tokio::test]
async fn the_routes_need_a_live_admin_token_401_403_and_unknown_ids_are_404() {
    let app = spawn_app().await;
    problem(reqwest::get(app.url("/api/v1/users")).await.unwrap(), 401).await;
    let secret = api_rp(&app).await;
    let account = Api::new(&app, user_token(&app, &secret, "rhea", &[], "openid account").await);
    let res = account.get("/api/v1/users").await;
    let challenge = res.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains("insufficient_scope") && challenge.contains("scope=\"admin\""), "{challenge}");
    problem(res, 403).await;
    let api = admin(&app).await;
    for path in ["", "/sessions", "/providers", "/consents", "/actions"] {
        problem(api.get(&format!("/api/v1/users/no-such-id{path}")).await, 404).await;
    }
    for action in ["block", "unblock", "unlock", "sign-out", "reset-mfa", "password-reset"] {
        problem(api.post(&format!("/api/v1/users/no-such-id/{action}"), &json!({})).await, 404).await;
    }
    problem(api.delete("/api/v1/users/no-such-id").await, 404).await;
    problem(api.patch("/api/v1/users/no-such-id", "\"x\"", &json!({})).await, 404).await;
}

#[tokio::test]
async fn patch_needs_if_match_428_and_the_second_of_two_with_one_tag_is_412_rfc_9110_13_1_1() {
    let app = spawn_app().await;
    let api = admin(&app).await;
    let user = create(&api, "dee", json!({})).await;
    let path = format!("/api/v1/users/{}", user["id"].as_str().unwrap());
    let no_tag = api.request(reqwest::Method::PATCH, &path).json(&json!({ "display_name": "D" })).send().await.unwrap();
    problem(no_tag, 428).await;
    let tag = etag(&api.get(&path).await);
    let first = api.patch(&path, &tag, &json!({ "display_name": "Dee" })).await;
    assert_eq!(first.status(), 200);
    let new_tag = etag(&first);
    assert_ne!(new_tag, tag, "the change moves the tag");
    assert_eq!(first.json::<Value>().await.unwrap()["display_name"], "Dee");
    // RFC 9110 §13.1.1: the tag no longer matches, so the second writer loses.
    problem(api.patch(&path, &tag, &json!({ "display_name": "Overwritten" })).await, 412).await;
    let now: Value = api.get(&path).await.json().await.unwrap();
    assert_eq!(now["display_name"], "Dee");
    assert_eq!(etag(&api.get(&path).await), new_tag);
}

#[tokio::test]
async fn patch_changes_names_email_and_roles_with_registration_rules_and_audit() {
    let app = spawn_app().await;
    let api = admin(&app).await;
    create(&api, "eve", json!({})).await;
    let user = create(&api, "fay", json!({})).await;
    let id = user["id"].as_str().unwrap();
    let path = format!("/api/v1/users/{id}");
    let tag = etag(&api.get(&path).await);
    problem(api.patch(&path, &tag, &json!({ "username": "EVE" })).await, 409).await;
    problem(api.patch(&path, &tag, &json!({ "email": "eve@example.com" })).await, 409).await;
    let bad = problem(api.patch(&path, &tag, &json!({ "username": "a b", "email": "nope" })).await, 422).await;
    assert_eq!(bad["errors"].as_array().unwrap().len(), 2, "{bad}");
    let change = json!({ "username": "faye", "email": "faye@example.com", "roles": ["admin"] });
    let res = api.patch(&path, &tag, &change).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!((body["username"].clone(), body["roles"].clone()), (json!("faye"), json!(["admin", "user"])));
    assert_eq!(body["email_verified"], false, "a new address waits for its owner's confirmation");
    app.mail.wait_for("faye@example.com", "Confirm your email").await;
    assert_eq!(audited_by_api(&app, "profile_changed", id).await["field"], "username");
    audited_by_api(&app, "email_changed", id).await;
    assert_eq!(audited_by_api(&app, "role_changed", id).await["roles"], json!(["admin", "user"]));
}

#[tokio::test]
async fn the_last_admin_cannot_lose_admin_or_be_deleted_409_and_delete_is_204() {
    let app = spawn_app().await;
    let api = admin(&app).await;
    let root = app.create_user("root", &["admin"]).await;
    let path = format!("/api/v1/users/{root}");
    let tag = etag(&api.get(&path).await);
    problem(api.patch(&path, &tag, &json!({ "roles": [] })).await, 409).await;
    problem(api.delete(&path).await, 409).await;
    let other = create(&api, "gil", json!({})).await;
    let other = format!("/api/v1/users/{}", other["id"].as_str().unwrap());
    assert_eq!(api.delete(&other).await.status(), 204);
    problem(api.get(&other).await, 404).await;
    let deleted = other.rsplit('/').next().unwrap();
    assert_eq!(audited_by_api(&app, "user_deleted", deleted).await["username"], "gil");
}

#[tokio::test]
async fn an_admin_demoted_while_their_token_is_live_is_refused_on_the_next_call() {
    let app = spawn_app().await;
    app.create_user("root", &["admin"]).await;
    let secret = api_rp(&app).await;
    let boss = Api::new(&app, user_token(&app, &secret, "boss", &["admin"], "openid admin").await);
    let me: Value = boss.get("/api/v1/users?q=boss").await.json().await.unwrap();
    let id = me["items"][0]["id"].as_str().unwrap().to_owned();
    let api = admin(&app).await;
    let tag = etag(&api.get(&format!("/api/v1/users/{id}")).await);
    let res = api.patch(&format!("/api/v1/users/{id}"), &tag, &json!({ "roles": ["user"] })).await;
    assert_eq!(res.status(), 200);
    // A role change ends the user's sessions, and with them the tokens
    // issued in them (OWASP: renew the session on a privilege change).
    problem(boss.get("/api/v1/users").await, 401).await;
}

#[tokio::test]
async fn the_admin_role_is_checked_on_every_call_403_once_it_is_gone() {
    let app = spawn_app().await;
    let secret = api_rp(&app).await;
    let cat = Api::new(&app, user_token(&app, &secret, "cat", &["admin"], "openid admin").await);
    assert_eq!(cat.get("/api/v1/users").await.status(), 200);
    let id = app.state.accounts.find("cat").await.unwrap().id;
    // The role goes while the token (and its session) stay live, as when
    // another instance changed it a moment ago.
    app.state.store.conn().await.unwrap().db().set_user_roles(&id, &["user"]).await.unwrap();
    let res = cat.get("/api/v1/users").await;
    assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("insufficient_scope"));
    problem(res, 403).await;
}

#[tokio::test]
async fn block_unblock_unlock_sign_out_reset_mfa_and_password_reset_answer_the_user() {
    let app = spawn_app().await;
    let secret = api_rp(&app).await;
    app.create_user("root", &["admin"]).await;
    let hal = Api::new(&app, user_token(&app, &secret, "hal", &["admin"], "openid admin").await);
    let id = app.state.accounts.find("hal").await.unwrap().id;
    let path = format!("/api/v1/users/{id}");
    problem(hal.post(&format!("{path}/block"), &json!({})).await, 409).await;
    let api = admin(&app).await;
    for _ in 0..5 {
        app.login(&app.browser(), "hal", "wrong password").await;
    }
    let locked: Value = api.get("/api/v1/users?state=locked").await.json().await.unwrap();
    assert_eq!(locked["items"][0]["id"], id.as_str(), "{locked}");
    let unlock = api.post(&format!("{path}/unlock"), &json!({})).await;
    assert_eq!(unlock.status(), 200);
    audited_by_api(&app, "account_unlocked", &id).await;
    let blocked = api.post(&format!("{path}/block"), &json!({})).await;
    assert!(blocked.headers().get("etag").is_some());
    assert_eq!(blocked.json::<Value>().await.unwrap()["blocked"], true);
    audited_by_api(&app, "user_blocked", &id).await;
    problem(hal.get("/api/v1/users").await, 401).await; // a block ends the tokens
    problem(api.post(&format!("{path}/password-reset"), &json!({})).await, 409).await;
    let unblocked: Value = api.post(&format!("{path}/unblock"), &json!({})).await.json().await.unwrap();
    assert_eq!(unblocked["blocked"], false);
    audited_by_api(&app, "user_unblocked", &id).await;
    assert_eq!(api.post(&format!("{path}/sign-out"), &json!({})).await.status(), 200);
    audited_by_api(&app, "session_revoked", &id).await;
    assert_eq!(api.post(&format!("{path}/reset-mfa"), &json!({})).await.status(), 200);
    audited_by_api(&app, "mfa_disabled", &id).await;
    assert_eq!(api.post(&format!("{path}/password-reset"), &json!({})).await.status(), 200);
    app.mail.wait_for("hal@example.com", "Reset your password").await;
    audited_by_api(&app, "password_reset_sent", &id).await;
}

#[tokio::test]
async fn a_users_sessions_providers_and_consents_are_listed() {
    let app = spawn_app().await;
    let api = admin(&app).await;
    let _browser = app.signed_in("ida", &[]).await;
    let id = app.state.accounts.find("ida").await.unwrap().id;
    api_rp(&app).await;
    let now = crate::helpers::real_now();
    app.state.store.conn().await.unwrap().db().save_consent(&id, "rp", "openid email", now).await.unwrap();
    let sessions: Value = api.get(&format!("/api/v1/users/{id}/sessions")).await.json().await.unwrap();
    assert_eq!(sessions["items"].as_array().unwrap().len(), 1, "{sessions}");
    assert!(sessions["next_cursor"].is_null());
    let providers: Value = api.get(&format!("/api/v1/users/{id}/providers")).await.json().await.unwrap();
    assert_eq!(providers["items"], json!([]));
    app.state.store.conn().await.unwrap().db().save_consent(&id, "zz-gone", "openid", now).await.unwrap();
    let consents: Value = api.get(&format!("/api/v1/users/{id}/consents?limit=1")).await.json().await.unwrap();
    let c = &consents["items"][0];
    assert_eq!((c["client_id"].clone(), c["client_name"].clone()), (json!("rp"), json!("rp app")));
    assert_eq!(c["scopes"], json!(["openid", "email"]));
    let next = consents["next_cursor"].as_str().expect("a second page");
    let rest: Value =
        api.get(&format!("/api/v1/users/{id}/consents?limit=1&cursor={next}")).await.json().await.unwrap();
    assert_eq!(rest["items"][0]["client_id"], "zz-gone");
    assert!(rest["items"][0]["client_name"].is_null(), "a deleted client has no name");
    assert!(rest["next_cursor"].is_null());
}

#[tokio::test]
async fn the_list_searches_and_filters_by_role_state_verified_and_creation_time() {
    let app = spawn_app().await;
    let api = admin(&app).await;
    create(&api, "jan", json!({ "roles": ["admin"] })).await;
    let kim = create(&api, "kim", json!({})).await;
    api.post("/api/v1/users", &json!({ "username": "lou", "email": "lou@corp.example" })).await;
    api.post(&format!("/api/v1/users/{}/block", kim["id"].as_str().unwrap()), &json!({})).await;
    let names = |v: Value| -> Vec<String> {
        v["items"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap().to_owned()).collect()
    };
    let get = |q: &'static str| {
        let api = &api;
        async move { api.get(&format!("/api/v1/users{q}")).await.json::<Value>().await.unwrap() }
    };
    assert_eq!(names(get("").await), ["jan", "kim", "lou"], "oldest first");
    assert_eq!(names(get("?q=CORP").await), ["lou"], "the email counts");
    assert_eq!(names(get("?q=ki").await), ["kim"]);
    assert_eq!(names(get("?role=admin").await), ["jan"]);
    assert_eq!(names(get("?state=blocked").await), ["kim"]);
    assert_eq!(names(get("?state=active").await), ["jan", "lou"]);
    assert_eq!(names(get("?verified=false").await), ["lou"]);
    assert_eq!(names(get("?created_since=2999-01-01T00:00:00Z").await).len(), 0);
    assert_eq!(names(get("?created_since=2000-01-01T00:00:00Z&limit=2").await), ["jan", "kim"]);
    use base64::Engine;
    let nul = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"[0,"\u0000"]"#);
    let nul = format!("?cursor={nul}");
    for bad in ["?state=gone", "?role=root", "?created_since=yesterday", "?limit=0", "?cursor=!!", "?sort=name", &nul] {
        problem(api.get(&format!("/api/v1/users{bad}")).await, 422).await;
    }
}

#[tokio::test]
async fn the_document_describes_the_user_routes_and_their_conflict_statuses() {
    let app = spawn_app().await;
    let doc: Value = reqwest::get(app.url("/api/v1/openapi.json")).await.unwrap().json().await.unwrap();
    let paths = &doc["paths"];
    let patch = &paths["/api/v1/users/{id}"]["patch"];
    for status in ["200", "404", "409", "412", "415", "422", "428"] {
        assert!(patch["responses"].get(status).is_some(), "PATCH documents {status}");
    }
    assert_eq!(patch["security"][0]["bearer"][0], "admin");
    assert!(paths["/api/v1/users"]["post"]["responses"]["201"]["headers"].get("Location").is_some());
    for action in ["block", "unblock", "unlock", "sign-out", "reset-mfa", "password-reset"] {
        assert!(paths[format!("/api/v1/users/{{id}}/{action}")]["post"].is_object(), "{action}");
    }
    for read in ["sessions", "providers", "consents", "actions"] {
        assert!(paths[format!("/api/v1/users/{{id}}/{read}")]["get"].is_object(), "{read}");
    }
}
