//! The OpenID Provider end to end, with the `openidconnect` crate as the
//! relying party: discovery, authorize with PKCE, consent, code exchange,
//! ID token verification through JWKS, userinfo. Plus the RFC MUSTs of the
//! code grant, each cited where it is checked.
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    RedirectUrl, Scope, TokenResponse,
};
use secrecy::ExposeSecret;

use crate::helpers::{TestApp, location, spawn_app};

pub const REDIRECT: &str = "https://rp.example/callback";

/// Registers a confidential client; returns its secret.
pub async fn register(app: &TestApp, id: &str, skip_consent: bool) -> String {
    let registered = app
        .state
        .clients
        .register(gatehouse::oauth::clients::ClientSpec {
            client_id: id.into(),
            name: format!("{id} app"),
            redirect_uris: vec![REDIRECT.into()],
            grant_types: vec!["authorization_code".into(), "refresh_token".into(), "client_credentials".into()],
            skip_consent,
            ..Default::default()
        })
        .await
        .unwrap();
    registered.generated_secret.unwrap().expose_secret().to_owned()
}

pub fn http() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Decodes the five entities askama escapes.
fn unescape(s: &str) -> String {
    s.replace("&#60;", "<").replace("&#62;", ">").replace("&#34;", "\"").replace("&#39;", "'").replace("&#38;", "&")
}

/// Every hidden input of the page, in order.
fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .filter_map(|rest| {
            let (name, rest) = rest.split_once("\" value=\"")?;
            let value = rest.split('"').next()?;
            Some((unescape(name), unescape(value)))
        })
        .collect()
}

/// Follows the authorization URL as a signed-in browser, approving consent if
/// asked; returns the redirect back to the client.
pub async fn authorize_as(app: &TestApp, browser: &reqwest::Client, auth_url: &str) -> url::Url {
    let res = browser.get(auth_url).send().await.unwrap();
    let res = if res.status() == 200 {
        let html = res.text().await.unwrap();
        assert!(html.contains("<button type=\"submit\" name=\"decision\" value=\"approve\">"), "consent page");
        let mut form = hidden_inputs(&html);
        form.push(("decision".into(), "approve".into()));
        browser.post(app.url("/authorize/consent")).form(&form).send().await.unwrap()
    } else {
        res
    };
    assert_eq!(res.status(), 303);
    url::Url::parse(location(&res)).unwrap()
}

pub fn param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn a_relying_party_signs_a_user_in_through_discovery_alone() {
    let app = spawn_app().await;
    let secret = register(&app, "rp", false).await;
    let browser = app.signed_in("olivia", &[]).await;
    let http = http();

    let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(app.base.clone()).unwrap(), &http).await.unwrap();
    let client =
        CoreClient::from_provider_metadata(meta, ClientId::new("rp".into()), Some(ClientSecret::new(secret.clone())))
            .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    // The RP now holds the JWKS it fetched at discovery. The server rotates:
    // the key that was published ahead starts signing, and the cached JWKS
    // already has it.
    app.state.keys.rotate_now().await.unwrap();
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    // A state with characters that need encoding comes back unchanged (RFC 6749 §4.1.2).
    let state = "x y&z=1/é+%";
    let (auth_url, csrf, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, || CsrfToken::new(state.into()), Nonce::new_random)
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();

    let back = authorize_as(&app, &browser, auth_url.as_str()).await;
    assert_eq!(back.origin().ascii_serialization(), "https://rp.example");
    assert_eq!(param(&back, "state").as_deref(), Some(csrf.secret().as_str()));
    assert_eq!(param(&back, "iss").as_deref(), Some(app.base.as_str()), "RFC 9207 iss");
    let code = param(&back, "code").unwrap();

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let id_token = tokens.id_token().expect("an ID token for scope openid");
    let claims = id_token.claims(&client.id_token_verifier(), &nonce).expect("ID token verifies with the cached JWKS");
    assert_eq!(claims.email().map(|e| e.as_str()), Some("olivia@example.com"));
    assert_eq!(claims.preferred_username().map(|u| u.as_str()), Some("olivia"));
    assert!(claims.auth_time().is_some());

    let info: CoreUserInfoClaims =
        client.user_info(tokens.access_token().clone(), None).unwrap().request_async(&http).await.unwrap();
    assert_eq!(info.subject(), claims.subject());
    assert_eq!(info.email().map(|e| e.as_str()), Some("olivia@example.com"));

    // Refresh with rotation through the same library. (Its revocation helper
    // refuses http:// endpoints, so revocation goes over plain HTTP below.)
    let first_refresh = tokens.refresh_token().expect("offline_access gives a refresh token");
    let refreshed = client.exchange_refresh_token(first_refresh).unwrap().request_async(&http).await.unwrap();
    let second_refresh = refreshed.refresh_token().expect("a rotated refresh token");
    assert_ne!(second_refresh.secret(), first_refresh.secret());
    let revoked = reqwest::Client::new()
        .post(app.url("/revoke"))
        .basic_auth("rp", Some(&secret))
        .form(&[("token", second_refresh.secret().as_str()), ("token_type_hint", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert!(client.exchange_refresh_token(second_refresh).unwrap().request_async(&http).await.is_err(), "revoked");
}

/// A code for `rp` (consent skipped), with PKCE; returns (code, verifier).
pub async fn code_for(app: &TestApp, browser: &reqwest::Client) -> (String, String) {
    code_with_scope(app, browser, "openid email").await
}

/// An authorization URL for `rp` with `scope`, and a PKCE S256 challenge if given.
pub fn authorize_url(app: &TestApp, scope: &str, challenge: Option<&str>) -> String {
    let mut url = url::Url::parse(&app.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "rp")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", scope)
        .append_pair("state", "s");
    if let Some(c) = challenge {
        url.query_pairs_mut().append_pair("code_challenge", c).append_pair("code_challenge_method", "S256");
    }
    url.into()
}

/// A code for `rp` with `scope`; returns (code, verifier).
pub async fn code_with_scope(app: &TestApp, browser: &reqwest::Client, scope: &str) -> (String, String) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let back = authorize_as(app, browser, &authorize_url(app, scope, Some(challenge.as_str()))).await;
    (param(&back, "code").unwrap(), verifier.secret().clone())
}

pub async fn redeem(app: &TestApp, secret: &str, code: &str, verifier: Option<&str>) -> reqwest::Response {
    redeem_as(app, ("rp", secret), code, REDIRECT, verifier).await
}

/// Redeems `code` as client `(id, secret)` at `redirect`, with `verifier` if given.
pub async fn redeem_as(
    app: &TestApp,
    (id, secret): (&str, &str),
    code: &str,
    redirect: &str,
    verifier: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect)];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    reqwest::Client::new().post(app.url("/token")).basic_auth(id, Some(secret)).form(&form).send().await.unwrap()
}

