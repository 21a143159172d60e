//! PostgreSQL: a LISTEN connection hears the triggers' notifications, and
//! pings itself so it knows it is still hearing them (a dead TCP peer can be
//! silent for minutes). A ping is a notification like any other, delivered
//! after every one committed before it; hearing our own ping sent at `t`
//! therefore means every change committed before `t` has been acted on.
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::PgListener;

use super::{CHANNEL, Changes, POLL};

/// Pings sent and not yet heard: (sequence, when sent). Bounded: a ping not
/// heard within a few dozen rounds is forgotten (and so never makes the
/// caches fresh).
type Sent = Arc<Mutex<VecDeque<(u64, Instant)>>>;

/// Listens until the task is dropped, reconnecting as needed.
pub(super) async fn run(pool: PgPool, changes: Arc<Changes>) {
    let me = crate::store::new_id();
    let sent: Sent = Arc::default();
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => {
                    // Whatever happened while we were not listening is unknown.
                    changes.changed();
                    let pinger = tokio::spawn(ping(pool.clone(), me.clone(), sent.clone()));
                    hear(&mut listener, &me, &sent, &changes).await;
                    pinger.abort();
                }
                Err(e) => tracing::warn!(error = %e, "cannot LISTEN for changes"),
            },
            Err(e) => tracing::warn!(error = %e, "cannot open the change listener"),
        }
        changes.changed();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Acts on notifications until the connection is lost.
async fn hear(listener: &mut PgListener, me: &str, sent: &Sent, changes: &Changes) {
    loop {
        match listener.try_recv().await {
            Ok(Some(note)) => match note.payload().strip_prefix("ping:") {
                Some(ping) => {
                    if let Some(at) = ping
                        .strip_prefix(me)
                        .and_then(|s| s.strip_prefix(':'))
                        .and_then(|n| n.parse().ok())
                        .and_then(|seq: u64| take_sent(sent, seq))
                    {
                        changes.heard_at(at);
                    }
                }
                None => changes.changed(),
            },
            // The connection was lost; notifications may have been missed.
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "the change listener failed");
                return;
            }
        }
    }
}

/// When ping `seq` was sent, forgetting it and every older one.
fn take_sent(sent: &Sent, seq: u64) -> Option<Instant> {
    let mut sent = sent.lock().unwrap_or_else(PoisonError::into_inner);
    while let Some(&(s, at)) = sent.front() {
        sent.pop_front();
        if s == seq {
            return Some(at);
        }
    }
    None
}

/// Sends `ping:<me>:<seq>` every [`POLL`].
async fn ping(pool: PgPool, me: String, sent: Sent) {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for seq in 0u64.. {
        tick.tick().await;
        {
            let mut sent = sent.lock().unwrap_or_else(PoisonError::into_inner);
            sent.push_back((seq, Instant::now()));
            if sent.len() > 32 {
                sent.pop_front();
            }
        }
        let payload = format!("ping:{me}:{seq}");
        if let Err(e) = sqlx::query("select pg_notify($1, $2)").bind(CHANNEL).bind(&payload).execute(&pool).await {
            tracing::warn!(error = %e, "cannot ping the change listener");
        }
    }
}
