//! Wiring: opens the store, builds the services and the router, binds the
//! listener, and serves with graceful shutdown.
//!
//! Owns: construction and the background workers' lifetimes. The only module
//! that knows every service; nothing imports it but `http` (for `AppState`)
//! and `cli`.
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use url::Url;

use crate::accounts::{Accounts, MfaPolicy};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::janitor::Janitor;
use crate::keys::{Kek, KeyRing, Policy};
use crate::mail::{Mailer, Outbox};
use crate::metrics::Metrics;
use crate::oauth::clients::Clients;
use crate::oauth::tokens::{TokenSettings, Tokens};
use crate::security::csrf::Csrf;
use crate::security::ip_policy::IpPolicy;
use crate::security::token;
use crate::store::Store;
use crate::upstream::Providers;

/// Everything a handler may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    /// The public base URL every absolute URL derives from, without a
    /// trailing slash (the exact `iss` value, OIDC Discovery §3).
    pub issuer: Arc<str>,
    pub store: Store,
    pub accounts: Accounts,
    pub clients: Clients,
    pub csrf: Csrf,
    pub keys: KeyRing,
    pub tokens: Tokens,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub outbox: Outbox,
    /// Trusted proxies and IP allow/deny rules.
    pub ip: IpPolicy,
    /// Upstream identity providers (`[upstream.<id>]`).
    pub upstream: Providers,
    /// Product name, logo, colour and footer links for every page.
    pub branding: Arc<crate::branding::Branding>,
    /// Deletes expired rows (a background worker; tests call `run_once`).
    pub janitor: Janitor,
}

impl AppState {
    /// Cookies get `Secure` whenever the issuer is https (INTERFACE.md).
    pub fn secure_cookies(&self) -> bool {
        self.issuer.starts_with("https://")
    }

    /// The rate limiter over the shared counters (cheap to build).
    pub fn limiter(&self) -> crate::security::limiter::Limiter {
        crate::security::limiter::Limiter::new(self.store.clone(), self.clock.clone(), self.config.rate_limits)
    }
}

/// The services, without HTTP: what the CLI needs.
#[derive(Clone)]
pub struct Services {
    pub store: Store,
    pub accounts: Accounts,
    pub clients: Clients,
    pub csrf: Csrf,
    pub keys: KeyRing,
    pub outbox: Outbox,
    /// `[branding]`, with its files read.
    pub branding: Arc<crate::branding::Branding>,
}

impl Services {
    /// Connects to the database, applies pending migrations and loads shared
    /// secrets. `retry` is how long to wait for an unreachable database;
    /// `issuer` is what mailed links start with.
    pub async fn open(config: &Config, clock: Arc<dyn Clock>, retry: Duration, issuer: &str) -> anyhow::Result<Self> {
        let url = config.database_url();
        let store = Store::connect(&url, config.database.max_connections, retry)
            .await
            .with_context(|| format!("cannot open the database ({})", redact_url(&url)))?;
        store.migrate().await.context("cannot apply database migrations")?;
        let csrf_key = load_csrf_key(&store, clock.unix()).await?;
        let kek = Arc::new(Kek::load(config.keys.encryption_key.as_ref(), &config.data_dir)?);
        let mailer = Mailer::from_config(config)?;
        let branding = Arc::new(crate::branding::Branding::load(&config.branding)?);
        let outbox = Outbox::new(
            store.clone(),
            kek.clone(),
            mailer,
            clock.clone(),
            config.mail.clone(),
            issuer,
            branding.clone(),
        );
        let mfa = MfaPolicy {
            required_roles: config.mfa.required_roles.clone(),
            issuer_label: config.mfa.totp_issuer.clone(),
        };
        let accounts = Accounts::new(
            store.clone(),
            clock.clone(),
            config.session.clone(),
            &config.password,
            outbox.clone(),
            kek.clone(),
            mfa,
        )
        .context("invalid password hashing settings")?
        .with_lockout(config.lockout)
        .with_registration(&config.registration)
        .with_limiter(crate::security::limiter::Limiter::new(store.clone(), clock.clone(), config.rate_limits));
        let policy = Policy {
            rotate_after: config.keys.rotate_after_secs,
            publish_ahead: config.keys.publish_ahead_secs,
            retain: config.keys.retain_secs,
        };
        let keys = KeyRing::open(store.clone(), kek, policy, clock.clone(), &config.keys.import_dir)
            .await
            .context("cannot load signing keys")?;
        let clients = Clients::new(store.clone(), clock);
        Ok(Self { store, accounts, clients, csrf: Csrf::new(csrf_key), keys, outbox, branding })
    }
}

