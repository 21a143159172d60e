//! The only module that talks SQL. One [`Store`] over SQLite (embedded default)
//! or PostgreSQL, chosen at runtime from the URL scheme. Every query is written
//! once in portable SQL and run on whichever pool is live through the `on!`
//! macro, which expands the body once per backend (so each arm is statically
//! typed; sqlx's `Any` driver would hide the pool and lose per-backend options).
//!
//! Usage: `store.conn().await?.db().find_user(..)` for one statement, or
//! `let mut tx = store.begin().await?; tx.db().…; tx.commit().await?` when
//! several writes must land together.
//!
//! Owns: every SQL statement, the row types and the migrations' runner.
//! Must not import: anything but `config`, `clock` and its own files; row
//! types stop at the services (`accounts`, `oauth`, ...), never reach `http`.
use std::str::FromStr;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

mod audit;
mod audit_query;
pub mod changes;
mod clients;
mod directory;
mod grants;
mod ip_rules;
mod keys;
mod links;
mod mfa;
mod outbox;
mod own_data;
mod password_history;
mod pending;
mod purge;
mod refresh;
mod sessions;
mod settings;
mod stats;
pub mod testing;
mod throttle;
mod upstream;
mod users;

#[cfg(test)]
mod tests;

pub use audit::{ActivityRow, AuditHead, AuditRow};
pub use audit_query::AuditQuery;
pub use clients::{ClientRow, NewClient};
pub use directory::{ActionQuery, ActionRow, ConsentRow, ListedUserRow, UserQuery};
pub use grants::{AccessRow, CodeRow, NewAccess, NewCode};
pub use ip_rules::{IpRuleRow, NewIpRule};
pub use keys::KeyRow;
pub use links::{NewLink, SpentLink};
pub use mfa::{AbandonedChallenge, ChallengeRow, MfaRow, NewChallenge};
pub use outbox::{NewOutbox, OutboxDepth, OutboxRow};
pub use own_data::{LiveTokensRow, PageKey};
pub use pending::{NewPending, PendingRow};
pub use purge::{JanitorLock, PURGED_TABLES, Purge};
pub use refresh::{NewRefresh, RefreshRow};
pub use sessions::{NewSession, SessionRow, SessionWithUser};
pub use throttle::{LockoutRow, RateHit};
pub use upstream::{FlowRow, IdentityRow, NewFlow};
pub use users::{NewUser, UserRow};

/// Errors at the storage boundary. Constraint violations become [`Error::Conflict`]
/// here so that services never inspect database messages.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A unique constraint was hit; the string names the constraint or column.
    #[error("conflict on {0}")]
    Conflict(String),
    /// The database could not be reached (down, pool exhausted, I/O).
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// Anything else the database reported.
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// Applying migrations failed.
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be decoded into its domain type.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                // PostgreSQL names the constraint; SQLite names the columns in the message.
                let what = db.constraint().map(str::to_owned).unwrap_or_else(|| db.message().to_owned());
                Error::Conflict(what)
            }
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => Error::Unavailable(err),
            _ => Error::Database(err),
        }
    }
}

/// Result alias for store functions.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    /// When rows cached in memory may be stale (see [`changes`]).
    changes: std::sync::Arc<changes::Changes>,
}

