//! The durable outbox. A flow calls [`Outbox::enqueue`] inside the transaction
//! that makes the change, so the mail exists exactly when the change does. A
//! worker per instance claims due rows with a lease (`store::outbox`), sends
//! them, and records the result. If the process dies mid-send, the lease runs
//! out and any worker sends the row again: delivery is at least once, and the
//! stable `Message-ID` lets mail systems spot the rare duplicate.
//!
//! The lease is short (`mail.lease_secs`, 20 s by default) and renewed every
//! third of it while the SMTP conversation is in flight, so a slow but healthy
//! send keeps its row however long it takes, and a dead process stops
//! renewing and its row is free within one lease:
//!
//! ```text
//!   claim (lease = now + L) ──► send ─┬─ every L/3: renew to now + L ──┐
//!                                     │    renewed: keep sending ◄─────┘
//!                                     │    taken by another worker: drop the send
//!                                     │    database unreachable until the lease
//!                                     │      ends: drop the send (it is free now)
//!                                     └─ done: record under the last lease
//! ```
//!
//! The send waits while a renewal runs, so it never goes on past a lease
//! that was not confirmed. Dropping the send closes the SMTP connection; a
//! relay that has not seen the end of DATA discards the half-sent message,
//! so only a send that already finished DATA can still be delivered twice.
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};

use super::{Error, Mail, Mailer, Outgoing};
use crate::clock::Clock;
use crate::config::MailConfig;
use crate::keys::Kek;
use crate::security::audit;
use crate::store::{Db, NewOutbox, OutboxRow, Store};

pub use super::summary::{MailPhase, MailState, MailSummary, PURGE_DAYS, Retry};

/// The longest wait between two attempts.
const MAX_BACKOFF_SECS: i64 = 3600;
/// How often an idle worker looks for due mail (retries, other instances' mail).
const POLL: Duration = Duration::from_secs(1);

/// What was queued.
#[derive(Debug, Clone)]
pub struct QueuedMail {
    pub id: String,
    pub message_id: String,
}

/// Counters and gauges the worker keeps for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct OutboxMetrics {
    pub sent: Counter,
    pub failures: Counter,
    pub pending: Gauge,
    pub dead: Gauge,
}

#[derive(Serialize, Deserialize)]
struct Body {
    text: String,
    html: String,
}

/// Queues mail and runs the sending worker. Cheap to clone (one `Arc`):
/// the app state that holds it is cloned for every request.
#[derive(Clone)]
pub struct Outbox {
    shared: Arc<OutboxShared>,
}

impl std::ops::Deref for Outbox {
    type Target = OutboxShared;
    fn deref(&self) -> &OutboxShared {
        &self.shared
    }
}

/// What every clone of an [`Outbox`] shares.
pub struct OutboxShared {
    pub(super) store: Store,
    kek: Arc<Kek>,
    mailer: Mailer,
    pub(super) clock: Arc<dyn Clock>,
    settings: MailConfig,
    site: Arc<str>,
    branding: Arc<crate::branding::Branding>,
    wake: Arc<Notify>,
    pub metrics: OutboxMetrics,
}

/// Whether retrying cannot help: the address is malformed, or the server
/// refused the mailbox itself (550/551/553). Other refusals (authentication,
/// relaying, policy, a full disk) are the server's state and may pass.
fn is_undeliverable(e: &Error) -> bool {
    match e {
        Error::Address(_) => true,
        Error::Smtp(s) => s.status().is_some_and(|code| matches!(code.to_string().as_str(), "550" | "551" | "553")),
        _ => false,
    }
}

/// How often a worker renews the lease of a message it is sending: every
/// third of the lease, so two renewals can fail before it runs out.
pub fn renew_every(lease_secs: i64) -> Duration {
    let millis = u64::try_from(lease_secs).unwrap_or(0).saturating_mul(1000) / 3;
    Duration::from_millis(millis.max(100))
}

