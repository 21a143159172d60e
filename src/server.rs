//! The accept loop (CWE-400, slow clients cannot starve the server).
//!
//! `axum::serve` reads request headers without a deadline, so a few thousand
//! half-sent requests hold every file descriptor. This loop serves HTTP/1.1
//! with hyper directly and adds:
//! - a header read timeout (hyper's, driven by a tokio timer): a request head
//!   not complete in time closes the connection;
//! - an idle keep-alive timeout: a connection with no request in flight for
//!   that long is shut down;
//! - a cap on open connections per client address (the TCP peer) and in all.
//!   When an address is at its cap, its oldest connection with no request in
//!   flight (a half-sent head, an idle keep-alive) is closed to make room, so
//!   idle sockets buy an attacker nothing and a real request from the same
//!   address (many users behind one NAT, a local proxy, a health probe) still
//!   gets in. At the total cap the address holding the most connections
//!   gives up its oldest idle one. Only when no such connection is idle is
//!   the new socket closed at once, without a response: writing a 503 would
//!   spend a task on a peer that may never read it.
//!
//! Shutdown: stop accepting, ask every connection to finish its request in
//! flight and close (graceful), and return when all are gone.
//!
//! Must not import: the services or `http` (it serves whatever router it is
//! given).
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::connect_info::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tower::ServiceExt;

/// Connection limits and timeouts (from `[http]`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub keep_alive_idle: Duration,
    pub per_address: usize,
    pub total: usize,
}

impl Limits {
    /// The limits `[http]` configures. The total never exceeds the process's
    /// open-file limit less [`RESERVED_FDS`], so `accept` does not start
    /// failing (and health stop answering) before the cap is reached.
    pub fn from_config(http: &crate::config::HttpConfig) -> Self {
        let mut total = http.max_connections;
        if let Some(files) = open_file_limit() {
            let room = files.saturating_sub(RESERVED_FDS).max(1);
            if room < total {
                tracing::warn!(
                    configured = total,
                    open_file_limit = files,
                    "http.max_connections lowered to fit the open-file limit (raise `ulimit -n`)"
                );
                total = room;
            }
        }
        Self {
            header_read_timeout: Duration::from_secs(http.header_read_timeout_secs),
            keep_alive_idle: Duration::from_secs(http.keep_alive_idle_secs),
            per_address: http.max_connections_per_address,
            total,
        }
    }
}

/// Descriptors kept for everything but client connections: the database
/// pool, SMTP, key and mail files, the management listener.
const RESERVED_FDS: usize = 256;

/// The soft limit on open files (Linux `/proc/self/limits`; `None` elsewhere
/// or when unlimited).
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Tells the oldest connection of `list` with no request in flight to close,
/// and takes it off the list; false when every one is busy.
fn evict_oldest_idle(list: &mut Open) -> bool {
    let Some(idle) = list.iter().position(|(_, c)| c.activity.in_flight.load(Ordering::Acquire) == 0) else {
        return false;
    };
    let (_, oldest) = list.remove(idle);
    oldest.evict.notify_one();
    true
}

/// One open connection: what it is doing, and the signal that closes it to
/// make room for a newer one from the same address.
struct Conn {
    activity: Activity,
    evict: Notify,
}

/// An address's open connections, oldest first, by id.
type Open = Vec<(u64, Arc<Conn>)>;

/// Open connections, per client address and in all.
#[derive(Default)]
struct Counts {
    per_address: Mutex<HashMap<IpAddr, Open>>,
    total: AtomicUsize,
    next_id: AtomicU64,
}

/// One admitted connection; dropping it gives its places back.
struct Slot {
    counts: Arc<Counts>,
    ip: IpAddr,
    id: u64,
    conn: Arc<Conn>,
}

