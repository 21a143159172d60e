//! The client-authenticated endpoints: `POST /token` (RFC 6749 §3.2),
//! `POST /revoke` (RFC 7009) and `POST /introspect` (RFC 7662).
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::SecretString;

use crate::accounts::sign_in::SignInCtx;
use crate::app::AppState;
use crate::http::audit::AuditCtx;
use crate::http::cors;
use crate::http::error::OAuthJsonError;
use crate::http::extract::{ClientInfo, is_urlencoded};
use crate::http::{ip_gate, throttle};
use crate::oauth::clients::{Client, Credentials};
use crate::oauth::request::Params;
use crate::oauth::tokens::{PasswordRequest, TokenRequest, TokenResponse};
use crate::oauth::{ErrorCode, GrantError, OAuthError};

/// Routes for this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/token", post(post_token))
        .route("/revoke", post(post_revoke))
        .route("/introspect", post(post_introspect))
}

/// Parses an `application/x-www-form-urlencoded` body into parameters that
/// each occur once (RFC 6749 §3.2: the token endpoint takes only that).
pub fn form_params(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
    if !is_urlencoded(headers) {
        return Err(OAuthError::invalid_request("send parameters as application/x-www-form-urlencoded"));
    }
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    Params::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// RFC 6749 §2.3.1: HTTP Basic (id and secret form-urlencoded, then base64)
/// or `client_id`/`client_secret` in the body, never both.
pub fn credentials(headers: &HeaderMap, params: &Params) -> Result<Credentials, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")));
    match (basic, params.get("client_secret")) {
        (Some(_), Some(_)) => Err(OAuthError::invalid_request("use one client authentication method, not two")),
        (Some(encoded), None) => {
            let bad = || OAuthError::new(ErrorCode::InvalidClient, "malformed Basic credentials");
            let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
            let text = String::from_utf8(decoded).map_err(|_| bad())?;
            let (id, secret) = text.split_once(':').ok_or_else(bad)?;
            let unescape = |s: &str| -> String {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            let (id, secret) = (unescape(id), unescape(secret));
            // CWE-158: the same refusal the NUL guard gives form fields.
            if id.contains('\0') {
                return Err(bad());
            }
            if params.get("client_id").is_some_and(|c| c != id) {
                return Err(OAuthError::invalid_request("client_id does not match the Basic credentials"));
            }
            Ok(Credentials::Secret { client_id: id, secret: SecretString::from(secret) })
        }
        (None, Some(secret)) => {
            let id = params.get("client_id").ok_or_else(|| OAuthError::invalid_request("client_id is missing"))?;
            Ok(Credentials::Secret { client_id: id.to_owned(), secret: SecretString::from(secret.to_owned()) })
        }
        (None, None) => {
            let id = params
                .get("client_id")
                .ok_or_else(|| OAuthError::new(ErrorCode::InvalidClient, "client authentication is missing"))?;
            Ok(Credentials::Public { client_id: id.to_owned() })
        }
    }
}

/// Parses the form and authenticates the client: the common first half of
/// `/token`, `/revoke` and `/introspect`, so the three share one throttle.
/// A browser page on an origin the client does not list is refused here,
/// before a code or token is spent.
/// RFC 6749 §10.10: failed authentications count per `client_id` and per
/// address, and past the limit the request is refused before any secret is
/// compared. Successes count nothing.
async fn authenticated(
    state: &AppState,
    from: &ClientInfo,
    ctx: &AuditCtx,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Client, Params), Response> {
    let params = form_params(headers, body).map_err(|e| OAuthJsonError::new(e).into_response())?;
    let creds = credentials(headers, &params);
    // Malformed Basic credentials name no client we can trust: the address alone counts them.
    let client_id = creds.as_ref().ok().map(Credentials::client_id).map(str::to_owned);
    if let Some(paused) = throttle::client_auth_paused(state, client_id.as_deref(), &from.ip).await {
        return Err(paused);
    }
    let failed = async |e: OAuthError| {
        if e.code == ErrorCode::InvalidClient {
            throttle::failed_client_auth(state, client_id.as_deref(), &from.ip).await;
        }
        OAuthJsonError::new(e).into_response()
    };
    let creds = match creds {
        Ok(creds) => creds,
        Err(e) => return Err(failed(e).await),
    };
    match state.clients.authenticate(&creds, &ctx.context("")).await {
        Ok(client) if !cors::allowed_for(headers, &client) => Err(cors::refused()),
        Ok(client) => Ok((client, params)),
        Err(GrantError::OAuth(e)) => Err(failed(e).await),
        Err(other) => Err(OAuthJsonError::from(other).into_response()),
    }
}

/// A request from an authenticated client at `/token`, `/revoke` or
/// `/introspect` (see [`authenticated`]); a refusal is the rejection.
struct Authenticated {
    client: Client,
    params: Params,
    ctx: AuditCtx,
    from: ClientInfo,
}

impl FromRequest<AppState> for Authenticated {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let ctx = AuditCtx::from_request_parts(&mut parts, state).await.unwrap_or_else(|e| match e {});
        let from = ClientInfo::from_request_parts(&mut parts, state).await.unwrap_or_else(|e| match e {});
        let headers = parts.headers.clone();
        let body =
            Bytes::from_request(Request::from_parts(parts, body), state).await.map_err(IntoResponse::into_response)?;
        let (client, params) = authenticated(state, &from, &ctx, &headers, &body).await?;
        Ok(Self { client, params, ctx, from })
    }
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// The client's IP rules. RFC 6749 §5.2 lists the token endpoint's codes and
/// `access_denied` is not one (it belongs to the authorization endpoint,
/// §4.1.2.1). `unauthorized_client`, "not authorized to use this
/// authorization grant type", is the registered code that fits, with the
/// §5.2 status 400: a conforming client reads it as final, not as a fault
/// to retry. (The global rules, which refuse before any client is known,
/// answer 403 `access_denied`.)
async fn refused_from_here(state: &AppState, client_id: &str, from: &ClientInfo) -> Option<Response> {
    if ip_gate::client_allowed(state, client_id, from.addr).await {
        return None;
    }
    let e =
        OAuthError::new(ErrorCode::UnauthorizedClient, "requests from this network are not allowed for this client");
    Some(OAuthJsonError::new(e).into_response())
}

async fn post_token(State(state): State<AppState>, req: Authenticated) -> Response {
    let Authenticated { client, params, ctx, from } = req;
    if let Some(refused) = refused_from_here(&state, &client.client_id, &from).await {
        return refused;
    }
    let result = match TokenRequest::parse(&params) {
        Ok(TokenRequest::Password(p)) => password_grant(&state, &client, p, &ctx, &from).await,
        Ok(request) => state.tokens.grant(&client, request, &ctx.context(&client.client_id)).await.map_err(Into::into),
        Err(e) => Err(OAuthJsonError::new(e)),
    };
    match result {
        Ok(tokens) => no_store(axum::Json(tokens).into_response()),
        Err(e) => e.into_response(),
    }
}

/// RFC 6749 §4.3: the client's half first (so a client not allowed the grant
/// spends no lockout counter), then the account's, then the tokens.
async fn password_grant(
    state: &AppState,
    client: &Client,
    p: PasswordRequest,
    ctx: &AuditCtx,
    from: &ClientInfo,
) -> Result<TokenResponse, OAuthJsonError> {
    let scope = state.tokens.password_client(client, p.scope.as_ref())?;
    let sign_in = SignInCtx { audit: ctx.context(""), addr: from.addr, ..Default::default() };
    let user_id = state.accounts.password_grant_user(&sign_in, &p.username, &p.password).await?;
    Ok(state.tokens.password_tokens(client, &user_id, &scope).await?)
}

/// RFC 7009 §2: 200 whether or not the token was known.
async fn post_revoke(State(state): State<AppState>, req: Authenticated) -> Response {
    let Authenticated { client, params, ctx, .. } = req;
    let Some(token) = params.get("token") else {
        return OAuthJsonError::new(OAuthError::invalid_request("token is missing")).into_response();
    };
    // The token itself is never logged; the hint says which kind was asked for.
    let hint = params.get("token_type_hint").map(|h| h.chars().take(32).collect::<String>());
    match state.tokens.revoke(&ctx.context(&client.client_id), &client, token, hint.as_deref()).await {
        Ok(()) => no_store(axum::http::StatusCode::OK.into_response()),
        Err(e) => OAuthJsonError::from(e).into_response(),
    }
}

/// RFC 7662 §2: only confidential clients may ask; what each may learn is
/// the service's rule (§4: its own tokens, or those for an audience it serves).
async fn post_introspect(State(state): State<AppState>, req: Authenticated) -> Response {
    let Authenticated { client, params, .. } = req;
    if client.public {
        let e = OAuthError::new(ErrorCode::InvalidClient, "introspection needs client authentication");
        return OAuthJsonError::new(e).into_response();
    }
    let Some(token) = params.get("token") else {
        return OAuthJsonError::new(OAuthError::invalid_request("token is missing")).into_response();
    };
    match state.tokens.introspect(&client, token).await {
        Ok(answer) => no_store(axum::Json(answer).into_response()),
        Err(e) => OAuthJsonError::from(e).into_response(),
    }
}
