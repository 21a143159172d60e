//! The code map, enforced (issue 15). The README's "Code map" names each
//! folder's job; these tests read `src/` and fail when a layer reaches up:
//! a leaf importing the crate, a protocol or account module importing axum,
//! a store row type named in `http`, an audit event built outside the
//! services, scopes split by hand, or a page handler that grew past about
//! 30 lines (a handler extracts, calls one service function and renders).
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every `.rs` file under `dir` with its text, skipping test-only files.
fn sources(dir: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![Path::new(ROOT).join(dir)];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let name = path.strip_prefix(ROOT).unwrap().to_string_lossy().replace('\\', "/");
            let test_only = name.contains("/tests") || name.ends_with("/testing.rs") || name.ends_with("/fuzz.rs");
            if !test_only {
                out.push((name, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// The file's code with `//` comment lines blanked (so line numbers hold)
/// and `#[cfg(test)]` modules left out.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    text.lines().map(|l| if l.trim_start().starts_with("//") { "" } else { l }).collect::<Vec<_>>().join("\n")
}

/// `(file, line)` of every use of a forbidden word in `dir`.
fn uses(dir: &str, forbidden: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for (file, text) in sources(dir) {
        for (n, line) in code(&text).lines().enumerate() {
            for word in forbidden {
                if line.contains(word) {
                    found.push(format!("{file}:{}: {word}", n + 1));
                }
            }
        }
    }
    found
}

/// Who may not import whom. Lower layers never name higher ones.
const LAYERS: &[(&str, &[&str])] = &[
    ("src/config", &["crate::", "axum"]),
    ("src/clock.rs", &["crate::", "axum"]),
    ("src/wire.rs", &["crate::", "axum"]),
    ("src/store", &["crate::accounts", "crate::oauth", "crate::http", "crate::cli", "crate::mail", "axum"]),
    ("src/security", &["crate::accounts", "crate::oauth", "crate::http", "crate::cli", "crate::mail", "axum"]),
    ("src/keys", &["crate::accounts", "crate::oauth", "crate::http", "crate::cli", "axum"]),
    ("src/mail", &["crate::accounts", "crate::oauth", "crate::http", "crate::cli", "axum"]),
    ("src/upstream", &["crate::store", "crate::accounts", "crate::oauth", "crate::http", "crate::cli", "axum"]),
    ("src/oauth", &["crate::accounts", "crate::http", "crate::cli", "axum"]),
    ("src/accounts", &["crate::oauth", "crate::http", "crate::cli", "axum"]),
    ("src/janitor.rs", &["crate::accounts", "crate::oauth", "crate::http", "crate::cli"]),
    ("src/server.rs", &["crate::accounts", "crate::oauth", "crate::http", "crate::cli"]),
    ("src/metrics.rs", &["crate::accounts", "crate::oauth", "crate::http", "crate::cli"]),
    ("src/telemetry.rs", &["crate::accounts", "crate::oauth", "crate::http", "crate::cli"]),
];

#[test]
fn no_layer_imports_one_above_it() {
    let found: Vec<String> = LAYERS.iter().flat_map(|(dir, forbidden)| uses(dir, forbidden)).collect();
    assert!(found.is_empty(), "imports against the code map (README \"Code map\"):\n{}", found.join("\n"));
}

/// Services hand domain types to http, never store rows.
#[test]
fn no_store_row_type_is_named_under_http() {
    let mut found = Vec::new();
    for (file, text) in sources("src/http") {
        for (n, line) in code(&text).lines().enumerate() {
            let named = line
                .split(|c: char| !c.is_alphanumeric() && c != '_')
                .any(|w| w.len() > 3 && w.ends_with("Row") && w.starts_with(char::is_uppercase));
            // `store::Error` may be mapped to a 503 in `http::error`; rows may not pass.
            let store_item = line.replace("crate::store::Error", "");
            if named || store_item.contains("crate::store") {
                found.push(format!("{file}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "store types under src/http:\n{}", found.join("\n"));
}

/// One audit regime: the services write every event inside the change's own
/// transaction; http and the CLI only pass an `audit::Context` down.
#[test]
fn http_and_the_cli_build_no_audit_events() {
    let mut found = uses("src/http", &["AuditEvent", "audit::record", "audit::append"]);
    found.extend(uses("src/cli", &["AuditEvent", "audit::record", "audit::append"]));
    found.extend(uses("src/cli.rs", &["AuditEvent", "audit::record", "audit::append"]));
    assert!(found.is_empty(), "audit events written outside the services:\n{}", found.join("\n"));
}

/// Scopes (RFC 6749 §3.3), grant types and `amr` lists are split in one place.
#[test]
fn nothing_splits_space_delimited_lists_by_hand() {
    let found: Vec<String> =
        uses("src", &["split(' ')", "split(\" \")"]).into_iter().filter(|f| !f.starts_with("src/wire.rs")).collect();
    assert!(found.is_empty(), "hand-split lists (use oauth::Scope or wire::words):\n{}", found.join("\n"));
}

/// The longest a page or API handler may be: extract, call, render.
const HANDLER_LINES: usize = 32;

#[test]
fn http_handlers_stay_short() {
    let mut long = Vec::new();
    for (file, text) in sources("src/http") {
        let code = code(&text);
        let lines: Vec<&str> = code.lines().collect();
        for (start, line) in lines.iter().enumerate() {
            let is_fn = ["async fn ", "pub async fn ", "pub(super) async fn ", "pub(crate) async fn "]
                .iter()
                .any(|p| line.starts_with(p));
            if !is_fn {
                continue;
            }
            let len = lines[start..].iter().position(|l| *l == "}").map_or(usize::MAX, |end| end + 1);
            if len > HANDLER_LINES {
                long.push(format!("{file}:{}: {} lines: {}", start + 1, len, line.trim()));
            }
        }
    }
    assert!(long.is_empty(), "handlers over {HANDLER_LINES} lines:\n{}", long.join("\n"));
}
