//! The expired-password step of sign-in (`password.max_age_days`): a right
//! password that is too old shows the expired-password page instead of
//! signing in. It is shown only at the end of a complete sign-in (password
//! and any second step), with a `gh_expired` ticket cookie; the form asks for
//! the current password again and a new one; no secret goes into a URL.
//! After a valid change the browser goes to `/login?reset=1` with the same
//! `next`, to sign in with the new password. The step is
//! `accounts::sign_in`'s, the answers `http::signed_in`'s.
use axum::Router;
use axum::extract::State;
use axum::response::{Redirect, Response};
use axum::routing::get;
use secrecy::SecretString;
use serde::Deserialize;

use crate::accounts::sign_in::Proof;
use crate::app::AppState;
use crate::http::error::HtmlError;
use crate::http::extract::{CsrfForm, empty_secret, safe_next};
use crate::http::signed_in::{self, Asked, SignInRequest};

/// Routes for this area.
pub fn router() -> Router<AppState> {
    Router::new().route("/password/expired", get(get_expired).post(post_expired))
}

/// Only reached through the sign-in form; a direct visit starts there.
async fn get_expired() -> Redirect {
    Redirect::to("/login")
}

#[derive(Deserialize)]
struct ExpiredForm {
    #[serde(default)]
    username: String,
    #[serde(default = "empty_secret")]
    current_password: SecretString,
    #[serde(default = "empty_secret")]
    new_password: SecretString,
    new_password_confirm: Option<SecretString>,
    next: Option<String>,
}

async fn post_expired(
    State(state): State<AppState>,
    request: SignInRequest,
    CsrfForm { form, csrf }: CsrfForm<ExpiredForm>,
) -> Result<Response, HtmlError> {
    let ticket = request.ticket();
    let ctx = request.going_to(safe_next(form.next.as_deref()));
    let proof = Proof::ExpiredPassword {
        ticket,
        current: form.current_password,
        new: form.new_password,
        confirm: form.new_password_confirm,
    };
    let next = state.accounts.sign_in(proof, &ctx).await;
    signed_in::respond(&state, &ctx, &csrf.token, Asked::Expired { username: &form.username }, next)
}
