//! The change marks behind the hot-path caches (`store::changes`): a commit
//! that touches a cached table moves this process's generation at once; one
//! that does not leaves it; another process's change reaches the watcher
//! within a second; and a cache never keeps a row read before a change.
use std::time::{Duration, Instant};

use super::{add_user, each_backend, open_backends};
use crate::store::Store;
use crate::store::changes::HotCache;

#[tokio::test]
async fn a_commit_that_changes_a_cached_table_moves_the_generation_at_once() {
    each_backend(async |store: &Store| {
        let id = add_user(store, "ada").await;
        let before = store.changes().generation();
        let mut tx = store.begin().await.unwrap();
        tx.db().set_display_name(&id, "Ada L.", 2_000).await.unwrap();
        tx.commit().await.unwrap();
        let after = store.changes().generation();
        assert!(after > before, "a claim change empties this instance's caches on commit");

        // A transaction that touches nothing cached leaves them.
        let mut tx = store.begin().await.unwrap();
        tx.db().set_user_roles(&id, &["admin"]).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(store.changes().generation(), after, "roles are not in any cache");

        // Rolled back: nothing changed, nothing to empty.
        let mut tx = store.begin().await.unwrap();
        tx.db().set_user_blocked(&id, true, 2_001).await.unwrap();
        drop(tx);
        assert_eq!(store.changes().generation(), after);
    })
    .await;
}

#[tokio::test]
async fn another_process_change_reaches_the_watcher_within_a_second() {
    for db in open_backends().await {
        db.store.migrate().await.unwrap();
        let url = db.url.clone();
        let watcher = tokio::spawn(db.store.clone().watch_changes());
        let started = Instant::now();
        while !db.store.changes().fresh() {
            assert!(started.elapsed() < Duration::from_secs(2), "{:?}: the watcher never heard", db.store.backend());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // "Another process": a second pool with its own marks, as the CLI has.
        let other = Store::connect(&url, 1, Duration::ZERO).await.unwrap();
        let id = add_user(&other, "grace").await;
        let before = db.store.changes().generation();
        let mut tx = other.begin().await.unwrap();
        tx.db().set_user_blocked(&id, true, 2_000).await.unwrap();
        tx.commit().await.unwrap();
        let committed = Instant::now();
        while db.store.changes().generation() == before {
            assert!(committed.elapsed() < Duration::from_secs(1), "{:?}: not seen within 1 s", db.store.backend());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        watcher.abort();
        other.close().await;
        db.store.close().await;
    }
}

#[tokio::test]
async fn a_cache_answers_only_while_fresh_and_never_keeps_a_row_read_before_a_change() {
    each_backend(async |store: &Store| {
        let cache: HotCache<String> = HotCache::new(store, 2);
        let ticket = cache.ticket();
        cache.put(ticket, "a", "row a".into());
        assert_eq!(cache.get("a"), None, "no watcher has heard from the database: no answers");

        store.changes().heard_at(Instant::now());
        let ticket = cache.ticket();
        cache.put(ticket, "a", "row a".into());
        assert_eq!(cache.get("a").as_deref(), Some("row a"));

        // Read before a change, stored after it: dropped.
        let stale = cache.ticket();
        store.changes().changed();
        cache.put(stale, "b", "old b".into());
        assert_eq!(cache.get("b"), None);
        assert_eq!(cache.get("a"), None, "a change empties the cache");

        // Past its size it starts again rather than growing.
        let ticket = cache.ticket();
        for key in ["x", "y", "z"] {
            cache.put(ticket, key, key.into());
        }
        assert_eq!(cache.get("x"), None);
        assert_eq!(cache.get("z").as_deref(), Some("z"));
    })
    .await;
}
