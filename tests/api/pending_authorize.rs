//! Authorization requests parked while the user signs in (issue 13): the
//! browser carries `/authorize?pending=<id>` through sign-in, the second
//! step and the expired-password page, and the request comes back intact.
//! RFC 6749 §4.1.2: "state … REQUIRED if the "state" parameter was present
//! in the client authorization request. The exact value received from the
//! client." The relying party is the `openidconnect` crate.
use gatehouse::oauth::clients::ClientSpec;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    RedirectUrl, Scope, TokenResponse,
};
use secrecy::ExposeSecret;

use crate::helpers::{PASSWORD, TestApp, hidden_value, location, spawn_app, spawn_app_with};
use crate::mfa::{code_now, enrolled};
use crate::oidc::{REDIRECT, authorize_as, http, param};

/// A `state` of 2,048 bytes (the most we accept) of mixed scripts and
/// characters that need encoding: about 6 KB once percent-encoded.
fn big_state() -> String {
    let piece = "Zustand é€ 😀 ключ &=?#+%/ 状態 ";
    let mut s = String::new();
    while s.len() + piece.len() <= 2048 {
        s.push_str(piece);
    }
    while s.len() < 2048 {
        s.push('x');
    }
    assert_eq!(s.len(), 2048);
    s
}

/// Forty extra scopes the client may ask for.
fn many_scopes() -> Vec<String> {
    (0..40).map(|i| format!("api.resource-{i:02}.read")).collect()
}

/// Registers `rp` (confidential, consent asked) allowed `many_scopes`; returns its secret.
async fn register_rp(app: &TestApp) -> String {
    let scope = format!("openid profile email offline_access {}", many_scopes().join(" "));
    let registered = app
        .state
        .clients
        .register(ClientSpec {
            client_id: "rp".into(),
            name: "Big RP".into(),
            redirect_uris: vec![REDIRECT.into()],
            grant_types: vec!["authorization_code".into()],
            scope: Some(scope),
            ..Default::default()
        })
        .await
        .unwrap();
    registered.generated_secret.unwrap().expose_secret().to_owned()
}

/// The `next` of a redirect to `/login?next=…`.
fn next_of(login_redirect: &str) -> String {
    assert!(login_redirect.starts_with("/login?"), "{login_redirect}");
    let url = url::Url::parse(&format!("http://x{login_redirect}")).unwrap();
    param(&url, "next").unwrap()
}

/// A plain authorization URL for `rp` with `state`.
fn plain_url(app: &TestApp, state: &str, extra: &[(&str, &str)]) -> String {
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let mut url = url::Url::parse(&app.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "rp")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid")
        .append_pair("state", state)
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256")
        .extend_pairs(extra);
    url.into()
}

