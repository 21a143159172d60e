//! CORS for browser apps, header by header (the browser run is in
//! cors_browser.rs): preflights and actual requests at `/token`, `/revoke` and
//! `/userinfo` from a client's web origins only, never with credentials;
//! discovery, RFC 8414 metadata and JWKS readable from any origin.
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};
use crate::oidc::{REDIRECT, code_for};

const SPA: &str = "https://spa.example";
const EVIL: &str = "https://evil.example";

/// Registers the confidential client `rp` (consent skipped) with `origins`; returns its secret.
async fn register_rp(app: &TestApp, origins: &[&str]) -> String {
    use secrecy::ExposeSecret;
    let registered = app
        .state
        .clients
        .register(gatehouse::oauth::clients::ClientSpec {
            client_id: "rp".into(),
            name: "Shop".into(),
            redirect_uris: vec![REDIRECT.into()],
            skip_consent: true,
            web_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
            ..Default::default()
        })
        .await
        .unwrap();
    registered.generated_secret.unwrap().expose_secret().to_owned()
}

async fn register_public(app: &TestApp, id: &str, redirect: &str, origins: &[&str]) {
    app.state
        .clients
        .register(gatehouse::oauth::clients::ClientSpec {
            client_id: id.into(),
            name: format!("{id} app"),
            redirect_uris: vec![redirect.into()],
            public: true,
            web_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
            ..Default::default()
        })
        .await
        .unwrap();
}

/// A preflight as a browser sends it.
async fn preflight(app: &TestApp, path: &str, origin: &str, method: &str, headers: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .request(Method::OPTIONS, app.url(path))
        .header("origin", origin)
        .header("access-control-request-method", method);
    if let Some(h) = headers {
        req = req.header("access-control-request-headers", h);
    }
    req.send().await.unwrap()
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn no_cors_headers(h: &HeaderMap) -> bool {
    h.keys().all(|k| !k.as_str().starts_with("access-control-"))
}

fn varies_by_origin(h: &HeaderMap) -> bool {
    h.get_all("vary").iter().any(|v| v.to_str().unwrap_or_default().to_ascii_lowercase().contains("origin"))
}

async fn redeem_from(
    app: &TestApp,
    origin: Option<&str>,
    secret: &str,
    code: &str,
    verifier: &str,
) -> reqwest::Response {
    let form =
        [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT), ("code_verifier", verifier)];
    let mut req = reqwest::Client::new().post(app.url("/token")).basic_auth("rp", Some(secret)).form(&form);
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    req.send().await.unwrap()
}

async fn userinfo_from(app: &TestApp, origin: Option<&str>, token: &str) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(app.url("/userinfo")).bearer_auth(token);
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn a_preflight_from_a_listed_origin_names_the_origin_methods_and_headers_and_never_credentials() {
    let app = spawn_app().await;
    register_rp(&app, &[SPA]).await;
    for (path, method, methods) in
        [("/token", "POST", "POST"), ("/revoke", "POST", "POST"), ("/userinfo", "GET", "GET, POST")]
    {
        let res = preflight(&app, path, SPA, method, Some("authorization,content-type")).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "{path}");
        let h = res.headers();
        assert_eq!(header(h, "access-control-allow-origin"), Some(SPA), "{path}: the origin itself, never *");
        assert_eq!(header(h, "access-control-allow-methods"), Some(methods), "{path}");
        assert_eq!(header(h, "access-control-allow-headers"), Some("Authorization, Content-Type"), "{path}");
        assert_eq!(header(h, "access-control-max-age"), Some("600"), "{path}");
        assert!(varies_by_origin(h), "{path}");
        assert!(h.get("access-control-allow-credentials").is_none(), "{path}: no credentials");
    }
    // POST is allowed on /userinfo too (RFC 6750 §2.2 form body).
    assert_eq!(preflight(&app, "/userinfo", SPA, "POST", Some("content-type")).await.status(), 204);
}

