//! The back-channel calls every kind makes: the code exchange at the token
//! endpoint (RFC 6749 §4.1.3, with the RFC 7636 verifier) and the userinfo
//! GET with the access token (RFC 6750 §2.1). Classifies failures: the
//! provider refusing (a 4xx OAuth error) is [`Error::Rejected`], the provider
//! unreachable or answering nonsense is [`Error::Unavailable`].
use std::time::Duration;

use reqwest::header::{ACCEPT, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::Error;
use super::settings::TokenAuth;

/// Answers larger than this are not read (a JWKS or a profile is a few KiB).
const MAX_BODY: usize = 1 << 20;

/// The one HTTP client of all providers. Redirects are off: a provider URL
/// that redirects could send our back-channel calls (with the client secret
/// or a token) anywhere, the SSRF warning of the openidconnect docs.
pub(crate) fn client() -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Config(format!("upstream HTTP client: {e}")))
}

/// What a token endpoint answers; only what we use.
#[derive(Deserialize)]
pub(crate) struct TokenAnswer {
    pub access_token: String,
    pub token_type: Option<String>,
    pub id_token: Option<String>,
}

/// An OAuth error body (RFC 6749 §5.2). GitHub sends it with status 200.
#[derive(Deserialize)]
struct ErrorAnswer {
    error: String,
}

/// Reads at most [`MAX_BODY`] bytes of an answer.
pub(crate) async fn body(mut res: reqwest::Response, what: &str) -> Result<Vec<u8>, Error> {
    let mut buf = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|e| Error::Unavailable(format!("{what}: {e}")))? {
        if buf.len() + chunk.len() > MAX_BODY {
            return Err(Error::Unavailable(format!("{what}: answer too large")));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// An error code fit for a log line: short, printable ASCII.
fn code(error: &str) -> String {
    error.chars().filter(|c| c.is_ascii_graphic()).take(64).collect()
}

/// RFC 6749 §2.3.1: Basic credentials are form-urlencoded first.
fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The code exchange.
pub(crate) struct CodeExchange<'a> {
    pub token_url: &'a Url,
    pub client_id: &'a str,
    pub secret: Option<&'a SecretString>,
    pub auth: TokenAuth,
    pub code: &'a str,
    pub redirect_uri: &'a Url,
    pub pkce_verifier: &'a str,
}

impl CodeExchange<'_> {
    /// Redeems the code. 4xx with an OAuth error (`invalid_grant` …) →
    /// Rejected; network trouble, 5xx or an unreadable answer → Unavailable.
    pub(crate) async fn send(&self, http: &reqwest::Client) -> Result<TokenAnswer, Error> {
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "authorization_code"),
            ("code", self.code),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("code_verifier", self.pkce_verifier),
        ];
        let mut req = http.post(self.token_url.as_str()).header(ACCEPT, HeaderValue::from_static("application/json"));
        match (self.auth, self.secret) {
            (TokenAuth::Basic, Some(secret)) => {
                req = req.basic_auth(form_encode(self.client_id), Some(form_encode(secret.expose_secret())));
            }
            (TokenAuth::Post, Some(secret)) => {
                form.push(("client_id", self.client_id));
                form.push(("client_secret", secret.expose_secret()));
            }
            // A public client identifies itself in the body (RFC 6749 §4.1.3).
            _ => form.push(("client_id", self.client_id)),
        }
        let res = req.form(&form).send().await.map_err(|e| Error::Unavailable(format!("token endpoint: {e}")))?;
        let status = res.status();
        let bytes = body(res, "token endpoint").await?;
        // GitHub answers errors with 200, so look for `error` whatever the status.
        if let Ok(err) = serde_json::from_slice::<ErrorAnswer>(&bytes)
            && !status.is_server_error()
        {
            return Err(Error::Rejected(format!("token endpoint: {}", code(&err.error))));
        }
        if !status.is_success() {
            return Err(Error::Unavailable(format!("token endpoint: status {status}")));
        }
        let answer: TokenAnswer = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Unavailable(format!("token endpoint: unreadable answer: {e}")))?;
        // RFC 6750: we can only use a bearer token (Facebook writes "bearer").
        if let Some(t) = &answer.token_type
            && !t.eq_ignore_ascii_case("bearer")
        {
            return Err(Error::Rejected(format!("token endpoint: token type {}", code(t))));
        }
        Ok(answer)
    }
}

/// GETs the userinfo endpoint with the access token as a Bearer header
/// (the URL, with any `fields` query, is used as configured).
pub(crate) async fn userinfo(http: &reqwest::Client, url: &Url, access_token: &str) -> Result<Value, Error> {
    let res = http
        .get(url.as_str())
        .bearer_auth(access_token)
        .header(ACCEPT, HeaderValue::from_static("application/json"))
        .send()
        .await
        .map_err(|e| Error::Unavailable(format!("userinfo: {e}")))?;
    let status = res.status();
    let bytes = body(res, "userinfo").await?;
    if status.is_client_error() {
        // The token we were just given is refused: not a sign-in to accept.
        return Err(Error::Rejected(format!("userinfo: status {status}")));
    }
    if !status.is_success() {
        return Err(Error::Unavailable(format!("userinfo: status {status}")));
    }
    let json: Value =
        serde_json::from_slice(&bytes).map_err(|e| Error::Unavailable(format!("userinfo: unreadable answer: {e}")))?;
    if !json.is_object() {
        return Err(Error::Unavailable("userinfo: not a JSON object".into()));
    }
    Ok(json)
}
