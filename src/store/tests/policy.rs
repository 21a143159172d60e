//! Store tests for the password policy (history and password age), on both backends.
use super::{add_user, each_backend};

#[tokio::test]
async fn password_history_keeps_only_the_newest_hashes() {
    each_backend(async |store| {
        let user = add_user(store, "hilda").await;
        let other = add_user(store, "otto").await;
        let mut conn = store.conn().await.unwrap();
        for n in 1..=5 {
            conn.db().push_password_history(&user, &format!("h{n}"), 3, 100).await.unwrap();
        }
        conn.db().push_password_history(&other, "o1", 3, 100).await.unwrap();
        assert_eq!(conn.db().password_history(&user, 10).await.unwrap(), ["h5", "h4", "h3"]);
        assert_eq!(conn.db().password_history(&user, 2).await.unwrap(), ["h5", "h4"]);
        assert_eq!(conn.db().password_history(&other, 10).await.unwrap(), ["o1"]);
        conn.db().push_password_history(&user, "h6", 0, 100).await.unwrap();
        assert!(conn.db().password_history(&user, 10).await.unwrap().is_empty(), "history 0 empties it");
    })
    .await;
}

#[tokio::test]
async fn password_changed_at_follows_password_changes() {
    each_backend(async |store| {
        let user = add_user(store, "paula").await;
        let mut conn = store.conn().await.unwrap();
        let created = conn.db().password_changed_at(&user).await.unwrap();
        assert!(created.is_some());
        conn.db().set_password_hash(&user, "new", 5_000_000).await.unwrap();
        assert_eq!(conn.db().password_changed_at(&user).await.unwrap(), Some(5_000_000));
        assert_eq!(conn.db().password_changed_at("nobody").await.unwrap(), None);
    })
    .await;
}