/// The CSRF key lives in the database so every instance signs alike.
async fn load_csrf_key(store: &Store, now: i64) -> anyhow::Result<[u8; 32]> {
    let candidate: String = token::random_bytes::<32>().iter().map(|b| format!("{b:02x}")).collect();
    let hex = store.conn().await?.db().setting_or_insert("csrf_key", &candidate, now).await?;
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = hex
            .get(i * 2..i * 2 + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .context("stored csrf_key is corrupt")?;
    }
    Ok(key)
}

/// Hides a password in a database URL for messages.
fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

fn token_settings(config: &Config, issuer: &str) -> TokenSettings {
    let t = &config.tokens;
    TokenSettings {
        issuer: issuer.to_owned(),
        audience: t.audience.clone().unwrap_or_else(|| issuer.to_owned()),
        access_secs: t.access_token_secs,
        id_secs: t.id_token_secs,
        code_secs: t.code_secs,
        refresh_idle_secs: t.refresh_idle_secs,
        refresh_absolute_secs: t.refresh_absolute_secs,
        session_idle_secs: config.session.idle_timeout_secs,
    }
}

/// A built, bound application, ready to serve.
pub struct App {
    state: AppState,
    listener: TcpListener,
    addr: SocketAddr,
    /// `[http] management_listen`: `/metrics` and health only.
    management: Option<(TcpListener, SocketAddr)>,
}

/// Opens everything and binds the listener. Port 0 picks a free port; the
/// issuer then defaults to the bound address.
pub async fn build(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
    let listener =
        TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let management = match config.http.management_listen {
        Some(at) => {
            let l = TcpListener::bind(at).await.with_context(|| format!("cannot listen on {at} (management)"))?;
            let bound = l.local_addr()?;
            Some((l, bound))
        }
        None => None,
    };
    let issuer: Arc<str> = config.issuer_for(addr).as_str().trim_end_matches('/').into();
    let retry = Duration::from_secs(config.database.connect_retry_secs);
    let services = Services::open(&config, clock.clone(), retry, &issuer).await?;
    let refresh = Duration::from_millis(config.network.ip_rules_refresh_ms);
    let ip = IpPolicy::new(services.store.clone(), config.network.trusted_nets()?, refresh);
    let upstream = Providers::from_config(&config.upstream, clock.clone()).context("invalid [upstream] settings")?;
    let tokens =
        Tokens::new(services.store.clone(), services.keys.clone(), clock.clone(), token_settings(&config, &issuer));
    let metrics = Arc::new(Metrics::new(&services.outbox.metrics));
    let janitor = Janitor::new(
        services.store.clone(),
        clock.clone(),
        config.retention,
        config.lockout,
        &config.keys.import_dir,
        metrics.clone(),
    );
    let state = AppState {
        tokens,
        config: Arc::new(config),
        issuer,
        store: services.store,
        accounts: services.accounts.with_ip_policy(ip.clone()),
        clients: services.clients,
        csrf: services.csrf,
        keys: services.keys,
        clock,
        metrics,
        outbox: services.outbox,
        branding: services.branding,
        ip,
        upstream,
        janitor,
    };
    Ok(App { state, listener, addr, management })
}

