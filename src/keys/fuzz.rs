//! JWT verification (`KeyRing::verify`): arbitrary strings, three random
//! base64url parts, headers naming our key with other algorithms, and real
//! tokens with one byte changed. Nothing panics, a changed token never
//! verifies, and what verifies was signed RS256 by our key.
//!
//! The JWKS we parse is our own (`load`, from the database); there is no
//! `private_key_jwt` client authentication, so no client JWKS to parse.
//! Upstream JWKS are fuzzed in `upstream/fuzz.rs`.
use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;

use super::{Kek, KeyRing, Policy, State, load, new_key};
use crate::clock::FixedClock;
use crate::fuzz::{check, flip_ascii, text};
use crate::store::Store;

/// A ring with one current key, on an in-memory store (verify reads no row).
fn ring(rt: &tokio::runtime::Runtime) -> KeyRing {
    let kek = Kek::new([7; 32]);
    let row = new_key(&kek, State::Current, 100).unwrap();
    let loaded = load(&kek, &[row]).unwrap();
    let store = rt.block_on(Store::connect("sqlite::memory:", 1, std::time::Duration::ZERO)).unwrap();
    KeyRing {
        store,
        kek: Arc::new(kek),
        policy: Policy { rotate_after: 86_400, publish_ahead: 3600, retain: 3600 },
        clock: Arc::new(FixedClock::at(100)),
        loaded: Arc::new(RwLock::new(Arc::new(loaded))),
    }
}

fn b64(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(s)
}

/// A JWT-shaped string: header (often naming our kid), payload, signature.
fn shaped(kid: String) -> BoxedStrategy<String> {
    let alg = prop::sample::select(vec!["RS256", "none", "HS256", "ES256", "PS256", "rs256", ""]);
    let kid = prop_oneof![Just(kid), text()];
    let header = (alg, kid).prop_map(|(alg, kid)| b64(&serde_json::json!({ "alg": alg, "kid": kid }).to_string()));
    let part = prop_oneof![text().prop_map(|t| b64(&t)), "[A-Za-z0-9_-]{0,60}", text()];
    let payload = prop_oneof![part.clone(), Just(b64(r#"{"sub":"alice","iss":"https://id.example"}"#))];
    prop_oneof![
        (header, payload, part.clone()).prop_map(|(h, p, s)| format!("{h}.{p}.{s}")),
        (part.clone(), part.clone(), part).prop_map(|(h, p, s)| format!("{h}.{p}.{s}")),
        text(),
    ]
    .boxed()
}

#[test]
fn fuzz_jwt_verify() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let ring = ring(&rt);
    // Signing is slow (RSA): a few real tokens, changed at random places.
    let signed: Vec<String> = ["at+jwt", "JWT"]
        .iter()
        .flat_map(|typ| {
            let ring = &ring;
            ["alice", "bob", "é\"}"].map(move |sub| {
                let mut p = josekit::jwt::JwtPayload::new();
                p.set_subject(sub);
                p.set_issuer("https://id.example");
                ring.sign(&p, typ).unwrap()
            })
        })
        .collect();
    for token in &signed {
        assert!(ring.verify(token).is_ok(), "a token we signed verifies");
    }
    let flipped = (prop::sample::select(signed.clone()), any::<usize>(), any::<u8>());
    let strategy = prop_oneof![shaped(ring.current_kid()), flipped.prop_map(|(t, at, b)| flip_ascii(&t, at, b))];
    check("jwt_verify", strategy, |token| {
        match ring.verify(&token) {
            Ok((_, header)) => {
                // Only our own tokens, untouched, verify; always RS256.
                prop_assert!(signed.contains(&token), "a token we never signed verified: {token}");
                prop_assert_eq!(header.algorithm(), Some("RS256"));
            }
            Err(_) => prop_assert!(!signed.contains(&token)),
        }
        Ok(())
    });
}
