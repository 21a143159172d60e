//! Health, metrics, security headers, error pages, limits, and starting
//! against a database that is not there yet.
use std::sync::Arc;

use crate::helpers::{postgres_url, spawn_app, test_config};

#[tokio::test]
async fn health_endpoints_answer() {
    let app = spawn_app().await;
    let live = reqwest::get(app.url("/health/live")).await.unwrap();
    assert_eq!(live.status(), 200);
    let ready = reqwest::get(app.url("/health/ready")).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<serde_json::Value>().await.unwrap()["status"], "ready");
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_sign_ins_by_outcome() {
    let app = spawn_app().await;
    app.create_user("sam", &[]).await;
    app.login(&app.browser(), "sam", "wrong password here").await;
    app.login(&app.browser(), "sam", crate::helpers::PASSWORD).await;
    let _ = reqwest::get(app.url("/no/such/page")).await.unwrap();
    let text = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(text.contains("gatehouse_http_requests_total{method=\"GET\",route=\"/login\",status=\"200\"}"), "{text}");
    assert!(text.contains("route=\"unmatched\",status=\"404\""), "raw paths never become labels");
    assert!(text.contains("gatehouse_http_request_duration_seconds_bucket"));
    assert!(text.contains("gatehouse_logins_total{outcome=\"invalid_credentials\"} 1"));
    assert!(text.contains("gatehouse_logins_total{outcome=\"success\"} 1"));
}

#[tokio::test]
async fn every_response_carries_the_security_headers_and_a_request_id() {
    let app = spawn_app().await;
    for path in ["/login", "/health/live", "/nowhere", "/static/app.css"] {
        let res = reqwest::get(app.url(path)).await.unwrap();
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"), "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h.contains_key("referrer-policy"));
        assert!(h.contains_key("x-request-id"));
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_get_html_error_pages() {
    let app = spawn_app().await;
    let res = reqwest::get(app.url("/nowhere")).await.unwrap();
    assert_eq!(res.status(), 404);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let html = res.text().await.unwrap();
    assert!(html.contains("Not Found") && html.contains(&id), "the page names the request id");
    let res = reqwest::Client::new().delete(app.url("/login")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
}

#[tokio::test]
async fn oversized_headers_get_431() {
    let app = spawn_app().await;
    let res =
        reqwest::Client::new().get(app.url("/login")).header("x-filler", "y".repeat(20_000)).send().await.unwrap();
    assert_eq!(res.status(), 431);
}

#[tokio::test]
async fn stylesheet_is_cache_busted_and_cacheable() {
    let app = spawn_app().await;
    let html = reqwest::get(app.url("/login")).await.unwrap().text().await.unwrap();
    let start = html.find("/static/app.css?v=").unwrap();
    let href = &html[start..html[start..].find('"').unwrap() + start];
    let css = reqwest::get(app.url(href)).await.unwrap();
    assert_eq!(css.status(), 200);
    assert!(css.headers()["cache-control"].to_str().unwrap().contains("immutable"));
}

#[tokio::test]
async fn an_unwritable_sqlite_location_fails_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"a file where the data directory should be").unwrap();
    let mut config = test_config(&blocker);
    config.database.url = None;
    let err = gatehouse::app::build(config, Arc::new(gatehouse::clock::SystemClock)).await.err().unwrap();
    let text = format!("{err:#}");
    assert!(text.contains("cannot open the database") && text.contains("not-a-dir"), "{text}");
}

#[tokio::test]
async fn pages_answer_503_while_the_database_is_gone_and_recover() {
    let Some(pg) = postgres_url() else {
        eprintln!("skipped: needs TEST_POSTGRES_URL");
        return;
    };
    let db = gatehouse::store::testing::TempPostgres::create(&pg).await.unwrap();
    // Start with nothing listening where the database should be.
    let port = free_port();
    let mut proxied = url::Url::parse(&db.url).unwrap();
    let upstream = format!("{}:{}", proxied.host_str().unwrap(), proxied.port().unwrap_or(5432));
    proxied.set_port(Some(port)).unwrap();
    let proxied = proxied.to_string();
    let starting = tokio::spawn(async move {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path());
        config.database.url = Some(secrecy::SecretString::from(proxied));
        config.database.connect_retry_secs = 30;
        let app = gatehouse::app::build(config, Arc::new(gatehouse::clock::SystemClock)).await;
        (app, dir)
    });
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(!starting.is_finished(), "serve waits for the database");
    let proxy = Proxy::start(port, upstream.clone()).await;
    let (app, _dir) = starting.await.unwrap();
    let app = app.expect("starts once the database is reachable");
    let base = format!("http://{}", app.address());
    tokio::spawn(app.serve(std::future::pending()));
    assert_eq!(reqwest::get(format!("{base}/login")).await.unwrap().status(), 200);

    // The database goes away: pages say 503 with a generic message, readiness fails.
    proxy.stop();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = http.get(format!("{base}/account")).send().await.unwrap();
    assert_eq!(res.status(), 303, "no cookie: no database needed");
    let res = http.get(format!("{base}/account")).header("cookie", "gh_session=x").send().await.unwrap();
    assert_eq!(res.status(), 503);
    let body = res.text().await.unwrap();
    assert!(body.contains("briefly unavailable") && !body.to_lowercase().contains("sqlx"));
    assert_eq!(reqwest::get(format!("{base}/health/ready")).await.unwrap().status(), 503);

    // It comes back: so do we, without a restart.
    let _proxy = Proxy::start(port, upstream).await;
    assert_eq!(reqwest::get(format!("{base}/health/ready")).await.unwrap().status(), 200);
    drop(db);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A TCP forwarder standing in for the database host; `stop` cuts every link.
