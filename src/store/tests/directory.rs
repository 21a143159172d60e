//! The JSON API's user list and action history queries: keyset paging with
//! ties on the creation time, and (SQLite's plan) the indexes they walk.
use sqlx::AssertSqlSafe;

use super::{UserFixture, each_backend};
use crate::store::directory::{list_users_sql, user_actions_sql};
use crate::store::{Db, Store, UserQuery};

#[tokio::test]
async fn the_user_list_pages_by_creation_time_then_id() {
    each_backend(async |store: &Store| {
        let users: Vec<UserFixture> = (0..7).map(|i| UserFixture::new(&format!("u{i}"))).collect();
        let mut conn = store.conn().await.unwrap();
        for (i, u) in users.iter().enumerate() {
            conn.db().insert_user(&u.row(100 + (i as i64 % 3))).await.unwrap();
        }
        let mut seen = Vec::new();
        let mut after: Option<(i64, String)> = None;
        loop {
            let q = UserQuery {
                after: after.as_ref().map(|(at, id)| (*at, id.as_str())),
                now: 0,
                limit: 2,
                ..Default::default()
            };
            let page = conn.db().list_users_page(&q).await.unwrap();
            let Some(last) = page.last() else { break };
            after = Some((last.created_at, last.id.clone()));
            seen.extend(page.into_iter().map(|r| (r.created_at, r.id)));
        }
        let mut expected = seen.clone();
        expected.sort();
        expected.dedup();
        assert_eq!(seen, expected, "ordered, no repeats");
        assert_eq!(seen.len(), users.len(), "no gaps");
    })
    .await;
}

/// SQLite's plan for `sql` with `n` null parameters.
async fn plan(store: &Store, sql: &str, n: usize) -> String {
    let mut conn = store.conn().await.unwrap();
    let Db::Sqlite(c) = conn.db() else { return String::new() };
    let explain = format!("explain query plan {sql}");
    let mut q = sqlx::query_as::<_, (i64, i64, i64, String)>(AssertSqlSafe(explain.as_str()));
    for _ in 0..n {
        q = q.bind(None::<i64>);
    }
    let rows = q.fetch_all(&mut *c).await.unwrap();
    rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn the_history_and_the_list_walk_indexes_not_the_tables() {
    each_backend(async |store: &Store| {
        if store.backend() != crate::store::Backend::Sqlite {
            return; // PostgreSQL plans by table statistics; the same indexes exist there.
        }
        let actions = plan(store, &user_actions_sql(), 6).await;
        assert!(actions.contains("audit_log_actor"), "{actions}");
        assert!(actions.contains("audit_log_target"), "{actions}");
        assert!(actions.lines().all(|l| l != "SCAN audit_log"), "{actions}");
        let list = plan(store, &list_users_sql(), 10).await;
        assert!(list.contains("USING INDEX users_created"), "{list}");
        assert!(list.lines().all(|l| l != "SCAN u"), "{list}");
    })
    .await;
}
