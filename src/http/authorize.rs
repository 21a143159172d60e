//! The authorization endpoint (RFC 6749 §3.1, OIDC Core §3.1.2): `GET`/`POST
//! /authorize`, which signs the user in if needed, asks for consent, and
//! sends a code back; and `POST /authorize/consent`, the consent form.
//!
//! A request that needs a sign-in first is parked server-side and resumes as
//! `/authorize?pending=<id>` (see `oauth::tokens::pending`), so its size
//! does not matter to the sign-in pages.
use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::accounts::CurrentUser;
use crate::app::AppState;
use crate::http::audit::AuditCtx;
use crate::http::error::HtmlError;
use crate::http::extract::{ClientInfo, CsrfForm, MaybeUser, PageCsrf, SignedIn, is_urlencoded};
use crate::http::ip_gate;
use crate::http::pages::{Nav, path_with_query};
use crate::oauth::authorize::{self, Decision, SessionFacts};
use crate::oauth::clients::Client;
use crate::oauth::request::{self, AuthorizeRequest, Params, Rejection, ResponseMode};
use crate::oauth::tokens::Authorized;
use crate::oauth::{ErrorCode, OAuthError};

/// Routes for this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/authorize", get(get_authorize).post(post_authorize))
        .route("/authorize/consent", post(post_consent))
}

fn bad_request_page(e: &OAuthError) -> HtmlError {
    let why = e.wire_description().unwrap_or_else(|| e.code.as_str().to_owned());
    HtmlError::bad_request(format!(
        "The application sent a sign-in request that cannot be used ({why}). Go back to the application and try again."
    ))
}

/// What every `/authorize` handler extracts.
struct Asked {
    user: Option<CurrentUser>,
    csrf: PageCsrf,
    from: ClientInfo,
    ctx: AuditCtx,
}

async fn get_authorize(
    state: State<AppState>,
    MaybeUser(user): MaybeUser,
    csrf: PageCsrf,
    from: ClientInfo,
    ctx: AuditCtx,
    RawQuery(q): RawQuery,
) -> Response {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(q.unwrap_or_default().as_bytes()).into_owned().collect();
    authorize(state, Asked { user, csrf, from, ctx }, pairs).await.unwrap_or_else(IntoResponse::into_response)
}

async fn post_authorize(
    state: State<AppState>,
    MaybeUser(user): MaybeUser,
    csrf: PageCsrf,
    from: ClientInfo,
    ctx: AuditCtx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_urlencoded(&headers) {
        let e = OAuthError::invalid_request("send parameters as application/x-www-form-urlencoded");
        return bad_request_page(&e).into_response();
    }
    let pairs = url::form_urlencoded::parse(&body).into_owned().collect();
    authorize(state, Asked { user, csrf, from, ctx }, pairs).await.unwrap_or_else(IntoResponse::into_response)
}

/// The request, validated against its client; or the response that refuses it.
/// A client whose IP rules refuse the address gets `access_denied` once its
/// redirect URI is known good (RFC 6749 §4.1.2.1), and a 403 page before that.
async fn validated(
    state: &AppState,
    pairs: &[(String, String)],
    from: &ClientInfo,
    ctx: &AuditCtx,
) -> Result<(AuthorizeRequest, Client), Response> {
    let params = Params::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| bad_request_page(&e).into_response())?;
    let checked = state
        .clients
        .check_authorize(&params, &ctx.context(""))
        .await
        .map_err(|e| HtmlError::internal(e).into_response())?;
    let allowed = match &checked.client {
        Some(c) => ip_gate::client_allowed(state, &c.client_id, from.addr).await,
        None => true,
    };
    let denied = OAuthError::new(ErrorCode::AccessDenied, "requests from this network are not allowed for this client");
    match checked.request {
        Ok(req) if !allowed => Err(refuse_with(state, &req, &denied)),
        Ok(req) => Ok((req, checked.client.ok_or_else(|| HtmlError::not_found().into_response())?)),
        Err(Rejection::Page(_)) if !allowed => Err(ip_gate::refused_page().into_response()),
        Err(Rejection::Page(e)) => Err(bad_request_page(&e).into_response()),
        Err(Rejection::Redirect { redirect_uri, state: st, mode, .. }) if !allowed => {
            Err(to_client(state, &redirect_uri, Err(&denied), st.as_deref(), mode))
        }
        Err(Rejection::Redirect { error, redirect_uri, state: st, mode }) => {
            Err(to_client(state, &redirect_uri, Err(&error), st.as_deref(), mode))
        }
    }
}

