//! Sign-in through upstream providers (issue 7): `/login/{provider}` sends
//! the browser there, `/login/{provider}/callback` brings it back, and
//! `/login/link` confirms joining an upstream identity to an account the
//! user has just proved is theirs. `/account/upstream/{provider}/…` links
//! and unlinks from the account page.
//!
//! Every flow is a database row bound to this browser by the `gh_upstream`
//! cookie and looked up by the hash of its `state` (RFC 6749 §10.12), so a
//! callback opened in another browser, replayed, or forged finds nothing.
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::accounts::mfa::{FirstFactor, NextStep};
use crate::accounts::upstream::{FLOW_SECS, FlowKind, FlowStart, UpstreamUser};
use crate::accounts::{self, CurrentUser};
use crate::app::AppState;
use crate::http::audit::AuditCtx;
use crate::http::cookies;
use crate::http::error::HtmlError;
use crate::http::extract::{ClientInfo, CsrfForm, MaybeUser, PageCsrf, SignedIn, safe_next};
use crate::http::login::{BLOCKED, Proof, finish_sign_in, to_second_step};
use crate::http::pages::{Nav, path_with_query, reauthenticate};
use crate::http::throttle;
use crate::security::audit::AuditAction;
use crate::security::token;
use crate::upstream::{self, Identity, Provider};

/// Routes for this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login/link", get(get_link).post(post_link))
        .route("/login/{provider}", get(get_start))
        .route("/login/{provider}/callback", get(get_callback))
        .route("/account/upstream/{provider}/link", post(post_account_link))
        .route("/account/upstream/{provider}/unlink", post(post_account_unlink))
}

/// Where the user proves a local account before a link (OIDC-style
/// `prompt=login`: a session already open does not count), the address
/// filled in.
fn prove_url(email: &str) -> String {
    path_with_query("/login", &[("prompt", "login"), ("next", "/login/link"), ("login_hint", email)])
}

#[derive(Deserialize, Default)]
struct NextQuery {
    next: Option<String>,
}

async fn get_start(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<NextQuery>,
    headers: HeaderMap,
) -> Result<Response, HtmlError> {
    let provider = state.upstream.get(&id).ok_or_else(HtmlError::not_found)?;
    let next = safe_next(q.next.as_deref()).unwrap_or_default();
    begin(&state, &headers, provider, &next, None).await
}

/// Sends the browser to the provider, keeping the flow's secrets here.
async fn begin(
    state: &AppState,
    headers: &HeaderMap,
    provider: &Provider,
    next: &str,
    link_user_id: Option<&str>,
) -> Result<Response, HtmlError> {
    let start = provider.start(&callback_url(state, provider)?).await.map_err(|e| provider_error(provider, e))?;
    let secret = serde_json::to_string(&start.pending).map_err(HtmlError::internal)?;
    // One binding per browser, so flows started in two tabs both work.
    let browser = match cookies::get(headers, cookies::upstream_name(state.secure_cookies())).filter(|b| b.len() <= 64)
    {
        Some(b) => b.to_owned(),
        None => token::new_secret(),
    };
    let flow = FlowStart {
        kind: FlowKind::Start,
        key: &start.pending.state,
        browser: &browser,
        provider: provider.id(),
        secret: &secret,
        next,
        link_user_id,
    };
    state.accounts.begin_upstream_flow(&flow).await?;
    let cookie = cookies::set(
        cookies::upstream_name(state.secure_cookies()),
        &browser,
        "Lax",
        state.secure_cookies(),
        Some(FLOW_SECS),
    );
    Ok((AppendHeaders([(header::SET_COOKIE, cookie)]), Redirect::to(start.url.as_str())).into_response())
}

/// `{issuer}/login/{id}/callback`: what is registered at the provider.
fn callback_url(state: &AppState, provider: &Provider) -> Result<url::Url, HtmlError> {
    url::Url::parse(&format!("{}/login/{}/callback", state.issuer, provider.id())).map_err(HtmlError::internal)
}

/// The page for a failed step with the provider. The reason goes to the
/// log; the page says what the user can do.
fn provider_error(provider: &Provider, err: upstream::Error) -> HtmlError {
    let name = provider.display_name();
    match err {
        upstream::Error::Unavailable(why) => {
            tracing::warn!(provider = provider.id(), reason = %why, "upstream provider unavailable");
            HtmlError::new(
                StatusCode::BAD_GATEWAY,
                format!("{name} cannot be reached right now. Try again in a moment, or sign in with your password."),
            )
        }
        upstream::Error::Rejected(why) => {
            tracing::warn!(provider = provider.id(), reason = %why, "upstream answer rejected");
            HtmlError::bad_request(format!(
                "The answer from {name} could not be verified, so you are not signed in. Start again from the sign-in page."
            ))
        }
        err @ upstream::Error::Config(_) => HtmlError::internal(err),
    }
}

