//! The `gatehouse` binary: user and client commands, config errors, and
//! `serve` with graceful shutdown. Each test runs the real binary in a fresh
//! directory (and its own PostgreSQL database under TEST_DATABASE=postgres).
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};

use gatehouse::store::testing::TempPostgres;

use crate::helpers::{on_postgres, postgres_url};

struct Env {
    dir: tempfile::TempDir,
    db: Option<TempPostgres>,
}

impl Env {
    async fn new() -> Self {
        let db = if on_postgres() { Some(TempPostgres::create(&postgres_url().unwrap()).await.unwrap()) } else { None };
        Self { dir: tempfile::tempdir().unwrap(), db }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        cmd.args(args).current_dir(self.dir.path()).env_clear().env("GATEHOUSE_PASSWORD__ARGON2_MEMORY_KIB", "256");
        if let Some(db) = &self.db {
            cmd.env("GATEHOUSE_DATABASE__URL", &db.url);
        }
        cmd
    }

    fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut child =
            self.command(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run(args, stdin);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a command that must fail; returns its one stderr line.
    fn fails(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run(args, stdin);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        err
    }
}

#[tokio::test]
async fn user_commands_create_list_show_block_and_set_roles() {
    let env = Env::new().await;
    let out = env.ok(
        &["user", "create", "--username", "Zoe", "--email", "zoe@example.com", "--role", "admin", "--password-stdin"],
        "a long enough password\n",
    );
    assert!(out.contains("created user Zoe"));
    // Another admin, so Zoe is not the last one (she cannot be demoted or blocked then).
    env.ok(
        &["user", "create", "--username", "Root", "--email", "root@example.com", "--role", "admin", "--password-stdin"],
        "a long enough password\n",
    );
    let list = env.ok(&["user", "list"], "");
    assert!(list.contains("Zoe") && list.contains("zoe@example.com") && list.contains("active"));
    let show = env.ok(&["user", "show", "ZOE"], "");
    assert!(show.contains("admin user") && show.contains("(verified)"), "{show}");
    env.ok(&["user", "block", "zoe"], "");
    assert!(env.ok(&["user", "show", "zoe@example.com"], "").contains("blocked"));
    env.ok(&["user", "unblock", "zoe"], "");
    assert!(env.ok(&["user", "reset-mfa", "zoe"], "").contains("two-step sign-in removed for Zoe"));
    let roles = env.ok(&["user", "set-roles", "zoe", "user"], "");
    assert!(roles.contains("now has roles: user"), "{roles}");
    assert!(env.fails(&["user", "set-roles", "zoe", "wizard"], "").contains("Unknown role"));
    assert!(env.fails(&["user", "show", "nobody"], "").contains("no such user"));
}

#[tokio::test]
async fn bad_user_input_fails_in_one_line_and_writes_nothing() {
    let env = Env::new().await;
    let err = env.fails(
        &["user", "create", "--username", "x y", "--email", "bad", "--password-stdin"],
        "a long enough password\n",
    );
    assert!(err.contains("username") && err.contains("email"), "{err}");
    assert!(
        env.fails(&["user", "create", "--username", "yan", "--email", "y@example.com", "--password-stdin"], "")
            .contains("no password")
    );
    assert!(
        env.fails(&["user", "create", "--username", "yan", "--email", "y@example.com", "--password-stdin"], "short\n")
            .contains("at least 12")
    );
    env.ok(
        &["user", "create", "--username", "yan", "--email", "y@example.com", "--password-stdin"],
        "a long enough password\n",
    );
    assert!(
        env.fails(
            &["user", "create", "--username", "YAN", "--email", "z@example.com", "--password-stdin"],
            "a long enough password\n"
        )
        .contains("taken")
    );
    let list = env.ok(&["user", "list"], "");
    assert_eq!(list.lines().count(), 2, "header and one user: {list}");
}

#[tokio::test]
async fn client_commands_register_list_and_delete() {
    let env = Env::new().await;
    let out = env.ok(
        &["client", "create", "--client-id", "web", "--name", "Web App", "--redirect-uri", "https://app.example/cb"],
        "",
    );
    assert!(out.contains("created confidential client web"));
    let secret_line = out.lines().find(|l| l.starts_with("client_secret: ")).unwrap();
    assert_eq!(secret_line.len(), "client_secret: ".len() + 43, "a 256-bit secret");
    let out = env.ok(
        &[
            "client",
            "create",
            "--client-id",
            "spa",
            "--name",
            "SPA",
            "--redirect-uri",
            "http://127.0.0.1:5000/cb",
            "--public",
        ],
        "",
    );
    assert!(out.contains("public client spa") && !out.contains("client_secret"));
    assert!(
        env.fails(
            &[
                "client",
                "create",
                "--client-id",
                "own",
                "--name",
                "Own",
                "--redirect-uri",
                "https://a.example/cb",
                "--secret-stdin"
            ],
            "too-short\n"
        )
        .contains("at least 32")
    );
    env.ok(
        &[
            "client",
            "create",
            "--client-id",
            "own",
            "--name",
            "Own",
            "--redirect-uri",
            "https://a.example/cb",
            "--secret-stdin",
            "--skip-consent",
        ],
        "0123456789abcdef0123456789abcdef\n",
    );
    assert!(
        env.fails(
            &["client", "create", "--client-id", "web", "--name", "Again", "--redirect-uri", "https://app.example/cb"],
            ""
        )
        .contains("already exists")
    );
    assert!(
        env.fails(
            &[
                "client",
                "create",
                "--client-id",
                "bad",
                "--name",
                "Bad",
                "--redirect-uri",
                "https://app.example/cb#frag"
            ],
            ""
        )
        .contains("fragment")
    );
    let list = env.ok(&["client", "list"], "");
    assert!(list.contains("web") && list.contains("spa") && list.contains("own") && !list.contains("bad "));
    env.ok(&["client", "delete", "spa"], "");
    assert!(env.fails(&["client", "delete", "spa"], "").contains("no client"));
}

#[tokio::test]
async fn an_unknown_config_key_is_a_startup_error_naming_it() {
    let env = Env::new().await;
    std::fs::write(env.dir.path().join("gatehouse.toml"), "listen = \"127.0.0.1:0\"\nlisten_prot = 1\n").unwrap();
    assert!(env.fails(&["migrate"], "").contains("listen_prot"));
    std::fs::write(env.dir.path().join("other.toml"), "[session]\nlifetime = 5\n").unwrap();
    assert!(env.fails(&["--config", "other.toml", "migrate"], "").contains("lifetime"));
    assert!(env.fails(&["--config", "missing.toml", "migrate"], "").contains("does not exist"));
    // GATEHOUSE_CONFIG names the file when --config does not.
    std::fs::write(env.dir.path().join("good.toml"), "[session]\nlifetime_secs = 60\n").unwrap();
    std::fs::remove_file(env.dir.path().join("gatehouse.toml")).unwrap();
    let out = env.command(&["migrate"]).env("GATEHOUSE_CONFIG", "good.toml").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = env.command(&["migrate"]).env("GATEHOUSE_CONFIG", "other.toml").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("lifetime"));
}

