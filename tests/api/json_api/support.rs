//! Fixtures for the JSON API tests: a relying party allowed the API
//! scopes, user tokens from a real code flow, service tokens from
//! `client_credentials`, and [`Api`] for bearer requests.
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::helpers::TestApp;
use crate::oidc::{REDIRECT, code_with_scope, redeem};

/// Every scope the test relying party `rp` may ask for.
pub const API_SCOPES: &str = "openid profile email offline_access account admin";

/// Registers `rp` (confidential, consent skipped) allowed [`API_SCOPES`];
/// returns its secret.
pub async fn api_rp(app: &TestApp) -> String {
    if let Ok(Some(_)) = app.state.clients.get("rp").await {
        panic!("api_rp registers rp once per app; keep the secret it returned");
    }
    let registered = app
        .state
        .clients
        .register(gatehouse::oauth::clients::ClientSpec {
            client_id: "rp".into(),
            name: "rp app".into(),
            redirect_uris: vec![REDIRECT.into()],
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            scope: Some(API_SCOPES.into()),
            skip_consent: true,
            ..Default::default()
        })
        .await
        .unwrap();
    registered.generated_secret.unwrap().expose_secret().to_owned()
}

/// An access token of `rp` (registered with [`api_rp`], secret `secret`)
/// for `username` (created with `roles` if new), with `scope`, from a code
/// flow through the real pages.
pub async fn user_token(app: &TestApp, secret: &str, username: &str, roles: &[&str], scope: &str) -> String {
    let browser = app.signed_in(username, roles).await;
    let (code, verifier) = code_with_scope(app, &browser, scope).await;
    let res = redeem(app, secret, &code, Some(&verifier)).await;
    assert_eq!(res.status(), 200, "token request");
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// Registers a service client `id` (client_credentials only, scope `admin`,
/// service roles `roles`); returns its secret.
pub async fn service_client(app: &TestApp, id: &str, roles: &[&str]) -> String {
    let registered = app
        .state
        .clients
        .register(gatehouse::oauth::clients::ClientSpec {
            client_id: id.into(),
            name: format!("{id} service"),
            grant_types: vec!["client_credentials".into()],
            scope: Some("admin".into()),
            service_roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            ..Default::default()
        })
        .await
        .unwrap();
    registered.generated_secret.unwrap().expose_secret().to_owned()
}

/// A `client_credentials` token of client `id` with `secret`.
pub async fn client_token(app: &TestApp, id: &str, secret: &str, scope: Option<&str>) -> reqwest::Response {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    reqwest::Client::new().post(app.url("/token")).basic_auth(id, Some(secret)).form(&form).send().await.unwrap()
}

/// An admin token: a service client `svc-admin` with the admin service role.
pub async fn admin_token(app: &TestApp) -> String {
    let secret = service_client(app, "svc-admin", &["admin"]).await;
    let res = client_token(app, "svc-admin", &secret, None).await;
    assert_eq!(res.status(), 200, "client_credentials token");
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// Bearer requests to the API.
pub struct Api<'a> {
    pub app: &'a TestApp,
    pub token: String,
    http: reqwest::Client,
}

impl<'a> Api<'a> {
    pub fn new(app: &'a TestApp, token: impl Into<String>) -> Self {
        Self { app, token: token.into(), http: reqwest::Client::new() }
    }

    /// A request builder for `method path` with the bearer token.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.app.url(path)).bearer_auth(&self.token)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::GET, path).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.request(reqwest::Method::POST, path).json(body).send().await.unwrap()
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::DELETE, path).send().await.unwrap()
    }

    /// `PATCH` with `If-Match: etag`.
    pub async fn patch(&self, path: &str, etag: &str, body: &Value) -> reqwest::Response {
        self.request(reqwest::Method::PATCH, path).header("if-match", etag).json(body).send().await.unwrap()
    }
}

/// The body of a problem response, checking its media type (RFC 9457 §3).
pub async fn problem(res: reqwest::Response, status: u16) -> Value {
    assert_eq!(res.status(), status, "status");
    let ct = res.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
    assert_eq!(ct, "application/problem+json");
    let body: Value = res.json().await.unwrap();
    assert!(body["type"].as_str().unwrap().starts_with("urn:gatehouse:problem:"), "{body}");
    assert_eq!(body["status"], status);
    body
}