/// A pooled connection.
pub enum Conn {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

/// An open transaction; dropped without [`Tx::commit`] it rolls back.
pub struct Tx {
    inner: TxInner,
    changes: std::sync::Arc<changes::Changes>,
}

enum TxInner {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// A borrowed connection on which the query methods live.
pub enum Db<'a> {
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

/// Runs `$body` with `$c` bound to the live connection, once per backend.
macro_rules! on {
    ($db:expr, |$c:ident| $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite(inner) => {
                let $c = &mut **inner;
                $body
            }
            $crate::store::Db::Postgres(inner) => {
                let $c = &mut **inner;
                $body
            }
        }
    };
}
pub(crate) use on;

/// Runs a statement on the live connection and returns the rows it affected.
macro_rules! exec {
    ($db:expr, $query:expr) => {
        $crate::store::on!($db, |c| $query.execute(c).await.map(|r| r.rows_affected()))
    };
}
pub(crate) use exec;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Store {
    /// Opens the pool for `url`. SQLite files (and their directory) are created
    /// if missing. PostgreSQL is retried for up to `retry` while it is unreachable.
    pub async fn connect(url: &str, max_connections: u32, retry: Duration) -> Result<Self> {
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(Error::Database)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true);
            if let Some(dir) = opts.get_filename().parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| Error::Unavailable(sqlx::Error::Io(e)))?;
            }
            // An embedded file cannot drop a connection the way a network
            // can; skipping sqlx's ping before each acquire spares a round
            // trip to the connection's worker thread on every query.
            let pool = SqlitePoolOptions::new()
                .test_before_acquire(false)
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await?;
            return Ok(Self { pool: Pool::Sqlite(pool), changes: Default::default() });
        }
        let opts = PgConnectOptions::from_str(url).map_err(Error::Database)?;
        let options = PgPoolOptions::new().max_connections(max_connections).acquire_timeout(Duration::from_secs(5));
        let deadline = tokio::time::Instant::now() + retry;
        let mut wait = Duration::from_millis(250);
        loop {
            match options.clone().connect_with(opts.clone()).await {
                Ok(pool) => return Ok(Self { pool: Pool::Postgres(pool), changes: Default::default() }),
                Err(err) => {
                    let err = Error::from(err);
                    if !(matches!(err, Error::Unavailable(_)) || is_transient_startup(&err))
                        || tokio::time::Instant::now() + wait > deadline
                    {
                        return Err(err);
                    }
                    tracing::warn!(retry_in_ms = wait.as_millis() as u64, "database unreachable, retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Which backend this store runs on.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        match self.pool {
            Pool::Sqlite(_) => &SQLITE_MIGRATIONS,
            Pool::Postgres(_) => &POSTGRES_MIGRATIONS,
        }
    }

    /// Applies pending migrations. Safe to run from several instances at once:
    /// sqlx takes an advisory lock on PostgreSQL.
    pub async fn migrate(&self) -> Result<()> {
        match &self.pool {
            Pool::Sqlite(p) => self.migrator().run(p).await?,
            Pool::Postgres(p) => self.migrator().run(p).await?,
        }
        Ok(())
    }

    /// True when the database answers and every embedded migration is applied.
    pub async fn ready(&self) -> Result<bool> {
        let mut conn = self.conn().await?;
        let applied: Vec<i64> = on!(&mut conn.db(), |c| {
            sqlx::query_scalar("select version from _sqlx_migrations where success = true").fetch_all(c).await
        })
        .or_else(|e| match e {
            // No migrations table yet: reachable but not migrated.
            sqlx::Error::Database(_) => Ok(Vec::new()),
            other => Err(other),
        })?;
        Ok(self.migrator().iter().filter(|m| m.migration_type.is_up_migration()).all(|m| applied.contains(&m.version)))
    }

    /// Takes a connection from the pool.
    pub async fn conn(&self) -> Result<Conn> {
        Ok(match &self.pool {
            Pool::Sqlite(p) => Conn::Sqlite(p.acquire().await?),
            Pool::Postgres(p) => Conn::Postgres(p.acquire().await?),
        })
    }

    /// Starts a transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): every transaction here writes, and a deferred one
    /// that reads first fails with SQLITE_BUSY_SNAPSHOT (which the busy
    /// timeout does not retry) when another connection commits in between.
    pub async fn begin(&self) -> Result<Tx> {
        let inner = match &self.pool {
            Pool::Sqlite(p) => TxInner::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(p) => TxInner::Postgres(p.begin().await?),
        };
        Ok(Tx { inner, changes: self.changes.clone() })
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }
}

impl Conn {
    /// The connection, for running queries.
    pub fn db(&mut self) -> Db<'_> {
        match self {
            Conn::Sqlite(c) => Db::Sqlite(c),
            Conn::Postgres(c) => Db::Postgres(c),
        }
    }
}

impl Tx {
    /// The transaction's connection, for running queries.
    pub fn db(&mut self) -> Db<'_> {
        match &mut self.inner {
            TxInner::Sqlite(t) => Db::Sqlite(t),
            TxInner::Postgres(t) => Db::Postgres(t),
        }
    }

    /// Commits the transaction. If it changed a row that caches may hold,
    /// this instance's caches start again once the commit is done (so the
    /// next request here sees the change; see [`changes`]).
    pub async fn commit(mut self) -> Result<()> {
        let mark = changes::mark(&mut self).await;
        let Tx { inner, changes } = self;
        match inner {
            TxInner::Sqlite(t) => t.commit().await?,
            TxInner::Postgres(t) => t.commit().await?,
        }
        changes.committed(mark);
        Ok(())
    }
}

/// PostgreSQL answers that mean "not yet": starting up (57P03), too many
/// connections (53300), or a connection exception (class 08).
fn is_transient_startup(err: &Error) -> bool {
    let Error::Database(sqlx::Error::Database(db)) = err else { return false };
    db.code().is_some_and(|code| code == "57P03" || code == "53300" || code.starts_with("08"))
}

/// A new UUIDv7 identifier as text (time-ordered, so indexes stay compact).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Escapes `%`, `_` and `\` for a `like … escape '\'` pattern.
fn like_pattern(needle: &str) -> String {
    let mut out = String::with_capacity(needle.len() + 2);
    out.push('%');
    for ch in needle.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}