/// A running `gatehouse serve` process.
struct Server {
    child: std::process::Child,
    base: String,
}

impl Server {
    fn start(env: &Env) -> Self {
        Self::start_with(env, &[])
    }

    fn start_with(env: &Env, vars: &[(&str, &str)]) -> Self {
        let mut child = env
            .command(&["serve"])
            .envs(vars.iter().copied())
            .env("GATEHOUSE_LISTEN", "127.0.0.1:0")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        // Read the log on a thread so a server that never says where it listens fails the test, not hangs it.
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("addr=").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_owned());
                }
            }
        });
        let addr = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("serve logs its address");
        Self { child, base: format!("http://{addr}") }
    }

    /// Sends SIGTERM and returns whether the process exited cleanly.
    fn terminate(self) -> bool {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        self.terminate_wait()
    }

    /// Waits for the process (already signalled) and returns whether it exited cleanly.
    fn terminate_wait(mut self) -> bool {
        self.child.wait().unwrap().success()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

#[tokio::test]
async fn serve_starts_on_defaults_and_drains_on_sigterm() {
    let env = Env::new().await;
    let server = Server::start(&env);
    let res = reqwest::get(format!("{}/health/ready", server.base)).await.unwrap();
    assert_eq!(res.status(), 200);
    if env.db.is_none() {
        assert!(env.dir.path().join("data/gatehouse.db").exists(), "SQLite in ./data by default");
    }
    assert!(server.terminate(), "clean exit after SIGTERM");
}

#[tokio::test]
async fn two_serve_processes_on_one_postgres_database_share_sessions() {
    if !on_postgres() {
        eprintln!("skipped: runs with TEST_DATABASE=postgres");
        return;
    }
    let env = Env::new().await;
    env.ok(
        &["user", "create", "--username", "pat", "--email", "pat@example.com", "--password-stdin"],
        "a long enough password\n",
    );
    let (a, b) = (Server::start(&env), Server::start(&env));
    let browser =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = browser.get(format!("{}/login", a.base)).send().await.unwrap().text().await.unwrap();
    let token = crate::helpers::hidden_value(&page, "csrf_token").unwrap();
    let form = [("username", "pat"), ("password", "a long enough password"), ("csrf_token", token.as_str())];
    let res = browser.post(format!("{}/login", a.base)).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303, "signed in on A");
    assert_eq!(browser.get(format!("{}/account", b.base)).send().await.unwrap().status(), 200, "valid on B");

    // Sign out everywhere on B; A refuses the session at once.
    let page = browser.get(format!("{}/account", b.base)).send().await.unwrap().text().await.unwrap();
    let token = crate::helpers::hidden_value(&page, "csrf_token").unwrap();
    let res = browser
        .post(format!("{}/account/sessions/revoke-all", b.base))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(browser.get(format!("{}/account", a.base)).send().await.unwrap().status(), 303, "refused on A");
    assert!(a.terminate() && b.terminate());
}

