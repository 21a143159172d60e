//! `spawn_app()`: the real app on port 0 with a fresh database (SQLite file in
//! a tempdir, or a throwaway PostgreSQL database), cheap Argon2 parameters and a
//! FixedClock the test can advance, and a real SMTP sink in the test process
//! that the app's mail goes to over TCP. Tests talk HTTP; the state is for
//! fixtures.
use std::sync::Arc;

use gatehouse::accounts::Registration;
use gatehouse::app::{self, AppState};
use gatehouse::clock::FixedClock;
use gatehouse::config::Config;
use gatehouse::store::testing::{TEST_POSTGRES_URL, TempPostgres};
use reqwest::redirect::Policy;
use secrecy::SecretString;
use tokio::sync::oneshot;

use crate::smtp::SmtpSink;

/// A start time for the FixedClock: 2026-01-01T00:00:00Z.
pub const T0: i64 = 1_767_225_600;

/// The real time, for apps whose tokens a relying-party library checks
/// against the wall clock.
pub fn real_now() -> i64 {
    use gatehouse::clock::Clock;
    gatehouse::clock::SystemClock.unix()
}

/// The audit context of a change a test makes through a service.
pub fn test_ctx() -> gatehouse::security::audit::Context {
    gatehouse::security::audit::Context::cli()
}

/// A password that satisfies the default policy.
pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub base: String,
    /// `http://` + the management listener's address, when configured.
    pub management_base: Option<String>,
    pub clock: FixedClock,
    pub state: AppState,
    pub config: Config,
    /// Where this app's mail arrives (unless the test pointed it elsewhere).
    pub mail: Arc<SmtpSink>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _db: Option<Arc<TempPostgres>>,
    _dir: Arc<tempfile::TempDir>,
}

/// True when the suite runs against PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var("TEST_DATABASE").is_ok_and(|v| v == "postgres")
}

/// The PostgreSQL server URL, if tests may use one.
pub fn postgres_url() -> Option<String> {
    std::env::var(TEST_POSTGRES_URL).ok().filter(|u| !u.is_empty())
}

/// A config for tests: port 0, cheap hashing, data in `dir`.
pub fn test_config(dir: &std::path::Path) -> Config {
    let mut config =
        Config { listen: "127.0.0.1:0".parse().unwrap(), data_dir: dir.to_path_buf(), ..Config::default() };
    config.password.argon2_memory_kib = 256;
    config.password.argon2_iterations = 1;
    config.database.connect_retry_secs = 0;
    config.database.max_connections = 5;
    config
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = test_config(dir.path());
    let mail = Arc::new(SmtpSink::start().await);
    config.mail.smtp_url = Some(SecretString::from(mail.url()));
    let db = if on_postgres() {
        let url = postgres_url().expect("TEST_DATABASE=postgres needs TEST_POSTGRES_URL");
        let db = TempPostgres::create(&url).await.unwrap();
        config.database.url = Some(SecretString::from(db.url.clone()));
        Some(Arc::new(db))
    } else {
        None
    };
    tweak(&mut config);
    spawn_with_config(config, db, dir, mail).await
}

/// Starts an app on an explicit config, sharing database and dir guards (for
/// several instances on one database).
pub async fn spawn_with_config(
    config: Config,
    db: Option<Arc<TempPostgres>>,
    dir: Arc<tempfile::TempDir>,
    mail: Arc<SmtpSink>,
) -> TestApp {
    // Now, not T0: relying-party libraries check token times against the wall clock.
    let clock = FixedClock::at(real_now());
    let app = app::build(config.clone(), Arc::new(clock.clone())).await.unwrap();
    let addr = app.address();
    let management_base = app.management_address().map(|a| format!("http://{a}"));
    let state = app.state().clone();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.serve(async move {
        let _ = rx.await;
    }));
    TestApp {
        base: format!("http://{addr}"),
        management_base,
        clock,
        state,
        config,
        mail,
        shutdown: Some(tx),
        server: Some(server),
        _db: db,
        _dir: dir,
    }
}

impl TestApp {
    /// Another instance on the same database and data dir, serving the same
    /// issuer (as instances behind one load balancer do).
    pub async fn second_instance(&self) -> TestApp {
        let mut config = self.config.clone();
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.issuer = Some(self.base.parse().unwrap());
        spawn_with_config(config, self._db.clone(), self._dir.clone(), self.mail.clone()).await
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }

    /// A fresh browser: its own cookie jar, no automatic redirects.
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder().redirect(Policy::none()).cookie_store(true).build().unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GETs a page and returns the CSRF token of its forms.
    pub async fn csrf_token(&self, browser: &reqwest::Client, page: &str) -> String {
        let html = browser.get(self.url(page)).send().await.unwrap().text().await.unwrap();
        hidden_value(&html, "csrf_token").unwrap_or_else(|| panic!("no csrf_token on {page}: {html}"))
    }