/// The wait before attempt `attempt + 1`: exponential from `base`, capped at
/// an hour, with ±25 % jitter (`jitter` in 0..1) so that a recovering SMTP
/// server is not hit by every instance at once.
pub fn retry_delay(attempt: i64, base: i64, jitter: f64) -> i64 {
    let exp = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let delay = base.saturating_mul(2_i64.saturating_pow(exp)).min(MAX_BACKOFF_SECS);
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let jittered = (delay as f64 * (0.75 + 0.5 * jitter.clamp(0.0, 1.0))).round() as i64;
    jittered.max(1)
}

impl Outbox {
    /// Builds the outbox. `site` is the issuer (links and Message-IDs derive from it).
    pub fn new(
        store: Store,
        kek: Arc<Kek>,
        mailer: Mailer,
        clock: Arc<dyn Clock>,
        settings: MailConfig,
        site: &str,
        branding: Arc<crate::branding::Branding>,
    ) -> Self {
        let shared = OutboxShared {
            store,
            kek,
            mailer,
            clock,
            settings,
            site: site.into(),
            branding,
            wake: Arc::default(),
            metrics: OutboxMetrics::default(),
        };
        Self { shared: Arc::new(shared) }
    }

    /// The transport behind the outbox.
    pub fn mailer(&self) -> &Mailer {
        &self.mailer
    }

    /// The issuer that links start with.
    pub fn site(&self) -> &str {
        &self.site
    }

    /// Renders `mail` and stores it for `to` on `db`, which should be the
    /// transaction making the change the mail reports. Call [`Outbox::kick`]
    /// after the commit.
    /// An account without an address (signed up through a provider that
    /// gave none) gets nothing: the mail is dropped here, not dead-lettered.
    pub async fn enqueue(&self, db: &mut Db<'_>, to: &str, mail: &Mail) -> Result<QueuedMail, Error> {
        let id = crate::store::new_id();
        if to.is_empty() {
            tracing::debug!(kind = mail.kind(), "no address to mail; dropped");
            return Ok(QueuedMail { id, message_id: String::new() });
        }
        let rendered = mail.render_branded(&self.site, &self.branding)?;
        let host = url::Url::parse(&self.site).ok().and_then(|u| u.host_str().map(str::to_owned));
        let message_id = format!("<{id}@{}>", host.as_deref().unwrap_or("gatehouse.invalid"));
        let body = serde_json::to_vec(&Body { text: rendered.text, html: rendered.html })
            .map_err(|e| Error::Build(e.to_string()))?;
        let sealed = self.kek.seal(&id, &body)?;
        db.insert_outbox(&NewOutbox {
            id: &id,
            message_id: &message_id,
            recipient: to,
            kind: mail.kind(),
            subject: &rendered.subject,
            body: &sealed,
            now: self.clock.unix(),
        })
        .await?;
        Ok(QueuedMail { id, message_id })
    }

    /// Wakes this instance's worker (after a commit that queued mail).
    pub fn kick(&self) {
        self.wake.notify_one();
    }