/// A request resumed from its parked copy: its id, and when it was parked.
struct Resumed {
    id: String,
    parked_at: i64,
}

/// `/authorize?pending=<id>`: the parked request's parameters instead of the
/// query. An unknown or expired id gets a page saying what to do, never a
/// redirect: without the request, no redirect URI is known good.
async fn resume(
    state: &AppState,
    pairs: Vec<(String, String)>,
) -> Result<(Vec<(String, String)>, Option<Resumed>), Response> {
    let Some((_, id)) = pairs.iter().find(|(k, _)| k == "pending") else { return Ok((pairs, None)) };
    if pairs.len() != 1 {
        let e = OAuthError::invalid_request("pending cannot be combined with other parameters");
        return Err(bad_request_page(&e).into_response());
    }
    match state.tokens.parked_request(id).await {
        Ok(Some(parked)) => Ok((parked.pairs, Some(Resumed { id: id.clone(), parked_at: parked.created_at }))),
        Ok(None) => Err(HtmlError::bad_request(
            "This sign-in request has expired or is not known. Go back to the application and sign in from there again.",
        )
        .into_response()),
        Err(e) => Err(HtmlError::internal(e).into_response()),
    }
}

/// The facts `oauth::authorize::decide` needs about this browser.
async fn session_facts(
    state: &AppState,
    user: Option<&CurrentUser>,
    from: &ClientInfo,
    resumed: Option<&Resumed>,
) -> SessionFacts {
    let roles_allowed_here = match user {
        Some(u) => ip_gate::roles_allowed(state, &u.roles, from.addr).await,
        None => true,
    };
    SessionFacts { auth_time: user.map(|u| u.auth_time), roles_allowed_here, parked_at: resumed.map(|r| r.parked_at) }
}

async fn authorize(
    State(state): State<AppState>,
    asked: Asked,
    pairs: Vec<(String, String)>,
) -> Result<Response, Response> {
    let Asked { user, csrf, from, ctx } = asked;
    let internal = |e: crate::oauth::GrantError| HtmlError::internal(e).into_response();
    let (pairs, resumed) = resume(&state, pairs).await?;
    let (req, client) = validated(&state, &pairs, &from, &ctx).await?;
    let facts = session_facts(&state, user.as_ref(), &from, resumed.as_ref()).await;
    let covered = match &user {
        Some(u) => state.tokens.consent_covers(&u.user_id, &client.client_id, &req.scope).await.map_err(internal)?,
        None => false,
    };
    match (authorize::decide(&req, &client, &facts, covered, state.clock.unix()), user) {
        (Decision::Refuse(code, why), _) => Err(refuse(&state, &req, code, why)),
        (Decision::SignIn { fresh, login_hint }, _) => {
            let id = match resumed {
                Some(r) => r.id,
                None => state.tokens.park_request(&client.client_id, &pairs).await.map_err(internal)?,
            };
            Ok(sign_in_first(&id, fresh, login_hint.as_deref()))
        }
        (Decision::Issue, Some(user)) => issue(&state, &req, &user).await,
        (Decision::Consent, Some(user)) => Ok(consent_page(&user, csrf, &client.name, &req, pairs)),
        // `decide` issues and asks for consent only with a session.
        (Decision::Issue | Decision::Consent, None) => Err(HtmlError::not_found().into_response()),
    }
}

/// The consent page, carrying the request's parameters through the form.
fn consent_page(
    user: &CurrentUser,
    csrf: PageCsrf,
    client_name: &str,
    req: &AuthorizeRequest,
    pairs: Vec<(String, String)>,
) -> Response {
    let page = ConsentPage {
        nav: Nav::new(Some(user)),
        csrf: csrf.token.clone(),
        client_name: client_name.to_owned(),
        scopes: req.scope.iter().map(describe_scope).collect(),
        params: pairs.into_iter().filter(|(k, _)| k != "csrf_token" && k != "decision").collect(),
    };
    (csrf, page).into_response()
}

