//! `/api/v1/mail…`, `/api/v1/ip-rules…`, `/api/v1/keys…`: the outbox
//! (metadata only) and the retry of a dead letter, IP rules taking effect
//! (and never shutting the caller out), key rotation seen in `/jwks.json`.
use std::time::Duration;

use serde_json::{Value, json};

use super::support::{Api, admin_token, api_rp, client_token, problem, service_client, user_token};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::smtp::SmtpSink;

/// Polls `path` until `check` passes on its body (up to 10 s).
async fn wait_for(api: &Api<'_>, path: &str, check: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..500 {
        let body: Value = api.get(path).await.json().await.unwrap();
        if check(&body) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{path} never matched");
}

async fn forgot(app: &TestApp, username: &str) {
    app.create_user(username, &[]).await;
    let email = format!("{username}@example.com");
    app.submit(&app.browser(), "/password/forgot", "/password/forgot", &[("email", email.as_str())]).await;
}

#[tokio::test]
async fn a_dead_letter_is_listed_without_its_body_and_retried() {
    let sink = SmtpSink::start().await;
    sink.set_hang_up(true);
    let app = spawn_app_with(|c| {
        c.mail.smtp_url = Some(sink.url().into());
        c.mail.max_attempts = 1;
    })
    .await;
    let api = Api::new(&app, admin_token(&app).await);
    forgot(&app, "dora").await;

    let dead = wait_for(&api, "/api/v1/mail?state=dead", |b| !b["items"].as_array().unwrap().is_empty()).await;
    let mail = &dead["items"][0];
    assert_eq!((mail["to"].as_str(), mail["state"].as_str()), (Some("dora@example.com"), Some("dead")));
    assert_eq!(mail["attempts"], 1);
    assert!(mail.get("body").is_none() && !dead.to_string().contains("token="), "never the body: {dead}");
    let id = mail["id"].as_str().unwrap().to_owned();
    let letters: Value = api.get("/api/v1/mail/dead-letters").await.json().await.unwrap();
    assert_eq!(letters["items"][0]["id"], id.as_str());
    let pending: Value = api.get("/api/v1/mail?state=pending").await.json().await.unwrap();
    assert!(pending["items"].as_array().unwrap().iter().all(|m| m["id"] != id.as_str()));

    sink.set_hang_up(false);
    let res = api.post(&format!("/api/v1/mail/{id}/retry"), &json!({})).await;
    assert_eq!(res.status(), 200);
    let retried: Value = res.json().await.unwrap();
    assert_eq!((retried["state"].as_str(), retried["attempts"].as_i64()), (Some("pending"), Some(0)));
    sink.wait_for("dora@example.com", "Reset your password").await;
    wait_for(&api, "/api/v1/mail?state=sent", |b| {
        b["items"].as_array().unwrap().iter().any(|m| m["id"] == id.as_str())
    })
    .await;
    problem(api.post(&format!("/api/v1/mail/{id}/retry"), &json!({})).await, 409).await;
    problem(api.post("/api/v1/mail/nothing/retry", &json!({})).await, 404).await;
    problem(api.get("/api/v1/mail?state=lost").await, 422).await;
    let audit: Value = api.get("/api/v1/audit?action=mail_retried").await.json().await.unwrap();
    assert_eq!(
        (audit["items"][0]["target"].as_str(), audit["items"][0]["via"].as_str()),
        (Some(id.as_str()), Some("api"))
    );
}

