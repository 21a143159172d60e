//! Unit tests: configuration rules, claim mapping and the authorization URL.
//! The network flows are in tests/api/upstream_provider.rs.
use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::settings::{Mapping, Settings, TokenAuth};
use super::*;
use crate::clock::FixedClock;

fn config(v: Value) -> UpstreamConfig {
    serde_json::from_value(v).unwrap()
}

fn providers(id: &str, v: Value) -> Result<Providers, Error> {
    let mut map = BTreeMap::new();
    map.insert(id.to_owned(), config(v));
    Providers::from_config(&map, Arc::new(FixedClock::at(1_767_225_600)))
}

fn config_error(id: &str, v: Value) -> String {
    match providers(id, v) {
        Err(Error::Config(m)) => m,
        Err(e) => panic!("expected a config error, got {e}"),
        Ok(_) => panic!("expected a config error"),
    }
}

fn oauth2_config() -> Value {
    json!({
        "kind": "oauth2",
        "client_id": "gh-client",
        "client_secret": "s3cret",
        "authorization_url": "https://github.example/login/oauth/authorize?allow_signup=false",
        "token_url": "https://github.example/login/oauth/access_token",
        "userinfo_url": "https://api.github.example/user",
        "scopes": ["read:user", "user:email"],
    })
}

fn mapping_of(kind: &str) -> Mapping {
    let mut v = json!({ "kind": kind, "client_id": "c", "client_secret": "s" });
    if kind == "oauth2" {
        v = oauth2_config();
    }
    Settings::from_config("p", &config(v)).unwrap().mapping
}

// --- configuration -------------------------------------------------------

#[test]
fn both_secret_and_secret_file_is_a_config_error() {
    let m = config_error(
        "g",
        json!({ "kind": "google", "client_id": "c", "client_secret": "s", "client_secret_file": "/run/secrets/g" }),
    );
    assert!(m.contains("not both"), "{m}");
}

#[test]
fn google_and_facebook_need_a_secret() {
    for kind in ["google", "facebook"] {
        let m = config_error("p", json!({ "kind": kind, "client_id": "c" }));
        assert!(m.contains("needs client_secret"), "{kind}: {m}");
    }
}

#[test]
fn oauth2_twitter_and_oidc_may_be_public_clients_with_pkce() {
    let s = Settings::from_config("x", &config(json!({ "kind": "twitter", "client_id": "c" }))).unwrap();
    assert_eq!(s.token_auth, TokenAuth::None);
    let mut v = oauth2_config();
    v.as_object_mut().unwrap().remove("client_secret");
    assert_eq!(Settings::from_config("gh", &config(v)).unwrap().token_auth, TokenAuth::None);
    let oidc = json!({ "kind": "oidc", "client_id": "c", "issuer": "https://sso.example" });
    assert!(providers("corp", oidc).is_ok());
}

#[test]
fn oauth2_needs_all_three_urls() {
    for missing in ["authorization_url", "token_url", "userinfo_url"] {
        let mut v = oauth2_config();
        v.as_object_mut().unwrap().remove(missing);
        let m = config_error("gh", v);
        assert!(m.contains(missing), "{m}");
    }
}

#[test]
fn oidc_needs_an_issuer_but_google_has_its_own() {
    let m = config_error("corp", json!({ "kind": "oidc", "client_id": "c", "client_secret": "s" }));
    assert!(m.contains("issuer"), "{m}");
    let s = Settings::from_config("g", &config(json!({ "kind": "google", "client_id": "c", "client_secret": "s" })))
        .unwrap();
    assert_eq!(s.protocol, Protocol::Oidc { issuer: "https://accounts.google.com".into() });
    assert_eq!(s.scope(), "openid email profile");
}

#[test]
fn a_bare_issuer_url_loses_the_slash_url_adds() {
    let s = Settings::from_config(
        "corp",
        &config(json!({ "kind": "oidc", "client_id": "c", "issuer": "https://sso.example" })),
    )
    .unwrap();
    assert_eq!(s.protocol, Protocol::Oidc { issuer: "https://sso.example".into() });
    let s = Settings::from_config(
        "corp",
        &config(json!({ "kind": "oidc", "client_id": "c", "issuer": "https://sso.example/realms/main" })),
    )
    .unwrap();
    assert_eq!(s.protocol, Protocol::Oidc { issuer: "https://sso.example/realms/main".into() });
}

#[test]
fn secret_file_is_read_at_startup_and_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret");
    std::fs::write(&path, "from-a-file\n\n").unwrap();
    let s = Settings::from_config(
        "fb",
        &config(json!({ "kind": "facebook", "client_id": "c", "client_secret_file": path })),
    )
    .unwrap();
    assert_eq!(secrecy::ExposeSecret::expose_secret(s.secret.as_ref().unwrap()), "from-a-file");

    std::fs::write(&path, " \n").unwrap();
    let m = config_error("fb", json!({ "kind": "facebook", "client_id": "c", "client_secret_file": path }));
    assert!(m.contains("empty"), "{m}");
    let m = config_error(
        "fb",
        json!({ "kind": "facebook", "client_id": "c", "client_secret_file": dir.path().join("missing") }),
    );
    assert!(m.contains("client_secret_file"), "{m}");
}

