//! What upstream providers send us: their JWKS (`CoreJsonWebKeySet`, as
//! `oidc::Discovery` reads it), ID tokens (`oidc::check`, OIDC Core
//! §3.1.3.7) and the JSON the claim mapping reads (`claims::identity`).
//! Nothing panics; an ID token whose header or claims were changed never
//! passes; a mapped identity keeps its bounds.
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jws::RS256;
use openidconnect::core::CoreJsonWebKeySet;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::claims;
use super::oidc::{self, Checked, Expect, Metadata};
use super::settings::Settings;
use crate::clock::{Clock, FixedClock};
use crate::config;
use crate::fuzz::{check, flip_ascii, text};

const NOW: i64 = 1_767_225_600;
const ISSUER: &str = "https://sso.example";

fn metadata(jwks: CoreJsonWebKeySet) -> Metadata {
    let doc = json!({
        "issuer": ISSUER,
        "authorization_endpoint": "https://sso.example/auth",
        "jwks_uri": "https://sso.example/jwks",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    });
    serde_json::from_value::<Metadata>(doc).unwrap().set_jwks(jwks)
}

/// An RSA key: its public JWK (kid `k1`) and a signer.
fn key() -> (Value, josekit::jws::alg::rsassa::RsassaJwsSigner) {
    let pair = RS256.generate_key_pair(2048).unwrap();
    let mut jwk = pair.to_jwk_public_key();
    jwk.set_key_id("k1");
    jwk.set_algorithm("RS256");
    let signer = RS256.signer_from_jwk(&pair.to_jwk_private_key()).unwrap();
    (Value::Object(jwk.as_ref().clone()), signer)
}

fn id_token(signer: &josekit::jws::alg::rsassa::RsassaJwsSigner, sub: &str, nonce: &str) -> String {
    let mut p = josekit::jwt::JwtPayload::new();
    for (k, v) in [
        ("iss", json!(ISSUER)),
        ("aud", json!("c")),
        ("sub", json!(sub)),
        ("nonce", json!(nonce)),
        ("exp", json!(NOW + 300)),
        ("iat", json!(NOW)),
    ] {
        p.set_claim(k, Some(v)).unwrap();
    }
    let mut h = josekit::jws::JwsHeader::new();
    h.set_key_id("k1");
    josekit::jwt::encode_with_signer(&p, &h, signer).unwrap()
}

fn b64(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(s)
}

/// A JWK of a random type with random (often base64url) members.
fn jwk(real: Value) -> BoxedStrategy<Value> {
    let kty = prop::sample::select(vec!["RSA", "EC", "oct", "OKP", "rsa", ""]);
    let member = prop_oneof![
        text().prop_map(|t| Value::String(b64(&t))),
        "[A-Za-z0-9_-]{0,400}".prop_map(Value::String),
        Just(json!("AQAB")),
        Just(json!("AA")),
        any::<i64>().prop_map(Value::from),
        Just(Value::Null),
    ];
    let names = prop::sample::select(vec!["n", "e", "crv", "x", "y", "k", "alg", "use", "kid", "key_ops"]);
    let random = (kty, prop::collection::vec((names, member), 0..8)).prop_map(|(kty, members)| {
        let mut o = serde_json::Map::new();
        o.insert("kty".into(), json!(kty));
        for (k, v) in members {
            o.insert(k.into(), v);
        }
        Value::Object(o)
    });
    prop_oneof![3 => random, 1 => Just(real)].boxed()
}

#[test]
fn fuzz_upstream_jwks() {
    let (real, signer) = key();
    let token = id_token(&signer, "alice", "n");
    let clock: Arc<dyn Clock> = Arc::new(FixedClock::at(NOW));
    let expect = Expect { client_id: "c", nonce: "n", access_token: "at" };
    let doc = prop_oneof![
        3 => prop::collection::vec(jwk(real.clone()), 0..4).prop_map(|keys| json!({ "keys": keys }).to_string()),
        1 => text(),
        1 => text().prop_map(|t| format!("{{\"keys\":[{t}]}}")),
    ];
    check("upstream_jwks", doc, |doc| {
        let Ok(jwks) = serde_json::from_str::<CoreJsonWebKeySet>(&doc) else { return Ok(()) };
        // A token signed by our key passes only against a set that holds it.
        if let Ok(Checked::Claims(_)) = oidc::check(&metadata(jwks), &token, &expect, &clock) {
            prop_assert!(doc.contains(real["n"].as_str().unwrap_or("?")), "verified without the key");
        }
        Ok(())
    });
}

