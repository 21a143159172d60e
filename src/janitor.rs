//! The janitor (issue 13): one background worker that deletes the rows of
//! every table that accumulates, once they can no longer matter: codes,
//! access-token records, refresh tokens, mail links, upstream flows, sign-in
//! challenges, sessions, known devices, retired signing keys, rate counters
//! and lockouts, sent mail and sign-in activity. What counts as expired comes
//! from the [`Clock`]; how long ended rows are kept comes from `[retention]`.
//!
//! ```text
//!   start ──(1 min, or the interval if shorter)──> run ──(interval)──> run ──> …
//!   run: take the lock (PostgreSQL: advisory; held elsewhere: skip this run)
//!        for each table: delete a batch of `batch_size` rows, pause, repeat
//!                        until a batch deletes fewer than `batch_size`
//!        release the lock; count rows per table in /metrics; log a summary
//! ```
//! Each batch is one statement, so one short transaction: issuing tokens goes
//! on while a large purge runs. A failing table is logged and the others go on.
//!
//! Must not import: `accounts`, `oauth`, `http`, `cli` (it deletes rows
//! through `store::Purge` only).
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, watch};

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::security::lockout::LockoutPolicy;
use crate::store::{self, Purge, Store};

pub use crate::config::RetentionConfig;

/// Janitor errors (a table's failure is logged and counted in the report).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The lock could not be taken.
    #[error("storage failed")]
    Store(#[from] store::Error),
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// False when another run (here, or on another instance) held the lock.
    pub ran: bool,
    /// Rows deleted, per table, in plan order.
    pub deleted: Vec<(&'static str, u64)>,
    /// Tables whose purge failed (logged).
    pub failed: Vec<&'static str>,
}

impl Report {
    /// Rows deleted from `table`.
    pub fn deleted_from(&self, table: &str) -> u64 {
        self.deleted.iter().filter(|(t, _)| *t == table).map(|(_, n)| n).sum()
    }

    /// Rows deleted in all.
    pub fn total(&self) -> u64 {
        self.deleted.iter().map(|(_, n)| n).sum()
    }
}

/// The first run waits this long after start (or the interval, if shorter).
const FIRST_RUN: Duration = Duration::from_secs(60);

/// The longest pause between two batches.
const MAX_PAUSE: Duration = Duration::from_secs(1);

/// The janitor; cheap to clone.
#[derive(Clone)]
pub struct Janitor {
    store: Store,
    clock: Arc<dyn Clock>,
    retention: RetentionConfig,
    lockout: LockoutPolicy,
    import_dir: Arc<std::path::Path>,
    metrics: Arc<Metrics>,
    /// One run at a time in this process (the advisory lock covers the others).
    running: Arc<Mutex<()>>,
}

impl Janitor {
    /// A janitor over `store`. `import_dir` is `keys.import_dir`, whose keys
    /// are never deleted.
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        retention: RetentionConfig,
        lockout: LockoutPolicy,
        import_dir: &std::path::Path,
        metrics: Arc<Metrics>,
    ) -> Self {
        let janitor = Self {
            store,
            clock,
            retention,
            lockout,
            import_dir: import_dir.into(),
            metrics,
            running: Arc::new(Mutex::new(())),
        };
        // Every table's counter is in /metrics from the start, at 0.
        for purge in janitor.plan(janitor.clock.unix()) {
            janitor.metrics.observe_janitor_deleted(purge.table(), 0);
        }
        janitor
    }

    /// Every table that accumulates, with what is dead in it at `now`. One
    /// more table is one more line.
    fn plan(&self, now: i64) -> Vec<Purge> {
        let r = &self.retention;
        let ended_before = now - r.token_grace_secs;
        // A lockout level is remembered `forget_after` past its lock, and a
        // failure count for its window.
        let stale_before = now - self.lockout.forget_after_secs.max(self.lockout.window_secs).max(0);
        let keep: Arc<[String]> = crate::keys::import_dir_kids(&self.import_dir).into();
        vec![
            Purge::AuthorizationCodes { now, ended_before },
            Purge::AccessTokens { now },
            Purge::RefreshTokens { ended_before },
            Purge::MailLinks { ended_before },
            Purge::UpstreamFlows { ended_before },
            Purge::MfaChallenges { ended_before },
            Purge::PendingAuthorize { now },
            Purge::Sessions { ended_before: now - r.sessions_secs },
            Purge::KnownDevices { seen_before: now - r.devices_secs },
            Purge::SigningKeys { retired_before: now - r.retired_keys_secs, keep },
            Purge::RateCounters { now },
            Purge::Lockouts { stale_before },
            Purge::SentMail { sent_before: now - r.sent_mail_secs },
            Purge::LoginActivity { before: now - r.activity_secs },
            // A day is long past any instance still flushing its counts.
            Purge::IpDenials { minute_before: (now - 86_400).div_euclid(60) },
        ]
    }

    /// Runs once now, unless a run is already going here or on another
    /// instance (then `ran` is false). Tests call this after advancing the clock.
    pub async fn run_once(&self) -> Result<Report, Error> {
        self.pass(None).await
    }

    /// The background worker: runs a minute after start, then every
    /// `interval_secs`, until `stop`; a run in progress stops between batches.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let interval = Duration::from_secs(self.retention.interval_secs);
        let mut wait = FIRST_RUN.min(interval);
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                () = tokio::time::sleep(wait) => {}
            }
            wait = interval;
            if let Err(e) = self.pass(Some(&stop)).await {
                tracing::warn!(error = %e, "janitor run failed");
            }
        }
    }

    async fn pass(&self, stop: Option<&watch::Receiver<bool>>) -> Result<Report, Error> {
        let Ok(_running) = self.running.try_lock() else {
            tracing::debug!("janitor run skipped: one is running in this process");
            return Ok(Report::default());
        };
        let Some(lock) = self.store.janitor_lock().await? else {
            tracing::debug!("janitor run skipped: another instance holds the lock");
            return Ok(Report::default());
        };
        let started = Instant::now();
        let mut report = Report { ran: true, ..Report::default() };
        'tables: for purge in self.plan(self.clock.unix()) {
            let table = purge.table();
            let mut deleted = 0;
            loop {
                if stop.is_some_and(|s| *s.borrow()) {
                    report.deleted.push((table, deleted));
                    break 'tables;
                }
                let batch = Instant::now();
                match self.batch(&purge).await {
                    Ok(n) => {
                        deleted += n;
                        self.metrics.observe_janitor_deleted(table, n);
                        if n < self.retention.batch_size.unsigned_abs() {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(table, error = %e, "janitor could not purge a table");
                        report.failed.push(table);
                        break;
                    }
                }
                // Leave the database to other writers at least as long as the
                // batch held it: SQLite has one writer, and a writer waiting
                // on a table that never pauses runs out of busy timeout.
                tokio::time::sleep(batch.elapsed().min(MAX_PAUSE)).await;
            }
            report.deleted.push((table, deleted));
        }
        if let Err(e) = lock.release().await {
            tracing::warn!(error = %e, "janitor lock release failed (it ends with its connection)");
        }
        let summary: Vec<String> =
            report.deleted.iter().filter(|(_, n)| *n > 0).map(|(t, n)| format!("{t}={n}")).collect();
        let ms = started.elapsed().as_millis() as u64;
        if report.total() > 0 || !report.failed.is_empty() {
            tracing::info!(deleted = report.total(), ms, tables = %summary.join(" "), failed = report.failed.len(), "janitor run");
        } else {
            tracing::debug!(ms, "janitor run: nothing to delete");
        }
        Ok(report)
    }

    async fn batch(&self, purge: &Purge) -> store::Result<u64> {
        self.store.conn().await?.db().purge(purge, self.retention.batch_size).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::config::TokensConfig;

    #[test]
    fn defaults_are_valid_and_nonsense_is_refused() {
        let tokens = TokensConfig::default();
        RetentionConfig::default().validate(&tokens).unwrap();
        let bad = |f: fn(&mut RetentionConfig)| {
            let mut r = RetentionConfig::default();
            f(&mut r);
            r.validate(&tokens).is_err()
        };
        assert!(bad(|r| r.batch_size = 0));
        assert!(bad(|r| r.interval_secs = 0));
        assert!(bad(|r| r.token_grace_secs = 600), "the hourly link limit counts ended links");
        assert!(bad(|r| r.sent_mail_secs = 60), "the hourly mail limit counts sent mail");
        assert!(bad(|r| r.devices_secs = -1));
        let long_tokens = TokensConfig { access_token_secs: 2 * 86_400, ..TokensConfig::default() };
        assert!(RetentionConfig::default().validate(&long_tokens).is_err(), "a replay must outlive its access tokens");
    }

    #[test]
    fn the_retention_section_parses_and_refuses_unknown_keys() {
        use figment::providers::{Format, Toml};
        let c: crate::config::Config =
            figment::Figment::new().merge(Toml::string("[retention]\nbatch_size = 50")).extract().unwrap();
        assert_eq!(c.retention.batch_size, 50);
        assert_eq!(c.retention.interval_secs, 3600, "absent keys keep their default");
        let err = figment::Figment::new()
            .merge(Toml::string("[retention]\nbatch = 50"))
            .extract::<crate::config::Config>()
            .unwrap_err();
        assert!(err.to_string().contains("batch"), "{err}");
    }

    #[tokio::test]
    async fn the_plan_covers_every_purged_table_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/t.db", dir.path().display());
        let store = Store::connect(&url, 1, Duration::ZERO).await.unwrap();
        let clock: Arc<dyn Clock> = Arc::new(FixedClock::at(1_000_000));
        let metrics = Arc::new(Metrics::default());
        let janitor = Janitor::new(
            store,
            clock,
            RetentionConfig::default(),
            LockoutPolicy::default(),
            dir.path(),
            metrics.clone(),
        );
        let tables: Vec<&str> = janitor.plan(1_000_000).iter().map(Purge::table).collect();
        assert_eq!(tables, store::PURGED_TABLES);
        let text = metrics.render();
        for table in store::PURGED_TABLES {
            assert!(text.contains(&format!("gatehouse_janitor_deleted_total{{table=\"{table}\"}} 0")), "{text}");
        }
    }
}
