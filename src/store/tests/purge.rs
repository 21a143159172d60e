//! Store tests for the janitor's purges, on both backends: for each table a
//! live row stays, an expired one goes, and batches stop at the limit.
//! Fixtures are plain inserts with fixed times.
use super::{add_user, each_backend};
use crate::store::{Backend, Purge, Store, exec, on};

/// Runs fixture statements.
async fn run(store: &Store, statements: &[String]) {
    let mut conn = store.conn().await.unwrap();
    for sql in statements {
        exec!(&mut conn.db(), sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))).unwrap();
    }
}

/// The sorted values of `column` in `table`.
async fn ids(store: &Store, table: &str, column: &str) -> Vec<String> {
    let sql = format!("select {column} from {table} order by {column}");
    let mut conn = store.conn().await.unwrap();
    on!(&mut conn.db(), |c| sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql.as_str())).fetch_all(c).await)
        .unwrap()
}

/// Purges until a batch comes back short; returns each batch's count.
async fn purge_all(store: &Store, what: &Purge, limit: i64) -> Vec<u64> {
    let mut batches = Vec::new();
    loop {
        let n = store.conn().await.unwrap().db().purge(what, limit).await.unwrap();
        batches.push(n);
        if n < limit.unsigned_abs() {
            return batches;
        }
    }
}

fn null(v: Option<i64>) -> String {
    v.map_or_else(|| "null".to_owned(), |v| v.to_string())
}

#[tokio::test]
async fn access_tokens_go_in_batches_of_the_limit_until_a_short_one() {
    each_backend(async |store| {
        let rows: Vec<String> = (0..25)
            .map(|i| (format!("old{i:02}"), 1_000 + i))
            .chain((0..3).map(|i| (format!("live{i}"), 5_000)))
            .map(|(jti, exp)| {
                format!(
                    "insert into access_tokens (jti, client_id, scope, expires_at) values ('{jti}', 'c', '', {exp})"
                )
            })
            .collect();
        run(store, &rows).await;

        let batches = purge_all(store, &Purge::AccessTokens { now: 2_000 }, 10).await;

        assert_eq!(batches, [10, 10, 5], "each batch stops at the limit");
        assert_eq!(ids(store, "access_tokens", "jti").await, ["live0", "live1", "live2"]);
        // At its expiry second a token is dead already (live_access wants expires_at > now).
        run(
            store,
            &["insert into access_tokens (jti, client_id, scope, expires_at) values ('edge', 'c', '', 4999)".into()],
        )
        .await;
        assert_eq!(purge_all(store, &Purge::AccessTokens { now: 5_000 }, 10).await, [1]);
    })
    .await;
}

#[tokio::test]
async fn unused_codes_go_at_expiry_and_used_ones_only_after_the_grace() {
    each_backend(async |store| {
        let user = add_user(store, "coder").await;
        let code = |id: &str, expires: i64, used: Option<i64>| {
            format!(
                "insert into authorization_codes (id, code_hash, client_id, user_id, redirect_uri, scope, auth_time, \
                 amr, created_at, expires_at, used_at) values ('{id}', 'h{id}', 'c', '{user}', 'https://x/cb', '', 0, \
                 'pwd', 0, {expires}, {})",
                null(used)
            )
        };
        run(
            store,
            &[
                code("expired-unused", 1_500, None),
                code("expired-used-recently", 1_500, Some(1_450)),
                code("expired-used-long-ago", 500, Some(450)),
                code("live", 3_000, None),
            ],
        )
        .await;

        // RFC 6749 §4.1.2: a used code stays for the grace, so a replay can
        // still revoke the tokens it issued.
        let n = purge_all(store, &Purge::AuthorizationCodes { now: 2_000, ended_before: 1_000 }, 10).await;

        assert_eq!(n, [2]);
        assert_eq!(ids(store, "authorization_codes", "id").await, ["expired-used-recently", "live"]);
    })
    .await;
}

