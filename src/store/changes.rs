//! Knowing when an in-memory copy of a row may be stale, so that the hot
//! read paths (introspection, userinfo, client authentication) can skip the
//! database without missing a revocation.
//!
//! Triggers (migration 0024) mark every change a cache may hold: an access
//! token revoked or deleted, a user's claims or block, a client. Each
//! [`HotCache`] is emptied when [`Changes::generation`] moves, which happens:
//!
//! ```text
//! this instance   Tx::commit saw the mark in its own transaction → at once,
//!                 after the commit (every revocation runs in a transaction)
//! other instances SQLite: the epoch row, read every POLL; PostgreSQL: the
//!  and the CLI    trigger's NOTIFY, heard by a LISTEN connection
//! ```
//!
//! A cache answers only while the watcher is known to be current
//! ([`Changes::fresh`]): on SQLite, a poll that started less than `FRESH_FOR`
//! ago succeeded; on PostgreSQL, the listener heard this instance's own ping
//! sent less than `FRESH_FOR` ago (notifications arrive in commit order, so
//! every change committed before the ping was heard too). A database or
//! listener outage therefore turns the caches off rather than stale. Hence
//! the guarantee in the README: a change is seen at once by the instance that
//! made it and within one second by every other.
//!
//! These are real (monotonic) times, not the `Clock`: they measure how long
//! ago this process heard from the database, and a test's frozen clock must
//! not make a stale cache look current.
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{Pool, Store};

/// How often the watcher polls (SQLite) or pings itself (PostgreSQL).
const POLL: Duration = Duration::from_millis(200);
/// How long a successful poll or ping keeps the caches usable.
const FRESH_FOR: Duration = Duration::from_millis(800);
/// The channel the triggers notify on (PostgreSQL).
pub(crate) const CHANNEL: &str = "gatehouse_changes";

/// This process's view of the change marks; shared by the store and its caches.
#[derive(Debug)]
pub struct Changes {
    generation: AtomicU64,
    /// Milliseconds since `base` until which the caches may answer.
    fresh_until: AtomicU64,
    /// The SQLite epoch value last acted on.
    synced: AtomicI64,
    base: Instant,
}

impl Default for Changes {
    fn default() -> Self {
        Self {
            generation: AtomicU64::new(0),
            fresh_until: AtomicU64::new(0),
            synced: AtomicI64::new(0),
            base: Instant::now(),
        }
    }
}

impl Changes {
    /// Moves whenever cached rows may be stale.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Something may have changed: every cache starts again.
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether the watcher heard from the database recently enough.
    pub fn fresh(&self) -> bool {
        self.millis(Instant::now()) < self.fresh_until.load(Ordering::Acquire)
    }

    /// A poll or ping that started at `started` came back current.
    pub(super) fn heard_at(&self, started: Instant) {
        self.fresh_until.fetch_max(self.millis(started + FRESH_FOR), Ordering::AcqRel);
    }

    /// A SQLite epoch value `n` read at `started`: moves the generation if it
    /// is not the one acted on last.
    fn epoch_seen(&self, n: i64, started: Instant) {
        if self.synced.swap(n, Ordering::AcqRel) != n {
            self.changed();
        }
        self.heard_at(started);
    }

    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_millis()).unwrap_or(u64::MAX)
    }
}

/// Rows kept in memory by key until [`Changes::generation`] moves; at most
/// `cap` of them (past that it starts again, which only costs reads).
#[derive(Debug)]
pub struct HotCache<V> {
    changes: Arc<Changes>,
    slot: Mutex<Slot<V>>,
    cap: usize,
}

#[derive(Debug)]
struct Slot<V> {
    generation: u64,
    rows: HashMap<String, V>,
}

/// Taken before the database read that fills a cache entry: an entry read
/// before a change and stored after it would be stale, so it is dropped.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

impl<V: Clone> HotCache<V> {
    /// An empty cache over `store`'s change marks.
    pub fn new(store: &Store, cap: usize) -> Self {
        Self { changes: store.changes.clone(), slot: Mutex::new(Slot { generation: 0, rows: HashMap::new() }), cap }
    }

    /// The row for `key`, if cached and the cache may answer.
    pub fn get(&self, key: &str) -> Option<V> {
        if !self.changes.fresh() {
            return None;
        }
        let generation = self.changes.generation();
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.generation != generation {
            slot.rows.clear();
            slot.generation = generation;
            return None;
        }
        slot.rows.get(key).cloned()
    }