#[derive(Deserialize, Default)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    /// RFC 9207 issuer identification.
    iss: Option<String>,
}

/// Everything a callback needs besides the query: who is here already,
/// from where, and the cookies.
struct Visit {
    previous: Option<CurrentUser>,
    client: ClientInfo,
    ctx: AuditCtx,
    headers: HeaderMap,
    csrf: PageCsrf,
}

impl FromRequestParts<AppState> for Visit {
    type Rejection = HtmlError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let MaybeUser(previous) = MaybeUser::from_request_parts(parts, state).await?;
        let Ok(client) = ClientInfo::from_request_parts(parts, state).await;
        let Ok(ctx) = AuditCtx::from_request_parts(parts, state).await;
        let csrf = PageCsrf::from_request_parts(parts, state).await?;
        Ok(Self { previous, client, ctx, headers: parts.headers.clone(), csrf })
    }
}

async fn get_callback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<CallbackQuery>,
    visit: Visit,
) -> Result<Response, HtmlError> {
    let provider = state.upstream.get(&id).ok_or_else(HtmlError::not_found)?;
    let browser = cookies::get(&visit.headers, cookies::upstream_name(state.secure_cookies())).unwrap_or_default();
    let key = q.state.as_deref().unwrap_or_default();
    let Some(flow) = state.accounts.take_upstream_flow(FlowKind::Start, key, browser, Some(provider.id())).await?
    else {
        return Err(HtmlError::bad_request(format!(
            "This sign-in with {} is not valid any more: it expired, was already used, or was started in another browser. Start again from the sign-in page.",
            provider.display_name()
        )));
    };
    provider.check_response_issuer(q.iss.as_deref()).await.map_err(|e| provider_error(provider, e))?;
    if let Some(error) = q.error.as_deref() {
        return Err(refused_upstream(provider, error, q.error_description.as_deref()));
    }
    let Some(code) = q.code.as_deref().filter(|c| !c.is_empty() && c.len() <= 2048) else {
        return Err(HtmlError::bad_request(
            "The provider sent no authorization code. Start again from the sign-in page.",
        ));
    };
    let pending: upstream::Pending = serde_json::from_str(&flow.secret).map_err(HtmlError::internal)?;
    let identity = provider
        .finish(&callback_url(&state, provider)?, code, &pending)
        .await
        .map_err(|e| provider_error(provider, e))?;
    match flow.link_user_id {
        Some(user_id) => link_from_account(&state, provider, &identity, &user_id, visit).await,
        None => sign_in(&state, provider, identity, &flow.next, visit).await,
    }
}

/// The provider answered with an error (RFC 6749 §4.1.2.1), such as the
/// user refusing consent there.
fn refused_upstream(provider: &Provider, error: &str, description: Option<&str>) -> HtmlError {
    // Only the RFC's error character set, bounded: it is shown on our page.
    let clean = |s: &str, max: usize| -> String { s.chars().filter(|c| (' '..='~').contains(c)).take(max).collect() };
    let mut message = format!("{} did not sign you in ({}).", provider.display_name(), clean(error, 64));
    if let Some(d) = description.map(|d| clean(d, 200)).filter(|d| !d.is_empty()) {
        message.push_str(&format!(" It said: {d}."));
    }
    message.push_str(" You can start again from the sign-in page.");
    tracing::info!(provider = provider.id(), error = %clean(error, 64), "upstream provider returned an error");
    HtmlError::bad_request(message)
}

/// A signed-in user adds a link from `/account`.
async fn link_from_account(
    state: &AppState,
    provider: &Provider,
    identity: &Identity,
    user_id: &str,
    visit: Visit,
) -> Result<Response, HtmlError> {
    if visit.previous.as_ref().is_none_or(|u| u.user_id != user_id) {
        return Err(HtmlError::bad_request("You are no longer signed in as the account that asked for this link."));
    }
    let event = visit.ctx.event(user_id, AuditAction::UpstreamLinked, user_id);
    match state.accounts.link_upstream(user_id, identity, event).await {
        Ok(()) => Ok(Redirect::to("/account?notice=linked").into_response()),
        Err(accounts::Error::AlreadyLinked) => Err(already_linked(provider.display_name())),
        Err(other) => Err(other.into()),
    }
}

fn already_linked(provider_name: &str) -> HtmlError {
    HtmlError::new(
        StatusCode::CONFLICT,
        format!("This {provider_name} account is already linked to another gatehouse account. Unlink it there first."),
    )
}

