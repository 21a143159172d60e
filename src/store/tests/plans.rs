//! The hot statements (sign-in, token, refresh, introspection, session
//! lookup) find their rows through an index on both backends, so their cost
//! does not grow with the number of users or tokens (issue 18: p99 may grow
//! at most 2× from 10 k to 1 M users). The SQL is the store's own constants,
//! not copies, so a changed statement is checked as it runs.
use super::each_backend;
use crate::store::{Db, clients, grants, links, refresh, sessions, throttle, users};

/// A bind parameter's type: PostgreSQL types each `$n` from what is bound,
/// so `expires_at > $2` needs an integer there, not a placeholder string.
#[derive(Clone, Copy)]
enum Arg {
    Text,
    Int,
}

/// (name, SQL, the types of `$1…$n`).
const HOT: &[(&str, &str, &[Arg])] = &[
    ("user by username or email (sign-in)", users::FIND_USER_BY_LOGIN, &[Arg::Text]),
    ("user by id", users::FIND_USER, &[Arg::Text]),
    ("user row lock", links::LOCK_USER, &[Arg::Text]),
    ("lockout by subject (sign-in)", throttle::FIND_LOCKOUT, &[Arg::Text]),
    ("client by client_id", clients::FIND_CLIENT, &[Arg::Text]),
    ("refresh token by hash", refresh::FIND_REFRESH, &[Arg::Text]),
    ("spend refresh token", refresh::SPEND_REFRESH, &[Arg::Int, Arg::Text]),
    ("revoke a family's refresh tokens", refresh::REVOKE_FAMILY_REFRESH, &[Arg::Int, Arg::Text]),
    ("revoke a family's access tokens", refresh::REVOKE_FAMILY_ACCESS, &[Arg::Int, Arg::Text]),
    ("access token by jti (introspection)", grants::LIVE_ACCESS, &[Arg::Text, Arg::Int]),
    ("user behind an access token (userinfo)", grants::LIVE_ACCESS_USER, &[Arg::Text, Arg::Int]),
    ("session by cookie hash", sessions::LIVE_SESSION, &[Arg::Text, Arg::Int, Arg::Int]),
    ("touch a live session", sessions::TOUCH_LIVE_SESSION, &[Arg::Int, Arg::Text, Arg::Int]),
];

/// The plan's lines for `sql`, as the backend prints them.
async fn plan(db: &mut Db<'_>, sql: &str, args: &[Arg]) -> Vec<String> {
    match db {
        Db::Sqlite(c) => {
            let explain = format!("explain query plan {sql}");
            let mut q = sqlx::query_as::<_, (i64, i64, i64, String)>(sqlx::AssertSqlSafe(explain));
            for arg in args {
                q = match arg {
                    Arg::Text => q.bind("x"),
                    Arg::Int => q.bind(1_i64),
                };
            }
            q.fetch_all(&mut **c).await.unwrap().into_iter().map(|(_, _, _, detail)| detail).collect()
        }
        Db::Postgres(c) => {
            let explain = format!("explain {sql}");
            let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(explain));
            for arg in args {
                q = match arg {
                    Arg::Text => q.bind("x"),
                    Arg::Int => q.bind(1_i64),
                };
            }
            q.fetch_all(&mut **c).await.unwrap()
        }
    }
}

/// A line that reads a whole table: SQLite's `SCAN <table>` (not `SEARCH`),
/// PostgreSQL's `Seq Scan`.
fn full_scan(line: &str) -> bool {
    line.trim_start().starts_with("SCAN ") || line.contains("Seq Scan")
}

#[tokio::test]
async fn hot_statements_use_indexes() {
    each_backend(async |store| {
        let mut conn = store.conn().await.unwrap();
        let db = &mut conn.db();
        if let Db::Postgres(c) = db {
            // The tables are empty here, and on an empty (or tiny) table a
            // sequential scan is the cheapest plan, so the planner would
            // pick one even where an index exists. With seq scans priced
            // out, a `Seq Scan` left in the plan means no usable index.
            sqlx::query("set enable_seqscan = off").execute(&mut **c).await.unwrap();
        }
        let mut failures = Vec::new();
        for (name, sql, args) in HOT {
            let lines = plan(db, sql, args).await;
            assert!(!lines.is_empty(), "{name}: no plan");
            if lines.iter().any(|l| full_scan(l)) {
                failures.push(format!("{name}:\n  {sql}\n  {}", lines.join("\n  ")));
            }
        }
        assert!(failures.is_empty(), "full scans on {:?}:\n{}", store.backend(), failures.join("\n"));
    })
    .await;
}
