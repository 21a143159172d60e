//! The page for each refusal, chosen by the step that asked (the sign-in
//! form shows itself again, the second step its code form, an upstream
//! callback an error page), with the sign-in metrics the pages count.
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::templates::{ChallengePage, ExpiredPage, login_again, setup_in_sign_in, unconfirmed};
use super::{Asked, start_again};
use crate::accounts::sign_in::{Refusal, SignInCtx};
use crate::app::AppState;
use crate::http::error::HtmlError;
use crate::http::ip_gate;
use crate::http::pages::Nav;
use crate::http::throttle;
use crate::metrics::LoginOutcome;
use crate::security::ip_rules::Scope;

const BAD_LOGIN: &str = "The username or password is not correct.";
/// For a blocked account, however it signs in.
const BLOCKED: &str = "This account is blocked. Contact your administrator.";
/// The same for every name, known or not (issue 6: lockout says nothing about existence).
const LOCKED: &str = "Too many failed attempts. Signing in with this name is paused for a while; try again later or reset your password.";

/// The refusal's page for the step that asked.
pub(super) fn page(
    state: &AppState,
    ctx: &SignInCtx,
    csrf: &str,
    asked: Asked<'_>,
    refusal: Refusal,
) -> Result<Response, HtmlError> {
    let next = ctx.next.as_deref();
    Ok(match (asked, refusal) {
        (_, Refusal::Network { role }) => {
            ip_gate::note_refusal(&state.metrics, &Scope::Role(role), ctx.addr);
            return Err(ip_gate::refused_account_page());
        }
        (Asked::Password { login }, refusal) => password_form(state, csrf, login, next, refusal),
        (Asked::Code, Refusal::WrongCode { tries_left, totp, email }) => {
            state.metrics.observe_login(LoginOutcome::InvalidCredentials);
            let error = Some(format!("That code is not right. {tries_left} tries left."));
            let next = next.unwrap_or_default().to_owned();
            let page =
                ChallengePage { nav: Nav::anonymous(), csrf: csrf.to_owned(), next, totp, email, notice: None, error };
            (StatusCode::UNAUTHORIZED, page).into_response()
        }
        (Asked::Code, Refusal::CodesOver) => {
            state.metrics.observe_login(LoginOutcome::InvalidCredentials);
            start_again(next, "failed")
        }
        (Asked::NewFactor, Refusal::SetupCode { message, enrolment }) => {
            setup_in_sign_in(csrf, next.unwrap_or_default().to_owned(), enrolment, message).into_response()
        }
        (Asked::Upstream { .. }, refusal) => return upstream_error(refusal),
        (Asked::Expired { username }, Refusal::Invalid(errors)) => {
            let page = ExpiredPage::new(state, csrf, username, next, errors);
            (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
        }
        // The challenge or ticket is gone (or the password changed meanwhile).
        (Asked::Code | Asked::NewFactor | Asked::Expired { .. }, _) => start_again(next, "expired"),
    })
}

/// The sign-in form again, with one message for unknown and wrong alike.
fn password_form(state: &AppState, csrf: &str, login: &str, next: Option<&str>, refusal: Refusal) -> Response {
    let (outcome, status, message) = match &refusal {
        Refusal::Unconfirmed => {
            state.metrics.observe_login(LoginOutcome::Unconfirmed);
            return unconfirmed(csrf, login);
        }
        Refusal::Locked { .. } => (Some(LoginOutcome::Locked), StatusCode::TOO_MANY_REQUESTS, LOCKED),
        Refusal::Blocked => (Some(LoginOutcome::Blocked), StatusCode::FORBIDDEN, BLOCKED),
        Refusal::WrongPassword => (Some(LoginOutcome::InvalidCredentials), StatusCode::UNAUTHORIZED, BAD_LOGIN),
        // 401 tells scripts the sign-in failed; the error layer adds the
        // `Form` challenge every 401 needs (RFC 7235 §3.1). Also for a
        // password changed (or an account blocked) while it was checked.
        _ => (None, StatusCode::UNAUTHORIZED, BAD_LOGIN),
    };
    outcome.into_iter().for_each(|o| state.metrics.observe_login(o));
    let page = (status, login_again(state, csrf, login, next, message)).into_response();
    match refusal {
        Refusal::Locked { retry_after, newly } => {
            if newly {
                state.metrics.observe_lockout();
            }
            throttle::with_retry_after(page, retry_after)
        }
        _ => page,
    }
}

/// The error page of a refused upstream sign-in.
fn upstream_error(refusal: Refusal) -> Result<Response, HtmlError> {
    match refusal {
        Refusal::Locked { retry_after, .. } => {
            let page = HtmlError::new(StatusCode::TOO_MANY_REQUESTS, "Too many wrong codes lately. Try again later.");
            Ok(throttle::with_retry_after(page.into_response(), retry_after))
        }
        Refusal::NotSameAccount => {
            Err(HtmlError::bad_request("You are no longer signed in as the account that asked for this link."))
        }
        // Blocked, or blocked while the identity was checked.
        _ => Err(HtmlError::forbidden(BLOCKED)),
    }
}
