//! The pages' answer to every sign-in step: [`respond`] maps the service's
//! [`Next`] (see `accounts::sign_in`) to cookies, redirects and pages, for
//! `login`, `mfa`, `expired` and `upstream` alike. [`SignInRequest`] builds
//! the service's context from the request. Also the session cookie helpers
//! (`session_started`, `signed_out`, `signed_out_page`) the account and
//! logout pages use.
//!
//! Decides nothing: which page a refusal gets depends only on the step that
//! asked ([`Asked`]). Names no store row.
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};

use crate::accounts::sign_in::{LinkOffer, Next, SignInCtx, SignedIn};
use crate::accounts::{self, StartedSession, mfa};
use crate::app::AppState;
use crate::http::audit::AuditCtx;
use crate::http::cookies;
use crate::http::error::HtmlError;
use crate::http::extract::{ClientInfo, MaybeUser, PageCsrf};
use crate::http::pages::{Nav, path_with_query};
use crate::metrics::LoginOutcome;
use crate::upstream::Provider;

mod refused;
pub mod templates;

use templates::{CodesPage, ExpiredPage, LinkPage, prove_url};

/// The request as the sign-in service sees it, and its cookies.
pub struct SignInRequest {
    pub ctx: SignInCtx,
    headers: HeaderMap,
    secure: bool,
}

impl FromRequestParts<AppState> for SignInRequest {
    type Rejection = HtmlError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let MaybeUser(previous) = MaybeUser::from_request_parts(parts, state).await?;
        let Ok(client) = ClientInfo::from_request_parts(parts, state).await;
        let Ok(audit) = AuditCtx::from_request_parts(parts, state).await;
        let secure = state.secure_cookies();
        let device = cookies::get(&parts.headers, cookies::device_name(secure)).map(str::to_owned);
        let ctx = SignInCtx { audit: audit.context(""), addr: client.addr, previous, device, next: None };
        Ok(Self { ctx, headers: parts.headers.clone(), secure })
    }
}

impl SignInRequest {
    /// The challenge cookie of the second step ("" if none).
    pub fn challenge(&self) -> String {
        self.cookie(cookies::mfa_name(self.secure))
    }

    /// The expired-password ticket cookie ("" if none).
    pub fn ticket(&self) -> String {
        self.cookie(cookies::expired_name(self.secure))
    }

    /// The upstream flows' browser binding ("" if none).
    pub fn browser(&self) -> String {
        self.cookie(cookies::upstream_name(self.secure))
    }

    fn cookie(&self, name: &str) -> String {
        cookies::get(&self.headers, name).unwrap_or_default().to_owned()
    }

    /// The context, going on to `next` (already checked to be local).
    pub fn going_to(self, next: Option<String>) -> SignInCtx {
        SignInCtx { next, ..self.ctx }
    }
}

