//! Authorization requests, redirect URI matching, scopes, PKCE and token
//! requests (`src/oauth/`): never a panic, and the security invariants that
//! are cheap to state (a redirect only ever goes to a registered URI).
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::{check, pairs, text};
use crate::oauth::clients::GrantType;
use crate::oauth::pkce::Challenge;
use crate::oauth::request::tests::client;
use crate::oauth::request::{self, Params, Rejection};
use crate::oauth::scope::{self, Scope};
use crate::oauth::tokens::TokenRequest;

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

const AUTHORIZE_KEYS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "login_hint",
    "response_mode",
    "request",
    "request_uri",
];

const AUTHORIZE_VALUES: &[&str] = &[
    "code",
    "token",
    "app",
    "https://app.example/cb",
    "https://app.example/cb/",
    "https://APP.example/cb",
    "http://127.0.0.1/loop",
    "http://127.0.0.1:51234/loop",
    "http://[::1]:8080/loop",
    "http://localhost:1/loop",
    "openid",
    "openid email",
    "openid  profile offline_access",
    "openid admin",
    "openid \"x",
    CHALLENGE,
    "S256",
    "plain",
    "none",
    "login consent",
    "none login",
    "select_account",
    "0",
    "60",
    "-1",
    "99999999999999999999",
    "query",
    "form_post",
    "fragment",
    "eyJhbGciOiJub25lIn0.e30.",
];

/// Whether a redirect URI may receive an answer: registered for `c`.
fn registered(c: &crate::oauth::clients::Client, uri: &str) -> bool {
    c.accepts_redirect_uri(uri)
}

#[test]
fn fuzz_authorize_request() {
    let strategy = (pairs(AUTHORIZE_KEYS, AUTHORIZE_VALUES), any::<bool>());
    check("authorize_request", strategy, |(pairs, public)| {
        let parsed = Params::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        // RFC 6749 §3.1: refused exactly when a non-empty parameter repeats.
        let mut seen = std::collections::HashSet::new();
        let repeated = pairs.iter().filter(|(_, v)| !v.is_empty()).any(|(k, _)| !seen.insert(k.as_str()));
        prop_assert_eq!(parsed.is_err(), repeated);
        let Ok(params) = parsed else { return Ok(()) };
        let c = client(public);
        prop_assert!(matches!(request::validate(&params, None), Err(Rejection::Page(_))), "no client: a page");
        match request::validate(&params, Some(&c)) {
            Ok(r) => {
                prop_assert!(registered(&c, &r.redirect_uri));
                prop_assert!(r.scope.is_subset(&c.scope) && !r.scope.is_empty());
                prop_assert!(!public || r.challenge.is_some(), "public clients use PKCE");
                prop_assert!(r.state.as_ref().is_none_or(|s| s.len() <= 2048));
                prop_assert!(r.login_hint.as_ref().is_none_or(|h| h.chars().count() <= 256));
            }
            // RFC 6749 §4.1.2.1: an error goes back only to a registered URI.
            Err(Rejection::Redirect { redirect_uri, .. }) => prop_assert!(registered(&c, &redirect_uri)),
            Err(Rejection::Page(_)) => {}
        }
        Ok(())
    });
}

/// A URL built from parts that matter to loopback matching.
fn url() -> BoxedStrategy<String> {
    let scheme = prop::sample::select(vec!["http", "https", "HTTP", "custom.app", ""]);
    let host = prop::sample::select(vec![
        "127.0.0.1",
        "127.0.0.2",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "localhost",
        "app.example",
        "0x7f.1",
        "2130706433",
        "",
    ]);
    let port = prop_oneof![
        Just(String::new()),
        any::<u16>().prop_map(|p| format!(":{p}")),
        text().prop_map(|t| format!(":{t}"))
    ];
    let path = prop_oneof!["/[a-z]{0,6}", text()];
    let parts = (scheme, host, port, path).prop_map(|(s, h, p, path)| format!("{s}://{h}{p}{path}"));
    prop_oneof![4 => parts, 1 => text()].boxed()
}

