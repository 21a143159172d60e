//! Cursor paging of `GET /api/v1/users` over 10 000 users (keyset on
//! `(created_at, id)`): every user comes exactly once, in order, on SQLite
//! and PostgreSQL alike (`TEST_DATABASE=postgres`).
use std::collections::HashSet;

use serde_json::Value;

use super::admin;
use crate::helpers::{TestApp, real_now};

const USERS: usize = 10_000;

/// Inserts `USERS` users in one transaction straight through the store
/// (no password hashing), with creation times that repeat and do not follow
/// the id order, so the id breaks ties. Every 50th is also an admin.
async fn insert_users(app: &TestApp) -> Vec<(i64, String)> {
    let base = real_now() - 86_400;
    let mut tx = app.state.store.begin().await.unwrap();
    let mut keys = Vec::with_capacity(USERS);
    for i in 0..USERS {
        let id = gatehouse::store::new_id();
        let name = format!("bulk{i:05}");
        let at = base + ((i * 7919) % 3333) as i64;
        let email = format!("{name}@example.com");
        let user = gatehouse::store::NewUser {
            id: &id,
            username: &name,
            username_key: &name,
            email: &email,
            email_key: &email,
            email_verified: true,
            display_name: "",
            password_hash: None,
            now: at,
        };
        tx.db().insert_user(&user).await.unwrap();
        let roles: &[&str] = if i % 50 == 0 { &["admin", "user"] } else { &["user"] };
        tx.db().set_user_roles(&id, roles).await.unwrap();
        keys.push((at, id));
    }
    tx.commit().await.unwrap();
    keys.sort();
    keys
}

/// Walks every page of `query` with `limit`; the ids in the order received.
async fn walk(api: &super::Api<'_>, query: &str, limit: u32) -> (Vec<String>, usize) {
    let (mut ids, mut pages, mut cursor) = (Vec::new(), 0, None::<String>);
    loop {
        let after = cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default();
        let res = api.get(&format!("/api/v1/users?limit={limit}{query}{after}")).await;
        assert_eq!(res.status(), 200);
        let page: Value = res.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= limit as usize);
        ids.extend(items.iter().map(|u| u["id"].as_str().unwrap().to_owned()));
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (ids, pages),
        }
        assert!(pages <= USERS, "the walk ends");
    }
}

#[tokio::test]
async fn cursor_paging_walks_10_000_users_once_each_in_order() {
    let app = crate::helpers::spawn_app().await;
    let keys = insert_users(&app).await;
    let api = admin(&app).await;
    let (ids, pages) = walk(&api, "", 200).await;
    assert_eq!(pages, USERS / 200, "full pages only, and the last one says so");
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), USERS, "no repeats");
    let expected: Vec<String> = keys.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(ids, expected, "no gaps, in (created_at, id) order");

    // A filter pages the same way; a user's two roles do not count twice.
    let (admins, _) = walk(&api, "&role=admin", 7).await;
    assert_eq!(admins.len(), USERS / 50);
    assert_eq!(admins.iter().collect::<HashSet<_>>().len(), USERS / 50);
    let page: Value = api.get("/api/v1/users?limit=3&role=admin").await.json().await.unwrap();
    assert_eq!(page["items"][0]["roles"], serde_json::json!(["admin", "user"]));
}
