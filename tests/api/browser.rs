//! A real browser (headless Chromium through chromedriver, spoken to over the
//! W3C WebDriver protocol with plain HTTP) registers, confirms its address and
//! resets its password through mailed links, signs in, and signs out using
//! only the server-rendered pages: no JavaScript of ours is involved.
//! Skipped where chromedriver is not installed, except in CI (`.ci/run`
//! installs it), where its absence is a failure.
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::spawn_app;

pub struct Driver {
    process: Child,
    http: reqwest::Client,
    session: String,
    base: String,
}

impl Driver {
    /// Starts chromedriver and a headless Chromium session; `None` where it is not installed (outside CI).
    pub async fn start() -> Option<Self> {
        Self::start_with(true).await
    }

    /// A browser with JavaScript turned off (content settings), for pages
    /// that must work without it. `script` and `axe` do not work in it.
    pub async fn without_javascript() -> Option<Self> {
        Self::start_with(false).await
    }

    async fn start_with(javascript: bool) -> Option<Self> {
        // The browser passes (pages, accessibility) run once, in the SQLite
        // pass: what a page shows does not depend on the backend, and the
        // HTTP tests cover both. `BROWSER_ON_POSTGRES=1` runs them there too.
        if crate::helpers::on_postgres() && std::env::var_os("BROWSER_ON_POSTGRES").is_none() {
            eprintln!("skipped: browser tests run in the SQLite pass");
            return None;
        }
        let path = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let Some(path) = path else {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "CI must have chromedriver (apt-get install chromium-driver)"
            );
            eprintln!("skipped: chromedriver is not installed");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        // Its own process group, so Drop can end the Chromium it starts too
        // (killing chromedriver alone leaves the browser running).
        let process = Command::new(path)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let profile = tempfile::tempdir().unwrap().keep();
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {"args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
            format!("--user-data-dir={}", profile.display()), "--window-size=1000,900"
        ], "prefs": {"profile.managed_default_content_settings.javascript": if javascript { 1 } else { 2 }}}}}});
        let mut session = None;
        for _ in 0..100 {
            if let Ok(res) = http.post(format!("{base}/session")).json(&caps).send().await {
                let body: Value = res.json().await.unwrap();
                session = Some(body["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned());
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some(Self { process, http, session: session.expect("chromedriver answers"), base })
    }

    pub async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if !body.is_null() {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let body: Value = res.json().await.unwrap();
        assert!(body["value"].get("error").is_none(), "{path}: {body}");
        body["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", json!({"url": url})).await;
    }

    pub async fn find(&self, css: &str) -> String {
        let el = self.call(reqwest::Method::POST, "/element", json!({"using": "css selector", "value": css})).await;
        el.as_object().unwrap().values().next().unwrap().as_str().unwrap().to_owned()
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{el}/value"), json!({"text": text})).await;
    }

    pub async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{el}/click"), json!({})).await;
    }

    pub async fn current_url(&self) -> url::Url {
        let url = self.call(reqwest::Method::GET, "/url", Value::Null).await;
        url::Url::parse(url.as_str().unwrap()).unwrap()
    }

    pub async fn current_path(&self) -> String {
        let url = self.call(reqwest::Method::GET, "/url", Value::Null).await;
        let url = url::Url::parse(url.as_str().unwrap()).unwrap();
        url.path().to_owned()
    }

    pub async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", Value::Null).await.as_str().unwrap().to_owned()
    }

    /// Polls until the page contains `text` (a click may return before the
    /// navigation it starts has finished); returns the page source.
    pub async fn wait_for(&self, text: &str) -> String {
        for _ in 0..100 {
            let html = self.source().await;
            if html.contains(text) {
                return html;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page never showed {text:?}: {}", self.source().await);
    }

    pub async fn script(&self, js: &str) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", json!({"script": js, "args": []})).await
    }

    /// Runs axe-core (the npm package in tests/axe, injected through WebDriver)
    /// on the current page and fails on any serious or critical violation,
    /// naming the rule and the elements. Skipped (with a note) where `npm ci`
    /// has not been run in tests/axe, except in CI.
    pub async fn assert_accessible(&self, page: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/axe/node_modules/axe-core/axe.min.js");
        let Ok(axe) = std::fs::read_to_string(&path) else {
            assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "CI must have axe-core (npm ci in tests/axe)");
            eprintln!("axe skipped on {page}: run `npm ci --prefix tests/axe`");
            return;
        };
        let run = format!(
            "{axe}\nconst done = arguments[arguments.length - 1];\n\
             axe.run(document, {{resultTypes: ['violations']}}).then(r => done(r.violations.map(v => \
             ({{id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}}))), \
             e => done([{{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}}]));"
        );
        let found = self.call(reqwest::Method::POST, "/execute/async", json!({"script": run, "args": []})).await;
        let bad: Vec<&Value> = found
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(bad.is_empty(), "axe-core on {page}: {}", serde_json::to_string_pretty(&bad).unwrap());
    }

    /// Presses Tab until the focused element's text or value contains
    /// `label`, then Enter: the page works by keyboard alone. Panics after
    /// 60 presses.
    pub async fn keyboard_activate(&self, label: &str) {
        for _ in 0..60 {
            self.keys("\u{E004}").await;
            let focused =
                self.script("const e = document.activeElement; return e ? (e.innerText || e.value || '') : '';").await;
            if focused.as_str().is_some_and(|t| t.contains(label)) {
                self.keys("\u{E007}").await;
                return;
            }
        }
        panic!("Tab never reached {label:?}");
    }

    async fn keys(&self, key: &str) {
        let actions = json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
            {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}
        ]}]});
        self.call(reqwest::Method::POST, "/actions", actions).await;
    }

    /// Saves a PNG of the page under target/screenshots/ for a person to look at.
    pub async fn screenshot(&self, name: &str) {
        use base64::Engine;
        let png = self.call(reqwest::Method::GET, "/screenshot", Value::Null).await;
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), bytes).unwrap();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.process.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