    /// Submits a form the way a browser does: load `page`, then POST `fields`
    /// (plus its CSRF token) to `action`.
    pub async fn submit(
        &self,
        browser: &reqwest::Client,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let token = self.csrf_token(browser, page).await;
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf_token", &token));
        browser.post(self.url(action)).form(&form).send().await.unwrap()
    }

    /// Signs `browser` in.
    pub async fn login(&self, browser: &reqwest::Client, username: &str, password: &str) -> reqwest::Response {
        self.submit(browser, "/login", "/login", &[("username", username), ("password", password)]).await
    }

    /// A browser signed in as a new user with `roles`.
    pub async fn signed_in(&self, username: &str, roles: &[&str]) -> reqwest::Client {
        self.create_user(username, roles).await;
        let browser = self.browser();
        let res = self.login(&browser, username, PASSWORD).await;
        assert_eq!(res.status(), 303, "sign-in of {username} failed");
        browser
    }

    /// Creates a user directly through the service (a fixture, not under test).
    pub async fn create_user(&self, username: &str, roles: &[&str]) -> String {
        let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
        self.state
            .accounts
            .register(
                &test_ctx(),
                &Registration {
                    username,
                    email: &format!("{username}@example.com"),
                    password: &SecretString::from(PASSWORD),
                    password_confirm: None,
                    email_verified: true,
                    roles: &roles,
                },
            )
            .await
            .unwrap()
            .unwrap()
    }

    /// Registers through `/register` and follows the confirmation link from
    /// the mail, as a new user would; returns the browser used.
    pub async fn register_confirmed(&self, username: &str) -> reqwest::Client {
        let browser = self.browser();
        let email = format!("{username}@example.com");
        let fields =
            [("username", username), ("email", email.as_str()), ("password", PASSWORD), ("password_confirm", PASSWORD)];
        let res = self.submit(&browser, "/register", "/register", &fields).await;
        assert_eq!(res.status(), 303, "registration of {username} failed");
        let mail = self.mail.wait_for(&email, "Confirm your email").await;
        self.follow_link(&browser, &crate::smtp::link(&mail, &self.url("/register/confirm?"))).await;
        browser
    }

    /// Opens a mailed link's page and presses its one button; returns the answer.
    pub async fn follow_link(&self, browser: &reqwest::Client, link: &str) -> reqwest::Response {
        let page = browser.get(link).send().await.unwrap();
        assert_eq!(page.status(), 200, "link page {link}");
        let html = page.text().await.unwrap();
        let token = hidden_value(&html, "token").expect("token field");
        let csrf = hidden_value(&html, "csrf_token").expect("csrf field");
        let action = form_action(&html).expect("form action");
        browser
            .post(self.url(&action))
            .form(&[("token", token.as_str()), ("csrf_token", csrf.as_str())])
            .send()
            .await
            .unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The `value` of the hidden input named `name` in `html`.
pub fn hidden_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_owned())
}

/// The `action` of the first POST form in `html`.
pub fn form_action(html: &str) -> Option<String> {
    let marker = "<form method=\"post\" action=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_owned())
}

/// The Set-Cookie header for cookie `name`, if the response sets it.
pub fn set_cookie<'a>(res: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
}

/// The Location header.
pub fn location(res: &reqwest::Response) -> &str {
    res.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// A TCP port that was free a moment ago (bind port 0, read it, let it go),
/// for an app whose issuer must be known before it starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An app listening on `127.0.0.1:port` whose issuer (and `base`) is
/// `http://localhost:port`: a different cookie host from apps on 127.0.0.1,
/// since cookies do not keep ports apart.
pub async fn spawn_app_on_localhost(port: u16, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let mut app = spawn_app_with(|config| {
        config.listen = format!("127.0.0.1:{port}").parse().unwrap();
        config.issuer = Some(format!("http://localhost:{port}").parse().unwrap());
        tweak(config);
    })
    .await;
    app.base = format!("http://localhost:{port}");
    app
}

/// A new browser (Firefox on Linux) on another network than the test's
/// usual 127.0.0.1: it connects from 127.0.1.1, another /24.
pub fn away_browser() -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(Some("127.0.1.1".parse().unwrap()))
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .user_agent("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
        .build()
        .unwrap()
}

/// Polls `check` until it is true; panics past one second. For changes made
/// by another process (the CLI) or instance, which the server's caches see
/// within a second (README, "When a change is seen").
pub async fn within_a_second(what: &str, mut check: impl AsyncFnMut() -> bool) -> std::time::Duration {
    let started = std::time::Instant::now();
    while !check().await {
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "{what}: not seen within one second");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    started.elapsed()
}