    /// Sends due mail until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            loop {
                let claimed = tokio::select! {
                    _ = stop.wait_for(|s| *s) => return,
                    claimed = self.claim() => claimed,
                };
                let (row, lease) = match claimed {
                    Ok(Some(claimed)) => claimed,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "outbox: claiming mail failed");
                        break;
                    }
                };
                // Stopping abandons a delivery in flight: its row stays leased
                // and is sent again once the lease ends, as after a crash. A
                // finished delivery is always recorded, so it is not resent.
                let delivered = tokio::select! {
                    _ = stop.wait_for(|s| *s) => return,
                    delivered = self.deliver_leased(&row, lease) => delivered,
                };
                let Some((result, lease)) = delivered else { continue };
                if let Err(e) = self.record(&row, lease, result).await {
                    tracing::warn!(mail_id = %row.id, error = %e, "outbox: recording the result failed");
                }
            }
            self.refresh_depth().await;
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    async fn refresh_depth(&self) {
        let depth = match self.store.conn().await {
            Ok(mut conn) => conn.db().outbox_depth().await,
            Err(e) => Err(e),
        };
        if let Ok(depth) = depth {
            self.metrics.pending.set(depth.pending);
            self.metrics.dead.set(depth.dead);
        }
    }

    /// Claims one due message and tries it. `Ok(false)`: nothing was due.
    pub async fn send_one(&self) -> Result<bool, Error> {
        let Some((row, lease)) = self.claim().await? else { return Ok(false) };
        if let Some((result, lease)) = self.deliver_leased(&row, lease).await {
            self.record(&row, lease, result).await?;
        }
        Ok(true)
    }

    /// Leases the oldest due message; returns it with its lease.
    async fn claim(&self) -> Result<Option<(OutboxRow, i64)>, Error> {
        let now = self.clock.unix();
        let lease = now + self.settings.lease_secs;
        Ok(self.store.conn().await?.db().claim_outbox(now, lease).await?.map(|row| (row, lease)))
    }

    /// Delivers a claimed message while renewing its lease every third of
    /// `lease_secs`. Returns the result and the lease held at the end, or
    /// `None` when the lease was lost (another worker owns the row now, or
    /// the database could not confirm a renewal before the lease ended): the
    /// send is dropped then and nothing is recorded.
    async fn deliver_leased(&self, row: &OutboxRow, mut lease: i64) -> Option<(Result<(), Error>, i64)> {
        let send = self.deliver(row);
        tokio::pin!(send);
        let every = renew_every(self.settings.lease_secs);
        loop {
            tokio::select! {
                result = &mut send => return Some((result, lease)),
                () = tokio::time::sleep(every) => {}
            }
            let now = self.clock.unix();
            let renewed = match self.store.conn().await {
                Ok(mut conn) => conn.db().renew_outbox(&row.id, lease, now + self.settings.lease_secs).await,
                Err(e) => Err(e),
            };
            match renewed {
                Ok(Some(until)) => lease = until,
                Ok(None) => {
                    tracing::warn!(mail_id = %row.id, "outbox: another worker took the message; send dropped");
                    return None;
                }
                Err(e) if now >= lease => {
                    tracing::warn!(mail_id = %row.id, error = %e, "outbox: lease ran out unrenewed; send dropped");
                    return None;
                }
                Err(e) => tracing::warn!(mail_id = %row.id, error = %e, "outbox: renewing the lease failed"),
            }
        }
    }

    /// Hands a claimed message to the transport, within the send timeout.
    async fn deliver(&self, row: &OutboxRow) -> Result<(), Error> {
        let out = self.open(row)?;
        let timeout = Duration::from_secs(self.settings.send_timeout_secs);
        tokio::time::timeout(timeout, self.mailer.send(&out)).await.unwrap_or(Err(Error::Timeout))
    }

    /// Writes the result back, if the lease is still ours.
    async fn record(&self, row: &OutboxRow, lease_until: i64, result: Result<(), Error>) -> Result<(), Error> {
        let now = self.clock.unix();
        let mut conn = self.store.conn().await?;
        match result {
            Ok(()) => {
                self.metrics.sent.inc();
                if conn.db().outbox_sent(&row.id, lease_until, now).await? {
                    tracing::info!(mail_id = %row.id, kind = %row.kind, attempt = row.attempts, "mail sent");
                } else {
                    tracing::warn!(mail_id = %row.id, "mail sent after its lease ran out; it may be sent twice");
                }
            }
            Err(e) => {
                self.metrics.failures.inc();
                let give_up = is_undeliverable(&e) || row.attempts >= i64::from(self.settings.max_attempts);
                let retry_at = (!give_up).then(|| {
                    let jitter = f64::from(crate::security::token::random_bytes::<1>()[0]) / 255.0;
                    now + retry_delay(row.attempts, self.settings.retry_base_secs, jitter)
                });
                let error: String = e.to_string().chars().take(500).collect();
                if !conn.db().outbox_failed(&row.id, lease_until, &error, retry_at, now).await? {
                    tracing::warn!(mail_id = %row.id, error, "mail attempt failed after its lease ran out");
                    return Ok(());
                }
                match retry_at {
                    Some(at) => {
                        tracing::warn!(mail_id = %row.id, error, retry_in = at - now, "mail not sent; will retry")
                    }
                    None => tracing::error!(mail_id = %row.id, error, "mail not sent; moved to dead letters"),
                }
            }
        }
        Ok(())
    }

    /// The newest messages (unsent ones only unless `all`), for operators.
    pub async fn list(&self, all: bool) -> Result<Vec<OutboxRow>, Error> {
        Ok(self.store.conn().await?.db().list_outbox(!all, 500).await?)
    }

    /// Makes an unsent message due now, with its attempts reset (as the
    /// `cli` actor). `false`: no such message, or it was sent already.
    pub async fn retry(&self, id: &str) -> Result<bool, Error> {
        Ok(matches!(self.retry_by(id, &audit::Context::cli()).await?, Retry::Queued(_)))
    }

    /// Deletes sent messages (and dead letters, if `dead`) older than `age_secs`.
    pub async fn purge(&self, age_secs: i64, dead: bool) -> Result<u64, Error> {
        Ok(self.store.conn().await?.db().purge_outbox(self.clock.unix() - age_secs, dead).await?)
    }

    fn open(&self, row: &OutboxRow) -> Result<Outgoing, Error> {
        let plain = self.kek.open(&row.id, &row.body)?;
        let body: Body = serde_json::from_slice(&plain).map_err(|e| Error::Build(e.to_string()))?;
        Ok(Outgoing {
            message_id: row.message_id.clone(),
            to: row.recipient.clone(),
            subject: row.subject.clone(),
            text: body.text,
            html: body.html,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{Outbox, renew_every, retry_delay};
    use crate::clock::FixedClock;
    use crate::config::MailConfig;
    use crate::keys::Kek;
    use crate::mail::{Mail, Mailer};
    use crate::store::Store;

    #[tokio::test]
    async fn queued_bodies_are_sealed_and_dropped_once_sent_through_the_memory_transport() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/m.db", dir.path().display());
        let store = Store::connect(&url, 2, std::time::Duration::ZERO).await.unwrap();
        store.migrate().await.unwrap();
        let mailer = Mailer::memory("gatehouse@example.com").unwrap();
        let clock = Arc::new(FixedClock::at(1_000));
        let kek = Arc::new(Kek::new([7; 32]));
        let outbox = Outbox::new(
            store.clone(),
            kek,
            mailer.clone(),
            clock,
            MailConfig::default(),
            "https://sso.example",
            Default::default(),
        );
        let link = "https://sso.example/password/reset?token=secret-token-value";
        let mail = Mail::Reset { name: "Ann".into(), link: link.into() };
        let mut tx = store.begin().await.unwrap();
        let queued = outbox.enqueue(&mut tx.db(), "ann@example.com", &mail).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(queued.message_id, format!("<{}@sso.example>", queued.id));

        let stored = outbox.list(true).await.unwrap();
        assert!(!stored[0].body.contains("secret-token-value"), "the link is not stored in clear");
        assert!(outbox.send_one().await.unwrap());
        assert!(!outbox.send_one().await.unwrap(), "nothing else is due");
        let sent = mailer.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!((sent[0].to.as_str(), sent[0].message_id.as_str()), ("ann@example.com", queued.message_id.as_str()));
        assert!(sent[0].text.contains(link) && sent[0].html.contains("secret-token-value"));
        let row = outbox.list(true).await.unwrap().into_iter().find(|r| r.id == queued.id).unwrap();
        assert_eq!((row.body.as_str(), row.sent_at), ("", Some(1_000)));
        store.close().await;
    }

    #[test]
    fn the_lease_is_renewed_three_times_per_lease() {
        assert_eq!(renew_every(20), std::time::Duration::from_millis(6_666));
        assert_eq!(renew_every(3), std::time::Duration::from_secs(1));
        assert_eq!(renew_every(0), std::time::Duration::from_millis(100), "never a busy loop");
    }

    #[test]
    fn retry_delay_doubles_from_the_base_with_bounded_jitter_and_a_cap() {
        assert_eq!(retry_delay(1, 30, 0.5), 30);
        assert_eq!(retry_delay(2, 30, 0.5), 60);
        assert_eq!(retry_delay(3, 30, 0.5), 120);
        assert_eq!(retry_delay(1, 30, 0.0), 23); // 22.5 rounds up
        assert_eq!(retry_delay(1, 30, 1.0), 38); // 37.5 rounds up
        assert_eq!(retry_delay(40, 30, 0.5), 3600, "capped at an hour");
        assert!(retry_delay(0, 0, 0.0) >= 1);
    }
}
