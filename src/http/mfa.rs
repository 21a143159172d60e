//! The second step of sign-in: `/login/mfa` (choose a method, enter a code),
//! `/login/mfa/email` (send a code), and `/login/mfa/setup` (set up an
//! authenticator app when a role requires one). The `gh_mfa` cookie carries
//! the challenge started by a right password; the steps are
//! `accounts::sign_in`'s, the answers `http::signed_in`'s.
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::accounts::mfa::Method;
use crate::accounts::sign_in::{EmailCode, Proof, StepView};
use crate::app::AppState;
use crate::http::error::HtmlError;
use crate::http::extract::{CsrfForm, PageCsrf, safe_next};
use crate::http::pages::{Nav, path_with_query};
use crate::http::signed_in::templates::{ChallengePage, setup_in_sign_in};
use crate::http::signed_in::{self, Asked, SignInRequest, start_again};

/// The set-up and recovery-code pages, also used on `/account/mfa`.
pub(super) use crate::http::signed_in::templates::{CodesPage, SetupPage};

/// Routes for this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login/mfa", get(get_mfa).post(post_mfa))
        .route("/login/mfa/email", post(post_email_code))
        .route("/login/mfa/setup", post(post_setup))
}

#[derive(Deserialize, Default)]
struct NextQuery {
    next: Option<String>,
    sent: Option<String>,
}

async fn get_mfa(
    State(state): State<AppState>,
    request: SignInRequest,
    csrf: PageCsrf,
    Query(q): Query<NextQuery>,
) -> Result<Response, HtmlError> {
    let next = safe_next(q.next.as_deref());
    Ok(match state.accounts.second_step(&request.challenge()).await? {
        StepView::Gone => start_again(next.as_deref(), "expired"),
        StepView::SetUp(enrolment) => {
            let (status, page) = setup_in_sign_in(&csrf.token, next.unwrap_or_default(), enrolment, None);
            (status, csrf, page).into_response()
        }
        StepView::Choose { totp, email } => {
            let notice = q.sent.is_some().then_some("We sent a code to your email address.");
            let (nav, next, error) = (Nav::anonymous(), next.unwrap_or_default(), None);
            let page = ChallengePage { nav, csrf: csrf.token.clone(), next, totp, email, notice, error };
            (csrf, page).into_response()
        }
    })
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    method: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    email_code: String,
    #[serde(default)]
    recovery_code: String,
    next: Option<String>,
}

impl CodeForm {
    /// The chosen method and the code typed for it.
    fn proof(self, challenge: String) -> Option<Proof> {
        let (method, code) = match Method::parse(&self.method)? {
            Method::Totp => (Method::Totp, self.code),
            Method::Email => (Method::Email, self.email_code),
            Method::Recovery => (Method::Recovery, self.recovery_code),
        };
        Some(Proof::SecondFactor { challenge, method, code })
    }
}

async fn post_mfa(
    State(state): State<AppState>,
    request: SignInRequest,
    CsrfForm { form, csrf }: CsrfForm<CodeForm>,
) -> Result<Response, HtmlError> {
    let challenge = request.challenge();
    let ctx = request.going_to(safe_next(form.next.as_deref()));
    let Some(proof) = form.proof(challenge) else {
        return Err(HtmlError::bad_request("Choose a way to finish signing in."));
    };
    let next = state.accounts.sign_in(proof, &ctx).await;
    signed_in::respond(&state, &ctx, &csrf.token, Asked::Code, next)
}

#[derive(Deserialize)]
struct NextForm {
    next: Option<String>,
}

async fn post_email_code(
    State(state): State<AppState>,
    request: SignInRequest,
    CsrfForm { form, .. }: CsrfForm<NextForm>,
) -> Result<Response, HtmlError> {
    let next = safe_next(form.next.as_deref()).unwrap_or_default();
    match state.accounts.email_sign_in_code(&request.challenge()).await? {
        EmailCode::Sent => {
            Ok(Redirect::to(&path_with_query("/login/mfa", &[("next", &next), ("sent", "1")])).into_response())
        }
        EmailCode::NotOn => Err(HtmlError::bad_request("Codes by email are not turned on for this account.")),
        EmailCode::TooMany => Err(HtmlError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "We already sent three codes for this sign-in. Use the latest one, or start again.",
        )),
        EmailCode::Gone => Ok(start_again(Some(&next), "expired")),
    }
}

#[derive(Deserialize)]
struct SetupForm {
    #[serde(default)]
    code: String,
    next: Option<String>,
}

async fn post_setup(
    State(state): State<AppState>,
    request: SignInRequest,
    CsrfForm { form, csrf }: CsrfForm<SetupForm>,
) -> Result<Response, HtmlError> {
    let challenge = request.challenge();
    let ctx = request.going_to(safe_next(form.next.as_deref()));
    let next = state.accounts.sign_in(Proof::NewFactor { challenge, code: form.code }, &ctx).await;
    signed_in::respond(&state, &ctx, &csrf.token, Asked::NewFactor, next)
}
