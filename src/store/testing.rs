//! Throwaway databases for tests (store unit tests and the HTTP suite).
//! A PostgreSQL database is created per test and dropped when the guard drops,
//! so runs leave nothing behind (unlike zero-to-production's harness).
#![doc(hidden)]
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

/// Name of the variable that points the tests at a PostgreSQL server.
pub const TEST_POSTGRES_URL: &str = "TEST_POSTGRES_URL";

/// A PostgreSQL database that exists for the life of this guard.
pub struct TempPostgres {
    admin_url: String,
    name: String,
    /// URL of the fresh database.
    pub url: String,
}

impl TempPostgres {
    /// Creates a fresh database on the server at `admin_url`.
    pub async fn create(admin_url: &str) -> Result<Self, sqlx::Error> {
        let name = format!("gatehouse_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = PgConnection::connect(admin_url).await?;
        sqlx::query(AssertSqlSafe(format!("create database {name}"))).execute(&mut conn).await?;
        conn.close().await?;
        let opts = PgConnectOptions::from_str(admin_url)?.database(&name);
        Ok(Self { admin_url: admin_url.to_owned(), name, url: opts.to_url_lossy().to_string() })
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop may run inside a runtime that is shutting down, so use a thread
        // with its own small runtime; `with (force)` ends stray connections.
        let dropper = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&admin_url).await {
                    let _ = sqlx::query(AssertSqlSafe(format!("drop database if exists {name} with (force)")))
                        .execute(&mut conn)
                        .await;
                }
            });
        });
        let _ = dropper.join();
    }
}

impl super::Db<'_> {
    /// How many rows of `table` have `column = value` (tests' assertions on
    /// what a deletion left behind; the names are compile-time constants).
    pub async fn count_where(&mut self, table: &'static str, column: &'static str, value: &str) -> super::Result<i64> {
        let sql = format!("select count(*) from {table} where {column} = $1");
        Ok(super::on!(self, |c| sqlx::query_scalar(AssertSqlSafe(sql.as_str())).bind(value).fetch_one(c).await)?)
    }
}

impl super::Db<'_> {
    /// Runs a statement written for this backend (tests that break the
    /// database on purpose, e.g. with a trigger that refuses inserts).
    pub async fn execute_raw(&mut self, sql: &'static str) -> super::Result<()> {
        super::on!(self, |c| sqlx::raw_sql(sql).execute(c).await.map(|_| ()))?;
        Ok(())
    }
}

/// A migrated store plus whatever keeps its database alive (drop the store
/// first). For service unit tests that run one body on every backend.
#[cfg(test)]
pub(crate) struct TestStore {
    pub store: super::Store,
    pub dir: Option<tempfile::TempDir>,
    pub pg: Option<TempPostgres>,
}

/// A migrated store on each backend available: SQLite always (a fresh file),
/// PostgreSQL when [`TEST_POSTGRES_URL`] is set (a throwaway database).
#[cfg(test)]
pub(crate) async fn migrated_stores() -> Vec<TestStore> {
    use std::time::Duration;
    let dir = tempfile::TempDir::new().expect("temp dir");
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let sqlite = super::Store::connect(&url, 5, Duration::ZERO).await.expect("open SQLite");
    let mut stores = vec![TestStore { store: sqlite, dir: Some(dir), pg: None }];
    if let Some(admin) = std::env::var(TEST_POSTGRES_URL).ok().filter(|u| !u.is_empty()) {
        let pg = TempPostgres::create(&admin).await.expect("create PostgreSQL test database");
        let store = super::Store::connect(&pg.url, 5, Duration::ZERO).await.expect("open PostgreSQL");
        stores.push(TestStore { store, dir: None, pg: Some(pg) });
    }
    for s in &stores {
        s.store.migrate().await.expect("migrate");
    }
    stores
}
