//! Property-based fuzzing of every parser that takes outside input (issue 18,
//! item 5a), on stable Rust with `proptest`. This module holds the shared
//! runner ([`check`]: case count from `FUZZ_CASES`, no regression files, one
//! summary line per parser) and the generators of near-valid input; the
//! properties live next to what they test:
//!
//! | test | parser | file |
//! |---|---|---|
//! | `fuzz_authorize_request` | `Params::from_pairs` + `request::validate` | `fuzz/oauth.rs` |
//! | `fuzz_redirect_uri_matching` | `request::redirect_uri_matches` | `fuzz/oauth.rs` |
//! | `fuzz_authorize_response` | `response_params` + `redirect_url` | `fuzz/oauth.rs` |
//! | `fuzz_scope` | `Scope::parse`, `wire::words` | `fuzz/oauth.rs` |
//! | `fuzz_pkce` | `Challenge::parse`, `Challenge::verify` | `fuzz/oauth.rs` |
//! | `fuzz_token_request` | `TokenRequest::parse` | `fuzz/oauth.rs` |
//! | `fuzz_token_form` | `http::token::form_params` | `fuzz/http.rs` |
//! | `fuzz_basic_credentials` | `http::token::credentials` | `fuzz/http.rs` |
//! | `fuzz_cookies` | `http::cookies::get` | `fuzz/http.rs` |
//! | `fuzz_nul_guard` | `http::nul_guard::decodes_to_nul` | `fuzz/http.rs` |
//! | `fuzz_safe_next` | `http::extract::safe_next` | `fuzz/http.rs` |
//! | `fuzz_paging_cursor` | `http::api::paging::after` | `fuzz/http.rs` |
//! | `fuzz_if_match` | `wire::if_match` | `fuzz/http.rs` |
//! | `fuzz_same_origin` | `extract::same_origin` (private) | `http/extract.rs` tests |
//! | `fuzz_bearer_header` | `api::auth::bearer` (private) | `http/api/auth.rs` tests |
//! | `fuzz_forwarded`, `fuzz_x_forwarded_for`, `fuzz_client_ip` | `security::client_ip` | `fuzz/net.rs` |
//! | `fuzz_csrf_token`, `fuzz_totp_code` | `security::csrf::verify`, `security::totp::verify` | `fuzz/security.rs` |
//! | `fuzz_ip_network` | `config::parse_net` (proxies, IP rules) | `fuzz/net.rs` |
//! | `fuzz_username`, `fuzz_email`, `fuzz_display_name` | `accounts::names` | `fuzz/accounts.rs` |
//! | `fuzz_mailbox` | the `lettre` `Mailbox` parse the mailer does on our addresses | `fuzz/accounts.rs` |
//! | `fuzz_config_toml` | `Config` from TOML (figment) + `validate()` | `config/fuzz.rs` |
//! | `fuzz_jwt_verify` | `KeyRing::verify` | `keys/fuzz.rs` |
//! | `fuzz_upstream_jwks`, `fuzz_upstream_id_token`, `fuzz_upstream_claims` | `upstream::oidc`, `upstream::claims` | `upstream/fuzz.rs` |
//!
//! Not here, and why: DPoP headers (none exist: gatehouse has no DPoP);
//! SMTP replies (lettre parses them inside its transport, we own no reply
//! parser: `fuzz_mailbox` covers what we do own around mail).
//!
//! `FUZZ_CASES` (default 10 000, the CI count) sets the cases per parser;
//! `scripts/fuzz` runs 10⁶. A failure panics with proptest's minimal input.
use std::fmt::Debug;
use std::time::Instant;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

mod accounts;
mod http;
mod net;
mod oauth;
mod security;

/// The CI count of cases per parser.
const DEFAULT_CASES: u32 = 10_000;

/// Cases per parser: `FUZZ_CASES`, else [`DEFAULT_CASES`].
pub(crate) fn cases() -> u32 {
    std::env::var("FUZZ_CASES").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(DEFAULT_CASES)
}

/// The shared proptest configuration: `cases` cases, and no failure
/// persistence, so a failure never writes a regressions file into `src/`
/// (it prints the minimal input instead).
pub(crate) fn config(cases: u32) -> Config {
    Config { cases: cases.max(1), failure_persistence: None, max_shrink_iters: 4096, ..Config::default() }
}

