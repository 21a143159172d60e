//! `/api/v1/clients…`: create (the secret once), read with an ETag, update
//! with If-Match, rotate the secret, delete, paging, and every refusal.
use serde_json::{Value, json};

use super::support::{Api, admin_token, api_rp, client_token, problem, user_token};
use crate::helpers::{TestApp, spawn_app};

/// A client_credentials client with a generated secret, through the API.
async fn create(api: &Api<'_>, id: &str) -> (Value, String) {
    let body = json!({"client_id": id, "name": format!("{id} app"), "grant_types": ["client_credentials"],
        "scope": "reports"});
    let res = api.post("/api/v1/clients", &body).await;
    assert_eq!(res.status(), 201, "create {id}");
    assert_eq!(res.headers()["location"], format!("/api/v1/clients/{id}").as_str());
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    let secret = body["client_secret"].as_str().expect("the secret is shown at creation").to_owned();
    (body, secret)
}

async fn token_status(app: &TestApp, id: &str, secret: &str) -> u16 {
    client_token(app, id, secret, None).await.status().as_u16()
}

#[tokio::test]
async fn a_created_client_shows_its_secret_once_and_the_secret_works_at_token() {
    let app = spawn_app().await;
    let api = Api::new(&app, admin_token(&app).await);
    let (created, secret) = create(&api, "reporter").await;
    assert_eq!(created["public"], false);
    assert_eq!(created["grant_types"], json!(["client_credentials"]));
    assert_eq!(token_status(&app, "reporter", &secret).await, 200);

    let res = api.get("/api/v1/clients/reporter").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("etag").is_some());
    let read: Value = res.json().await.unwrap();
    assert!(read.get("client_secret").is_none(), "never readable again: {read}");
    assert!(!read.to_string().contains(&secret));
    assert!(!read.to_string().contains("secret_hash"));
    let listed = api.get("/api/v1/clients").await.text().await.unwrap();
    assert!(!listed.contains(&secret) && !listed.contains("client_secret"), "{listed}");
}