/// A provider's button name, or its id if it is no longer configured.
fn provider_name(state: &AppState, id: &str) -> String {
    state.upstream.get(id).map_or_else(|| id.to_owned(), |p| p.display_name().to_owned())
}

/// Signs in the identity's account (after its second step, if it has one),
/// creating it for a new identity; an address that belongs to an account
/// leads to the link page instead.
async fn sign_in(
    state: &AppState,
    provider: &Provider,
    identity: Identity,
    next: &str,
    visit: Visit,
) -> Result<Response, HtmlError> {
    let event = visit.ctx.event("", AuditAction::UpstreamLinked, "");
    let user = match state.accounts.upstream_user(&identity, event).await {
        Ok(UpstreamUser::Known(user)) => user,
        Ok(UpstreamUser::Taken) => return offer_link(state, provider, &identity, next, &visit).await,
        Err(accounts::Error::Blocked) => {
            return Err(HtmlError::forbidden(BLOCKED));
        }
        Err(other) => return Err(other.into()),
    };
    let next = safe_next(Some(next));
    match state.accounts.begin_second_step(&user, FirstFactor::Upstream).await {
        Err(accounts::Error::Locked { retry_after, .. }) => {
            let page = HtmlError::new(StatusCode::TOO_MANY_REQUESTS, "Too many wrong codes lately. Try again later.");
            return Ok(throttle::with_retry_after(page.into_response(), retry_after));
        }
        Err(other) => return Err(other.into()),
        Ok(NextStep::Done) => {}
        Ok(NextStep::Challenge { token }) => return Ok(to_second_step(state, &token, next.as_deref())),
    }
    let proof = Proof { user, credential: None, amr: FirstFactor::Upstream.as_str() };
    let Visit { previous, client, headers, csrf, .. } = visit;
    match finish_sign_in(state, previous, &client, &headers, proof, next.as_deref(), &csrf.token).await? {
        Some(done) => Ok(done),
        None => Err(HtmlError::forbidden(BLOCKED)),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "upstream_link.html")]
struct LinkPage {
    nav: Nav,
    csrf: String,
    provider: String,
    /// The upstream account's address ("" if none).
    email: String,
    /// Set on the confirmation page: the local account to link to.
    username: Option<String>,
    /// Where "sign in to link" goes (the offer page).
    prove: String,
    /// Where "not now" goes.
    back: String,
}

/// The identity's address belongs to an account: nothing is linked and no
/// session starts. The identity waits (bound to this browser) for the
/// owner to sign in and confirm.
async fn offer_link(
    state: &AppState,
    provider: &Provider,
    identity: &Identity,
    next: &str,
    visit: &Visit,
) -> Result<Response, HtmlError> {
    let browser = cookies::get(&visit.headers, cookies::upstream_name(state.secure_cookies())).unwrap_or_default();
    let key = token::new_secret();
    let waiting = Waiting {
        identity: identity.clone(),
        session: visit.previous.as_ref().map(|u| u.session_id.clone()).unwrap_or_default(),
    };
    let secret = serde_json::to_string(&waiting).map_err(HtmlError::internal)?;
    let flow = FlowStart {
        kind: FlowKind::Link,
        key: &key,
        browser,
        provider: provider.id(),
        secret: &secret,
        next,
        link_user_id: None,
    };
    state.accounts.begin_upstream_flow(&flow).await?;
    let email = identity.email.clone().unwrap_or_default();
    let prove = prove_url(&email);
    let page = LinkPage {
        nav: Nav::new(visit.previous.as_ref()),
        csrf: visit.csrf.token.clone(),
        provider: provider.display_name().to_owned(),
        email,
        username: None,
        prove,
        back: "/login".into(),
    };
    let cookie =
        cookies::set(cookies::link_name(state.secure_cookies()), &key, "Lax", state.secure_cookies(), Some(FLOW_SECS));
    Ok((AppendHeaders([(header::SET_COOKIE, cookie)]), page).into_response())
}

/// A link waiting for its confirmation.
#[derive(serde::Serialize, serde::Deserialize)]
struct Waiting {
    identity: Identity,
    /// The session the browser had when the link was offered ("" if none):
    /// it does not count as proof.
    session: String,
}

/// The pending link behind this browser's cookies.
async fn pending_link(
    state: &AppState,
    headers: &HeaderMap,
    take: bool,
) -> Result<Option<(crate::store::FlowRow, Waiting)>, HtmlError> {
    let key = cookies::get(headers, cookies::link_name(state.secure_cookies())).unwrap_or_default();
    let browser = cookies::get(headers, cookies::upstream_name(state.secure_cookies())).unwrap_or_default();
    let flow = if take {
        state.accounts.take_upstream_flow(FlowKind::Link, key, browser, None).await?
    } else {
        state.accounts.peek_upstream_flow(FlowKind::Link, key, browser).await?
    };
    let Some(flow) = flow else { return Ok(None) };
    let waiting: Waiting = serde_json::from_str(&flow.secret).map_err(HtmlError::internal)?;
    Ok(Some((flow, waiting)))
}