/// Sends the browser to sign in, then back to the parked request `pending`.
/// `fresh` (`prompt=login`, `max_age`) shows the form even to a signed-in
/// user; the sign-in it makes is newer than the parked request, which is
/// what `prompt=login` asks for, and `max_age` holds for it by itself.
/// `login_hint` (OIDC Core §3.1.2.1) prefills the username field.
fn sign_in_first(pending: &str, fresh: bool, login_hint: Option<&str>) -> Response {
    let next = path_with_query("/authorize", &[("pending", pending)]);
    let mut query = vec![("next", next.as_str())];
    if fresh {
        query.push(("prompt", "login"));
    }
    if let Some(hint) = login_hint.filter(|h| !h.is_empty()) {
        query.push(("login_hint", hint));
    }
    Redirect::to(&path_with_query("/login", &query)).into_response()
}

fn refuse(state: &AppState, req: &AuthorizeRequest, code: ErrorCode, why: &'static str) -> Response {
    refuse_with(state, req, &OAuthError::new(code, why))
}

fn refuse_with(state: &AppState, req: &AuthorizeRequest, error: &OAuthError) -> Response {
    to_client(state, &req.redirect_uri, Err(error), req.state.as_deref(), req.response_mode)
}

async fn issue(state: &AppState, req: &AuthorizeRequest, user: &CurrentUser) -> Result<Response, Response> {
    let amr: Vec<&str> = user.amr.iter().map(String::as_str).collect();
    let who =
        Authorized { user_id: &user.user_id, session_id: Some(&user.session_id), auth_time: user.auth_time, amr: &amr };
    let code = state.tokens.issue_code(req, &who).await.map_err(|e| HtmlError::internal(e).into_response())?;
    Ok(to_client(state, &req.redirect_uri, Ok(&code), req.state.as_deref(), req.response_mode))
}

/// Delivers a code or an error to the client by redirect or form post.
fn to_client(
    state: &AppState,
    redirect_uri: &str,
    outcome: Result<&str, &OAuthError>,
    st: Option<&str>,
    mode: ResponseMode,
) -> Response {
    let params = request::response_params(outcome, st, &state.issuer);
    match mode {
        ResponseMode::Query => match request::redirect_url(redirect_uri, &params) {
            Ok(url) => Redirect::to(url.as_str()).into_response(),
            Err(e) => bad_request_page(&e).into_response(),
        },
        ResponseMode::FormPost => {
            let page = FormPostPage { nav: Nav::anonymous(), action: redirect_uri.to_owned(), params };
            let origin = url::Url::parse(redirect_uri).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
            // This page alone may run our script (to submit itself) and post to the client.
            let csp = format!(
                "default-src 'none'; style-src 'self'; script-src 'self'; form-action {origin}; frame-ancestors 'none'"
            );
            let mut res = page.into_response();
            if let Ok(v) = HeaderValue::from_str(&csp) {
                res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
            }
            res
        }
    }
}

/// A scope in words the user understands.
fn describe_scope(scope: &str) -> String {
    match scope {
        "openid" => "Know who you are on gatehouse".into(),
        "profile" => "See your name and username".into(),
        "email" => "See your email address".into(),
        "offline_access" => "Stay connected when you are not using it".into(),
        other => format!("Use the \u{201c}{other}\u{201d} permission"),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "consent.html")]
struct ConsentPage {
    nav: Nav,
    csrf: String,
    client_name: String,
    scopes: Vec<String>,
    params: Vec<(String, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "form_post.html")]
struct FormPostPage {
    nav: Nav,
    action: String,
    params: Vec<(&'static str, String)>,
}

async fn post_consent(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    from: ClientInfo,
    ctx: AuditCtx,
    CsrfForm { form, .. }: CsrfForm<HashMap<String, String>>,
) -> Result<Response, Response> {
    let decision = form.get("decision").cloned().unwrap_or_default();
    let pairs: Vec<(String, String)> = form.into_iter().filter(|(k, _)| k != "csrf_token" && k != "decision").collect();
    let (req, client) = validated(&state, &pairs, &from, &ctx).await?;
    if decision != "approve" {
        return Err(refuse(&state, &req, ErrorCode::AccessDenied, "the user denied the request"));
    }
    state
        .tokens
        .grant_consent(&user.user_id, &client.client_id, &req.scope, &ctx.context(&user.user_id))
        .await
        .map_err(|e| HtmlError::internal(e).into_response())?;
    issue(&state, &req, &user).await
}
