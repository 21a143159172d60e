//! A reverse proxy in front of the upstream gatehouse, serving as its public
//! address (the upstream's `issuer` is the proxy's URL, as behind a real
//! load balancer), so discovery, JWKS, authorize and userinfo pass through
//! untouched. Only `/token` can be tampered with, to forge the answers a real
//! provider never gives: an ID token with a broken signature, or one issued
//! to another client (wrong `aud`).
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// What the proxy does to `/token`.
#[derive(Clone, Debug, Default)]
pub enum Tamper {
    #[default]
    Nothing,
    /// Flip bits in the returned ID token's signature.
    BreakSignature,
    /// Redeem the code with another client's credentials (the code was
    /// issued to that client), so the ID token's `aud` is that client.
    AsClient { id: String, secret: String },
}

#[derive(Clone)]
struct Proxy {
    target: Arc<Mutex<String>>,
    tamper: Arc<Mutex<Tamper>>,
    token_statuses: Arc<Mutex<Vec<u16>>>,
    http: reqwest::Client,
}

pub struct TokenProxy {
    pub base: String,
    target: Arc<Mutex<String>>,
    tamper: Arc<Mutex<Tamper>>,
    token_statuses: Arc<Mutex<Vec<u16>>>,
}

impl TokenProxy {
    /// Binds and serves at once; requests fail until [`TokenProxy::forward_to`].
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let target = Arc::new(Mutex::new(String::new()));
        let tamper = Arc::new(Mutex::new(Tamper::Nothing));
        let token_statuses = Arc::new(Mutex::new(Vec::new()));
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let proxy =
            Proxy { target: target.clone(), tamper: tamper.clone(), token_statuses: token_statuses.clone(), http };
        let router = Router::new().fallback(forward).with_state(proxy);
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { base, target, tamper, token_statuses }
    }

    /// The upstream's status for the last token request, before tampering:
    /// shows that a refusal later was the downstream's own check.
    pub fn last_token_status(&self) -> Option<u16> {
        self.token_statuses.lock().unwrap().last().copied()
    }

    /// Where requests go (the upstream app's real address).
    pub fn forward_to(&self, base: &str) {
        *self.target.lock().unwrap() = base.to_owned();
    }

    pub fn tamper(&self, how: Tamper) {
        *self.tamper.lock().unwrap() = how;
    }
}

/// Request headers that describe the hop, not the request.
const HOP: [header::HeaderName; 4] =
    [header::HOST, header::CONTENT_LENGTH, header::CONNECTION, header::TRANSFER_ENCODING];

async fn forward(State(proxy): State<Proxy>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let mut body = to_bytes(body, 1 << 20).await.unwrap().to_vec();
    let mut headers: HeaderMap = parts.headers.clone();
    for h in &HOP {
        headers.remove(h);
    }
    let is_token = parts.uri.path() == "/token";
    let tamper = proxy.tamper.lock().unwrap().clone();
    if let (true, Tamper::AsClient { id, secret }) = (is_token, &tamper) {
        swap_client(&mut headers, &mut body, id, secret);
    }
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_owned();
    let url = format!("{}{path}", proxy.target.lock().unwrap());
    let upstream = proxy.http.request(parts.method.clone(), url).headers(headers).body(body).send().await;
    let Ok(upstream) = upstream else {
        return (StatusCode::BAD_GATEWAY, "proxy: upstream unreachable").into_response();
    };
    let status = upstream.status();
    if is_token {
        proxy.token_statuses.lock().unwrap().push(status.as_u16());
    }
    let mut headers = upstream.headers().clone();
    for h in &HOP {
        headers.remove(h);
    }
    let mut bytes = upstream.bytes().await.unwrap().to_vec();
    if is_token && status.is_success() && matches!(tamper, Tamper::BreakSignature) {
        bytes = break_signature(&bytes);
    }
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// Replaces the client credentials of a token request, wherever the client
/// put them (Basic header or form body, RFC 6749 §2.3.1).
fn swap_client(headers: &mut HeaderMap, body: &mut Vec<u8>, id: &str, secret: &str) {
    if headers.contains_key(header::AUTHORIZATION) {
        let form = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let basic = format!("Basic {}", STANDARD.encode(format!("{}:{}", form(id), form(secret))));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(&basic).unwrap());
    }
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body)
        .map(|(k, v)| {
            let v = match k.as_ref() {
                "client_id" => id.to_owned(),
                "client_secret" => secret.to_owned(),
                _ => v.into_owned(),
            };
            (k.into_owned(), v)
        })
        .collect();
    *body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish().into_bytes();
}

/// The token response with one bit of the ID token's signature flipped.
fn break_signature(body: &[u8]) -> Vec<u8> {
    let mut json: serde_json::Value = serde_json::from_slice(body).unwrap();
    let id_token = json["id_token"].as_str().expect("the token response has an id_token").to_owned();
    let mut parts: Vec<String> = id_token.split('.').map(str::to_owned).collect();
    assert_eq!(parts.len(), 3, "a JWS in compact form");
    let mut signature = URL_SAFE_NO_PAD.decode(&parts[2]).unwrap();
    signature[0] ^= 0x01;
    parts[2] = URL_SAFE_NO_PAD.encode(signature);
    json["id_token"] = serde_json::Value::String(parts.join("."));
    serde_json::to_vec(&json).unwrap()
}