#[tokio::test]
async fn a_browser_registers_confirms_resets_signs_in_and_signs_out_without_javascript() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    let password = "a browser-typed passphrase";

    driver.goto(&app.url("/register")).await;
    driver.screenshot("register").await;
    driver.type_into("#username", "Walter").await;
    driver.type_into("#email", "walter@example.com").await;
    driver.type_into("#password", password).await;
    driver.type_into("#password_confirm", "not the same one").await;
    driver.click("button[type=submit]").await;
    let html = driver.wait_for("The passwords do not match.").await;
    assert!(html.contains("value=\"Walter\""), "input kept");
    driver.screenshot("register-error").await;
    driver.type_into("#password", password).await;
    driver.type_into("#password_confirm", password).await;
    driver.click("button[type=submit]").await;

    driver.wait_for("Check your email").await;
    assert_eq!(driver.current_path().await, "/login");
    // The confirmation link arrives over SMTP; the browser opens it and confirms.
    let mail = app.mail.wait_for("walter@example.com", "Confirm your email").await;
    driver.goto(&crate::smtp::link(&mail, &app.url("/register/confirm?"))).await;
    driver.screenshot("confirm").await;
    driver.click("button[type=submit]").await;
    driver.wait_for("Your email address is confirmed").await;

    // Forgot password: the reset link from the mail sets a new one.
    driver.goto(&app.url("/password/forgot")).await;
    driver.type_into("#email", "walter@example.com").await;
    driver.click("button[type=submit]").await;
    driver.wait_for("Check your email").await;
    let mail = app.mail.wait_for("walter@example.com", "Reset your password").await;
    driver.goto(&crate::smtp::link(&mail, &app.url("/password/reset?"))).await;
    let password = "a browser-reset passphrase";
    driver.type_into("#password", password).await;
    driver.type_into("#password_confirm", password).await;
    driver.screenshot("reset").await;
    driver.click("button[type=submit]").await;
    driver.wait_for("Your password is changed").await;

    driver.type_into("#username", "walter@example.com").await;
    driver.type_into("#password", password).await;
    driver.click("button[type=submit]").await;
    // The account overview (sessions have their own section since issue 17).
    let html = driver.wait_for("Your account at a glance").await;
    assert_eq!(driver.current_path().await, "/account");
    assert!(html.contains("walter@example.com"));
    // The session cookie is HttpOnly: page scripts cannot read it.
    let visible = driver.script("return document.cookie").await;
    assert!(!visible.as_str().unwrap().contains("gh_session"), "{visible}");
    driver.screenshot("account").await;

    driver.goto(&app.url("/logout")).await;
    driver.click("button[name=logout][value=yes]").await;
    driver.wait_for("You are signed out.").await;
    assert_eq!(driver.current_path().await, "/login");
    driver.goto(&app.url("/account")).await;
    assert_eq!(driver.current_path().await, "/login", "signed out");
}