#[tokio::test]
async fn a_2_kb_non_ascii_state_survives_sign_in_second_step_and_consent_byte_identical_rfc_6749_4_1_2() {
    let app = spawn_app().await;
    let secret = register_rp(&app).await;
    let (_, totp, _) = enrolled(&app, "ines").await;
    app.clock.advance(30);
    let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(app.base.clone()).unwrap(), &http()).await.unwrap();
    let client = CoreClient::from_provider_metadata(meta, ClientId::new("rp".into()), Some(ClientSecret::new(secret)))
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let state = big_state();
    let long_nonce = "n0nce-".repeat(85); // 510 bytes, under the 512 we accept
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (s, n) = (state.clone(), long_nonce.clone());
    let mut auth = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, move || CsrfToken::new(s), move || Nonce::new(n))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge);
    for s in many_scopes() {
        auth = auth.add_scope(Scope::new(s));
    }
    let (auth_url, csrf, nonce) = auth.url();
    assert!(auth_url.as_str().len() > 6_000, "a large request: {} bytes", auth_url.as_str().len());

    // Not signed in: off to sign in, with only the parked request's id in `next`.
    let browser = app.browser();
    let res = browser.get(auth_url.as_str()).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let next = next_of(location(&res));
    assert!(next.starts_with("/authorize?pending=") && next.len() < 80, "{next}");

    // Password, then the second step, each carrying `next`.
    let fields = [("username", "ines"), ("password", PASSWORD), ("next", next.as_str())];
    let res = app.submit(&browser, &format!("/login?next={}", urlencode(&next)), "/login", &fields).await;
    assert_eq!(res.status(), 303);
    let to_mfa = location(&res).to_owned();
    assert!(to_mfa.starts_with("/login/mfa?next="), "{to_mfa}");
    let code = code_now(&app, &totp);
    let fields = [("method", "totp"), ("code", code.as_str()), ("next", next.as_str())];
    let res = app.submit(&browser, &to_mfa, "/login/mfa", &fields).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), next, "the second step hands the request back");

    // The consent page, then the code with the exact state.
    let back = authorize_as(&app, &browser, &app.url(&next)).await;
    assert_eq!(param(&back, "state").as_deref(), Some(state.as_str()));
    assert_eq!(csrf.secret(), &state);
    let tokens = client
        .exchange_code(AuthorizationCode::new(param(&back, "code").unwrap()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await
        .unwrap();
    let claims = tokens.id_token().unwrap().claims(&client.id_token_verifier(), &nonce).expect("the long nonce");
    assert_eq!(claims.nonce().map(|n| n.secret().as_str()), Some(long_nonce.as_str()));
    let granted: Vec<String> = tokens.scopes().unwrap().iter().map(|s| s.to_string()).collect();
    for s in many_scopes() {
        assert!(granted.contains(&s), "{s} in {granted:?}");
    }
}

#[tokio::test]
async fn a_parked_request_survives_the_expired_password_page() {
    let app = spawn_app_with(|c| c.password.max_age_days = 1).await;
    register_rp(&app).await;
    app.create_user("jon", &[]).await;
    app.clock.advance(2 * 86_400);
    let state = big_state();
    let browser = app.browser();
    let res = browser.get(plain_url(&app, &state, &[])).send().await.unwrap();
    let next = next_of(location(&res));

    let fields = [("username", "jon"), ("password", PASSWORD), ("next", next.as_str())];
    let res = app.submit(&browser, "/login", "/login", &fields).await;
    assert_eq!(res.status(), 200, "the expired-password page");
    let html = res.text().await.unwrap();
    assert_eq!(hidden_value(&html, "next").as_deref(), Some(next.as_str()));
    let csrf = hidden_value(&html, "csrf_token").unwrap();
    let new = "tangerine submarines orbit quietly";
    let form = [
        ("username", "jon"),
        ("current_password", PASSWORD),
        ("new_password", new),
        ("new_password_confirm", new),
        ("next", next.as_str()),
        ("csrf_token", csrf.as_str()),
    ];
    let res = browser.post(app.url("/password/expired")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let again = location(&res).to_owned();
    assert_eq!(next_of(&again), next);
    let fields = [("username", "jon"), ("password", new), ("next", next.as_str())];
    let res = app.submit(&browser, &again, "/login", &fields).await;
    assert_eq!(location(&res), next);
    let back = authorize_as(&app, &browser, &app.url(&next)).await;
    assert_eq!(param(&back, "state").as_deref(), Some(state.as_str()), "RFC 6749 §4.1.2");
}

#[tokio::test]
async fn an_unknown_or_expired_pending_id_gets_a_page_and_never_a_redirect() {
    let app = spawn_app().await;
    register_rp(&app).await;
    let browser = app.signed_in("kai", &[]).await;
    let refused = async |path: &str| {
        let res = browser.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 400, "{path}");
        assert!(res.headers().get("location").is_none(), "{path}");
        res.text().await.unwrap()
    };
    let page = refused("/authorize?pending=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").await;
    assert!(page.contains("This sign-in request has expired or is not known"), "{page}");
    refused("/authorize?pending=..%2F..%2Fevil").await;

    // A real one, parked by an anonymous browser, lasts 30 minutes.
    let res = app.browser().get(plain_url(&app, "st", &[])).send().await.unwrap();
    let next = next_of(location(&res));
    let id = next.trim_start_matches("/authorize?pending=");
    let mixed = refused(&format!("{next}&redirect_uri=https%3A%2F%2Fevil.example%2F")).await;
    assert!(mixed.contains("pending cannot be combined"), "{mixed}");
    app.clock.advance(30 * 60);
    let page = refused(&format!("/authorize?pending={id}")).await;
    assert!(page.contains("Go back to the application"), "{page}");
}

#[tokio::test]
async fn a_pending_id_is_not_bound_to_a_browser_and_resumes_only_for_a_signed_in_user() {
    let app = spawn_app().await;
    register_rp(&app).await;
    // Parked by one browser...
    let res = app.browser().get(plain_url(&app, "st-1", &[])).send().await.unwrap();
    let next = next_of(location(&res));
    // ...an anonymous one is sent to sign in with the same id,
    let res = app.browser().get(app.url(&next)).send().await.unwrap();
    assert_eq!(next_of(location(&res)), next);
    // ...and a signed-in one gets the consent page for its own user: the id
    // holds only what the authorization URL held (see oauth::tokens::pending).
    let other = app.signed_in("lea", &[]).await;
    let back = authorize_as(&app, &other, &app.url(&next)).await;
    assert!(back.as_str().starts_with(REDIRECT), "only to the registered redirect URI: {back}");
    assert_eq!(param(&back, "state").as_deref(), Some("st-1"));
}

#[tokio::test]
async fn prompt_login_resumes_only_after_a_sign_in_newer_than_the_request_oidc_core_3_1_2_1() {
    let app = spawn_app().await;
    register_rp(&app).await;
    let browser = app.signed_in("max", &[]).await;
    app.clock.advance(5);
    let res = browser.get(plain_url(&app, "st", &[("prompt", "login")])).send().await.unwrap();
    let to_login = location(&res).to_owned();
    let next = next_of(&to_login);
    assert!(to_login.ends_with("&prompt=login"), "{to_login}");
    // Skipping the sign-in does not resume it: the old session is older than the request.
    let res = browser.get(app.url(&next)).send().await.unwrap();
    assert_eq!(next_of(location(&res)), next);
    app.clock.advance(5);
    let fields = [("username", "max"), ("password", PASSWORD), ("next", next.as_str())];
    let res = app.submit(&browser, &to_login, "/login", &fields).await;
    assert_eq!(location(&res), next);
    let back = authorize_as(&app, &browser, &app.url(&next)).await;
    assert!(param(&back, "code").is_some());
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