#[tokio::test]
async fn a_preflight_from_an_unlisted_origin_or_for_an_unlisted_method_or_header_is_403_without_cors_headers() {
    let app = spawn_app().await;
    register_rp(&app, &[SPA]).await;
    for (path, origin, method, headers) in [
        ("/token", EVIL, "POST", None),
        ("/userinfo", EVIL, "GET", Some("authorization")),
        ("/revoke", "null", "POST", None),
        ("/token", "https://spa.example:8443", "POST", None),
        ("/token", SPA, "GET", None),
        ("/token", SPA, "DELETE", None),
        ("/userinfo", SPA, "PUT", None),
        ("/token", SPA, "POST", Some("content-type, x-debug")),
    ] {
        let res = preflight(&app, path, origin, method, headers).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path} {origin} {method} {headers:?}");
        assert!(no_cors_headers(res.headers()), "{path} {origin} {method}: {:?}", res.headers());
    }
    // /introspect is for resource servers, not pages: it takes no part in CORS.
    let res = preflight(&app, "/introspect", SPA, "POST", None).await;
    assert!(no_cors_headers(res.headers()));
}

#[tokio::test]
async fn a_listed_origin_reads_token_and_userinfo_answers_and_an_unlisted_one_is_refused_before_the_code_is_spent() {
    let app = spawn_app().await;
    let secret = register_rp(&app, &[SPA]).await;
    let browser = app.signed_in("ada", &[]).await;
    let (code, verifier) = code_for(&app, &browser).await;

    // An unlisted origin: 403 JSON, no Access-Control-Allow-Origin (so the
    // browser hides the answer), and the code is not spent.
    let res = redeem_from(&app, Some(EVIL), &secret, &code, &verifier).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(no_cors_headers(res.headers()), "{:?}", res.headers());
    assert!(varies_by_origin(res.headers()));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "access_denied");

    let res = redeem_from(&app, Some(SPA), &secret, &code, &verifier).await;
    assert_eq!(res.status(), StatusCode::OK, "the refused request left the code unspent");
    let h = res.headers().clone();
    assert_eq!(header(&h, "access-control-allow-origin"), Some(SPA));
    assert_eq!(header(&h, "access-control-expose-headers"), Some("WWW-Authenticate"));
    assert!(h.get("access-control-allow-credentials").is_none());
    assert!(varies_by_origin(&h));
    let tokens: Value = res.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();

    // /userinfo: checked against the access token's client.
    let res = userinfo_from(&app, Some(SPA), access).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(res.headers(), "access-control-allow-origin"), Some(SPA));
    let res = userinfo_from(&app, Some(EVIL), access).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(no_cors_headers(res.headers()));
    // A 401 is readable with its challenge (RFC 6750 §3), so the page can react.
    let res = userinfo_from(&app, Some(SPA), "not-a-token").await;
    assert_eq!(res.status(), 401);
    assert_eq!(header(res.headers(), "access-control-allow-origin"), Some(SPA));
    assert_eq!(header(res.headers(), "access-control-expose-headers"), Some("WWW-Authenticate"));

    // Servers send no Origin: unaffected, and no CORS headers.
    let res = userinfo_from(&app, None, access).await;
    assert_eq!(res.status(), 200);
    assert!(no_cors_headers(res.headers()));
    let (code2, verifier2) = code_for(&app, &browser).await;
    let res = redeem_from(&app, None, &secret, &code2, &verifier2).await;
    assert_eq!(res.status(), 200);
    assert!(no_cors_headers(res.headers()));

    // An error is readable by the listed origin too (RFC 6749 §4.1.2: a code works once).
    let res = redeem_from(&app, Some(SPA), &secret, &code, &verifier).await;
    assert_eq!(res.status(), 400);
    assert_eq!(header(res.headers(), "access-control-allow-origin"), Some(SPA));
}

