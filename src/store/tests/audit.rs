//! Store tests for the audit log chain and login activity, on both backends.
use super::{add_user, each_backend};
use crate::security::audit::{self, AuditAction, AuditEvent, GENESIS, Verdict};
use crate::store::{ActivityRow, Backend, Store, exec, new_id};

fn event(n: usize) -> AuditEvent {
    AuditEvent::new("cli", AuditAction::UserBlocked, format!("user-{n}")).with_detail(serde_json::json!({ "n": n }))
}

/// Drops the append-only triggers, as an attacker with database access would.
async fn drop_triggers(store: &Store) {
    let mut conn = store.conn().await.unwrap();
    let sql: &[&str] = match store.backend() {
        Backend::Sqlite => &["drop trigger audit_log_no_update", "drop trigger audit_log_no_delete"],
        Backend::Postgres => &["drop trigger audit_log_no_change on audit_log"],
    };
    for s in sql {
        exec!(&mut conn.db(), sqlx::query(sqlx::AssertSqlSafe(*s))).unwrap();
    }
}

#[tokio::test]
async fn audit_appends_chain_and_verify_accepts_them() {
    each_backend(async |store| {
        assert_eq!(audit::verify(store).await.unwrap(), Verdict::Intact(0), "an empty log is intact");
        for n in 1..=3 {
            let id = audit::record(store, &event(n), 1_000 + n as i64).await.unwrap();
            assert_eq!(id, n as i64, "sequence numbers are dense");
        }
        let rows = audit::tail(store, 10).await.unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].prev_hash, GENESIS);
        assert_eq!(rows[1].prev_hash, rows[0].hash);
        assert_eq!(rows[2].prev_hash, rows[1].hash);
        assert_eq!((rows[2].action.as_str(), rows[2].target.as_str()), ("user_blocked", "user-3"));
        assert_eq!(audit::verify(store).await.unwrap(), Verdict::Intact(3));
        assert_eq!(audit::tail(store, 1).await.unwrap()[0].id, 3, "tail takes the newest");
        // An event appended in a transaction that rolls back leaves no trace.
        let mut tx = store.begin().await.unwrap();
        audit::append(&mut tx.db(), &event(4), 2_000).await.unwrap();
        drop(tx);
        assert_eq!(audit::verify(store).await.unwrap(), Verdict::Intact(3));
        assert_eq!(audit::record(store, &event(4), 2_001).await.unwrap(), 4);
    })
    .await;
}

#[tokio::test]
async fn audit_log_refuses_update_and_delete_until_triggers_are_dropped() {
    each_backend(async |store| {
        for n in 1..=3 {
            audit::record(store, &event(n), 1_000).await.unwrap();
        }
        let mut conn = store.conn().await.unwrap();
        let update = exec!(&mut conn.db(), sqlx::query("update audit_log set actor = 'someone' where id = 2"));
        assert!(update.is_err(), "updates are refused by the database");
        let delete = exec!(&mut conn.db(), sqlx::query("delete from audit_log where id = 3"));
        assert!(delete.is_err(), "deletes are refused by the database");
        drop(conn);
        drop_triggers(store).await;
        let mut conn = store.conn().await.unwrap();
        exec!(&mut conn.db(), sqlx::query("update audit_log set actor = 'someone' where id = 2")).unwrap();
        drop(conn);
        assert!(matches!(audit::verify(store).await.unwrap(), Verdict::Broken { id: 2, .. }), "an edited row is named");
    })
    .await;
}

#[tokio::test]
async fn audit_verify_names_a_removed_row_and_a_removed_tail() {
    each_backend(async |store| {
        for n in 1..=4 {
            audit::record(store, &event(n), 1_000).await.unwrap();
        }
        drop_triggers(store).await;
        let mut conn = store.conn().await.unwrap();
        exec!(&mut conn.db(), sqlx::query("delete from audit_log where id = 4")).unwrap();
        drop(conn);
        assert!(matches!(audit::verify(store).await.unwrap(), Verdict::Broken { id: 4, .. }), "a cut tail");
        let mut conn = store.conn().await.unwrap();
        exec!(&mut conn.db(), sqlx::query("delete from audit_log where id = 2")).unwrap();
        drop(conn);
        assert!(matches!(audit::verify(store).await.unwrap(), Verdict::Broken { id: 3, .. }), "a gap");
    })
    .await;
}