/// Which step asked: it chooses the page for a refusal.
pub enum Asked<'a> {
    /// The sign-in form, with what was typed as the login.
    Password { login: &'a str },
    /// A code at the second step.
    Code,
    /// The first authenticator code, inside the challenge.
    NewFactor,
    /// An upstream provider's callback.
    Upstream { provider: &'a Provider },
    /// The expired-password form.
    Expired { username: &'a str },
}

/// The answer to a sign-in step. `csrf` is the token for a page shown again.
pub fn respond(
    state: &AppState,
    ctx: &SignInCtx,
    csrf: &str,
    asked: Asked<'_>,
    next: accounts::Result<Next>,
) -> Result<Response, HtmlError> {
    let next = match (next, &asked) {
        (Err(accounts::Error::AlreadyLinked), Asked::Upstream { provider }) => {
            return Err(already_linked(provider.display_name()));
        }
        (next, _) => next?,
    };
    let secure = state.secure_cookies();
    Ok(match next {
        Next::Session(done) => {
            state.metrics.observe_login(LoginOutcome::Success);
            session(state, ctx, done, &asked)
        }
        Next::SecondStep { challenge } => to_second_step(state, &challenge, ctx.next.as_deref()),
        Next::PasswordExpired { ticket, username, next } => {
            let cookie = cookies::set(cookies::expired_name(secure), &ticket, "Lax", secure, Some(mfa::CHALLENGE_SECS));
            let page = ExpiredPage::new(state, csrf, &username, next.as_deref(), Vec::new());
            (AppendHeaders([(header::SET_COOKIE, cookie)]), page).into_response()
        }
        Next::PasswordRenewed => {
            let clear = cookies::clear(cookies::expired_name(secure), secure);
            (AppendHeaders([(header::SET_COOKIE, clear)]), to_login(ctx, ("reset", "1"))).into_response()
        }
        Next::LinkOffer(offer) => link_offer(state, ctx, csrf, offer),
        Next::Linked => Redirect::to("/account?notice=linked").into_response(),
        Next::Refused(refusal) => return refused::page(state, ctx, csrf, asked, refusal),
    })
}

/// A new session: its cookie (with a CSRF cookie bound to it), the device
/// cookie, and the redirect (or the recovery codes after a new factor).
fn session(state: &AppState, ctx: &SignInCtx, done: SignedIn, asked: &Asked<'_>) -> Response {
    let secure = state.secure_cookies();
    let device = done
        .new_device
        .map(|d| cookies::set(cookies::device_name(secure), &d, "Lax", secure, Some(cookies::DEVICE_MAX_AGE)));
    let parts = (
        AppendHeaders([
            (header::SET_COOKIE, session_cookie(state, &done.session.token, done.session.max_age_secs)),
            (header::SET_COOKIE, cookies::clear(cookies::mfa_name(secure), secure)),
        ]),
        AppendHeaders(device.map(|c| (header::SET_COOKIE, c))),
        PageCsrf::rotate(state, &done.session.id),
    );
    match asked {
        // Shown once, on the page that carries the session cookie.
        Asked::NewFactor => {
            let next = ctx.next.clone().unwrap_or_else(|| "/account".into());
            (parts, CodesPage { nav: Nav::anonymous(), codes: done.recovery_codes, next }).into_response()
        }
        _ => (parts, Redirect::to(&done.to)).into_response(),
    }
}

/// The identity's address belongs to an account: the offer page, and the
/// cookie naming the waiting link.
fn link_offer(state: &AppState, ctx: &SignInCtx, csrf: &str, offer: LinkOffer) -> Response {
    let secure = state.secure_cookies();
    let provider = state.upstream.get(&offer.provider).map_or(offer.provider.as_str(), Provider::display_name);
    let page = LinkPage {
        nav: Nav::new(ctx.previous.as_ref()),
        csrf: csrf.to_owned(),
        provider: provider.to_owned(),
        prove: prove_url(&offer.email),
        email: offer.email,
        username: None,
        back: "/login".into(),
    };
    let cookie =
        cookies::set(cookies::link_name(secure), &offer.key, "Lax", secure, Some(accounts::upstream::FLOW_SECS));
    (AppendHeaders([(header::SET_COOKIE, cookie)]), page).into_response()
}

/// The page for an upstream account linked to another user.
pub fn already_linked(provider_name: &str) -> HtmlError {
    HtmlError::new(
        StatusCode::CONFLICT,
        format!("This {provider_name} account is already linked to another gatehouse account. Unlink it there first."),
    )
}

/// `/login` with `flag`, keeping `next`.
fn to_login(ctx: &SignInCtx, flag: (&str, &str)) -> Redirect {
    let mut query = vec![flag];
    query.extend(ctx.next.as_deref().map(|n| ("next", n)));
    Redirect::to(&path_with_query("/login", &query))
}

/// Back to the password form: the challenge is over or missing (`why`:
/// `expired` or `failed`).
pub fn start_again(next: Option<&str>, why: &str) -> Response {
    let mut pairs = vec![("mfa", why)];
    if let Some(n) = next {
        pairs.push(("next", n));
    }
    Redirect::to(&path_with_query("/login", &pairs)).into_response()
}

/// Sends a sign-in on to its second step (`/login/mfa`) with the
/// challenge cookie, whatever proved the first.
fn to_second_step(state: &AppState, token: &str, next: Option<&str>) -> Response {
    let secure = state.secure_cookies();
    let cookie = cookies::set(cookies::mfa_name(secure), token, "Lax", secure, Some(mfa::CHALLENGE_SECS));
    let to = path_with_query("/login/mfa", &[("next", next.unwrap_or_default())]);
    (AppendHeaders([(header::SET_COOKIE, cookie)]), Redirect::to(&to)).into_response()
}

/// The `Set-Cookie` value of a session cookie: `token` for `max_age`
/// seconds, or (empty, 0) to clear it.
fn session_cookie(state: &AppState, token: &str, max_age: i64) -> axum::http::HeaderValue {
    let secure = state.secure_cookies();
    cookies::set(cookies::session_name(secure), token, "Lax", secure, Some(max_age))
}

/// Sets the cookie of a new session (with a CSRF cookie bound to it) and
/// answers `then` (a redirect or a page); for a session that replaces the
/// browser's current one.
pub fn session_started(state: &AppState, session: &StartedSession, then: impl IntoResponse) -> Response {
    let cookie = session_cookie(state, &session.token, session.max_age_secs);
    (AppendHeaders([(header::SET_COOKIE, cookie)]), PageCsrf::rotate(state, &session.id), then).into_response()
}

/// Clears the session cookie, rotates the CSRF cookie, and redirects.
pub fn signed_out(state: &AppState, to: &str) -> Response {
    signed_out_page(state, Redirect::to(to))
}

/// Like [`signed_out`], but answers `then` (a page) instead of redirecting.
pub fn signed_out_page(state: &AppState, then: impl IntoResponse) -> Response {
    let clear = session_cookie(state, "", 0);
    (AppendHeaders([(header::SET_COOKIE, clear)]), PageCsrf::rotate(state, ""), then).into_response()
}