struct Proxy {
    tasks: Arc<std::sync::Mutex<tokio::task::JoinSet<()>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(port: u16, upstream: String) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let tasks = Arc::new(std::sync::Mutex::new(tokio::task::JoinSet::new()));
        let conns = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                conns.lock().unwrap().spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self { tasks, accept }
    }

    fn stop(&self) {
        self.accept.abort();
        self.tasks.lock().unwrap().abort_all();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn a_server_error_shows_a_generic_page_without_details() {
    if crate::helpers::on_postgres() {
        return; // the breakage below is arranged on the SQLite file
    }
    let app = spawn_app().await;
    let browser = app.signed_in("uma", &[]).await;
    // Break the database under the running app: the sessions table disappears.
    let url = app.config.database_url();
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.unwrap();
    sqlx::query("alter table sessions rename to sessions_gone").execute(&mut conn).await.unwrap();
    let res = browser.get(app.url("/account")).send().await.unwrap();
    assert_eq!(res.status(), 500);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body = res.text().await.unwrap();
    assert!(body.contains("Something went wrong on our side") && body.contains(&id));
    for leak in ["sessions", "sqlite", "SQL", "no such table", "panicked"] {
        assert!(!body.contains(leak), "body leaks {leak:?}");
    }
}

// Keycloak's management interface: metrics on their own port, and on the
// public one only for the networks allowed (issue 14 item 14).
#[tokio::test]
async fn metrics_from_a_network_outside_metrics_allow_get_404_keycloak_management_interface() {
    let app = crate::helpers::spawn_app_with(|c| c.http.metrics_allow = vec!["10.0.0.0/8".into()]).await;
    let res = reqwest::get(app.url("/metrics")).await.unwrap();
    assert_eq!(res.status(), 404);
    assert!(!res.text().await.unwrap().contains("gatehouse_http_requests_total"));
    assert_eq!(reqwest::get(app.url("/health/live")).await.unwrap().status(), 200, "health stays public");
    assert_eq!(reqwest::get(app.url("/health/ready")).await.unwrap().status(), 200, "health stays public");
}

#[tokio::test]
async fn metrics_answer_loopback_by_default_keycloak_management_interface() {
    let app = spawn_app().await;
    let res = reqwest::get(app.url("/metrics")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("# EOF"));
}

#[tokio::test]
async fn metrics_forwarded_for_an_outside_client_by_a_trusted_proxy_get_404_keycloak_management_interface() {
    let app = crate::helpers::spawn_app_with(|c| c.network.trusted_proxies = vec!["127.0.0.1/32".into()]).await;
    let client = reqwest::Client::new();
    let res = client.get(app.url("/metrics")).header("x-forwarded-for", "203.0.113.9").send().await.unwrap();
    assert_eq!(res.status(), 404, "the proxy's client is outside");
    let res = client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200, "the proxy host itself is loopback");
}

#[tokio::test]
async fn management_listen_serves_metrics_and_health_keycloak_management_interface() {
    let app = crate::helpers::spawn_app_with(|c| {
        c.http.management_listen = Some("127.0.0.1:0".parse().unwrap());
        c.http.metrics_allow = vec![];
    })
    .await;
    let mgmt = app.management_base.clone().expect("management listener bound");
    assert_ne!(mgmt, app.base);
    let res = reqwest::get(format!("{mgmt}/metrics")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("# EOF"));
    assert_eq!(reqwest::get(format!("{mgmt}/health/ready")).await.unwrap().status(), 200);
    assert_eq!(reqwest::get(format!("{mgmt}/login")).await.unwrap().status(), 404, "no pages there");
    assert_eq!(reqwest::get(app.url("/metrics")).await.unwrap().status(), 404, "public one refuses");
}
