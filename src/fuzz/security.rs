//! The secrets a browser hands back: CSRF tokens (`security::csrf`) and
//! one-time codes (`security::totp`, RFC 6238).
use proptest::prelude::*;

use super::{check, flip_ascii, text};
use crate::security::{csrf::Csrf, totp};

#[test]
fn fuzz_csrf_token() {
    let cookie = prop_oneof!["[A-Za-z0-9_-]{43}", text()];
    let session = prop_oneof![Just(String::new()), "[A-Za-z0-9_-]{1,43}"];
    let strategy = (any::<[u8; 32]>(), cookie, session, text(), any::<usize>(), any::<u8>());
    check("csrf_token", strategy, |(key, cookie, session, forged, at, with)| {
        let csrf = Csrf::new(key);
        let _ = csrf.verify(&cookie, &session, &forged);
        let token = csrf.token_for(&cookie, &session);
        // No cookie, no valid token (a browser without one gets a new one).
        prop_assert_eq!(csrf.verify(&cookie, &session, &token), !cookie.is_empty());
        if cookie.is_empty() {
            return Ok(());
        }
        // A token is bound to its cookie and its session, and changes show.
        let other_session = format!("{session}x");
        prop_assert!(!csrf.verify(&cookie, &other_session, &token));
        let changed = flip_ascii(&token, at, with);
        prop_assert_eq!(csrf.verify(&cookie, &session, &changed), changed == token);
        Ok(())
    });
}

#[test]
fn fuzz_totp_code() {
    let code = prop_oneof!["[0-9]{6}", "[0-9 ]{0,10}", text()];
    let now = 0i64..4_000_000_000;
    check(
        "totp_code",
        (prop::collection::vec(any::<u8>(), 0..40), code, now, -2i64..2),
        |(secret, code, now, back)| {
            let last = totp::step_at(now) + back;
            if let Some(step) = totp::verify(&secret, &code, now, last) {
                // RFC 6238 §5.2: a code is taken once, at a step after the last.
                prop_assert!(step > last && (step - totp::step_at(now)).abs() <= 1);
            }
            let current = totp::code_at_step(&secret, totp::step_at(now));
            let ok = totp::verify(&secret, &current, now, totp::step_at(now) - 2);
            prop_assert!(ok.is_some(), "the current code verifies");
            Ok(())
        },
    );
}