impl Counts {
    /// A slot for a connection from `ip`. At the address's cap its own oldest
    /// idle connection makes room; at the total cap, the oldest idle one of
    /// the address holding the most. `None` when no such connection is idle.
    fn admit(self: &Arc<Self>, ip: IpAddr, limits: &Limits) -> Option<Slot> {
        let mut map = self.per_address.lock().unwrap_or_else(|p| p.into_inner());
        let at_total = self.total.load(Ordering::Relaxed) >= limits.total;
        let at_address = map.get(&ip).is_some_and(|l| l.len() >= limits.per_address);
        if at_address {
            if !evict_oldest_idle(map.get_mut(&ip)?) {
                return None;
            }
        } else if at_total {
            let mut lists: Vec<&mut Open> = map.values_mut().collect();
            lists.sort_by_key(|l| std::cmp::Reverse(l.len()));
            if !lists.into_iter().any(evict_oldest_idle) {
                return None;
            }
        }
        let list = map.entry(ip).or_default();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Activity { in_flight: AtomicUsize::new(0), last: Mutex::new(Instant::now()) };
        let conn = Arc::new(Conn { activity, evict: Notify::new() });
        list.push((id, conn.clone()));
        self.total.fetch_add(1, Ordering::Relaxed);
        Some(Slot { counts: self.clone(), ip, id, conn })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.counts.per_address.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = map.get_mut(&self.ip) {
            // An evicted connection already gave its place to a newer one.
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                map.remove(&self.ip);
            }
        }
        self.counts.total.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Requests in flight on one connection and when the last one ended.
struct Activity {
    in_flight: AtomicUsize,
    last: Mutex<Instant>,
}

impl Activity {
    fn touch(&self) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    /// When the connection counts as idle too long, if nothing is in flight.
    fn idle_deadline(&self, idle: Duration) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        Some(*self.last.lock().unwrap_or_else(|p| p.into_inner()) + idle)
    }
}

/// Ends the in-flight count of one request when its response is produced
/// (or the request is dropped).
struct InFlight(Arc<Conn>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.activity.touch();
        self.0.activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains.
/// Each request carries `ConnectInfo<SocketAddr>` of its TCP peer.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let counts = Arc::new(Counts::default());
    // Every connection task holds a receiver; `closed()` tells when all ended.
    let (conn_tx, conn_rx) = watch::channel(false);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut shutdown) => break,
        };
        let ip = crate::security::client_ip::canonical(peer.ip());
        let Some(slot) = counts.admit(ip, &limits) else {
            drop(stream);
            continue;
        };
        let router = router.clone();
        let stop = conn_rx.clone();
        tokio::spawn(async move {
            serve_connection(stream, peer, router, limits, stop, slot.conn.clone()).await;
            drop(slot);
        });
    }
    drop(listener);
    let _ = conn_tx.send(true);
    drop(conn_rx);
    conn_tx.closed().await;
    Ok(())
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
    state: Arc<Conn>,
) {
    let _ = stream.set_nodelay(true);
    let service = {
        let state = state.clone();
        hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            state.activity.in_flight.fetch_add(1, Ordering::AcqRel);
            let guard = InFlight(state.clone());
            req.extensions_mut().insert(ConnectInfo(peer));
            let router = router.clone();
            async move {
                let res = router.oneshot(req.map(axum::body::Body::new)).await;
                drop(guard);
                Ok::<_, Infallible>(match res {
                    Ok(res) => res,
                    Err(never) => match never {},
                })
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout).keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        let idle_at = state.activity.idle_deadline(limits.keep_alive_idle);
        // With a request in flight the end is unknown: look again in a second.
        let idle = async {
            match idle_at {
                _ if closing => std::future::pending().await,
                Some(at) => tokio::time::sleep_until(at).await,
                None => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        };
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = stopped(&mut stop), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            // A newer connection from this address took this one's place.
            () = state.evict.notified() => return,
            () = idle => {
                if state.activity.idle_deadline(limits.keep_alive_idle).is_some_and(|at| at <= Instant::now()) {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// Resolves once the shutdown flag is set (or its sender is gone). The
/// borrow `wait_for` returns is dropped here, so callers stay `Send`.
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}