#[tokio::test]
async fn a_browser_completes_sign_in_and_consent_and_lands_on_the_relying_party() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    // A stand-in relying party that just answers its callback.
    let rp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rp_port = rp.local_addr().unwrap().port();
    let rp_app = axum::Router::new().route("/cb", axum::routing::get(|| async { "relying party callback" }));
    tokio::spawn(async move { axum::serve(rp, rp_app).await });
    let redirect = format!("http://127.0.0.1:{rp_port}/cb");
    app.state
        .clients
        .register(gatehouse::oauth::clients::ClientSpec {
            client_id: "web".into(),
            name: "Web Shop".into(),
            redirect_uris: vec![redirect.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    app.create_user("yvonne", &[]).await;
    let mut start = url::Url::parse(&app.url("/authorize")).unwrap();
    start
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "web")
        .append_pair("redirect_uri", &redirect)
        .append_pair("scope", "openid profile email")
        .append_pair("state", "st 1")
        .append_pair("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        .append_pair("code_challenge_method", "S256");

    driver.goto(start.as_str()).await;
    driver.wait_for("Sign in").await;
    driver.type_into("#username", "yvonne").await;
    driver.type_into("#password", crate::helpers::PASSWORD).await;
    driver.click("button[type=submit]").await;
    driver.wait_for("Allow Web Shop?").await;
    driver.screenshot("consent").await;
    driver.click("button[name=decision][value=approve]").await;
    driver.wait_for("relying party callback").await;
    let landed = driver.current_url().await;
    assert_eq!(landed.port(), Some(rp_port), "the browser followed the redirect to the client: {landed}");
    let pairs: Vec<(String, String)> = landed.query_pairs().into_owned().collect();
    assert!(pairs.iter().any(|(k, _)| k == "code"));
    assert!(pairs.contains(&("state".into(), "st 1".into())));
}

/// Issue 14 in a real browser: the console's form posts pass the Origin /
/// Sec-Fetch-Site check (Chromium sends `Origin: null` under our
/// `no-referrer` policy, with `Sec-Fetch-Site: same-origin`), a block works,
/// and taking the role from the last administrator is a 409 page.
#[tokio::test]
async fn a_browser_admin_blocks_a_user_and_cannot_remove_the_last_admin() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    app.create_user("root", &["admin"]).await;
    app.create_user("mallory", &[]).await;
    driver.goto(&app.url("/login")).await;
    driver.type_into("#username", "root").await;
    driver.type_into("#password", crate::helpers::PASSWORD).await;
    driver.click("button[type=submit]").await;
    driver.wait_for("Your account at a glance").await;

    driver.goto(&app.url("/admin/users")).await;
    driver.wait_for("mallory").await;
    driver.screenshot("admin-users").await;
    driver.click("button[aria-label=\"Block mallory\"]").await;
    driver.wait_for("Unblock").await;
    assert!(app.state.accounts.find("mallory").await.unwrap().blocked, "the block went through");

    driver.click("button[aria-label=\"Remove admin from root\"]").await;
    driver.wait_for("last administrator").await;
    driver.screenshot("admin-last-admin").await;
    let roles = app.state.accounts.roles(&app.state.accounts.find("root").await.unwrap().id).await.unwrap();
    assert!(roles.contains(&"admin".to_owned()), "{roles:?}");
}

/// Issue 17 item 5: the public pages pass axe-core (no serious or critical
/// violations), signing in works by keyboard alone and with JavaScript off.
#[tokio::test]
async fn the_public_pages_pass_axe_and_sign_in_works_by_keyboard_and_without_javascript() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    app.create_user("kim", &[]).await;
    for (path, name) in [("/login", "login"), ("/register", "register"), ("/password/forgot", "forgot")] {
        driver.goto(&app.url(path)).await;
        driver.assert_accessible(name).await;
    }
    driver.goto(&app.url("/login")).await;
    driver.type_into("#username", "kim").await;
    driver.type_into("#password", crate::helpers::PASSWORD).await;
    driver.keyboard_activate("Sign in").await;
    driver.wait_for("Your account at a glance").await;
    driver.assert_accessible("account").await;
    driver.goto(&app.url("/logout")).await;
    driver.assert_accessible("logout").await;
    drop(driver);

    let Some(plain) = Driver::without_javascript().await else { return };
    plain.goto(&app.url("/login")).await;
    plain.type_into("#username", "kim").await;
    plain.type_into("#password", crate::helpers::PASSWORD).await;
    plain.click("button[type=submit]").await;
    plain.wait_for("Your account at a glance").await;
    assert_eq!(plain.current_path().await, "/account");
}
