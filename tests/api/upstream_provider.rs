//! The provider module (src/upstream) against a real OpenID provider: a second
//! gatehouse, spawned by the test helpers. No HTTP surface of ours is under
//! test here (that is tests/api/upstream.rs): `start`, a signed-in browser at
//! the upstream's /authorize, then `finish`.
use std::collections::BTreeMap;
use std::sync::Arc;

use gatehouse::clock::FixedClock;
use gatehouse::upstream::{Error, Identity, Pending, Provider, Providers};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use url::Url;

use crate::helpers::{PASSWORD, TestApp, real_now, spawn_app};
use crate::oidc::{authorize_as, param};

/// Where the upstream sends the browser back (never followed: the browser
/// does not follow redirects).
const CALLBACK: &str = "https://rp.example/login/corp/callback";

/// The upstream gatehouse with our client registered, and a browser signed
/// in there as `olivia`.
struct Upstream {
    app: TestApp,
    secret: String,
    browser: reqwest::Client,
    user_id: String,
}

async fn upstream() -> Upstream {
    let app = spawn_app().await;
    let registered = app
        .state
        .clients
        .register(gatehouse::oauth::clients::ClientSpec {
            client_id: "downstream".into(),
            name: "downstream gatehouse".into(),
            redirect_uris: vec![CALLBACK.into()],
            grant_types: vec!["authorization_code".into()],
            skip_consent: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let secret = registered.generated_secret.unwrap().expose_secret().to_owned();
    let user_id = app.create_user("olivia", &[]).await;
    let browser = app.browser();
    assert_eq!(app.login(&browser, "olivia", PASSWORD).await.status(), 303);
    Upstream { app, secret, browser, user_id }
}

/// Our side: one provider `corp` from `table` (JSON for a `[upstream.corp]`).
fn providers(table: Value) -> Providers {
    let mut config = BTreeMap::new();
    config.insert("corp".to_owned(), serde_json::from_value(table).unwrap());
    Providers::from_config(&config, Arc::new(FixedClock::at(real_now()))).unwrap()
}

fn oidc_table(up: &Upstream) -> Value {
    json!({ "kind": "oidc", "client_id": "downstream", "client_secret": up.secret, "issuer": up.app.base })
}

fn callback() -> Url {
    Url::parse(CALLBACK).unwrap()
}

/// `start`, then the upstream's /authorize as the signed-in browser; returns
/// the pending flow and the code from the redirect back.
async fn authorize(up: &Upstream, provider: &Provider) -> (Pending, String) {
    let start = provider.start(&callback()).await.unwrap();
    let back = authorize_as(&up.app, &up.browser, start.url.as_str()).await;
    assert_eq!(back.as_str().split('?').next(), Some(CALLBACK));
    assert_eq!(param(&back, "state"), Some(start.pending.state.clone()), "state comes back unchanged");
    let code = param(&back, "code").expect("a code in the redirect");
    (start.pending, code)
}

fn assert_olivia(identity: &Identity, up: &Upstream) {
    assert_eq!(identity.provider, "corp");
    assert_eq!(identity.subject, up.user_id);
    assert_eq!(identity.email.as_deref(), Some("olivia@example.com"));
    assert!(identity.email_verified, "the upstream says email_verified: true");
}

#[tokio::test]
async fn oidc_provider_signs_a_user_in_through_discovery_and_a_verified_id_token() {
    let up = upstream().await;
    let providers = providers(oidc_table(&up));
    let corp = providers.get("corp").unwrap();

    let (pending, code) = authorize(&up, corp).await;
    assert!(pending.nonce.is_some(), "OIDC flows carry a nonce");
    let identity = corp.finish(&callback(), &code, &pending).await.unwrap();

    assert_olivia(&identity, &up);
    assert_eq!(identity.username.as_deref(), Some("olivia"));
}

#[tokio::test]
async fn the_authorization_url_comes_from_discovery_with_nonce_and_pkce() {
    let up = upstream().await;
    let providers = providers(oidc_table(&up));

    let start = providers.get("corp").unwrap().start(&callback()).await.unwrap();

    assert!(start.url.as_str().starts_with(&format!("{}/authorize?", up.app.base)), "{}", start.url);
    assert_eq!(param(&start.url, "scope").as_deref(), Some("openid email profile"));
    assert_eq!(param(&start.url, "nonce"), start.pending.nonce);
    assert_eq!(param(&start.url, "code_challenge_method").as_deref(), Some("S256"));
}

#[tokio::test]
async fn an_id_token_with_another_nonce_is_rejected() {
    let up = upstream().await;
    let providers = providers(oidc_table(&up));
    let corp = providers.get("corp").unwrap();
    let (mut pending, code) = authorize(&up, corp).await;

    // OIDC Core §3.1.3.7 step 11: the nonce must be the one this flow sent.
    pending.nonce = Some("a-nonce-from-another-flow".into());
    let err = corp.finish(&callback(), &code, &pending).await.unwrap_err();

    assert!(matches!(&err, Error::Rejected(m) if m.contains("nonce")), "{err}");
}

#[tokio::test]
async fn an_expired_id_token_is_rejected() {
    let up = upstream().await;
    let providers = providers(oidc_table(&up));
    let corp = providers.get("corp").unwrap();
    let (pending, code) = authorize(&up, corp).await;

    // The upstream signs the ID token two hours in the past: expired by our clock.
    up.app.clock.advance(-7200);
    let err = corp.finish(&callback(), &code, &pending).await.unwrap_err();

    assert!(matches!(&err, Error::Rejected(m) if m.contains("expired")), "{err}");
}

#[tokio::test]
async fn a_code_redeemed_twice_is_rejected_by_the_token_endpoint() {
    let up = upstream().await;
    let providers = providers(oidc_table(&up));
    let corp = providers.get("corp").unwrap();
    let (pending, code) = authorize(&up, corp).await;
    corp.finish(&callback(), &code, &pending).await.unwrap();

    // RFC 6749 §4.1.2: codes are single use; the upstream answers invalid_grant.
    let err = corp.finish(&callback(), &code, &pending).await.unwrap_err();

    assert!(matches!(&err, Error::Rejected(m) if m.contains("invalid_grant")), "{err}");
}

#[tokio::test]
async fn a_wrong_pkce_verifier_is_rejected() {
    let up = upstream().await;
    let providers = providers(oidc_table(&up));
    let corp = providers.get("corp").unwrap();
    let (mut pending, code) = authorize(&up, corp).await;

    pending.pkce_verifier = "x".repeat(43);
    let err = corp.finish(&callback(), &code, &pending).await.unwrap_err();

    assert!(matches!(err, Error::Rejected(_)), "{err}");
}

#[tokio::test]
async fn an_unreachable_token_endpoint_is_unavailable() {
    let up = upstream().await;
    let mut table = oidc_table(&up);
    // The override replaces what discovery says; port 9 on loopback refuses.
    table["token_url"] = json!("http://127.0.0.1:9/token");
    let providers = providers(table);
    let corp = providers.get("corp").unwrap();
    let (pending, code) = authorize(&up, corp).await;

    let err = corp.finish(&callback(), &code, &pending).await.unwrap_err();

    assert!(matches!(err, Error::Unavailable(_)), "{err}");
}

#[tokio::test]
async fn the_oauth2_kind_reads_the_identity_from_userinfo() {
    let up = upstream().await;
    let base = &up.app.base;
    let providers = providers(json!({
        "kind": "oauth2",
        "client_id": "downstream",
        "client_secret": up.secret,
        "authorization_url": format!("{base}/authorize"),
        "token_url": format!("{base}/token"),
        "userinfo_url": format!("{base}/userinfo"),
        "scopes": ["openid", "email", "profile"],
    }));
    let corp = providers.get("corp").unwrap();

    let (pending, code) = authorize(&up, corp).await;
    assert_eq!(pending.nonce, None);
    let identity = corp.finish(&callback(), &code, &pending).await.unwrap();

    assert_olivia(&identity, &up);
}