#[tokio::test]
async fn the_outbox_pages_newest_first_without_repeats() {
    let app = spawn_app().await;
    let api = Api::new(&app, admin_token(&app).await);
    for name in ["mia0", "mia1", "mia2", "mia3", "mia4"] {
        forgot(&app, name).await;
    }
    // The reset mail is queued off the request (its timing tells nothing).
    wait_for(&api, "/api/v1/mail?limit=200", |b| b["items"].as_array().unwrap().len() == 5).await;
    let (mut seen, mut cursor) = (Vec::new(), String::new());
    loop {
        let page: Value = api.get(&format!("/api/v1/mail?limit=2&cursor={cursor}")).await.json().await.unwrap();
        seen.extend(page["items"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    let whole: Value = api.get("/api/v1/mail?limit=200").await.json().await.unwrap();
    let whole: Vec<String> =
        whole["items"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(seen, whole, "the pages hold the whole list in order");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (5, 5), "{seen:?}");
}

#[tokio::test]
async fn ip_rules_are_added_take_effect_and_are_removed() {
    let app = spawn_app().await;
    let api = Api::new(&app, admin_token(&app).await);
    let secret = service_client(&app, "batch", &[]).await;
    assert_eq!(client_token(&app, "batch", &secret, None).await.status(), 200);

    let rule = json!({"action": "deny", "cidr": "127.0.0.1", "client": "batch", "note": "paused"});
    let res = api.post("/api/v1/ip-rules", &rule).await;
    assert_eq!(res.status(), 201);
    let added: Value = res.json().await.unwrap();
    let id = added["id"].as_i64().unwrap();
    assert_eq!(added["cidr"], "127.0.0.1/32");
    assert_eq!((added["scope"].as_str(), added["subject"].as_str()), (Some("client"), Some("batch")));
    assert_ne!(client_token(&app, "batch", &secret, None).await.status(), 200, "refused at /token at once");
    let listed: Value = api.get("/api/v1/ip-rules").await.json().await.unwrap();
    assert_eq!(listed["items"][0]["id"], id);

    assert_eq!(api.delete(&format!("/api/v1/ip-rules/{id}")).await.status(), 204);
    assert_eq!(client_token(&app, "batch", &secret, None).await.status(), 200, "allowed again");
    problem(api.delete(&format!("/api/v1/ip-rules/{id}")).await, 404).await;
    problem(api.delete("/api/v1/ip-rules/not-a-number").await, 404).await;
    let audit: Value = api.get("/api/v1/audit?action=ip_rule_changed").await.json().await.unwrap();
    let changes: Vec<&str> =
        audit["items"].as_array().unwrap().iter().map(|e| e["detail"]["change"].as_str().unwrap()).collect();
    assert_eq!(changes, ["remove", "deny"]);
    assert!(audit["items"].as_array().unwrap().iter().all(|e| e["via"] == "api"));
}

#[tokio::test]
async fn an_ip_rule_never_shuts_the_caller_out_and_is_validated_like_the_cli() {
    let app = spawn_app().await;
    let api = Api::new(&app, admin_token(&app).await);
    for rule in [
        json!({"action": "deny", "cidr": "127.0.0.0/8"}),
        json!({"action": "deny", "cidr": "127.0.0.1", "client": "svc-admin"}),
        json!({"action": "allow", "cidr": "192.0.2.0/24"}),
    ] {
        problem(api.post("/api/v1/ip-rules", &rule).await, 409).await;
    }
    // A rule for someone else's address, or an allow list the caller is on, is fine.
    let fine = json!({"action": "allow", "cidr": "127.0.0.1"});
    let own = api.post("/api/v1/ip-rules", &fine).await;
    assert_eq!(own.status(), 201);
    let own_id = own.json::<Value>().await.unwrap()["id"].clone();
    let other = json!({"action": "deny", "cidr": "203.0.113.0/24"});
    assert_eq!(api.post("/api/v1/ip-rules", &other).await.status(), 201);
    // With the caller on an allow list, another allow entry is fine; removing
    // the caller's own entry would leave only the other one, so it is refused.
    let office = json!({"action": "allow", "cidr": "192.0.2.0/24"});
    let office = api.post("/api/v1/ip-rules", &office).await.json::<Value>().await.unwrap();
    problem(api.delete(&format!("/api/v1/ip-rules/{own_id}")).await, 409).await;
    assert_eq!(api.delete(&format!("/api/v1/ip-rules/{}", office["id"])).await.status(), 204);
    assert_eq!(api.delete(&format!("/api/v1/ip-rules/{own_id}")).await.status(), 204, "no allow list left");

    let cases = [
        (json!({"action": "deny", "cidr": "10.0.0.0/33"}), "cidr"),
        (json!({"action": "deny", "cidr": "10.0.0.1", "client": "a", "role": "admin"}), "scope"),
        (json!({"action": "deny", "cidr": "10.0.0.1", "role": "wizard"}), "scope"),
        (json!({"action": "block", "cidr": "10.0.0.1"}), "action"),
    ];
    for (body, field) in cases {
        let p = problem(api.post("/api/v1/ip-rules", &body).await, 422).await;
        assert_eq!(p["errors"][0]["field"], field, "{body}: {p}");
    }
}

#[tokio::test]
async fn keys_are_listed_without_private_material_and_rotation_shows_in_jwks() {
    let app = spawn_app().await;
    let api = Api::new(&app, admin_token(&app).await);
    let before: Value = api.get("/api/v1/keys").await.json().await.unwrap();
    let keys = before["items"].as_array().unwrap();
    let current = keys.iter().find(|k| k["state"] == "current").unwrap()["kid"].as_str().unwrap().to_owned();
    let next = keys.iter().find(|k| k["state"] == "next").unwrap()["kid"].as_str().unwrap().to_owned();
    let text = before.to_string();
    assert!(!text.contains("private") && !text.contains("\"d\""), "{text}");

    let res = api.post("/api/v1/keys/rotate", &json!({})).await;
    assert_eq!(res.status(), 200);
    let rotated: Value = res.json().await.unwrap();
    assert_eq!(rotated["current_kid"], next.as_str(), "the published next key signs now");
    let after: Value = api.get("/api/v1/keys").await.json().await.unwrap();
    let state_of = |kid: &str| {
        after["items"].as_array().unwrap().iter().find(|k| k["kid"] == kid).unwrap()["state"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!((state_of(&current), state_of(&next)), ("retiring".to_owned(), "current".to_owned()));
    let new_next = after["items"].as_array().unwrap().iter().find(|k| k["state"] == "next").unwrap()["kid"].clone();
    let jwks: Value = reqwest::get(app.url("/jwks.json")).await.unwrap().json().await.unwrap();
    let kids: Vec<&Value> = jwks["keys"].as_array().unwrap().iter().map(|k| &k["kid"]).collect();
    assert!(kids.contains(&&new_next) && kids.contains(&&json!(next)) && kids.contains(&&json!(current)), "{jwks}");
    let audit: Value = api.get("/api/v1/audit?action=key_rotated").await.json().await.unwrap();
    assert_eq!(audit["items"][0]["via"], "api");
}

#[tokio::test]
async fn the_operations_routes_need_an_admin_token() {
    let app = spawn_app().await;
    let secret = api_rp(&app).await;
    let account = Api::new(&app, user_token(&app, &secret, "ann", &[], "openid account").await);
    for path in ["/api/v1/mail", "/api/v1/ip-rules", "/api/v1/keys", "/api/v1/audit"] {
        problem(reqwest::get(app.url(path)).await.unwrap(), 401).await;
        problem(account.get(path).await, 403).await;
    }
    problem(account.post("/api/v1/keys/rotate", &json!({})).await, 403).await;
}

#[tokio::test]
async fn the_document_describes_every_admin_operation_of_this_area() {
    let app = spawn_app().await;
    let doc: Value = reqwest::get(app.url("/api/v1/openapi.json")).await.unwrap().json().await.unwrap();
    let op = |path: &str, method: &str| doc["paths"][path][method].clone();
    let expected = [
        ("/api/v1/clients", "get", "200"),
        ("/api/v1/clients", "post", "201"),
        ("/api/v1/clients", "post", "409"),
        ("/api/v1/clients/{client_id}", "get", "200"),
        ("/api/v1/clients/{client_id}", "patch", "412"),
        ("/api/v1/clients/{client_id}", "patch", "428"),
        ("/api/v1/clients/{client_id}", "delete", "204"),
        ("/api/v1/clients/{client_id}/rotate-secret", "post", "200"),
        ("/api/v1/audit", "get", "200"),
        ("/api/v1/audit/verify", "get", "200"),
        ("/api/v1/audit/export", "get", "200"),
        ("/api/v1/mail", "get", "200"),
        ("/api/v1/mail/dead-letters", "get", "200"),
        ("/api/v1/mail/{id}/retry", "post", "409"),
        ("/api/v1/ip-rules", "get", "200"),
        ("/api/v1/ip-rules", "post", "201"),
        ("/api/v1/ip-rules/{id}", "delete", "204"),
        ("/api/v1/keys", "get", "200"),
        ("/api/v1/keys/rotate", "post", "200"),
    ];
    for (path, method, status) in expected {
        let op = op(path, method);
        assert!(op["responses"][status].is_object(), "{method} {path} {status}: {op}");
        assert_eq!(op["security"][0]["bearer"], json!(["admin"]), "{method} {path}");
        assert!(op["responses"]["401"].is_object() && op["responses"]["403"].is_object(), "{method} {path}");
    }
    let export = op("/api/v1/audit/export", "get");
    let media = export["responses"]["200"]["content"].as_object().unwrap();
    assert!(media.contains_key("application/x-ndjson") && media.contains_key("text/csv"), "{export}");
}