#[tokio::test]
async fn a_rotated_secret_is_shown_once_and_the_old_one_is_refused() {
    let app = spawn_app().await;
    let api = Api::new(&app, admin_token(&app).await);
    let (_, old) = create(&api, "rot").await;
    let res = api.post("/api/v1/clients/rot/rotate-secret", &json!({})).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let new = body["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(token_status(&app, "rot", &old).await, 401, "the old secret stops at once");
    assert_eq!(token_status(&app, "rot", &new).await, 200);
    problem(api.post("/api/v1/clients/nobody/rotate-secret", &json!({})).await, 404).await;
}

#[tokio::test]
async fn an_update_needs_the_current_etag_rfc_9110_13_1_1_and_rfc_6585_3() {
    let app = spawn_app().await;
    let api = Api::new(&app, admin_token(&app).await);
    create(&api, "upd").await;
    let etag = api.get("/api/v1/clients/upd").await.headers()["etag"].to_str().unwrap().to_owned();

    let res = api.request(reqwest::Method::PATCH, "/api/v1/clients/upd").json(&json!({"name": "x"})).send().await;
    problem(res.unwrap(), 428).await;
    let res = api.patch("/api/v1/clients/upd", &etag, &json!({"name": "Renamed", "scope": "reports audit"})).await;
    assert_eq!(res.status(), 200);
    let fresh = res.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(fresh, etag);
    let body: Value = res.json().await.unwrap();
    assert_eq!((body["name"].as_str(), body["scope"].as_str()), (Some("Renamed"), Some("reports audit")));

    // A second admin still holding the old tag is refused, and nothing changes.
    problem(api.patch("/api/v1/clients/upd", &etag, &json!({"name": "Lost"})).await, 412).await;
    let now: Value = api.get("/api/v1/clients/upd").await.json().await.unwrap();
    assert_eq!(now["name"], "Renamed");
    // Invalid changes name their field.
    let bad = api.patch("/api/v1/clients/upd", &fresh, &json!({"grant_types": ["implicit"]})).await;
    assert_eq!(problem(bad, 422).await["errors"][0]["field"], "grant_types");
    problem(api.patch("/api/v1/clients/nobody", &fresh, &json!({})).await, 404).await;
}

#[tokio::test]
async fn create_refuses_a_taken_id_invalid_fields_unknown_fields_and_other_media_types() {
    let app = spawn_app().await;
    let api = Api::new(&app, admin_token(&app).await);
    create(&api, "dup").await;
    let again = json!({"client_id": "dup", "name": "Dup", "grant_types": ["client_credentials"]});
    problem(api.post("/api/v1/clients", &again).await, 409).await;

    let cases = [
        (json!({"client_id": "bad id!", "name": "x", "grant_types": ["client_credentials"]}), "client_id"),
        (json!({"client_id": "web", "name": "Web"}), "redirect_uris"),
        (json!({"client_id": "web", "name": "Web", "redirect_uris": ["http://evil.example/cb"]}), "redirect_uris"),
        (json!({"client_id": "web", "name": "Web", "grant_types": ["implicit"]}), "grant_types"),
        (
            json!({"client_id": "pub", "name": "P", "public": true, "grant_types": ["client_credentials"]}),
            "grant_types",
        ),
        (
            json!({"client_id": "s", "name": "S", "redirect_uris": ["https://a.example/cb"], "service_roles": ["admin"]}),
            "service_roles",
        ),
        (json!({"client_id": "s", "name": "S", "grant_types": ["client_credentials"], "colour": "red"}), "colour"),
    ];
    for (body, field) in cases {
        let p = problem(api.post("/api/v1/clients", &body).await, 422).await;
        assert_eq!(p["errors"][0]["field"], field, "{body}: {p}");
    }
    let res = api.request(reqwest::Method::POST, "/api/v1/clients").body("client_id=x").send().await.unwrap();
    problem(res, 415).await;
    assert_eq!(api.get("/api/v1/clients/web").await.status(), 404, "nothing half-made");
}

#[tokio::test]
async fn delete_removes_the_client_and_its_tokens_stop() {
    let app = spawn_app().await;
    let api = Api::new(&app, admin_token(&app).await);
    let (_, secret) = create(&api, "gone").await;
    let token: Value = client_token(&app, "gone", &secret, None).await.json().await.unwrap();
    let access = token["access_token"].as_str().unwrap().to_owned();

    assert_eq!(api.delete("/api/v1/clients/gone").await.status(), 204);
    problem(api.get("/api/v1/clients/gone").await, 404).await;
    problem(api.delete("/api/v1/clients/gone").await, 404).await;
    assert_eq!(token_status(&app, "gone", &secret).await, 401);
    let introspected = app.state.tokens.api_principal(&access).await;
    assert!(introspected.is_err(), "its access token stops at once");
}

#[tokio::test]
async fn the_list_pages_by_client_id_without_repeats_or_gaps() {
    let app = spawn_app().await;
    let api = Api::new(&app, admin_token(&app).await);
    for i in 0..7 {
        create(&api, &format!("c{i}")).await;
    }
    let (mut seen, mut cursor) = (Vec::new(), String::new());
    loop {
        let page: Value = api.get(&format!("/api/v1/clients?limit=3&cursor={cursor}")).await.json().await.unwrap();
        seen.extend(page["items"].as_array().unwrap().iter().map(|c| c["client_id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    let mut expected: Vec<String> = (0..7).map(|i| format!("c{i}")).collect();
    expected.push("svc-admin".into());
    assert_eq!(seen, expected);
    problem(api.get("/api/v1/clients?limit=0").await, 422).await;
    problem(api.get("/api/v1/clients?cursor=%21%21").await, 422).await;
}

#[tokio::test]
async fn the_client_routes_need_an_admin_token_rfc_6750_3_1() {
    let app = spawn_app().await;
    let secret = api_rp(&app).await;
    let account = user_token(&app, &secret, "ann", &[], "openid account").await;
    let res = reqwest::get(app.url("/api/v1/clients")).await.unwrap();
    assert!(res.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    problem(res, 401).await;
    let res = Api::new(&app, account).get("/api/v1/clients").await;
    assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("insufficient_scope"));
    problem(res, 403).await;
}