#[tokio::test]
async fn environment_keys_are_checked_and_may_come_from_files() {
    let env = Env::new().await;
    // A typo in an environment key is a startup error naming it.
    let out = env.command(&["migrate"]).env("GATEHOUSE_SESION__LIFETIME_SECS", "60").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sesion"));
    // Any key can be read from a file (Docker/Kubernetes secrets).
    let secret = env.dir.path().join("from");
    std::fs::write(&secret, "ops@example.com\n").unwrap();
    let out = env.command(&["migrate"]).env("GATEHOUSE_MAIL__FROM_FILE", &secret).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = env.command(&["migrate"]).env("GATEHOUSE_MAIL__FROM_FILE", "/nonexistent/secret").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("GATEHOUSE_MAIL__FROM_FILE"));
}

#[tokio::test]
async fn an_unreachable_database_is_one_line_without_its_password() {
    let env = Env::new().await;
    let out = env
        .command(&["user", "list"])
        .env("GATEHOUSE_DATABASE__URL", "postgres://gatehouse:hunter2@127.0.0.1:1/nothing")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("cannot open the database") && !err.contains("hunter2"), "{err}");
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_request_finish() {
    use std::io::Read;
    let env = Env::new().await;
    let server = Server::start(&env);
    let addr = server.base.trim_start_matches("http://").to_owned();
    // A request whose body is still arriving when the signal comes.
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    let body = "username=a&password=b";
    write!(
        stream,
        "POST /login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\nusername=a",
        body.len()
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    std::thread::sleep(std::time::Duration::from_millis(300));
    stream.write_all(&body.as_bytes()["username=a".len()..]).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 403"), "the request was answered (CSRF refusal): {answer}");
    assert!(server.terminate_wait(), "then the process exits cleanly");
}

#[tokio::test]
async fn keys_commands_list_and_rotate() {
    let env = Env::new().await;
    let list = env.ok(&["keys", "list"], "");
    assert!(list.contains("current") && list.contains("next"), "{list}");
    let current = list.lines().find(|l| l.contains(" current ")).unwrap().split_whitespace().next().unwrap().to_owned();
    let out = env.ok(&["keys", "rotate"], "");
    assert!(out.contains("rotated"));
    let retiring = out.lines().find(|l| l.contains(" retiring ")).expect("old key retiring");
    assert!(retiring.starts_with(&current));
    assert_eq!(out.lines().filter(|l| l.contains(" current ")).count(), 1);
}

/// Registers `username` through the pages of a running server.
async fn register_over_http(base: &str, username: &str) {
    let browser =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = browser.get(format!("{base}/register")).send().await.unwrap().text().await.unwrap();
    let token = crate::helpers::hidden_value(&page, "csrf_token").unwrap();
    let email = format!("{username}@example.com");
    let pw = "a long enough password";
    let form =
        [("username", username), ("email", &email), ("password", pw), ("password_confirm", pw), ("csrf_token", &token)];
    let res = browser.post(format!("{base}/register")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303, "registered");
}

// Issue 13, item 9: with the default lease (20 s, renewed while a send is in
// flight), a mail whose sender was killed mid-send goes out within 30 s of a
// restart. Real time: it is a real process on the system clock.
#[tokio::test]
async fn mail_being_sent_when_serve_is_killed_is_sent_within_30_s_of_a_restart() {
    use std::time::{Duration, Instant};
    let env = Env::new().await;
    // This relay stops reading in the middle of the message and never resumes.
    let stalling = crate::smtp::SmtpSink::start().await;
    stalling.set_hold(true);
    let url = stalling.url();
    let first = Server::start_with(&env, &[("GATEHOUSE_MAIL__SMTP_URL", url.as_str())]);
    register_over_http(&first.base, "kim").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while stalling.held_count() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(stalling.held_count(), 1, "the relay has half the message");
    // kill -9 mid-send: no shutdown code runs, the lease stays in the database.
    let pid = first.child.id().to_string();
    assert!(Command::new("kill").args(["-KILL", &pid]).status().unwrap().success());
    assert!(!first.terminate_wait(), "killed");

    let working = crate::smtp::SmtpSink::start().await;
    let url = working.url();
    let second = Server::start_with(&env, &[("GATEHOUSE_MAIL__SMTP_URL", url.as_str())]);
    let restarted = Instant::now();
    while working.count_to("kim@example.com") == 0 && restarted.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = restarted.elapsed();
    assert_eq!(working.count_to("kim@example.com"), 1, "sent once within 30 s of the restart (waited {took:?})");
    let mail = working.wait_for("kim@example.com", "Confirm your email").await;
    assert!(mail.text.contains("/register/confirm?token="));
    assert_eq!(stalling.count_to("kim@example.com"), 0, "the half-sent copy was never delivered");
    // The operator's view: once the server has recorded the delivery (a
    // moment after the sink has the message), it is listed as sent.
    let mut out = String::new();
    for _ in 0..500 {
        out = env.ok(&["mail", "list", "--all"], "");
        if out.contains(" sent ") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(out.contains(" sent ") && out.contains("kim@example.com") && out.contains("confirm"), "{out}");
    assert!(second.terminate());
}

#[tokio::test]
async fn mail_commands_list_retry_and_purge_dead_letters() {
    let env = Env::new().await;
    // This "server" hangs up on every connection: every attempt fails, and one
    // attempt is all there is. (A stopped sink's port could be taken by another
    // test's listener meanwhile, so the port stays ours while it matters.)
    let refusing = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://{}", refusing.local_addr().unwrap());
    let hang_up = tokio::spawn(async move {
        while let Ok((socket, _)) = refusing.accept().await {
            drop(socket);
        }
    });
    let vars = [("GATEHOUSE_MAIL__SMTP_URL", url.as_str()), ("GATEHOUSE_MAIL__MAX_ATTEMPTS", "1")];
    let server = Server::start_with(&env, &vars);
    register_over_http(&server.base, "lou").await;
    let mut listed = String::new();
    for _ in 0..500 {
        listed = env.ok(&["mail", "list"], "");
        if listed.contains("dead") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(listed.contains("dead") && listed.contains("lou@example.com"), "{listed}");
    assert!(!listed.contains("token="), "no bodies, no links in the listing");
    let metrics = reqwest::get(format!("{}/metrics", server.base)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("gatehouse_mail_dead_letters 1"), "{metrics}");
    assert!(server.terminate());

    hang_up.abort();

    // SMTP works again (at a new address); the operator resends the dead letter.
    let sink = crate::smtp::SmtpSink::start().await;
    let url = format!("smtp://127.0.0.1:{}", sink.port());
    let vars = [("GATEHOUSE_MAIL__SMTP_URL", url.as_str()), ("GATEHOUSE_MAIL__MAX_ATTEMPTS", "1")];
    let id = listed.lines().find(|l| l.contains("lou@example.com")).unwrap().split_whitespace().next().unwrap();
    let id = id.to_owned();
    assert!(env.fails(&["mail", "retry", "no-such-id"], "").contains("no unsent message"));
    assert!(env.ok(&["mail", "retry", &id], "").contains("queued again"));
    let server = Server::start_with(&env, &vars);
    sink.wait_for("lou@example.com", "Confirm your email").await;
    assert!(server.terminate());
    assert!(env.fails(&["mail", "retry", &id], "").contains("no unsent message"), "sent rows are not resent");
    assert!(env.ok(&["mail", "purge", "--older-than-days", "0"], "").contains("deleted 1"));
    assert!(!env.ok(&["mail", "list", "--all"], "").contains("lou@example.com"));
}

/// Runs `statements` on the environment's database, as someone with direct
/// database access would.
async fn raw_sql(env: &Env, sqlite: &[&'static str], postgres: &[&'static str]) {
    use sqlx::Connection;
    match &env.db {
        Some(db) => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            for s in postgres {
                sqlx::query(*s).execute(&mut conn).await.unwrap();
            }
        }
        None => {
            let url = format!("sqlite://{}/data/gatehouse.db", env.dir.path().display());
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            for s in sqlite {
                sqlx::query(*s).execute(&mut conn).await.unwrap();
            }
        }
    }
}

#[tokio::test]
async fn audit_verify_passes_then_names_a_tampered_row_and_tail_json_parses() {
    let env = Env::new().await;
    env.ok(
        &["user", "create", "--username", "Uma", "--email", "uma@example.com", "--password-stdin"],
        "a long enough password\n",
    );
    env.ok(&["user", "block", "uma"], "");
    env.ok(&["user", "set-roles", "uma", "admin"], "");
    env.ok(
        &["client", "create", "--client-id", "web", "--name", "Web", "--redirect-uri", "https://app.example/cb"],
        "",
    );
    env.ok(&["keys", "rotate"], "");
    let verified = env.ok(&["audit", "verify"], "");
    assert!(verified.starts_with("audit log intact: "), "{verified}");

    let tail = env.ok(&["audit", "tail", "-n", "50", "--json"], "");
    let events: Vec<serde_json::Value> =
        tail.lines().map(|l| serde_json::from_str(l).expect("one JSON object a line")).collect();
    let count: usize = verified.trim_end().rsplit(' ').nth(1).unwrap().parse().unwrap();
    assert_eq!(events.len(), count, "{verified}");
    let action = |a: &str| events.iter().find(|e| e["action"] == a).unwrap_or_else(|| panic!("no {a}: {tail}"));
    let blocked = action("user_blocked");
    assert_eq!(blocked["actor"], "cli");
    assert_eq!(action("role_changed")["detail"]["roles"], serde_json::json!(["admin", "user"]));
    assert_eq!(action("client_created")["target"], "web");
    assert!(events.iter().any(|e| e["action"] == "key_rotated" && e["actor"] == "cli"), "{tail}");
    assert!(events.iter().any(|e| e["action"] == "key_rotated" && e["actor"] == "system"), "first start: {tail}");
    let table = env.ok(&["audit", "tail"], "");
    assert!(table.starts_with("    ID") && table.contains("user_blocked"), "{table}");

    // The database refuses the edit; an attacker drops the trigger first.
    raw_sql(
        &env,
        &[
            "drop trigger audit_log_no_update",
            "update audit_log set actor = 'someone-else' where action = 'user_blocked'",
        ],
        &[
            "drop trigger audit_log_no_change on audit_log",
            "update audit_log set actor = 'someone-else' where action = 'user_blocked'",
        ],
    )
    .await;
    let err = env.fails(&["audit", "verify"], "");
    assert!(err.contains(&format!("audit log broken at event {}", blocked["id"])), "{err}");
}

#[tokio::test]
async fn ip_rules_added_by_the_cli_take_effect_in_a_running_server_without_restart() {
    let env = Env::new().await;
    let server = Server::start(&env);
    let login = format!("{}/login", server.base);
    let status = || async { reqwest::get(&login).await.unwrap().status().as_u16() };
    assert_eq!(status().await, 200);
    // Bad input: one clear line, nothing stored.
    let err = env.fails(&["ip", "deny", "10.0.0.0/33"], "");
    assert!(err.contains("not an IP address or CIDR range"), "{err}");
    assert!(env.fails(&["ip", "allow", "::1", "--role", "wizard"], "").contains("role"));
    assert!(env.fails(&["ip", "remove", "999"], "").contains("no ip rule"));

    let out = env.ok(&["ip", "deny", "127.0.0.1/32", "--note", "test lockout"], "");
    let id = out.split_whitespace().nth(3).unwrap().trim_end_matches(':').to_owned();
    env.ok(&["ip", "allow", "2001:db8::/32", "--client", "web"], "");
    let list = env.ok(&["ip", "list"], "");
    assert!(list.contains("127.0.0.1/32") && list.contains("global") && list.contains("test lockout"), "{list}");
    assert!(list.contains("2001:db8::/32") && list.contains("client web"), "{list}");
    // Picked up within the refresh interval (2 s), by the same process.
    let mut seen = 0;
    for _ in 0..100 {
        seen = status().await;
        if seen == 403 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(seen, 403, "the deny rule took effect");
    assert!(env.ok(&["ip", "remove", &id], "").contains(&format!("removed ip rule {id}")));
    for _ in 0..100 {
        seen = status().await;
        if seen == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(seen, 200, "removing it lifts it");
    assert!(!env.ok(&["ip", "list"], "").contains("127.0.0.1/32"));
    // Each change is in the audit log, made by the CLI.
    let tail = env.ok(&["audit", "tail", "--json"], "");
    let changes = tail.lines().filter(|l| l.contains("\"ip_rule_changed\"") && l.contains("\"cli\"")).count();
    assert_eq!(changes, 3, "{tail}");
}

#[tokio::test]
async fn client_create_takes_web_origins_and_refuses_bad_ones_naming_the_value() {
    let env = Env::new().await;
    let create = |origin: &str| {
        vec![
            "client".to_owned(),
            "create".into(),
            "--client-id".into(),
            "spa".into(),
            "--name".into(),
            "SPA".into(),
            "--redirect-uri".into(),
            "https://spa.example/cb".into(),
            "--public".into(),
            "--web-origin".into(),
            origin.to_owned(),
        ]
    };
    for (bad, why) in [
        ("https://spa.example/app", "path"),
        ("https://spa.example/", "path"),
        ("https://spa.example?x=1", "query"),
        ("https://spa.example#x", "fragment"),
        ("https://me@spa.example", "user info"),
        ("https://*.spa.example", "wildcard"),
        ("*", "wildcard"),
        ("http://spa.example", "https"),
    ] {
        let args = create(bad);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let err = env.fails(&args, "");
        assert!(err.contains(&format!("web origin {bad:?}")) && err.contains(why), "{bad}: {err}");
    }
    assert!(!env.ok(&["client", "list"], "").contains("spa"), "a refused client is not half made");

    let out = env.ok(
        &[
            "client",
            "create",
            "--client-id",
            "spa",
            "--name",
            "SPA",
            "--redirect-uri",
            "https://spa.example/cb",
            "--public",
            "--web-origin",
            "https://SPA.example:443",
            "--web-origin",
            "http://127.0.0.1:5173",
        ],
        "",
    );
    assert!(out.contains("web origins: https://spa.example http://127.0.0.1:5173"), "{out}");
}

#[tokio::test]
async fn a_service_role_is_set_shown_and_cleared_and_only_for_a_confidential_credentials_client() {
    let env = Env::new().await;
    let svc = ["client", "create", "--client-id", "ops", "--name", "Ops", "--grant-type", "client_credentials"];
    let out = env.ok(&[&svc[..], &["--scope", "admin", "--service-role", "admin"]].concat(), "");
    assert!(out.contains("service roles: admin"), "{out}");
    assert!(env.ok(&["client", "show", "ops"], "").contains("service_roles:             admin"));
    env.ok(&["client", "update", "ops", "--service-role", ""], "");
    let shown = env.ok(&["client", "show", "ops"], "");
    assert!(shown.lines().any(|l| l.trim_end() == "service_roles:"), "cleared: {shown}");
    let web = ["client", "create", "--client-id", "web", "--name", "Web", "--redirect-uri", "https://app.example/cb"];
    let err = env.fails(&[&web[..], &["--service-role", "admin"]].concat(), "");
    assert!(err.contains("client_credentials"), "{err}");
    assert!(env.fails(&["client", "update", "ops", "--service-role", "Not A Role"], "").contains("service role"));
}

/// The console's settings page of a real `serve`: each key's source is the
/// variable or `…_FILE` variable that set it, and neither secret shows.
#[tokio::test]
async fn the_settings_page_names_env_and_file_sources_and_hides_their_secrets() {
    let env = Env::new().await;
    let key = ("GATEHOUSE_KEYS__ENCRYPTION_KEY", "c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LXNob3ctISE=");
    let mut create = env.command(&[
        "user",
        "create",
        "--username",
        "root",
        "--email",
        "root@example.com",
        "--role",
        "admin",
        "--password-stdin",
    ]);
    let mut child = create.env(key.0, key.1).stdin(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"a long enough password\n").unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    let secret_file = env.dir.path().join("smtp_url");
    std::fs::write(&secret_file, "smtp://mailer:file-secret-42@127.0.0.1:2525\n").unwrap();
    let file_var = secret_file.to_str().unwrap();
    let server = Server::start_with(&env, &[key, ("GATEHOUSE_MAIL__SMTP_URL_FILE", file_var)]);
    let browser =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let login = browser.get(format!("{}/login", server.base)).send().await.unwrap().text().await.unwrap();
    let csrf = crate::helpers::hidden_value(&login, "csrf_token").unwrap();
    let form = [("username", "root"), ("password", "a long enough password"), ("csrf_token", csrf.as_str())];
    let res = browser.post(format!("{}/login", server.base)).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let res = browser.get(format!("{}/admin/settings", server.base)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("GATEHOUSE_MAIL__SMTP_URL_FILE") && html.contains("GATEHOUSE_KEYS__ENCRYPTION_KEY"),
        "{html}"
    );
    assert!(html.contains("GATEHOUSE_LISTEN") && html.contains("compiled default"));
    assert!(!html.contains("file-secret-42") && !html.contains("mailer:"), "{html}");
    assert!(!html.contains(key.1) && !html.contains("c2VjcmV0"));
    assert!(server.terminate());
}
