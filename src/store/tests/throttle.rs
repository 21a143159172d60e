//! Store tests for the brute-force counters, on both backends.
use super::each_backend;
use crate::store::{LockoutRow, RateHit};

#[tokio::test]
async fn rate_counters_count_in_windows_from_the_first_hit() {
    each_backend(async |store| {
        let mut conn = store.conn().await.unwrap();
        let db = &mut conn.db();
        assert_eq!(
            db.hit_rate_counter("login", "1.2.3.4", 100, 60).await.unwrap(),
            RateHit { hits: 1, expires_at: 160 }
        );
        assert_eq!(
            db.hit_rate_counter("login", "1.2.3.4", 159, 60).await.unwrap(),
            RateHit { hits: 2, expires_at: 160 }
        );
        // Buckets and keys are counted apart.
        assert_eq!(db.hit_rate_counter("token", "1.2.3.4", 120, 60).await.unwrap().hits, 1);
        assert_eq!(db.hit_rate_counter("login", "5.6.7.8", 120, 60).await.unwrap().hits, 1);
        assert_eq!(db.peek_rate_counter("login", "1.2.3.4", 150).await.unwrap().map(|h| h.hits), Some(2));
        // At the window's end a new one starts.
        assert_eq!(db.peek_rate_counter("login", "1.2.3.4", 160).await.unwrap(), None);
        assert_eq!(
            db.hit_rate_counter("login", "1.2.3.4", 160, 60).await.unwrap(),
            RateHit { hits: 1, expires_at: 220 }
        );
        let purge = crate::store::Purge::RateCounters { now: 181 };
        assert_eq!(db.purge(&purge, 10).await.unwrap(), 2, "the finished token and 5.6.7.8 windows");
        assert_eq!(db.peek_rate_counter("login", "1.2.3.4", 181).await.unwrap().map(|h| h.hits), Some(1));
    })
    .await;
}

#[tokio::test]
async fn failures_lock_once_and_nothing_counts_while_locked() {
    each_backend(async |store| {
        let mut conn = store.conn().await.unwrap();
        let db = &mut conn.db();
        let row =
            |failures, window_start, level, locked_until| LockoutRow { failures, window_start, level, locked_until };
        assert_eq!(db.count_failure("user:a", 100, 900).await.unwrap(), Some(row(1, 100, 0, 0)));
        assert_eq!(db.count_failure("user:a", 200, 900).await.unwrap(), Some(row(2, 100, 0, 0)));
        // Of two concurrent lockers at the same level, one wins.
        assert!(db.lock_subject("user:a", 0, 1, 260, 200).await.unwrap());
        assert!(!db.lock_subject("user:a", 0, 1, 260, 200).await.unwrap());
        assert_eq!(db.find_lockout("user:a").await.unwrap(), Some(row(0, 200, 1, 260)));
        assert_eq!(db.count_failure("user:a", 259, 900).await.unwrap(), None, "locked: not counted");
        assert_eq!(db.locked_users(259).await.unwrap(), vec!["user:a".to_owned()]);
        assert!(db.locked_users(260).await.unwrap().is_empty());
        // After the lock, counting starts again; the level stays.
        assert_eq!(db.count_failure("user:a", 260, 900).await.unwrap(), Some(row(1, 200, 1, 260)));
        // A window older than `window_secs` starts afresh.
        assert_eq!(db.count_failure("user:a", 1200, 900).await.unwrap(), Some(row(1, 1200, 1, 260)));
        db.clear_failures("user:a").await.unwrap();
        assert_eq!(db.find_lockout("user:a").await.unwrap(), Some(row(0, 1200, 1, 260)));
        // Unlocking forgets everything.
        assert!(db.lock_subject("user:a", 1, 2, 2000, 1300).await.unwrap());
        assert!(db.unlock_subject("user:a", 1300).await.unwrap());
        assert_eq!(db.find_lockout("user:a").await.unwrap(), None);
        assert!(!db.unlock_subject("user:a", 1300).await.unwrap());
        // Stale, unlocked records are pruned.
        db.count_failure("name:x", 100, 900).await.unwrap();
        assert_eq!(db.purge(&crate::store::Purge::Lockouts { stale_before: 101 }, 10).await.unwrap(), 1);
        assert_eq!(db.find_lockout("name:x").await.unwrap(), None);
    })
    .await;
}