#[test]
fn a_reserved_or_odd_id_is_a_config_error() {
    for id in ["link", "mfa", "Corp", "a/b", ""] {
        assert!(matches!(providers(id, oauth2_config()), Err(Error::Config(_))), "{id:?}");
    }
}

#[test]
fn debug_output_never_shows_the_secret() {
    let p = providers("gh", oauth2_config()).unwrap();
    let text = format!("{:?}", p.get("gh").unwrap());
    assert!(!text.contains("s3cret"), "{text}");
}

#[test]
fn presets_fill_endpoints_and_overrides_win() {
    let s = Settings::from_config("fb", &config(json!({ "kind": "facebook", "client_id": "c", "client_secret": "s" })))
        .unwrap();
    assert_eq!(s.token_auth, TokenAuth::Post);
    assert_eq!(s.scope(), "email public_profile");
    assert_eq!(s.userinfo_url.unwrap().as_str(), "https://graph.facebook.com/v19.0/me?fields=id,name,email");
    let s = Settings::from_config(
        "x",
        &config(json!({
            "kind": "twitter", "client_id": "c", "client_secret": "s",
            "token_url": "http://127.0.0.1:9/token", "scopes": ["users.read"],
        })),
    )
    .unwrap();
    assert_eq!(s.token_auth, TokenAuth::Basic);
    assert_eq!(s.token_url.as_ref().unwrap().as_str(), "http://127.0.0.1:9/token");
    assert_eq!(s.authorization_url.as_ref().unwrap().as_str(), "https://x.com/i/oauth2/authorize");
    assert_eq!(s.scope(), "users.read");
}

#[test]
fn display_name_defaults_to_the_brand_or_the_id() {
    let p = providers("fb", json!({ "kind": "facebook", "client_id": "c", "client_secret": "s" })).unwrap();
    assert_eq!(p.get("fb").unwrap().display_name(), "Facebook");
    let p = providers("gh", oauth2_config()).unwrap();
    assert_eq!(p.get("gh").unwrap().display_name(), "gh");
}

// --- claim mapping -------------------------------------------------------

#[test]
fn oauth2_mapping_turns_numeric_ids_into_strings_and_falls_back_to_login() {
    let github = json!({ "id": 583231, "login": "octocat", "name": "The Octocat", "email": "octo@github.example" });
    let id = claims::identity("gh", &github, &mapping_of("oauth2"), false).unwrap();
    assert_eq!(id.subject, "583231");
    assert_eq!(id.username.as_deref(), Some("octocat"));
    assert_eq!(id.name.as_deref(), Some("The Octocat"));
    assert_eq!(id.email.as_deref(), Some("octo@github.example"));
    assert!(!id.email_verified, "no email_verified claim, no trust_email");
}

#[test]
fn sub_wins_over_id_and_email_verified_may_be_a_string() {
    let json = json!({ "sub": "abc", "id": 1, "email": "a@b.example", "email_verified": "true" });
    let id = claims::identity("p", &json, &mapping_of("oauth2"), false).unwrap();
    assert_eq!(id.subject, "abc");
    assert!(id.email_verified);
}

#[test]
fn twitter_mapping_reads_dotted_paths() {
    let json = json!({ "data": { "id": "2244994945", "name": "X Dev", "username": "XDevelopers" } });
    let id = claims::identity("x", &json, &mapping_of("twitter"), false).unwrap();
    assert_eq!(id.subject, "2244994945");
    assert_eq!(id.username.as_deref(), Some("XDevelopers"));
    assert_eq!(id.name.as_deref(), Some("X Dev"));
    assert_eq!(id.email, None);
    assert!(!id.email_verified);
}

#[test]
fn facebook_email_counts_as_verified_only_with_trust_email() {
    let json = json!({ "id": "10158", "name": "Mark", "email": "mark@fb.example" });
    let mapping = mapping_of("facebook");
    assert!(!claims::identity("fb", &json, &mapping, false).unwrap().email_verified);
    assert!(claims::identity("fb", &json, &mapping, true).unwrap().email_verified);
    // trust_email does not make up an address.
    let no_email = json!({ "id": "10158" });
    assert!(!claims::identity("fb", &no_email, &mapping, true).unwrap().email_verified);
}

