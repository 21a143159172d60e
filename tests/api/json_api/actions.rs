//! `GET /api/v1/users/{id}/actions`: a user's action history, newest first,
//! with actor and target names resolved, filters, and paging by sequence.
use std::collections::HashSet;

use serde_json::{Value, json};

use super::support::{Api, problem};
use super::users::admin;
use crate::helpers::{spawn_app, test_ctx};

async fn history(api: &Api<'_>, id: &str, query: &str) -> Value {
    let res = api.get(&format!("/api/v1/users/{id}/actions{query}")).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn actions(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn the_history_is_newest_first_with_names_resolved() {
    let app = spawn_app().await;
    let api = admin(&app).await;
    let id = app.create_user("mia", &[]).await; // by the CLI context
    api.post(&format!("/api/v1/users/{id}/block"), &json!({})).await;
    api.post(&format!("/api/v1/users/{id}/unblock"), &json!({})).await;
    let page = history(&api, &id, "").await;
    assert_eq!(actions(&page), ["user_unblocked", "user_blocked", "user_created"]);
    let blocked = &page["items"][1];
    assert_eq!(blocked["actor"], json!({ "id": "svc-admin", "name": "svc-admin service" }));
    assert_eq!(blocked["target"], json!({ "id": id, "name": "mia" }));
    assert_eq!(blocked["via"], "api");
    assert_eq!(blocked["detail"]["via"], "api");
    assert!(blocked["at"].as_str().unwrap().ends_with('Z') && blocked["seq"].is_i64());
    let created = &page["items"][2];
    assert_eq!(created["actor"], json!({ "id": "cli", "name": "cli" }));
    assert!(created["via"].is_null());
    assert!(page["next_cursor"].is_null());
}

#[tokio::test]
async fn the_history_holds_what_the_user_did_as_actor_too() {
    let app = spawn_app().await;
    let api = admin(&app).await;
    let _browser = app.signed_in("ned", &[]).await;
    let id = app.state.accounts.find("ned").await.unwrap().id;
    let page = history(&api, &id, "").await;
    let sign_in = page["items"].as_array().unwrap().iter().find(|e| e["action"] == "sign_in").expect("sign_in");
    assert_eq!(sign_in["actor"]["name"], "ned");
}

#[tokio::test]
async fn filters_by_action_and_time_and_refuses_unknown_actions_422() {
    let app = spawn_app().await;
    let api = admin(&app).await;
    let id = app.create_user("ola", &[]).await;
    api.post(&format!("/api/v1/users/{id}/block"), &json!({})).await;
    assert_eq!(actions(&history(&api, &id, "?action=user_blocked").await), ["user_blocked"]);
    assert!(actions(&history(&api, &id, "?since=2999-01-01T00:00:00Z").await).is_empty());
    assert!(actions(&history(&api, &id, "?until=2000-01-01T00:00:00Z").await).is_empty());
    let window = "?since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z";
    assert_eq!(actions(&history(&api, &id, window).await).len(), 2);
    for bad in ["?action=made_up", "?since=soon", "?limit=201", "?cursor=%%", "?actor=x"] {
        problem(api.get(&format!("/api/v1/users/{id}/actions{bad}")).await, 422).await;
    }
}

#[tokio::test]
async fn paging_by_sequence_walks_every_event_once() {
    let app = spawn_app().await;
    let api = admin(&app).await;
    let id = app.create_user("pam", &[]).await;
    for _ in 0..4 {
        api.post(&format!("/api/v1/users/{id}/block"), &json!({})).await;
        api.post(&format!("/api/v1/users/{id}/unblock"), &json!({})).await;
    }
    let (mut seqs, mut cursor) = (Vec::new(), String::new());
    loop {
        let page = history(&api, &id, &format!("?limit=3&cursor={cursor}")).await;
        seqs.extend(page["items"].as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seqs.len(), 9);
    assert_eq!(seqs.iter().collect::<HashSet<_>>().len(), 9, "no repeats");
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first: {seqs:?}");
}

#[tokio::test]
async fn a_deleted_users_history_stays_readable_and_an_unknown_id_is_404() {
    let app = spawn_app().await;
    let api = admin(&app).await;
    let id = app.create_user("quin", &[]).await;
    app.state.accounts.delete_user(&id, &test_ctx()).await.unwrap();
    let page = history(&api, &id, "").await;
    assert_eq!(actions(&page), ["user_deleted", "user_created"]);
    assert_eq!(page["items"][0]["target"], json!({ "id": id, "name": null }), "a deleted user stays an id");
    problem(api.get("/api/v1/users/never-was/actions").await, 404).await;
}
