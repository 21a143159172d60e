//! The release (issue 13, item 10). No Docker engine runs here, so the
//! Docker build is checked statically: every file the compile reads (derived
//! from the source: `include_str!`/`include_bytes!` paths, `sqlx::migrate!`
//! directories, askama templates, plus `src/` and the manifests) must be in
//! the build context (not hidden by `.dockerignore`) and copied by the
//! Dockerfile's build stage. Also `gatehouse health`, the image's
//! HEALTHCHECK, against a ready server, a port nothing listens on, a server
//! that is not ready and one that never answers.
use std::path::Path;
use std::process::{Command, Output};

use crate::helpers::{free_port, spawn_app};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every file under `dir` (relative to the checkout), recursively.
fn files_under(dir: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![Path::new(ROOT).join(dir)];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            out.push(path.strip_prefix(ROOT).unwrap().to_string_lossy().replace('\\', "/"));
        }
    }
    out.sort();
    out
}

/// `a/b/../c` → `a/c`.
fn normalize(path: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                parts.pop().expect("path leaves the checkout");
            }
            std::path::Component::CurDir => {}
            other => parts.push(other.as_os_str().to_string_lossy().into_owned()),
        }
    }
    parts.join("/")
}

/// The string literal arguments of every `marker` (e.g. `include_str!(`) in `text`.
fn literal_args<'a>(text: &'a str, marker: &str, file: &str) -> Vec<&'a str> {
    text.match_indices(marker)
        .map(|(at, _)| {
            let rest = text[at + marker.len()..].trim_start();
            let Some(rest) = rest.strip_prefix('"') else {
                panic!("{file}: {marker} without a plain string literal; teach tests/api/release.rs to read it");
            };
            &rest[..rest.find('"').unwrap()]
        })
        .collect()
}

/// The files the compile reads, relative to the checkout, derived from the source.
fn compile_inputs() -> Vec<String> {
    let mut inputs = vec!["Cargo.toml".to_owned(), "Cargo.lock".to_owned()];
    for optional in ["build.rs", "askama.toml", "rust-toolchain.toml", "rust-toolchain"] {
        if Path::new(ROOT).join(optional).exists() {
            inputs.push(optional.to_owned());
        }
    }
    let sources = files_under("src");
    let mut uses_templates = false;
    for file in sources.iter().filter(|f| f.ends_with(".rs")) {
        let text = std::fs::read_to_string(Path::new(ROOT).join(file)).unwrap();
        let dir = Path::new(file).parent().unwrap();
        for marker in ["include_str!(", "include_bytes!("] {
            // Relative to the file that includes it.
            inputs.extend(literal_args(&text, marker, file).into_iter().map(|p| normalize(&dir.join(p))));
        }
        // Relative to the crate root; the whole directory is read.
        for dir in literal_args(&text, "migrate!(", file) {
            let migrations = files_under(dir);
            assert!(!migrations.is_empty(), "{file}: migrate!({dir:?}) names an empty directory");
            inputs.extend(migrations);
        }
        for template in literal_args(&text, "#[template(path = ", file) {
            let path = format!("templates/{template}");
            assert!(Path::new(ROOT).join(&path).is_file(), "{file}: template {path} is not in templates/");
            uses_templates = true;
        }
    }
    // Templates extend and include each other: the whole directory.
    if uses_templates {
        inputs.extend(files_under("templates"));
    }
    inputs.extend(sources);
    inputs.sort();
    inputs.dedup();
    inputs
}

/// One `.dockerignore` rule.
struct Rule {
    segments: Vec<String>,
    keep: bool,
}

/// The rules of a `.dockerignore` text (comments and blank lines skipped,
/// leading `/` and trailing `/` dropped, as Docker cleans them).
fn dockerignore_rules(text: &str) -> Vec<Rule> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (keep, pattern) = match l.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, l),
            };
            assert!(!pattern.contains('['), "character classes are not handled here: {pattern}");
            let pattern = pattern.trim_start_matches('/').trim_end_matches('/');
            Rule { segments: pattern.split('/').filter(|s| *s != ".").map(str::to_owned).collect(), keep }
        })
        .collect()
}