#[tokio::test]
async fn spent_refresh_tokens_stay_while_their_family_lives() {
    each_backend(async |store| {
        let user = add_user(store, "refresher").await;
        // (id, family, expires_at, used_at, revoked_at); the cutoff is 2_000.
        let rows = [
            // A: a spent member whose expiry passed, and the live successor.
            ("a1", "A", 1_500, Some(1_400), None),
            ("a2", "A", 9_000, None, None),
            // B: died idle (no member expires after the cutoff).
            ("b1", "B", 800, Some(700), None),
            ("b2", "B", 1_900, None, None),
            // C: revoked before the cutoff, though not yet expired.
            ("c1", "C", 9_000, Some(900), Some(1_000)),
            ("c2", "C", 9_000, None, Some(1_000)),
            // D: revoked after the cutoff: kept for the grace.
            ("d1", "D", 9_000, None, Some(2_500)),
            // E: revoked, but a refresh racing the revocation left a live member.
            ("e1", "E", 9_000, Some(1_000), Some(1_000)),
            ("e2", "E", 9_000, None, None),
            // F: past its absolute (family) expiry.
            ("f1", "F", 1_999, Some(1_000), None),
        ];
        let inserts: Vec<String> = rows
            .iter()
            .map(|(id, family, expires, used, revoked)| {
                format!(
                    "insert into refresh_tokens (id, token_hash, family_id, client_id, user_id, scope, auth_time, amr, \
                     created_at, expires_at, family_expires_at, used_at, revoked_at) values ('{id}', 'h{id}', \
                     '{family}', 'c', '{user}', '', 0, 'pwd', 0, {expires}, {expires}, {}, {})",
                    null(*used),
                    null(*revoked)
                )
            })
            .collect();
        run(store, &inserts).await;

        // RFC 9700 §4.14.2: replaying a1 must still revoke family A.
        let n = purge_all(store, &Purge::RefreshTokens { ended_before: 2_000 }, 2).await;

        assert_eq!(n.iter().sum::<u64>(), 5, "{n:?}");
        assert_eq!(ids(store, "refresh_tokens", "id").await, ["a1", "a2", "d1", "e1", "e2"]);
    })
    .await;
}

#[tokio::test]
async fn sessions_go_once_expired_or_revoked_before_the_cutoff() {
    each_backend(async |store| {
        let user = add_user(store, "rupert").await;
        let session = |id: &str, expires: i64, revoked: Option<i64>| {
            format!(
                "insert into sessions (id, token_hash, user_id, auth_time, created_at, last_seen_at, expires_at, \
                 revoked_at) values ('{id}', 'h{id}', '{user}', 1000, 1000, 1000, {expires}, {})",
                null(revoked)
            )
        };
        run(
            store,
            &[
                session("expired", 1_500, None),
                session("revoked-early", 9_000, Some(1_200)),
                session("revoked-late", 9_000, Some(2_100)),
                session("expires-later", 2_500, None),
                session("live", 9_000, None),
            ],
        )
        .await;

        let n = purge_all(store, &Purge::Sessions { ended_before: 2_000 }, 10).await;

        assert_eq!(n, [2]);
        assert_eq!(ids(store, "sessions", "id").await, ["expires-later", "live", "revoked-late"]);
        assert_eq!(purge_all(store, &Purge::Sessions { ended_before: 2_000 }, 10).await, [0], "nothing left");
    })
    .await;
}

#[tokio::test]
async fn mail_links_go_once_expired_or_used_before_the_cutoff() {
    each_backend(async |store| {
        let user = add_user(store, "linda").await;
        let link = |id: &str, expires: i64, used: Option<i64>| {
            format!(
                "insert into mail_links (id, token_hash, user_id, purpose, created_at, expires_at, used_at) \
                 values ('{id}', 'h{id}', '{user}', 'reset', 0, {expires}, {})",
                null(used)
            )
        };
        run(
            store,
            &[link("expired", 1_900, None), link("used", 9_000, Some(1_000)), link("used-late", 9_000, Some(2_001))],
        )
        .await;
        run(store, &[link("live", 9_000, None)]).await;

        assert_eq!(purge_all(store, &Purge::MailLinks { ended_before: 2_000 }, 10).await, [2]);
        assert_eq!(ids(store, "mail_links", "id").await, ["live", "used-late"]);
    })
    .await;
}

#[tokio::test]
async fn devices_unseen_since_the_cutoff_go_by_their_composite_key() {
    each_backend(async |store| {
        let user = add_user(store, "devi").await;
        let device = |kind: &str, hash: &str, last: i64| {
            format!(
                "insert into known_devices (user_id, kind, value_hash, first_seen, last_seen) \
                 values ('{user}', '{kind}', '{hash}', 0, {last})"
            )
        };
        run(store, &[device("device", "x", 100), device("network", "x", 5_000), device("device", "y", 999)]).await;

        assert_eq!(purge_all(store, &Purge::KnownDevices { seen_before: 1_000 }, 1).await, [1, 1, 0]);
        assert_eq!(ids(store, "known_devices", "kind").await, ["network"]);
    })
    .await;
}

