//! A stand-in for Facebook in the test process: the three endpoints a
//! Facebook sign-in uses (Login dialog, access-token exchange, Graph API
//! `/me`). It checks what Facebook checks (client credentials, the code, the
//! redirect URI, and the PKCE verifier against the challenge, RFC 7636 §4.6)
//! and records what it was asked, so a test can look.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;
use sha2::Digest;

pub const APP_ID: &str = "fb-app-1234";
pub const APP_SECRET: &str = "fb-secret-5678";

/// The Graph user the fake signs in.
#[derive(Clone)]
pub struct GraphUser {
    pub id: String,
    pub name: String,
    pub email: String,
}

/// A code handed out by the dialog, waiting for the exchange.
struct Issued {
    redirect_uri: String,
    challenge: Option<String>,
    method: Option<String>,
}

#[derive(Default)]
struct Seen {
    codes: HashMap<String, Issued>,
    tokens: Vec<String>,
    /// Why the last token request was refused, for failure messages.
    refusals: Vec<String>,
    /// The query strings `/me` was called with.
    me_queries: Vec<String>,
    /// The dialog's query parameters, one map per call.
    dialogs: Vec<HashMap<String, String>>,
}

#[derive(Clone)]
struct Fake {
    user: GraphUser,
    seen: Arc<Mutex<Seen>>,
}

pub struct FakeGraph {
    pub base: String,
    seen: Arc<Mutex<Seen>>,
}

impl FakeGraph {
    pub async fn start(user: GraphUser) -> Self {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let fake = Fake { user, seen: seen.clone() };
        let router = Router::new()
            .route("/dialog/oauth", get(dialog))
            .route("/oauth/access_token", post(access_token))
            .route("/me", get(me))
            .with_state(fake);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { base, seen }
    }

    pub fn url(&self, path: &str) -> url::Url {
        format!("{}{path}", self.base).parse().unwrap()
    }

    /// The query strings `/me` was called with.
    pub fn me_queries(&self) -> Vec<String> {
        self.seen.lock().unwrap().me_queries.clone()
    }

    /// The parameters of every Login dialog request.
    pub fn dialogs(&self) -> Vec<HashMap<String, String>> {
        self.seen.lock().unwrap().dialogs.clone()
    }

    /// Why token requests were refused, if any were.
    pub fn refusals(&self) -> Vec<String> {
        self.seen.lock().unwrap().refusals.clone()
    }
}

fn random() -> String {
    let mut b = [0u8; 24];
    getrandom::fill(&mut b).unwrap();
    URL_SAFE_NO_PAD.encode(b)
}

/// `GET /dialog/oauth`: the user is "already signed in to Facebook" and
/// approves at once: 303 back with a code and the same state.
async fn dialog(State(fake): State<Fake>, Query(q): Query<HashMap<String, String>>) -> Response {
    let (Some(redirect_uri), Some(client_id)) = (q.get("redirect_uri"), q.get("client_id")) else {
        return (StatusCode::BAD_REQUEST, "redirect_uri and client_id are required").into_response();
    };
    if client_id != APP_ID {
        return (StatusCode::BAD_REQUEST, "unknown app").into_response();
    }
    let code = random();
    let mut seen = fake.seen.lock().unwrap();
    seen.dialogs.push(q.clone());
    seen.codes.insert(
        code.clone(),
        Issued {
            redirect_uri: redirect_uri.clone(),
            challenge: q.get("code_challenge").cloned(),
            method: q.get("code_challenge_method").cloned(),
        },
    );
    let mut back = url::Url::parse(redirect_uri).unwrap();
    back.query_pairs_mut().append_pair("code", &code);
    if let Some(state) = q.get("state") {
        back.query_pairs_mut().append_pair("state", state);
    }
    Redirect::to(back.as_str()).into_response()
}

/// HTTP Basic client credentials (RFC 6749 §2.3.1: form-encoded, then base64).
fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(value).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unform = |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
    Some((unform(id)?, unform(secret)?))
}

fn refuse(seen: &mut Seen, why: &str) -> Response {
    seen.refusals.push(why.to_owned());
    let body = json!({"error": {"message": why, "type": "OAuthException", "code": 100}});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// `POST /oauth/access_token`: the client's credentials (in the body or
/// Basic), the code, the same redirect URI, and a verifier that matches the
/// dialog's challenge.
async fn access_token(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut seen = fake.seen.lock().unwrap();
    let creds = basic(&headers).or_else(|| Some((form.get("client_id")?.clone(), form.get("client_secret")?.clone())));
    if creds != Some((APP_ID.to_owned(), APP_SECRET.to_owned())) {
        return refuse(&mut seen, "client credentials missing or wrong");
    }
    let Some(issued) = form.get("code").and_then(|c| seen.codes.remove(c)) else {
        return refuse(&mut seen, "unknown or used code");
    };
    if form.get("redirect_uri") != Some(&issued.redirect_uri) {
        return refuse(&mut seen, "redirect_uri differs from the dialog's");
    }
    let Some(verifier) = form.get("code_verifier") else {
        return refuse(&mut seen, "code_verifier missing");
    };
    if issued.method.as_deref() != Some("S256")
        || issued.challenge.as_deref() != Some(URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier)).as_str())
    {
        return refuse(&mut seen, "code_verifier does not match an S256 challenge");
    }
    let token = random();
    seen.tokens.push(token.clone());
    Json(json!({"access_token": token, "token_type": "bearer", "expires_in": 3600})).into_response()
}

/// `GET /me?fields=id,name,email` with the token as a bearer header (or, as
/// the Graph API also accepts, an `access_token` parameter).
async fn me(State(fake): State<Fake>, headers: HeaderMap, raw: axum::extract::RawQuery) -> Response {
    let mut seen = fake.seen.lock().unwrap();
    let query = raw.0.unwrap_or_default();
    seen.me_queries.push(query.clone());
    let in_query = url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "access_token").map(|(_, v)| v);
    let in_header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::to_owned);
    let token = in_header.or(in_query.map(|v| v.into_owned()));
    if !token.is_some_and(|t| seen.tokens.contains(&t)) {
        let body = json!({"error": {"message": "Invalid OAuth access token", "type": "OAuthException", "code": 190}});
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    // Like the Graph API: `id` and `name` unless `fields` asks for more.
    let u = &fake.user;
    let fields =
        url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "fields").map(|(_, v)| v.into_owned());
    let fields = fields.unwrap_or_else(|| "id,name".into());
    let mut out = serde_json::Map::new();
    for field in fields.split(',').map(str::trim) {
        match field {
            "id" => out.insert("id".into(), json!(u.id)),
            "name" => out.insert("name".into(), json!(u.name)),
            "email" => out.insert("email".into(), json!(u.email)),
            _ => None,
        };
    }
    out.entry("id").or_insert_with(|| json!(u.id));
    Json(serde_json::Value::Object(out)).into_response()
}