/// `*` and `?` within one path segment.
fn segment_matches(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            segment_matches(&pattern[1..], name) || (!name.is_empty() && segment_matches(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => segment_matches(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => segment_matches(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// Segment-wise match with `**` spanning any number of directories.
fn path_matches(pattern: &[String], path: &[&str]) -> bool {
    match pattern.first() {
        None => path.is_empty(),
        Some(p) if p == "**" => (0..=path.len()).any(|skip| path_matches(&pattern[1..], &path[skip..])),
        Some(p) => {
            !path.is_empty()
                && segment_matches(p.as_bytes(), path[0].as_bytes())
                && path_matches(&pattern[1..], &path[1..])
        }
    }
}

/// Whether `.dockerignore` leaves `file` out of the context: the last rule
/// matching the file or one of its directories decides.
fn ignored(rules: &[Rule], file: &str) -> bool {
    let parts: Vec<&str> = file.split('/').collect();
    let mut out = false;
    for rule in rules {
        if (1..=parts.len()).any(|n| path_matches(&rule.segments, &parts[..n])) {
            out = !rule.keep;
        }
    }
    out
}

/// The sources of the Dockerfile's `COPY`/`ADD` instructions that copy from
/// the build context (not `--from` another stage).
fn dockerfile_copies(text: &str) -> Vec<String> {
    let joined = text.replace("\\\n", " ");
    let mut sources = Vec::new();
    for line in joined.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
        let Some((instruction, rest)) = line.split_once(char::is_whitespace) else { continue };
        if !matches!(instruction.to_ascii_uppercase().as_str(), "COPY" | "ADD") {
            continue;
        }
        let rest = rest.trim();
        let words: Vec<String> = if rest.starts_with('[') {
            serde_json::from_str(rest).unwrap()
        } else {
            rest.split_whitespace().map(str::to_owned).collect()
        };
        if words.iter().any(|w| w.starts_with("--from")) {
            continue;
        }
        let args: Vec<&String> = words.iter().filter(|w| !w.starts_with("--")).collect();
        sources
            .extend(args[..args.len() - 1].iter().map(|s| s.trim_start_matches("./").trim_end_matches('/').to_owned()));
    }
    sources
}

/// Whether one of the `COPY` sources brings `file` into the build stage.
fn copied(sources: &[String], file: &str) -> bool {
    sources.iter().any(|s| s.is_empty() || s == "." || file == s || file.starts_with(&format!("{s}/")))
}

/// The compile inputs the Docker build would miss, with why.
fn missing_from_build(dockerfile: &str, dockerignore: &str) -> Vec<String> {
    let rules = dockerignore_rules(dockerignore);
    let copies = dockerfile_copies(dockerfile);
    let mut missing = Vec::new();
    for file in compile_inputs() {
        if ignored(&rules, &file) {
            missing.push(format!("{file} (excluded by .dockerignore)"));
        } else if !copied(&copies, &file) {
            missing.push(format!("{file} (not copied by the Dockerfile)"));
        }
    }
    missing
}

fn read(name: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(name)).unwrap_or_default()
}

#[test]
fn the_docker_build_context_and_copies_hold_every_file_the_compile_reads() {
    let inputs = compile_inputs();
    // The derivation finds what the source includes today (and whatever is added later).
    for expected in ["assets/breached-passwords.bin", "static/css/app.css", "migrations/postgres/0001_foundation.sql"] {
        assert!(inputs.iter().any(|i| i == expected), "{expected} not derived: {inputs:?}");
    }
    assert!(inputs.iter().any(|i| i.starts_with("templates/mail/")), "templates derived");
    let missing = missing_from_build(&read("Dockerfile"), &read(".dockerignore"));
    assert!(missing.is_empty(), "the Docker build would miss: {missing:#?}");
}

#[test]
fn the_check_catches_an_excluded_or_uncopied_asset() {
    // The Dockerfile before issue 13 copied only some directories.
    let old = "FROM rust AS build\nCOPY Cargo.toml Cargo.lock ./\nCOPY src src\nCOPY migrations migrations\n\
               COPY templates templates\nCOPY static static\nRUN cargo build --release --locked\n";
    let missing = missing_from_build(old, "");
    assert_eq!(missing, vec!["assets/breached-passwords.bin (not copied by the Dockerfile)".to_owned()]);
    let everything = "FROM rust AS build\nCOPY . .\nFROM debian\nCOPY --from=build /src/target/release/gatehouse /x\n";
    assert!(missing_from_build(everything, "target/\n").is_empty());
    // As in Docker, `*` stays within one directory: a top-level `*.bin` hides nothing in assets/.
    assert!(missing_from_build(everything, "*.bin\n").is_empty());
    for hiding in ["assets", "/assets/", "assets/*.bin", "**/*.bin", "assets/*", "as?ets"] {
        let missing = missing_from_build(everything, hiding);
        assert_eq!(missing, vec!["assets/breached-passwords.bin (excluded by .dockerignore)".to_owned()], "{hiding}");
    }
    assert!(missing_from_build(everything, "assets\n!assets/breached-passwords.bin\n").is_empty(), "exceptions count");
    let templates = missing_from_build(everything, "templates/mail\n");
    assert!(!templates.is_empty() && templates.iter().all(|m| m.starts_with("templates/mail/")), "{templates:?}");
}

#[test]
fn dockerignore_keeps_build_output_local_data_and_keys_out() {
    let rules = dockerignore_rules(&read(".dockerignore"));
    for out in ["target/release/gatehouse", "data/gatehouse.db", ".git/HEAD", "keys/dev.pem", "x/y.db-wal"] {
        assert!(ignored(&rules, out), "{out} should stay out of the context");
    }
    assert!(!ignored(&rules, "keys/README.md"));
}

#[test]
fn the_image_runs_as_non_root_with_a_healthcheck_on_gatehouse_health() {
    let dockerfile = read("Dockerfile");
    let runtime = dockerfile.rsplit("\nFROM ").next().unwrap();
    let user = runtime.lines().find_map(|l| l.strip_prefix("USER ")).expect("the runtime stage sets USER");
    assert!(!matches!(user.split(':').next().unwrap().trim(), "root" | "0"), "runs as {user}");
    let check = runtime.lines().find(|l| l.starts_with("HEALTHCHECK")).expect("a HEALTHCHECK");
    assert!(check.contains(r#"CMD ["gatehouse", "health"]"#), "{check}");
    // Dependencies build in a layer of their own, before the sources arrive.
    let deps = dockerfile.find("COPY Cargo.toml Cargo.lock").expect("manifests copied first");
    let sources = dockerfile.find("COPY . .").expect("then the whole context");
    let dep_build = dockerfile[deps..sources].find("cargo build").expect("a dependency build between them");
    assert!(deps + dep_build < sources);
}

/// Runs `gatehouse health` with `GATEHOUSE_LISTEN=listen` in an empty
/// directory (on the blocking pool: the server may run on this runtime).
async fn health(listen: &str) -> Output {
    let listen = listen.to_owned();
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .arg("health")
            .current_dir(dir.path())
            .env_clear()
            .env("GATEHOUSE_LISTEN", listen)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn one_line(bytes: &[u8]) -> String {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert_eq!(text.trim_end().lines().count(), 1, "one line: {text:?}");
    text
}

#[tokio::test]
async fn health_exits_0_for_a_ready_server_also_through_a_wildcard_address() {
    let app = spawn_app().await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let out = health(&addr).await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(one_line(&out.stdout).trim_end(), format!("ready: http://{addr}/health/ready"));
    // A server bound to 0.0.0.0 is probed on loopback.
    let port = addr.rsplit(':').next().unwrap();
    let out = health(&format!("0.0.0.0:{port}")).await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(one_line(&out.stdout).contains(&format!("http://127.0.0.1:{port}/health/ready")));
}

#[tokio::test]
async fn health_exits_1_when_nothing_listens() {
    let port = free_port();
    let out = health(&format!("127.0.0.1:{port}")).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(one_line(&out.stderr).contains("not ready: cannot connect"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = health("127.0.0.1:0").await;
    assert_eq!(out.status.code(), Some(1), "port 0 has no address to probe");
    assert!(one_line(&out.stderr).contains("GATEHOUSE_LISTEN"));
}

/// A TCP server that reads a request and answers `reply` (or nothing, if empty).
async fn fake_server(reply: &'static str) -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = stream.read(&mut buf).await;
        if reply.is_empty() {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        } else {
            let _ = stream.write_all(reply.as_bytes()).await;
        }
    });
    (addr, task)
}

#[tokio::test]
async fn health_exits_1_for_a_server_that_is_not_ready_or_does_not_answer() {
    let (addr, task) = fake_server("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n").await;
    let out = health(&addr).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(one_line(&out.stderr).contains("answered 503"), "{}", String::from_utf8_lossy(&out.stderr));
    task.abort();

    let (addr, task) = fake_server("").await;
    let started = std::time::Instant::now();
    let out = health(&addr).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(one_line(&out.stderr).contains("did not answer within 3 s"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "a short timeout");
    task.abort();
}