pub async fn error_code(res: reqwest::Response) -> String {
    let body: serde_json::Value = res.json().await.unwrap();
    body["error"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_its_tokens_rfc_6749_4_1_2() {
    let app = spawn_app().await;
    let secret = register(&app, "rp", true).await;
    let browser = app.signed_in("paul", &[]).await;
    let (code, verifier) = code_for(&app, &browser).await;
    let first = redeem(&app, &secret, &code, Some(&verifier)).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["cache-control"], "no-store");
    let tokens: serde_json::Value = first.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let userinfo = |token: String| {
        let url = app.url("/userinfo");
        async move { reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap().status() }
    };
    assert_eq!(userinfo(access.clone()).await, 200);

    let replay = redeem(&app, &secret, &code, Some(&verifier)).await;
    assert_eq!(replay.status(), 400);
    assert_eq!(error_code(replay).await, "invalid_grant");
    assert_eq!(userinfo(access).await, 401, "tokens from the replayed code are revoked");
}

#[tokio::test]
async fn a_wrong_or_missing_pkce_verifier_is_invalid_grant_rfc_7636_4_6() {
    let app = spawn_app().await;
    let secret = register(&app, "rp", true).await;
    let browser = app.signed_in("quincy", &[]).await;
    let (code, _) = code_for(&app, &browser).await;
    let wrong = redeem(&app, &secret, &code, Some(&"a".repeat(43))).await;
    assert_eq!(error_code(wrong).await, "invalid_grant");
    let (code, _) = code_for(&app, &browser).await;
    let missing = redeem(&app, &secret, &code, None).await;
    assert_eq!(error_code(missing).await, "invalid_grant");
}

#[tokio::test]
async fn an_expired_code_is_invalid_grant() {
    let app = spawn_app().await;
    let secret = register(&app, "rp", true).await;
    let browser = app.signed_in("rosa", &[]).await;
    let (code, verifier) = code_for(&app, &browser).await;
    app.clock.advance(61);
    assert_eq!(error_code(redeem(&app, &secret, &code, Some(&verifier)).await).await, "invalid_grant");
}

#[tokio::test]
async fn a_bad_redirect_uri_gets_an_error_page_and_never_a_redirect_rfc_6749_4_1_2_1() {
    let app = spawn_app().await;
    register(&app, "rp", true).await;
    let browser = app.signed_in("sven", &[]).await;
    for query in [
        "response_type=code&client_id=rp&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&scope=openid",
        "response_type=code&client_id=nobody&redirect_uri=https%3A%2F%2Frp.example%2Fcallback&scope=openid",
        "response_type=code&redirect_uri=https%3A%2F%2Frp.example%2Fcallback&scope=openid",
    ] {
        let res = browser.get(app.url(&format!("/authorize?{query}"))).send().await.unwrap();
        assert_eq!(res.status(), 400, "{query}");
        assert!(res.headers().get("location").is_none());
        assert!(res.text().await.unwrap().contains("cannot be used"));
    }
}

#[tokio::test]
async fn prompt_none_without_a_session_answers_login_required() {
    let app = spawn_app().await;
    register(&app, "rp", true).await;
    let res = app
        .browser()
        .get(app.url("/authorize?response_type=code&client_id=rp&redirect_uri=https%3A%2F%2Frp.example%2Fcallback&scope=openid&state=st&prompt=none"))
        .send()
        .await
        .unwrap();
    let back = url::Url::parse(location(&res)).unwrap();
    assert_eq!(param(&back, "error").as_deref(), Some("login_required"));
    assert_eq!(param(&back, "state").as_deref(), Some("st"));
}

#[tokio::test]
async fn signing_in_resumes_the_authorization_request() {
    let app = spawn_app().await;
    register(&app, "rp", true).await;
    app.create_user("tara", &[]).await;
    let browser = app.browser();
    let start = "/authorize?response_type=code&client_id=rp&redirect_uri=https%3A%2F%2Frp.example%2Fcallback&scope=openid&state=st";
    let res = browser.get(app.url(start)).send().await.unwrap();
    let to_login = location(&res).to_owned();
    assert!(to_login.starts_with("/login?next="), "{to_login}");
    let res = app
        .submit(
            &browser,
            &to_login,
            "/login",
            &[
                ("username", "tara"),
                ("password", crate::helpers::PASSWORD),
                (
                    "next",
                    &url::Url::parse(&app.url(&to_login)).unwrap().query_pairs().find(|(k, _)| k == "next").unwrap().1,
                ),
            ],
        )
        .await;
    let resumed = location(&res).to_owned();
    assert!(resumed.starts_with("/authorize?"), "{resumed}");
    let res = browser.get(app.url(&resumed)).send().await.unwrap();
    let back = url::Url::parse(location(&res)).unwrap();
    assert!(param(&back, "code").is_some());
}

#[tokio::test]
async fn deny_returns_access_denied_and_consent_is_remembered_until_scopes_grow() {
    let app = spawn_app().await;
    register(&app, "rp", false).await;
    let browser = app.signed_in("uwe", &[]).await;
    let ask = |scope: &str| {
        app.url(&format!(
            "/authorize?response_type=code&client_id=rp&redirect_uri=https%3A%2F%2Frp.example%2Fcallback&scope={scope}&state=st"
        ))
    };
    let page = browser.get(ask("openid")).send().await.unwrap().text().await.unwrap();
    let mut form = hidden_inputs(&page);
    form.push(("decision".into(), "deny".into()));
    let res = browser.post(app.url("/authorize/consent")).form(&form).send().await.unwrap();
    let back = url::Url::parse(location(&res)).unwrap();
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));

    authorize_as(&app, &browser, &ask("openid")).await;
    let again = browser.get(ask("openid")).send().await.unwrap();
    assert_eq!(again.status(), 303, "remembered consent: no page");
    let grown = browser.get(ask("openid%20email")).send().await.unwrap();
    assert_eq!(grown.status(), 200, "more scopes: asked again");
}