fn no_pending_link() -> HtmlError {
    HtmlError::bad_request(
        "No account link is waiting in this browser (it expires after 10 minutes). Start again from the sign-in page.",
    )
}

/// Only a sign-in made after the link was offered proves the account: an
/// older session might be someone else's at a shared computer. Every
/// sign-in starts a new session, so the session the browser had at the
/// offer never counts, even within the same second.
fn proved(user: &CurrentUser, flow: &crate::store::FlowRow, waiting: &Waiting) -> bool {
    user.auth_time >= flow.created_at && user.session_id != waiting.session
}

async fn get_link(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    headers: HeaderMap,
    csrf: PageCsrf,
) -> Result<Response, HtmlError> {
    let Some((flow, waiting)) = pending_link(&state, &headers, false).await? else { return Err(no_pending_link()) };
    let identity = &waiting.identity;
    let Some(user) = user.filter(|u| proved(u, &flow, &waiting)) else {
        let email = identity.email.clone().unwrap_or_default();
        return Ok(Redirect::to(&prove_url(&email)).into_response());
    };
    let name = provider_name(&state, &flow.provider);
    let page = LinkPage {
        nav: Nav::new(Some(&user)),
        csrf: csrf.token.clone(),
        provider: name,
        email: identity.email.clone().unwrap_or_default(),
        username: Some(user.username.clone()),
        prove: String::new(),
        back: safe_next(Some(&flow.next)).unwrap_or_else(|| "/account".into()),
    };
    Ok((csrf, page).into_response())
}

#[derive(Deserialize)]
struct Empty {}

async fn post_link(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    ctx: AuditCtx,
    headers: HeaderMap,
    CsrfForm { .. }: CsrfForm<Empty>,
) -> Result<Response, HtmlError> {
    let Some((flow, waiting)) = pending_link(&state, &headers, false).await? else { return Err(no_pending_link()) };
    let Some(user) = user.filter(|u| proved(u, &flow, &waiting)) else {
        return Ok(Redirect::to(&prove_url("")).into_response());
    };
    // Taken now: a second confirmation finds nothing.
    let Some((flow, Waiting { identity, .. })) = pending_link(&state, &headers, true).await? else {
        return Err(no_pending_link());
    };
    let event = ctx.event(&user.user_id, AuditAction::UpstreamLinked, &user.user_id);
    match state.accounts.link_upstream(&user.user_id, &identity, event).await {
        Ok(()) => {}
        Err(accounts::Error::AlreadyLinked) => return Err(already_linked(&provider_name(&state, &flow.provider))),
        Err(other) => return Err(other.into()),
    }
    let to = safe_next(Some(&flow.next)).unwrap_or_else(|| "/account?notice=linked".into());
    let clear = cookies::clear(cookies::link_name(state.secure_cookies()), state.secure_cookies());
    Ok((AppendHeaders([(header::SET_COOKIE, clear)]), Redirect::to(&to)).into_response())
}

async fn post_account_link(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedIn(user): SignedIn,
    headers: HeaderMap,
    CsrfForm { .. }: CsrfForm<Empty>,
) -> Result<Response, HtmlError> {
    let provider = state.upstream.get(&id).ok_or_else(HtmlError::not_found)?;
    // Like other sign-in settings, a new way in needs a recent sign-in.
    if !state.accounts.recently_authenticated(&user) {
        return Ok(reauthenticate("/account").into_response());
    }
    begin(&state, &headers, provider, "/account", Some(&user.user_id)).await
}

async fn post_account_unlink(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedIn(user): SignedIn,
    ctx: AuditCtx,
    CsrfForm { .. }: CsrfForm<Empty>,
) -> Result<Response, HtmlError> {
    let event = ctx.event(&user.user_id, AuditAction::UpstreamUnlinked, &user.user_id);
    match state.accounts.unlink_upstream(&user.user_id, &id, event).await {
        Ok(()) => Ok(Redirect::to("/account?notice=unlinked").into_response()),
        Err(accounts::Error::LastSignInMethod) => Err(HtmlError::new(
            StatusCode::CONFLICT,
            "This is the only way you can sign in, so it stays linked. Set a password first (use \"Forgot your password?\" on the sign-in page), then unlink it.",
        )),
        Err(accounts::Error::UnknownUser) => Err(HtmlError::not_found()),
        Err(other) => Err(other.into()),
    }
}
