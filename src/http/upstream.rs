//! Sign-in through upstream providers (issue 7): `/login/{provider}` sends
//! the browser there, `/login/{provider}/callback` brings it back, and
//! `/login/link` confirms joining an upstream identity to an account the
//! user has just proved is theirs. `/account/upstream/{provider}/…` links
//! and unlinks from the account page.
//!
//! Every flow is a database row bound to this browser by the `gh_upstream`
//! cookie and looked up by the hash of its `state` (RFC 6749 §10.12), so a
//! callback opened in another browser, replayed, or forged finds nothing.
//! The flows, their payloads and the linking rules are `accounts::linking`'s
//! and the sign-in `accounts::sign_in`'s; this file talks to the provider
//! (`crate::upstream`), and stores no JSON and names no store row.
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::accounts;
use crate::accounts::linking::{LinkConfirm, LinkView};
use crate::accounts::sign_in::{Proof, UpstreamProof};
use crate::accounts::upstream::FLOW_SECS;
use crate::app::AppState;
use crate::http::audit::AuditCtx;
use crate::http::cookies;
use crate::http::error::HtmlError;
use crate::http::extract::{CsrfForm, MaybeUser, PageCsrf, SignedIn, safe_next};
use crate::http::pages::{Nav, reauthenticate};
use crate::http::signed_in::templates::{LinkPage, prove_url};
use crate::http::signed_in::{self, Asked, SignInRequest, already_linked};
use crate::upstream::{self, Identity, Pending, Provider};

/// Routes for this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login/link", get(get_link).post(post_link))
        .route("/login/{provider}", get(get_start))
        .route("/login/{provider}/callback", get(get_callback))
        .route("/account/upstream/{provider}/link", post(post_account_link))
        .route("/account/upstream/{provider}/unlink", post(post_account_unlink))
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

/// Sends the browser to the provider; the flow's secrets stay with the service.
async fn begin(
    state: &AppState,
    headers: &HeaderMap,
    provider: &Provider,
    next: &str,
    link_user_id: Option<&str>,
) -> Result<Response, HtmlError> {
    let start = provider.start(&callback_url(state, provider)?).await.map_err(|e| provider_error(provider, e))?;
    let secure = state.secure_cookies();
    let browser = cookies::get(headers, cookies::upstream_name(secure));
    let browser =
        state.accounts.start_upstream_flow(provider.id(), &start.pending, browser, next, link_user_id).await?;
    let cookie = cookies::set(cookies::upstream_name(secure), &browser, "Lax", secure, Some(FLOW_SECS));
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

async fn get_callback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<CallbackQuery>,
    request: SignInRequest,
    csrf: PageCsrf,
) -> Result<Response, HtmlError> {
    let provider = state.upstream.get(&id).ok_or_else(HtmlError::not_found)?;
    let browser = request.browser();
    let key = q.state.as_deref().unwrap_or_default();
    let Some(flow) = state.accounts.returned_upstream_flow(key, &browser, provider.id()).await? else {
        return Err(HtmlError::bad_request(format!(
            "This sign-in with {} is not valid any more: it expired, was already used, or was started in another browser. Start again from the sign-in page.",
            provider.display_name()
        )));
    };
    let identity = identity(&state, provider, &q, &flow.pending).await?;
    let ctx = request.going_to(safe_next(Some(&flow.next)));
    let proof =
        UpstreamProof { identity, provider: provider.id().to_owned(), browser, link_user_id: flow.link_user_id };
    let next = state.accounts.sign_in(Proof::Upstream(proof), &ctx).await;
    signed_in::respond(&state, &ctx, &csrf.token, Asked::Upstream { provider }, next)
}

/// The identity the provider vouches for, from its answer at the callback.
async fn identity(
    state: &AppState,
    provider: &Provider,
    q: &CallbackQuery,
    pending: &Pending,
) -> Result<Identity, HtmlError> {
    provider.check_response_issuer(q.iss.as_deref()).await.map_err(|e| provider_error(provider, e))?;
    if let Some(error) = q.error.as_deref() {
        return Err(refused_upstream(provider, error, q.error_description.as_deref()));
    }
    let Some(code) = q.code.as_deref().filter(|c| !c.is_empty() && c.len() <= 2048) else {
        return Err(HtmlError::bad_request(
            "The provider sent no authorization code. Start again from the sign-in page.",
        ));
    };
    provider.finish(&callback_url(state, provider)?, code, pending).await.map_err(|e| provider_error(provider, e))
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

/// A provider's button name, or its id if it is no longer configured.
fn provider_name(state: &AppState, id: &str) -> String {
    state.upstream.get(id).map_or_else(|| id.to_owned(), |p| p.display_name().to_owned())
}

/// The cookies naming the waiting link and the browser.
fn link_cookies<'h>(state: &AppState, headers: &'h HeaderMap) -> (&'h str, &'h str) {
    let secure = state.secure_cookies();
    let key = cookies::get(headers, cookies::link_name(secure)).unwrap_or_default();
    (key, cookies::get(headers, cookies::upstream_name(secure)).unwrap_or_default())
}

fn no_pending_link() -> HtmlError {
    HtmlError::bad_request(
        "No account link is waiting in this browser (it expires after 10 minutes). Start again from the sign-in page.",
    )
}

async fn get_link(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    headers: HeaderMap,
    csrf: PageCsrf,
) -> Result<Response, HtmlError> {
    let (key, browser) = link_cookies(&state, &headers);
    let (provider, email, next) = match state.accounts.waiting_link(key, browser, user.as_ref()).await? {
        LinkView::Missing => return Err(no_pending_link()),
        LinkView::Prove { email } => return Ok(Redirect::to(&prove_url(&email)).into_response()),
        LinkView::Confirm { provider, email, next } => (provider, email, next),
    };
    let page = LinkPage {
        nav: Nav::new(user.as_ref()),
        csrf: csrf.token.clone(),
        provider: provider_name(&state, &provider),
        email,
        username: user.map(|u| u.username),
        prove: String::new(),
        back: safe_next(Some(&next)).unwrap_or_else(|| "/account".into()),
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
    let (key, browser) = link_cookies(&state, &headers);
    let next = match state.accounts.confirm_link(key, browser, user.as_ref(), &ctx.context("")).await? {
        LinkConfirm::Missing => return Err(no_pending_link()),
        LinkConfirm::Prove => return Ok(Redirect::to(&prove_url("")).into_response()),
        LinkConfirm::AlreadyLinked { provider } => return Err(already_linked(&provider_name(&state, &provider))),
        LinkConfirm::Linked { next } => next,
    };
    let to = safe_next(Some(&next)).unwrap_or_else(|| "/account?notice=linked".into());
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
    match state.accounts.unlink_upstream(&ctx.context(&user.user_id), &user.user_id, &id).await {
        Ok(()) => Ok(Redirect::to("/account?notice=unlinked").into_response()),
        Err(accounts::Error::LastSignInMethod) => Err(HtmlError::new(
            StatusCode::CONFLICT,
            "This is the only way you can sign in, so it stays linked. Set a password first (use \"Forgot your password?\" on the sign-in page), then unlink it.",
        )),
        Err(accounts::Error::UnknownUser) => Err(HtmlError::not_found()),
        Err(other) => Err(other.into()),
    }
}