    /// Take before reading the row from the database.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.changes.generation())
    }

    /// The row for `key`: from memory, or from `load` (kept unless something
    /// changed while it was read). `Ok(None)` from `load` is not kept.
    pub async fn get_or_load<E>(
        &self,
        key: &str,
        load: impl Future<Output = Result<Option<V>, E>>,
    ) -> Result<Option<V>, E> {
        if let Some(row) = self.get(key) {
            return Ok(Some(row));
        }
        let ticket = self.ticket();
        let found = load.await?;
        if let Some(row) = &found {
            self.put(ticket, key, row.clone());
        }
        Ok(found)
    }

    /// Keeps `row` for `key`, unless something changed since `ticket`.
    pub fn put(&self, ticket: Ticket, key: &str, row: V) {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if self.changes.generation() != ticket.0 {
            return;
        }
        if slot.generation != ticket.0 || slot.rows.len() >= self.cap {
            slot.rows.clear();
            slot.generation = ticket.0;
        }
        slot.rows.insert(key.to_owned(), row);
    }
}

impl Store {
    /// The change marks this store's caches follow.
    pub fn changes(&self) -> &Arc<Changes> {
        &self.changes
    }

    /// Follows changes made by other instances (and the CLI) until dropped.
    /// Until it has heard from the database, caches do not answer.
    pub async fn watch_changes(self) {
        match &self.pool {
            Pool::Sqlite(_) => self.poll_epoch().await,
            Pool::Postgres(pool) => listen::run(pool.clone(), self.changes.clone()).await,
        }
    }

    async fn poll_epoch(self) {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let started = Instant::now();
            match self.read_epoch().await {
                Ok(n) => self.changes.epoch_seen(n, started),
                // Caches stop answering until a poll succeeds again.
                Err(e) => tracing::warn!(error = %e, "cannot read the change epoch"),
            }
        }
    }

    async fn read_epoch(&self) -> super::Result<i64> {
        let mut conn = self.conn().await?;
        Ok(super::on!(&mut conn.db(), |c| {
            sqlx::query_scalar::<_, i64>("select n from change_epoch where id = 1").fetch_one(c).await
        })?)
    }
}

/// What a transaction found, before its commit, about cached rows.
#[derive(Debug, Clone, Copy)]
pub(super) struct Mark {
    /// Caches must start again once the commit is done.
    changed: bool,
    /// SQLite: the epoch, which the commit's emptying accounts for.
    epoch: Option<i64>,
}

/// What [`super::Tx::commit`] asks inside the transaction: did it change a
/// cached row? SQLite: the epoch row differs from the one acted on (a change
/// by another process counts too, harmlessly: the transaction holds the
/// write lock, so it reads every commit before its own). PostgreSQL: the
/// trigger set a transaction-local flag. An error answers yes (emptying
/// caches is safe); on PostgreSQL `current_setting(…, true)` cannot fail, so
/// the transaction is never aborted by this question.
pub(super) async fn mark(tx: &mut super::Tx) -> Mark {
    let synced = tx.changes.synced.load(Ordering::Acquire);
    match &mut tx.inner {
        super::TxInner::Sqlite(t) => {
            let n = sqlx::query_scalar::<_, i64>("select n from change_epoch where id = 1").fetch_one(&mut **t).await;
            match n {
                Ok(n) => Mark { changed: n != synced, epoch: Some(n) },
                Err(_) => Mark { changed: true, epoch: None },
            }
        }
        super::TxInner::Postgres(t) => {
            let flag = sqlx::query_scalar::<_, Option<String>>("select current_setting('gatehouse.changed', true)")
                .fetch_one(&mut **t)
                .await;
            Mark { changed: flag.map_or(true, |f| f.as_deref() == Some("y")), epoch: None }
        }
    }
}

impl Changes {
    /// After a successful commit: acts on what [`mark`] found. Only a value
    /// whose changes were acted on is ever stored as synced, and the epoch
    /// only grows, so a stale store can cost an extra emptying, never a
    /// missed one.
    pub(super) fn committed(&self, mark: Mark) {
        if mark.changed {
            self.changed();
        }
        if let Some(n) = mark.epoch {
            self.synced.store(n, Ordering::Release);
        }
    }
}

mod listen;