#[tokio::test]
async fn only_retired_keys_go_never_one_in_jwks_nor_one_left_in_the_import_dir() {
    each_backend(async |store| {
        let key = |id: &str, state: &str, retired: Option<i64>| {
            format!(
                "insert into signing_keys (id, alg, state, public_jwk, private_key, created_at, retired_at) \
                 values ('{id}', 'RS256', '{state}', '{{}}', 'sealed', 0, {})",
                null(retired)
            )
        };
        run(
            store,
            &[
                key("current", "current", None),
                key("next", "next", None),
                key("retiring", "retiring", None),
                key("old", "retired", Some(500)),
                key("old-imported", "retired", Some(500)),
                key("recent", "retired", Some(1_500)),
            ],
        )
        .await;
        let keep: std::sync::Arc<[String]> = vec!["old-imported".to_owned()].into();

        let n = purge_all(store, &Purge::SigningKeys { retired_before: 1_000, keep }, 10).await;

        assert_eq!(n, [1]);
        assert_eq!(ids(store, "signing_keys", "id").await, ["current", "next", "old-imported", "recent", "retiring"]);
    })
    .await;
}

#[tokio::test]
async fn sent_mail_goes_after_its_retention_and_dead_letters_stay() {
    each_backend(async |store| {
        let mail = |id: &str, sent: Option<i64>, dead: Option<i64>| {
            format!(
                "insert into outbox (id, message_id, recipient, kind, subject, body, created_at, next_attempt_at, \
                 sent_at, dead_at) values ('{id}', '<{id}@x>', 'a@example.com', 'reset', 's', '', 0, 0, {}, {})",
                null(sent),
                null(dead)
            )
        };
        run(store, &[mail("sent-old", Some(100), None), mail("sent-new", Some(2_000), None)]).await;
        run(store, &[mail("dead", None, Some(100)), mail("pending", None, None)]).await;

        assert_eq!(purge_all(store, &Purge::SentMail { sent_before: 1_000 }, 10).await, [1]);
        assert_eq!(ids(store, "outbox", "id").await, ["dead", "pending", "sent-new"]);
    })
    .await;
}

#[tokio::test]
async fn a_lockout_stays_while_its_lock_level_still_counts() {
    each_backend(async |store| {
        let lock = |subject: &str, updated: i64, until: i64| {
            format!(
                "insert into lockouts (subject, failures, window_start, level, locked_until, updated_at) \
                 values ('{subject}', 0, {updated}, 1, {until}, {updated})"
            )
        };
        // Locked at 100 until 1_500: the level doubles the next lock until it is forgotten.
        run(store, &[lock("user:recent-lock", 100, 1_500), lock("user:old", 100, 200)]).await;

        assert_eq!(purge_all(store, &Purge::Lockouts { stale_before: 1_000 }, 10).await, [1]);
        assert_eq!(ids(store, "lockouts", "subject").await, ["user:recent-lock"]);
    })
    .await;
}

#[tokio::test]
async fn the_janitor_lock_is_held_by_one_taker_at_a_time_on_postgres() {
    each_backend(async |store| {
        let first = store.janitor_lock().await.unwrap().expect("free at first");
        let second = store.janitor_lock().await.unwrap();
        match store.backend() {
            Backend::Postgres => assert!(second.is_none(), "held by the first taker"),
            // One database file: nothing to coordinate.
            Backend::Sqlite => assert!(second.is_some()),
        }
        if let Some(second) = second {
            second.release().await.unwrap();
        }
        first.release().await.unwrap();
        let again = store.janitor_lock().await.unwrap().expect("released");
        // Dropped without release (a cancelled run): the connection closes
        // and PostgreSQL ends the lock with the session.
        drop(again);
        let mut took = None;
        for _ in 0..50 {
            took = store.janitor_lock().await.unwrap();
            if took.is_some() {
                break;
            }
            tokio::task::yield_now().await;
        }
        took.expect("a dropped lock is released").release().await.unwrap();
    })
    .await;
}
