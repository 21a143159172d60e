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

#[tokio::test]
async fn an_id_token_signed_with_a_key_rotated_in_after_discovery_makes_us_fetch_the_keys_again() {
    let up = upstream().await;
    let providers = providers(oidc_table(&up));
    let corp = providers.get("corp").unwrap();
    // `start` caches discovery and the JWKS (the current key and the next).
    let (pending, code) = authorize(&up, corp).await;

    // Two rotations: the signing key is one our cached JWKS has never seen.
    up.app.state.keys.rotate_now().await.unwrap();
    up.app.state.keys.rotate_now().await.unwrap();
    let identity = corp.finish(&callback(), &code, &pending).await.unwrap();

    assert_olivia(&identity, &up);
}

/// A stand-in for the Graph API: a token endpoint that wants the secret in
/// the body and a `me` endpoint that wants the token as a Bearer header. The
/// code picks the token endpoint's answer.
mod fake_facebook {
    use std::sync::{Arc, Mutex};

    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};
    use axum::{Form, Json, Router};
    use serde_json::json;

    #[derive(Default)]
    pub struct Seen {
        pub token_form: Vec<(String, String)>,
        pub token_basic: bool,
        pub me_query: Option<String>,
        pub me_authorization: Option<String>,
    }

    pub async fn start() -> (String, Arc<Mutex<Seen>>) {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (s1, s2) = (seen.clone(), seen.clone());
        let router = Router::new()
            .route(
                "/oauth/access_token",
                post(move |headers: HeaderMap, Form(form): Form<Vec<(String, String)>>| async move {
                    let code = form.iter().find(|(k, _)| k == "code").map(|(_, v)| v.clone()).unwrap_or_default();
                    let mut seen = s1.lock().unwrap();
                    seen.token_basic = headers.contains_key("authorization");
                    seen.token_form = form;
                    token_answer(&code)
                }),
            )
            .route(
                "/me",
                get(move |headers: HeaderMap, uri: axum::http::Uri| async move {
                    let mut seen = s2.lock().unwrap();
                    seen.me_query = uri.query().map(str::to_owned);
                    seen.me_authorization = headers.get("authorization").map(|v| v.to_str().unwrap().to_owned());
                    Json(json!({ "id": 10158, "name": "Mark", "email": "mark@fb.example" }))
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (base, seen)
    }

    fn token_answer(code: &str) -> Response {
        match code {
            "down" => (StatusCode::SERVICE_UNAVAILABLE, "try later").into_response(),
            "down-json" => {
                (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({ "error": "server_error" }))).into_response()
            }
            "used" => (StatusCode::BAD_REQUEST, Json(json!({ "error": "invalid_grant" }))).into_response(),
            // GitHub's way: an error with status 200.
            "github" => Json(json!({ "error": "bad_verification_code" })).into_response(),
            "mac" => Json(json!({ "access_token": "t", "token_type": "mac" })).into_response(),
            _ => Json(json!({ "access_token": "fb-access", "token_type": "bearer", "expires_in": 5183944 }))
                .into_response(),
        }
    }
}

fn facebook_table(base: &str, trust_email: bool) -> Value {
    json!({
        "kind": "facebook",
        "client_id": "fb-app",
        "client_secret": "fb-secret",
        "authorization_url": format!("{base}/dialog/oauth"),
        "token_url": format!("{base}/oauth/access_token"),
        "userinfo_url": format!("{base}/me?fields=id,name,email"),
        "trust_email": trust_email,
    })
}

#[tokio::test]
async fn facebook_posts_the_secret_and_reads_me_with_a_bearer_token() {
    let (base, seen) = fake_facebook::start().await;
    let providers = providers(facebook_table(&base, false));
    let fb = providers.get("corp").unwrap();
    let start = fb.start(&callback()).await.unwrap();
    assert_eq!(param(&start.url, "scope").as_deref(), Some("email public_profile"));

    let identity = fb.finish(&callback(), "good", &start.pending).await.unwrap();

    assert_eq!(identity.subject, "10158", "a numeric id becomes a string");
    assert_eq!(identity.name.as_deref(), Some("Mark"));
    assert_eq!(identity.email.as_deref(), Some("mark@fb.example"));
    assert!(!identity.email_verified, "Facebook sends no email_verified");
    let seen = seen.lock().unwrap();
    let form = |k: &str| seen.token_form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(form("client_secret"), Some("fb-secret"));
    assert_eq!(form("client_id"), Some("fb-app"));
    assert!(!seen.token_basic);
    assert_eq!(form("code_verifier"), Some(start.pending.pkce_verifier.as_str()));
    assert_eq!(form("redirect_uri"), Some(CALLBACK));
    assert_eq!(seen.me_query.as_deref(), Some("fields=id,name,email"));
    assert_eq!(seen.me_authorization.as_deref(), Some("Bearer fb-access"));
}

#[tokio::test]
async fn facebook_email_is_verified_with_trust_email() {
    let (base, _) = fake_facebook::start().await;
    let providers = providers(facebook_table(&base, true));
    let fb = providers.get("corp").unwrap();
    let start = fb.start(&callback()).await.unwrap();

    let identity = fb.finish(&callback(), "good", &start.pending).await.unwrap();

    assert!(identity.email_verified);
}

#[tokio::test]
async fn token_endpoint_errors_are_rejected_and_outages_unavailable() {
    let (base, _) = fake_facebook::start().await;
    let providers = providers(facebook_table(&base, false));
    let fb = providers.get("corp").unwrap();
    let start = fb.start(&callback()).await.unwrap();

    for (code, rejected) in [("used", true), ("github", true), ("mac", true), ("down", false), ("down-json", false)] {
        let err = fb.finish(&callback(), code, &start.pending).await.unwrap_err();
        match (rejected, &err) {
            (true, Error::Rejected(_)) | (false, Error::Unavailable(_)) => {}
            _ => panic!("{code}: {err}"),
        }
    }
}

#[tokio::test]
async fn discovery_is_cached_for_an_hour_of_our_clock() {
    let up = upstream().await;
    let clock = FixedClock::at(real_now());
    let mut config = BTreeMap::new();
    config.insert("corp".to_owned(), serde_json::from_value(oidc_table(&up)).unwrap());
    let providers = Providers::from_config(&config, Arc::new(clock.clone())).unwrap();
    let corp = providers.get("corp").unwrap();
    corp.start(&callback()).await.unwrap();

    // The provider goes away: the cached document still serves for an hour.
    up.app.stop().await;
    clock.advance(3599);
    corp.start(&callback()).await.unwrap();
    clock.advance(2);
    let err = corp.start(&callback()).await.err().unwrap();

    assert!(matches!(err, Error::Unavailable(_)), "{err}");
}

#[tokio::test]
async fn an_id_token_without_email_is_completed_from_userinfo_for_the_same_sub() {
    let up = upstream().await;
    let mut table = oidc_table(&up);
    table["scopes"] = json!(["openid"]);
    let providers = providers(table);
    let corp = providers.get("corp").unwrap();
    let (pending, code) = authorize(&up, corp).await;

    // No `email` scope: neither the ID token nor userinfo has an address; the
    // userinfo answer is used only because its `sub` is the ID token's.
    let identity = corp.finish(&callback(), &code, &pending).await.unwrap();

    assert_eq!(identity.subject, up.user_id);
    assert_eq!(identity.email, None);
    assert!(!identity.email_verified);
}