#[test]
fn fuzz_redirect_uri_matching() {
    let strategy = (url(), url(), any::<bool>(), any::<u16>());
    check("redirect_uri_matching", strategy, |(registered, given, native, port)| {
        prop_assert!(request::redirect_uri_matches(&registered, &registered, native), "reflexive");
        let matched = request::redirect_uri_matches(&registered, &given, native);
        // RFC 9700 §4.1.3: exact match, except the port of a native app's
        // loopback IP literal (RFC 8252 §7.3).
        if !native {
            prop_assert_eq!(matched, registered == given);
        } else if matched && registered != given {
            let g = url::Url::parse(&given).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(g.scheme(), "http");
            prop_assert!(
                matches!(g.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
                    || matches!(g.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
            );
        }
        // The same loopback URI on another port matches a native app only.
        if let Ok(mut other) = url::Url::parse(&registered)
            && other.set_port(Some(port)).is_ok()
            && other.as_str() != registered
        {
            prop_assert!(!request::redirect_uri_matches(&registered, other.as_str(), false));
        }
        Ok(())
    });
}

#[test]
fn fuzz_authorize_response() {
    let strategy = (text(), prop::option::of(text()), prop::sample::select(vec!["", "?keep=1", "?a=%20&b"]));
    check("authorize_response", strategy, |(code, state, query)| {
        let uri = format!("https://app.example/cb{query}");
        let params = request::response_params(Ok(code.as_str()), state.as_deref(), "https://id.example");
        let url = request::redirect_url(&uri, &params).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let got: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        // State and code come back byte for byte (no string concatenation).
        prop_assert!(got.contains(&("code".to_owned(), code.clone())));
        let states: Vec<&String> = got.iter().filter(|(k, _)| k == "state").map(|(_, v)| v).collect();
        prop_assert_eq!(states, state.iter().collect::<Vec<_>>());
        prop_assert_eq!(url.host_str(), Some("app.example"));
        Ok(())
    });
}

#[test]
fn fuzz_scope() {
    let words = prop::collection::vec(prop_oneof!["[!#-\\[\\]-~]{1,12}", text()], 0..8);
    let seps = prop::collection::vec(prop::sample::select(vec![" ", "  ", "\t", "", " \u{a0}"]), 0..8);
    let raw = prop_oneof![
        (words, seps).prop_map(|(w, s)| {
            w.iter().enumerate().map(|(i, w)| format!("{}{w}", s.get(i).copied().unwrap_or(" "))).collect::<String>()
        }),
        text()
    ];
    check("scope", raw, |raw| {
        for w in scope::words(&raw) {
            prop_assert!(!w.is_empty() && !w.contains(' '));
        }
        let loose = Scope::words(&raw);
        prop_assert_eq!(Scope::words(&loose.to_string()), loose.clone(), "words: render, parse again");
        if let Ok(s) = Scope::parse(&raw) {
            // RFC 6749 §3.3: words without spaces, of the allowed characters.
            prop_assert!(s.iter().all(scope::is_scope_token));
            prop_assert_eq!(Scope::parse(&s.to_string()).ok(), Some(s.clone()), "render, parse again");
            prop_assert_eq!(s, loose);
        }
        Ok(())
    });
}

#[test]
fn fuzz_pkce() {
    let verifier = prop_oneof!["[A-Za-z0-9._~-]{43,128}", text()];
    let method = prop::option::of(prop::sample::select(vec!["S256", "plain", "s256", "", "S512"]));
    let challenge = prop_oneof![Just(CHALLENGE.to_owned()), "[A-Za-z0-9_=+/-]{40,46}", text()];
    check("pkce", (verifier, method, challenge, any::<usize>(), any::<u8>()), |(v, m, c, at, with)| {
        if let Ok(parsed) = Challenge::parse(&c, m) {
            prop_assert_eq!(parsed.as_str().len(), 43);
            let _ = parsed.verify(&v);
        }
        // RFC 7636 §4.2: S256 of a well-formed verifier verifies; a change does not.
        use base64::Engine;
        use sha2::Digest;
        let own = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(v.as_bytes()));
        let own = Challenge::parse(&own, Some("S256")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let well_formed = (43..=128).contains(&v.len())
            && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        prop_assert_eq!(own.verify(&v), well_formed);
        let changed = super::flip_ascii(&v, at, with);
        if changed != v {
            prop_assert!(!own.verify(&changed));
        }
        Ok(())
    });
}

const TOKEN_KEYS: &[&str] = &[
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "scope",
    "username",
    "password",
    "client_id",
];

const TOKEN_VALUES: &[&str] = &[
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "password",
    "implicit",
    "urn:ietf:params:oauth:grant-type:device_code",
    "AUTHORIZATION_CODE",
    "c0de",
    "https://app.example/cb",
    "openid email",
    "alice",
];

#[test]
fn fuzz_token_request() {
    check("token_request", pairs(TOKEN_KEYS, TOKEN_VALUES), |pairs| {
        let Ok(params) = Params::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) else {
            return Ok(());
        };
        if let Ok(request) = TokenRequest::parse(&params) {
            // The parsed grant is the one named, and nothing else.
            prop_assert_eq!(Some(request.grant_type()), params.get("grant_type").and_then(GrantType::parse));
        }
        Ok(())
    });
}