#[tokio::test]
async fn audit_verify_names_a_row_forged_past_the_head() {
    each_backend(async |store| {
        audit::record(store, &event(1), 1_000).await.unwrap();
        let first = audit::tail(store, 1).await.unwrap().remove(0);
        // A well-formed second row, inserted without moving the head.
        let mut forged = first.clone();
        (forged.id, forged.actor, forged.prev_hash) = (2, "forger".into(), first.hash.clone());
        forged.hash = audit::row_hash(&forged);
        let mut conn = store.conn().await.unwrap();
        exec!(
            &mut conn.db(),
            sqlx::query(
                "insert into audit_log (id, at, actor, target, action, ip, request_id, detail, prev_hash, hash, user_agent) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            )
            .bind(forged.id)
            .bind(forged.at)
            .bind(&forged.actor)
            .bind(&forged.target)
            .bind(&forged.action)
            .bind(&forged.ip)
            .bind(&forged.request_id)
            .bind(&forged.detail)
            .bind(&forged.prev_hash)
            .bind(&forged.hash)
            .bind(&forged.user_agent)
        )
        .unwrap();
        drop(conn);
        assert!(matches!(audit::verify(store).await.unwrap(), Verdict::Broken { id: 2, .. }));
    })
    .await;
}

#[tokio::test]
async fn concurrent_appends_from_many_connections_keep_one_chain() {
    each_backend(async |store| {
        // Several tasks, each with its own connection and transaction; on
        // PostgreSQL the head row's lock serializes them.
        let mut tasks = Vec::new();
        for t in 0..4 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for n in 0..5 {
                    let mut tx = store.begin().await.unwrap();
                    audit::append(&mut tx.db(), &event(t * 10 + n), 1_000).await.unwrap();
                    tokio::task::yield_now().await;
                    tx.commit().await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(audit::verify(store).await.unwrap(), Verdict::Intact(20));
    })
    .await;
}

#[tokio::test]
async fn login_activity_lists_newest_first_per_user_and_purges_old_rows() {
    each_backend(async |store| {
        let alice = add_user(store, "alice").await;
        let bob = add_user(store, "bob").await;
        let mut conn = store.conn().await.unwrap();
        let row = |user: &str, at: i64, outcome: &str| ActivityRow {
            id: new_id(),
            user_id: user.to_owned(),
            at,
            ip: "192.0.2.1".into(),
            user_agent: "test-agent/1.0".into(),
            outcome: outcome.into(),
            method: "password".into(),
        };
        conn.db().insert_activity(&row(&alice, 100, "wrong_password")).await.unwrap();
        conn.db().insert_activity(&row(&alice, 200, "success")).await.unwrap();
        conn.db().insert_activity(&row(&bob, 300, "success")).await.unwrap();
        let listed = conn.db().recent_activity(&alice, 20).await.unwrap();
        let outcomes: Vec<_> = listed.iter().map(|a| (a.at, a.outcome.as_str())).collect();
        assert_eq!(outcomes, [(200, "success"), (100, "wrong_password")]);
        assert_eq!(conn.db().recent_activity(&alice, 1).await.unwrap().len(), 1);
        assert_eq!(conn.db().purge(&crate::store::Purge::LoginActivity { before: 150 }, 10).await.unwrap(), 1);
        assert_eq!(conn.db().recent_activity(&alice, 20).await.unwrap().len(), 1);
        assert_eq!(conn.db().recent_activity(&bob, 20).await.unwrap().len(), 1);
    })
    .await;
}