/// Runs `test` on [`cases`]`()` inputs of `strategy`, prints `fuzz <name>:
/// <n> cases, <s> s, no panic`, and panics with the minimal failing input if
/// a case fails or panics. (Every parser, RSA verification included, runs
/// 10⁴ cases in a few seconds of a debug build, so none takes fewer.)
pub(crate) fn check<S>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: Debug,
{
    let cases = cases();
    let mut runner = TestRunner::new(config(cases));
    let started = Instant::now();
    let outcome = runner.run(&strategy, test);
    let secs = started.elapsed().as_secs_f64();
    match outcome {
        Ok(()) => eprintln!("fuzz {name}: {cases} cases, {secs:.1} s, no panic"),
        Err(e) => panic!("fuzz {name}: FAILED after {secs:.1} s: {e}"),
    }
}

/// Any text, weighted towards the characters parsers split on.
pub(crate) fn text() -> BoxedStrategy<String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,40}",
        prop::collection::vec(prop::sample::select(SEPARATORS.to_vec()), 0..24).prop_map(|v| v.concat()),
    ]
    .boxed()
}

/// Arbitrary bytes, short and weighted towards separators and escapes.
pub(crate) fn bytes() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![prop::collection::vec(any::<u8>(), 0..64), text().prop_map(String::into_bytes),].boxed()
}

/// Pieces that matter to header, query and list parsers.
const SEPARATORS: &[&str] = &[
    " ",
    ",",
    ";",
    "=",
    "&",
    ":",
    "\"",
    "\\",
    "[",
    "]",
    "%",
    "%00",
    "%2",
    "%20",
    "+",
    "/",
    "@",
    ".",
    "-",
    "_",
    "\t",
    "\r\n",
    "\0",
    "a",
    "Z",
    "0",
    "9",
    "é",
    "\u{FFFD}",
    "\u{202E}",
    "for",
    "unknown",
    "::1",
    "127.0.0.1",
    "[::1]",
    "Basic",
    "Bearer",
    "openid",
    "=",
];

/// A real-looking `application/x-www-form-urlencoded` string: known and
/// random keys, random (percent-encoded or raw) values, duplicates.
pub(crate) fn query(keys: &'static [&'static str]) -> BoxedStrategy<String> {
    let key = prop_oneof![4 => prop::sample::select(keys.to_vec()).prop_map(str::to_owned), 1 => text()];
    let value = prop_oneof![text(), "[A-Za-z0-9._~-]{0,50}"];
    let pair = (key, value, any::<bool>()).prop_map(|(k, v, encode)| {
        if encode {
            url::form_urlencoded::Serializer::new(String::new()).append_pair(&k, &v).finish()
        } else {
            format!("{k}={v}")
        }
    });
    prop::collection::vec(pair, 0..12).prop_map(|pairs| pairs.join("&")).boxed()
}

/// A few pairs of `keys` (each with a value of `values` or random text),
/// repeats possible: the decoded form of a request.
pub(crate) fn pairs(
    keys: &'static [&'static str],
    values: &'static [&'static str],
) -> BoxedStrategy<Vec<(String, String)>> {
    let key = prop_oneof![5 => prop::sample::select(keys.to_vec()).prop_map(str::to_owned), 1 => text()];
    let value = prop_oneof![3 => prop::sample::select(values.to_vec()).prop_map(str::to_owned), 1 => text()];
    prop::collection::vec((key, value), 0..14).boxed()
}

/// `s` with the byte at `at % len` replaced by `with` (kept valid UTF-8 by
/// working on ASCII strings only; other bytes are left alone).
pub(crate) fn flip_ascii(s: &str, at: usize, with: u8) -> String {
    let mut bytes = s.as_bytes().to_vec();
    if bytes.is_empty() {
        return String::new();
    }
    let i = at % bytes.len();
    if bytes[i].is_ascii() && with.is_ascii() {
        bytes[i] = with;
    }
    String::from_utf8(bytes).unwrap_or_else(|_| s.to_owned())
}