#[test]
fn fuzz_upstream_id_token() {
    let (real, signer) = key();
    let jwks: CoreJsonWebKeySet = serde_json::from_value(json!({ "keys": [real] })).unwrap();
    let metadata = metadata(jwks);
    let clock: Arc<dyn Clock> = Arc::new(FixedClock::at(NOW));
    let expect = Expect { client_id: "c", nonce: "n", access_token: "at" };
    let signed: Vec<String> = ["alice", "bob"].iter().map(|s| id_token(&signer, s, "n")).collect();
    let other_nonce = id_token(&signer, "alice", "m");
    for t in &signed {
        assert!(matches!(oidc::check(&metadata, t, &expect, &clock), Ok(Checked::Claims(_))), "our own token passes");
    }
    let header = prop::sample::select(vec!["RS256", "none", "HS256", "ES256", "EdDSA"])
        .prop_map(|alg| b64(&json!({ "alg": alg, "kid": "k1" }).to_string()));
    let part = prop_oneof![text().prop_map(|t| b64(&t)), "[A-Za-z0-9_-]{0,80}"];
    let shaped = (header, part.clone(), part).prop_map(|(h, p, s)| format!("{h}.{p}.{s}"));
    let flipped = (prop::sample::select(signed.clone()), any::<usize>(), any::<u8>())
        .prop_map(|(t, at, b)| flip_ascii(&t, at, b));
    let strategy = prop_oneof![2 => flipped, 2 => shaped, 1 => text(), 1 => Just(other_nonce)];
    check("upstream_id_token", strategy, |token| {
        if let Ok(Checked::Claims(_)) = oidc::check(&metadata, &token, &expect, &clock) {
            // What was signed (header and claims) is never changed. The
            // signature's text may be: the crate's base64url decoder ignores
            // the unused low bits of the last character, so `…Vfg` and `…Vfh`
            // are the same signature (malleable encoding, not a forgery).
            let signed_part = |t: &str| t.rsplit_once('.').map(|(input, sig)| (input.to_owned(), sig.len()));
            let ours = signed.iter().find(|s| signed_part(s) == signed_part(&token));
            prop_assert!(ours.is_some(), "an ID token we did not sign passed: {token}");
            let differs = ours.map_or(0, |s| s.bytes().zip(token.bytes()).filter(|(a, b)| a != b).count());
            let last_only = differs == 1 && token.as_bytes().last() != ours.and_then(|s| s.as_bytes().last());
            prop_assert!(differs == 0 || last_only, "a signature changed before its last character passed");
        }
        Ok(())
    });
}

/// Provider JSON: the claims the mappings read, with values of any type.
fn answer() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        text().prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<bool>().prop_map(Value::Bool),
        Just(json!("true")),
        Just(Value::Null),
    ];
    let names = prop::sample::select(vec![
        "sub",
        "id",
        "email",
        "email_verified",
        "name",
        "login",
        "username",
        "preferred_username",
        "data",
        "",
    ]);
    leaf.prop_recursive(3, 24, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::vec((names.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
    .boxed()
}

#[test]
fn fuzz_upstream_claims() {
    let mappings: Vec<_> = ["google", "facebook", "twitter"]
        .iter()
        .map(|kind| {
            let c = json!({ "kind": kind, "client_id": "c", "client_secret": "s" });
            let c: config::UpstreamConfig = serde_json::from_value(c).unwrap();
            Settings::from_config("p", &c).unwrap().mapping
        })
        .collect();
    let strategy = (answer(), 0..mappings.len(), any::<bool>());
    check("upstream_claims", strategy, |(json, m, trust)| {
        let _ = claims::lookup(&json, "data.id");
        if let Ok(id) = claims::identity("p", &json, &mappings[m], trust) {
            prop_assert!(!id.subject.is_empty() && id.subject.len() <= claims::MAX_LEN);
            prop_assert!(!id.subject.chars().any(char::is_control));
            if let Some(email) = &id.email {
                prop_assert!(email.len() <= claims::MAX_EMAIL && email.contains('@'));
                prop_assert!(!email.chars().any(|c| c.is_whitespace() || c.is_control()));
            }
            prop_assert!(!id.email_verified || id.email.is_some(), "no verified flag without an address");
            for s in [&id.name, &id.username].into_iter().flatten() {
                prop_assert!(s.chars().count() <= claims::MAX_LEN && !s.chars().any(char::is_control));
            }
        }
        Ok(())
    });
}