#[tokio::test]
async fn a_public_clients_redirect_uri_origins_count_unless_it_lists_origins_and_a_confidential_client_has_none() {
    let app = spawn_app().await;
    register_public(&app, "spa", "http://127.0.0.1:5173/callback", &[]).await;
    register_public(&app, "listed", "http://localhost:4000/cb", &["https://listed.example"]).await;
    app.state
        .clients
        .register(gatehouse::oauth::clients::ClientSpec {
            client_id: "backend".into(),
            name: "Backend".into(),
            redirect_uris: vec!["https://backend.example/cb".into()],
            ..Default::default()
        })
        .await
        .unwrap();

    let allowed = |o: &'static str| {
        let app = &app;
        async move { preflight(app, "/token", o, "POST", None).await.status() == 204 }
    };
    assert!(allowed("http://127.0.0.1:5173").await, "the public client's redirect origin");
    assert!(!allowed("http://127.0.0.1:5174").await, "another port is another origin");
    assert!(allowed("https://listed.example").await);
    assert!(!allowed("http://localhost:4000").await, "a listed origin replaces the redirect origins");
    assert!(!allowed("https://backend.example").await, "a confidential client has only what it lists");

    // The actual request, at /revoke, is checked against that client.
    let revoke = |origin: &'static str, client: &'static str| {
        let app = &app;
        async move {
            reqwest::Client::new()
                .post(app.url("/revoke"))
                .header("origin", origin)
                .form(&[("client_id", client), ("token", "unknown")])
                .send()
                .await
                .unwrap()
        }
    };
    let res = revoke("http://127.0.0.1:5173", "spa").await;
    assert_eq!(res.status(), 200, "RFC 7009 §2.2: an unknown token is still 200");
    assert_eq!(header(res.headers(), "access-control-allow-origin"), Some("http://127.0.0.1:5173"));
    let res = revoke("https://listed.example", "spa").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "an origin of another client");
    assert!(no_cors_headers(res.headers()));
}

#[tokio::test]
async fn discovery_rfc_8414_metadata_and_jwks_are_readable_from_any_origin_without_credentials() {
    let app = spawn_app().await;
    for path in ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/jwks.json"] {
        let res = reqwest::Client::new().get(app.url(path)).header("origin", EVIL).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(header(res.headers(), "access-control-allow-origin"), Some("*"), "{path}");
        assert!(res.headers().get("access-control-allow-credentials").is_none(), "{path}");
        let res = preflight(&app, path, EVIL, "GET", Some("x-requested-with")).await;
        assert_eq!(res.status(), 204, "{path}");
        assert_eq!(header(res.headers(), "access-control-allow-origin"), Some("*"));
        assert_eq!(header(res.headers(), "access-control-allow-methods"), Some("GET"));
        assert!(res.headers().get("access-control-allow-credentials").is_none());
        let res = preflight(&app, path, EVIL, "POST", None).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}: only GET");
        assert!(no_cors_headers(res.headers()));
    }
    // Without an Origin too, as before.
    let res = reqwest::get(app.url("/jwks.json")).await.unwrap();
    assert_eq!(header(res.headers(), "access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn rfc_8414_metadata_is_the_discovery_document_and_its_issuer_is_ours_rfc_8414_3_2() {
    let app = spawn_app().await;
    let get = |path: &'static str| {
        let app = &app;
        async move { reqwest::get(app.url(path)).await.unwrap() }
    };
    let oidc = get("/.well-known/openid-configuration").await;
    let oauth = get("/.well-known/oauth-authorization-server").await;
    assert_eq!(oauth.status(), 200);
    // RFC 8414 §3.2: a 200 with application/json, cached like discovery.
    assert_eq!(header(oauth.headers(), "content-type"), Some("application/json"));
    assert_eq!(header(oauth.headers(), "cache-control"), header(oidc.headers(), "cache-control"));
    let (oidc, oauth): (Value, Value) = (oidc.json().await.unwrap(), oauth.json().await.unwrap());
    assert_eq!(oauth, oidc, "the same content as discovery");
    // RFC 8414 §3.2: the issuer value MUST be identical to the issuer identifier.
    assert_eq!(oauth["issuer"], app.base.as_str());
    assert_eq!(oauth["token_endpoint"], app.url("/token").as_str());
}