#[tokio::test]
async fn client_credentials_and_client_authentication_failures() {
    let app = spawn_app().await;
    let secret = register(&app, "rp", true).await;
    let http = reqwest::Client::new();
    let ok = http
        .post(app.url("/token"))
        .basic_auth("rp", Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "email")])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let body: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());

    // RFC 6749 §5.2: a failed Basic authentication is 401 with a challenge.
    let bad = http
        .post(app.url("/token"))
        .basic_auth("rp", Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    assert!(bad.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    assert_eq!(error_code(bad).await, "invalid_client");

    let unsupported = http
        .post(app.url("/token"))
        .form(&[("grant_type", "implicit"), ("client_id", "rp"), ("client_secret", secret.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(unsupported).await, "unsupported_grant_type");
}

#[tokio::test]
async fn userinfo_without_a_valid_token_is_401_with_a_bearer_challenge_rfc_6750_3() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();
    let res = http.get(app.url("/userinfo")).bearer_auth("not.a.jwt").send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("error=\"invalid_token\""));
    // RFC 6750 §3.1: no token at all, no error code in the challenge.
    let res = http.get(app.url("/userinfo")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"gatehouse\"");
}

#[tokio::test]
async fn instances_on_one_database_share_codes_and_tokens() {
    let a = spawn_app().await;
    let b = a.second_instance().await;
    let secret = register(&a, "rp", true).await;
    let browser = a.signed_in("wendy", &[]).await;
    let (code, verifier) = code_with_scope(&a, &browser, "openid email offline_access").await;
    // The code from A is redeemed at B; B's tokens work at A.
    let tokens: serde_json::Value = redeem(&b, &secret, &code, Some(&verifier)).await.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let res = reqwest::Client::new().get(a.url("/userinfo")).bearer_auth(access).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let refreshed = reqwest::Client::new()
        .post(a.url("/token"))
        .basic_auth("rp", Some(&secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);
    // The replay at A of the code redeemed at B is refused.
    assert_eq!(error_code(redeem(&a, &secret, &code, Some(&verifier)).await).await, "invalid_grant");
    b.stop().await;
}

#[tokio::test]
async fn form_post_response_mode_answers_with_a_self_posting_form() {
    let app = spawn_app().await;
    register(&app, "rp", true).await;
    let browser = app.signed_in("xavi", &[]).await;
    let url = app.url(
        "/authorize?response_type=code&client_id=rp&redirect_uri=https%3A%2F%2Frp.example%2Fcallback&scope=openid&state=%22q%22&response_mode=form_post&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
    );
    let res = browser.get(url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("form-action https://rp.example"), "{csp}");
    let html = res.text().await.unwrap();
    assert!(html.contains("<form method=\"post\" action=\"https://rp.example/callback\""));
    let fields = hidden_inputs(&html);
    assert!(fields.iter().any(|(k, _)| k == "code"));
    assert!(fields.contains(&("state".into(), "\"q\"".into())));
    assert!(fields.contains(&("iss".into(), app.base.clone())));
}

#[tokio::test]
async fn prompt_login_and_max_age_make_the_user_sign_in_again() {
    let app = spawn_app().await;
    register(&app, "rp", true).await;
    let browser = app.signed_in("yara", &[]).await;
    let base = "/authorize?response_type=code&client_id=rp&redirect_uri=https%3A%2F%2Frp.example%2Fcallback&scope=openid&state=st";
    let res = browser.get(app.url(&format!("{base}&prompt=login"))).send().await.unwrap();
    let to = location(&res).to_owned();
    assert!(to.starts_with("/login?next=") && to.ends_with("&prompt=login"), "{to}");
    assert!(!to.contains("prompt%3Dlogin"), "the resumed request no longer asks for a fresh sign-in: {to}");
    // The sign-in form is shown even though a session exists.
    assert_eq!(browser.get(app.url(&to)).send().await.unwrap().status(), 200);

    app.clock.advance(120);
    let res = browser.get(app.url(&format!("{base}&max_age=60"))).send().await.unwrap();
    assert!(location(&res).starts_with("/login?next="), "signed in 120 s ago, max_age 60");
    let res = browser.get(app.url(&format!("{base}&max_age=600"))).send().await.unwrap();
    assert!(location(&res).starts_with("https://rp.example/callback?code="));
}

#[tokio::test]
async fn a_client_deleted_by_another_process_is_refused_at_once() {
    let app = spawn_app().await;
    let secret = register(&app, "rp", true).await;
    let http = reqwest::Client::new();
    let grant = || {
        http.post(app.url("/token"))
            .basic_auth("rp", Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    assert_eq!(grant().await.unwrap().status(), 200);
    // Another process (the CLI, another instance) deletes it: no instance
    // keeps the client's row, so the next request is refused.
    let elsewhere =
        gatehouse::oauth::clients::Clients::new(app.state.store.clone(), std::sync::Arc::new(app.clock.clone()));
    elsewhere.delete("rp", &crate::helpers::test_ctx()).await.unwrap();
    let refused = grant().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(error_code(refused).await, "invalid_client");

    // A delete through this instance takes effect at once.
    let secret = register(&app, "rp2", true).await;
    let grant2 = || {
        http.post(app.url("/token"))
            .basic_auth("rp2", Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    assert_eq!(grant2().await.unwrap().status(), 200);
    app.state.clients.delete("rp2", &crate::helpers::test_ctx()).await.unwrap();
    assert_eq!(grant2().await.unwrap().status(), 401);
}

#[tokio::test]
async fn login_hint_prefills_the_username_oidc_core_3_1_2_1() {
    let app = spawn_app().await;
    register(&app, "rp", true).await;
    let browser = app.browser();
    let url = "/authorize?response_type=code&client_id=rp&redirect_uri=https%3A%2F%2Frp.example%2Fcallback&scope=openid&login_hint=%22%3Eyara";
    let res = browser.get(app.url(url)).send().await.unwrap();
    let to = location(&res).to_owned();
    assert!(to.contains("login_hint=%22%3Eyara"), "{to}");
    let html = browser.get(app.url(&to)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("value=\"&#34;&#62;yara\"") || html.contains("value=\"&quot;&gt;yara\""), "escaped: {html}");
}
