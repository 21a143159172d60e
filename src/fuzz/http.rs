//! What the HTTP layer reads itself: token endpoint forms, Basic client
//! credentials (RFC 6749 §2.3.1), cookies, the NUL guard, `next` paths,
//! API paging cursors and `If-Match`.
use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use secrecy::ExposeSecret;

use super::{bytes, check, pairs, query, text};
use crate::http::api::paging;
use crate::http::{cookies, extract, nul_guard, token};
use crate::oauth::clients::Credentials;
use crate::oauth::request::Params;

fn fail(why: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(why.to_string())
}

/// Headers with `name: value` when the value is a legal header value.
fn with(name: header::HeaderName, value: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
    h
}

const FORM_KEYS: &[&str] = &["grant_type", "code", "client_id", "client_secret", "scope", "token", "a"];

#[test]
fn fuzz_token_form() {
    let body = prop_oneof![query(FORM_KEYS).prop_map(String::into_bytes), bytes()];
    let content_type = prop::sample::select(vec![
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=utf-8",
        "application/json",
        "",
    ]);
    check("token_form", (body, content_type), |(body, ct)| {
        let headers = with(header::CONTENT_TYPE, ct);
        let parsed = token::form_params(&headers, &body);
        if !ct.starts_with("application/x-www-form-urlencoded") {
            prop_assert!(parsed.is_err());
        } else {
            let decoded: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
            prop_assert_eq!(
                parsed.is_ok(),
                Params::from_pairs(decoded.iter().map(|(k, v)| (k.as_str(), v.as_str()))).is_ok()
            );
        }
        Ok(())
    });
}

/// RFC 6749 §2.3.1: id and secret form-urlencoded, joined by `:`, base64.
fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!("Basic {}", STANDARD.encode(format!("{}:{}", enc(id), enc(secret))))
}

#[test]
fn fuzz_basic_credentials() {
    let header_value = prop_oneof![
        (text(), text()).prop_map(|(id, secret)| basic(&id, &secret)),
        text().prop_map(|t| format!("Basic {t}")),
        text().prop_map(|t| format!("basic {}", STANDARD.encode(t))),
        (text(), any::<usize>(), any::<u8>()).prop_map(|(t, at, b)| super::flip_ascii(&basic(&t, "s3cret"), at, b)),
        text(),
    ];
    let form = pairs(&["client_id", "client_secret", "grant_type"], &["app", "s3cret", "client_credentials"]);
    let strategy = (header_value, form, text(), text());
    check("basic_credentials", strategy, |(value, form, id, secret)| {
        // Anything goes in: never a panic.
        let headers = with(header::AUTHORIZATION, &value);
        if let Ok(params) = Params::from_pairs(form.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            let _ = token::credentials(&headers, &params);
        }
        // A well-formed header round-trips, whatever the id and secret hold
        // (a NUL in the id is refused: CWE-158).
        let headers = with(header::AUTHORIZATION, &basic(&id, &secret));
        match token::credentials(&headers, &Params::default()) {
            Ok(Credentials::Secret { client_id, secret: got }) => {
                prop_assert_eq!(&client_id, &id);
                prop_assert_eq!(got.expose_secret(), secret.as_str());
            }
            Ok(Credentials::Public { .. }) => return Err(fail("Basic credentials read as a public client")),
            Err(e) => prop_assert!(id.contains('\0'), "refused a valid Basic header: {e:?}"),
        }
        Ok(())
    });
}

#[test]
fn fuzz_cookies() {
    let name = prop::sample::select(vec![cookies::session_name(false), cookies::csrf_name(true), "gh_device"]);
    let value = "[A-Za-z0-9_-]{1,64}";
    let noise = prop::collection::vec(text(), 0..4);
    check("cookies", (name, value, noise, text()), |(name, value, noise, raw)| {
        let _ = cookies::get(&with(header::COOKIE, &raw), name);
        // What `set` writes, a browser sends back as `name=value` among others.
        let set = cookies::set(name, &value, "Lax", true, Some(60));
        let pair = set.to_str().map_err(fail)?.split(';').next().unwrap_or_default().to_owned();
        let mut line: Vec<String> = noise.iter().filter(|n| !n.contains(name)).cloned().collect();
        line.insert(line.len() / 2, pair);
        let headers = with(header::COOKIE, &line.join("; "));
        if !headers.is_empty() {
            prop_assert_eq!(cookies::get(&headers, name), Some(value.as_str()));
        }
        Ok(())
    });
}

#[test]
fn fuzz_nul_guard() {
    check("nul_guard", prop_oneof![bytes(), query(FORM_KEYS).prop_map(String::into_bytes)], |raw| {
        // The one-pass check agrees with decoding the form (CWE-158).
        let decoded = url::form_urlencoded::parse(&raw).any(|(k, v)| k.contains('\0') || v.contains('\0'));
        prop_assert_eq!(nul_guard::decodes_to_nul(&raw), decoded);
        Ok(())
    });
}

#[test]
fn fuzz_safe_next() {
    let next = prop_oneof![text().prop_map(|t| format!("/{t}")), text(), "/[/\\\\a-z.:@%?#]{0,12}"];
    check("safe_next", next, |next| {
        if let Some(ok) = extract::safe_next(Some(&next)) {
            // A local path never leaves this origin, however the browser reads it.
            let base = url::Url::parse("https://id.example/login").map_err(fail)?;
            if let Ok(joined) = base.join(&ok) {
                prop_assert_eq!(joined.host_str(), Some("id.example"));
                prop_assert_eq!(joined.scheme(), "https");
            }
        }
        Ok(())
    });
}

#[test]
fn fuzz_paging_cursor() {
    let key = (any::<i64>(), text());
    let raw = prop_oneof![text(), "[A-Za-z0-9_-]{0,80}"];
    check("paging_cursor", (key, raw), |((at, id), raw)| {
        let _ = paging::after::<(i64, String)>(Some(&raw));
        // Our own cursors come back as the key they carry.
        let cursor = paging::cursor_of(&(at, id.clone()));
        let back = paging::after::<(i64, String)>(Some(&cursor));
        if cursor.len() <= 512 && !id.contains('\0') {
            prop_assert_eq!(back.ok().flatten(), Some((at, id)));
        } else {
            prop_assert!(back.is_err());
        }
        Ok(())
    });
}

#[test]
fn fuzz_if_match() {
    let fields = prop::collection::vec(text(), 0..4);
    check("if_match", (fields, text()), |(fields, header_value)| {
        let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
        let tag = crate::wire::etag(&refs);
        prop_assert!(crate::wire::if_match(&tag, &tag) && crate::wire::if_match("*", &tag));
        let listed = format!("{header_value}, {tag}");
        prop_assert!(crate::wire::if_match(&listed, &tag));
        if crate::wire::if_match(&header_value, &tag) {
            prop_assert!(header_value.contains(&tag) || header_value.contains('*'));
        }
        Ok(())
    });
}