#[test]
fn claim_overrides_replace_the_defaults() {
    let mut v = oauth2_config();
    let o = v.as_object_mut().unwrap();
    o.insert("subject_claim".into(), json!("user.uuid"));
    o.insert("email_claim".into(), json!("user.mail.primary"));
    o.insert("email_verified_claim".into(), json!("user.mail.ok"));
    let mapping = Settings::from_config("p", &config(v)).unwrap().mapping;
    let json = json!({ "sub": "ignored", "user": { "uuid": "u-1", "mail": { "primary": "m@x.example", "ok": true } } });
    let id = claims::identity("p", &json, &mapping, false).unwrap();
    assert_eq!((id.subject.as_str(), id.email.as_deref(), id.email_verified), ("u-1", Some("m@x.example"), true));
}

#[test]
fn a_missing_empty_or_overlong_subject_is_rejected() {
    let mapping = mapping_of("oauth2");
    for json in [
        json!({ "email": "a@b.example" }),
        json!({ "sub": "" }),
        json!({ "sub": true }),
        json!({ "sub": "x".repeat(257) }),
    ] {
        assert!(matches!(claims::identity("p", &json, &mapping, false), Err(Error::Rejected(_))), "{json}");
    }
}

#[test]
fn strings_are_bounded_and_odd_addresses_dropped() {
    let mapping = mapping_of("oauth2");
    let long_email = format!("{}@example.com", "a".repeat(250));
    let json = json!({ "sub": "1", "name": "n".repeat(1000), "login": "bad\u{7}name", "email": long_email, "email_verified": true });
    let id = claims::identity("p", &json, &mapping, false).unwrap();
    assert_eq!(id.name.unwrap().chars().count(), claims::MAX_LEN);
    assert_eq!(id.username.as_deref(), Some("badname"));
    assert_eq!(id.email, None);
    assert!(!id.email_verified, "no address, nothing verified");
    let json = json!({ "sub": "1", "email": "not an address" });
    assert_eq!(claims::identity("p", &json, &mapping, false).unwrap().email, None);
}

// --- authorization URL ----------------------------------------------------

fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn oauth2_authorization_url_carries_state_pkce_s256_redirect_and_scope() {
    let p = providers("gh", oauth2_config()).unwrap();
    let p = p.get("gh").unwrap();
    let redirect = Url::parse("https://id.example/login/gh/callback").unwrap();

    let start = p.start(&redirect).await.unwrap();

    let url = &start.url;
    assert_eq!(url.host_str(), Some("github.example"));
    assert_eq!(url.path(), "/login/oauth/authorize");
    assert_eq!(param(url, "allow_signup").as_deref(), Some("false"), "the configured query stays");
    assert_eq!(param(url, "response_type").as_deref(), Some("code"));
    assert_eq!(param(url, "client_id").as_deref(), Some("gh-client"));
    assert_eq!(param(url, "redirect_uri").as_deref(), Some(redirect.as_str()));
    assert_eq!(param(url, "scope").as_deref(), Some("read:user user:email"));
    assert_eq!(param(url, "state").as_deref(), Some(start.pending.state.as_str()));
    assert!(start.pending.state.len() >= 22, "at least 128 bits of state");
    assert_eq!(param(url, "nonce"), None, "no nonce outside OIDC");
    assert_eq!(start.pending.nonce, None);
    // RFC 7636 §4.2: S256 challenge = BASE64URL(SHA256(verifier)).
    assert_eq!(param(url, "code_challenge_method").as_deref(), Some("S256"));
    let expected =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(start.pending.pkce_verifier.as_bytes()));
    assert_eq!(param(url, "code_challenge"), Some(expected));
    assert!(!url.as_str().contains("s3cret"), "the secret never goes to the browser");

    let again = p.start(&redirect).await.unwrap();
    assert_ne!(again.pending.state, start.pending.state, "fresh state per flow");
    assert_ne!(again.pending.pkce_verifier, start.pending.pkce_verifier);
}

#[tokio::test]
async fn oidc_start_with_an_unreachable_issuer_is_unavailable() {
    // Port 9 (discard) on loopback: refused at once.
    let p = providers("corp", json!({ "kind": "oidc", "client_id": "c", "issuer": "http://127.0.0.1:9" })).unwrap();
    let redirect = Url::parse("https://id.example/login/corp/callback").unwrap();
    let err = p.get("corp").unwrap().start(&redirect).await.err().unwrap();
    assert!(matches!(err, Error::Unavailable(_)), "{err}");
}

#[tokio::test]
async fn an_iss_on_the_authorization_response_must_name_our_issuer_rfc_9207_2_4() {
    let oidc = providers("corp", json!({"kind": "oidc", "client_id": "c", "issuer": "https://sso.example"})).unwrap();
    let corp = oidc.get("corp").unwrap();
    assert!(corp.check_response_issuer(Some("https://sso.example")).await.is_ok());
    assert!(matches!(corp.check_response_issuer(Some("https://evil.example")).await, Err(Error::Rejected(_))));
    let plain = providers("gh", oauth2_config()).unwrap();
    assert!(plain.get("gh").unwrap().check_response_issuer(Some("x")).await.is_ok(), "no issuer to compare");
}