impl App {
    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.addr
    }

    /// The bound management address, when `[http] management_listen` is set.
    pub fn management_address(&self) -> Option<SocketAddr> {
        self.management.as_ref().map(|(_, a)| *a)
    }

    /// The shared state (tests use its store for fixtures and assertions).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight
    /// requests finish (up to the grace period) and stops background work.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let App { state, listener, addr, management } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let janitor = tokio::spawn(state.janitor.clone().run(stop_rx.clone()));
        // Until it hears from the database, the hot-path caches do not answer.
        let change_watcher = tokio::spawn(state.store.clone().watch_changes());
        let key_worker = tokio::spawn(key_keeper(state.keys.clone(), stop_rx.clone()));
        let mail_worker = tokio::spawn(state.outbox.clone().run(stop_rx.clone()));
        let notice_worker = tokio::spawn(state.accounts.clone().run_notices(stop_rx.clone()));
        let denial_worker = tokio::spawn(denial_flusher(state.ip.clone(), state.clock.clone(), stop_rx.clone()));
        if let Some(dir) = state.outbox.mailer().file_dir() {
            tracing::info!(dir = %dir.display(), "mail is written to files (set GATEHOUSE_MAIL__SMTP_URL to send it)");
        }
        tracing::info!(%addr, issuer = %state.issuer, "listening");
        let grace = Duration::from_secs(state.config.http.shutdown_grace_secs);
        let limits = crate::server::Limits::from_config(&state.config.http);
        let store = state.store.clone();
        let manager = management.map(|(listener, at)| {
            tracing::info!(addr = %at, "management listener (metrics, health)");
            let router = crate::http::management_router(state.clone());
            tokio::spawn(crate::server::serve(listener, router, limits, stop_rx.clone()))
        });
        let router = crate::http::router(state);
        let mut stopped = stop_rx.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down: draining in-flight requests");
            let _ = stop_tx.send(true);
        });
        let server = crate::server::serve(listener, router, limits, stop_rx);
        let deadline = async move {
            let _ = stopped.wait_for(|s| *s).await;
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            res = server => res.context("server error")?,
            () = deadline => tracing::warn!("grace period over; closing remaining connections"),
        }
        if let Some(m) = manager {
            m.abort();
        }
        change_watcher.abort();
        let _ = janitor.await;
        let _ = key_worker.await;
        let _ = mail_worker.await;
        let _ = notice_worker.await;
        let _ = denial_worker.await;
        store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Every minute: applies due key rotations and picks up rotations made by
/// other instances or by `gatehouse keys rotate`.
async fn key_keeper(keys: KeyRing, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            () = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
        if let Err(e) = keys.refresh().await {
            tracing::warn!(error = %e, "signing key refresh failed");
        }
    }
}

/// Every minute: audits the global IP denials of the minutes that ended, so
/// the tail of a scan is logged when no further request comes (requests
/// through the gate flush too). At shutdown, everything counted so far.
async fn denial_flusher(ip: IpPolicy, clock: Arc<dyn Clock>, mut stop: watch::Receiver<bool>) {
    loop {
        let stopping = tokio::select! {
            _ = stop.wait_for(|s| *s) => true,
            () = tokio::time::sleep(Duration::from_secs(60)) => false,
        };
        if stopping {
            // The current minute has not ended; at shutdown it is final.
            ip.flush_denials(clock.unix() + 60).await;
            return;
        }
        ip.flush_denials(clock.unix()).await;
    }
}

/// `gatehouse serve`: runs until SIGINT or SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    let app = build(config, Arc::new(SystemClock)).await?;
    app.serve(shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_passwords_are_hidden_in_messages() {
        assert_eq!(super::redact_url("postgres://u:hunter2@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(super::redact_url("sqlite://./data/g.db"), "sqlite://./data/g.db");
    }
}
