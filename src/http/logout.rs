//! Sign-out: `GET /logout` (OIDC RP-Initiated Logout 1.0 §2: a relying
//! party sends the browser here; a confirmation page unless a valid
//! `id_token_hint` names this very user) and `POST /logout` (the
//! confirmation). Where the browser goes afterwards is `oauth::logout`'s
//! rule; ending the session is `accounts`'.
//!
//! Must not name store row types or decide policy: extract, call, render.
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::accounts::CurrentUser;
use crate::app::AppState;
use crate::http::audit::AuditCtx;
use crate::http::error::HtmlError;
use crate::http::extract::{CsrfForm, MaybeUser, PageCsrf};
use crate::http::login::signed_out;
use crate::http::pages::Nav;
use crate::oauth::logout::{LogoutError, LogoutRequest};

/// Routes for this area.
pub fn router() -> Router<AppState> {
    Router::new().route("/logout", get(get_logout).post(post_logout))
}

/// Our own page after sign-out.
const SIGNED_OUT: &str = "/login?signed_out=1";

#[derive(Template, WebTemplate)]
#[template(path = "logout.html")]
struct LogoutPage {
    nav: Nav,
    csrf: String,
    /// The relying party's return, carried through the confirmation.
    back: LogoutParams,
}

/// OIDC RP-Initiated Logout 1.0 §2 parameters.
#[derive(Deserialize, Default, Clone)]
struct LogoutParams {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    client_id: Option<String>,
}

/// Where to send the browser after sign-out: the client's registered
/// post-logout URI with `state`, or our own page. A URI we cannot match to a
/// registered one is refused with an error page, never followed.
async fn logout_target(state: &AppState, p: &LogoutParams, hinted_client: Option<&str>) -> Result<String, HtmlError> {
    let req = LogoutRequest {
        post_logout_redirect_uri: p.post_logout_redirect_uri.as_deref(),
        state: p.state.as_deref(),
        client_id: p.client_id.as_deref(),
        hinted_client,
    };
    match state.clients.logout_target(&req).await {
        Ok(target) => Ok(target.unwrap_or_else(|| SIGNED_OUT.into())),
        Err(LogoutError::Clients(e)) => Err(HtmlError::internal(e)),
        Err(refused) => Err(HtmlError::bad_request(refused.to_string())),
    }
}

/// Ends the session and everything issued under it.
async fn end_everything(state: &AppState, ctx: &AuditCtx, user: &CurrentUser) -> Result<(), HtmlError> {
    state.accounts.end_session(&ctx.context(&user.user_id), &user.user_id, &user.session_id).await?;
    tracing::info!(user_id = %user.user_id, "signed out");
    Ok(())
}

async fn get_logout(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    ctx: AuditCtx,
    csrf: PageCsrf,
    Query(p): Query<LogoutParams>,
) -> Result<Response, HtmlError> {
    let hint =
        match p.id_token_hint.as_deref().filter(|h| !h.is_empty()) {
            Some(h) => Some(state.tokens.check_id_token_hint(h).map_err(|_| {
                HtmlError::bad_request("The application's id_token_hint was not issued by this server.")
            })?),
            None => None,
        };
    let target = logout_target(&state, &p, hint.as_ref().map(|(_, aud)| aud.as_str())).await?;
    let Some(user) = user else { return Ok(Redirect::to(&target).into_response()) };
    // A valid hint for this very user is the confirmation (RP-Initiated Logout §2).
    if hint.as_ref().is_some_and(|(sub, _)| *sub == user.user_id) {
        end_everything(&state, &ctx, &user).await?;
        return Ok(signed_out(&state, &target));
    }
    let mut back = p.clone();
    back.client_id = hint.map(|(_, aud)| aud).or(p.client_id);
    back.id_token_hint = None;
    let page = LogoutPage { nav: Nav::new(Some(&user)), csrf: csrf.token.clone(), back };
    Ok((csrf, page).into_response())
}

#[derive(Deserialize)]
struct LogoutForm {
    logout: Option<String>,
    #[serde(flatten)]
    back: LogoutParams,
}

async fn post_logout(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    ctx: AuditCtx,
    CsrfForm { form, .. }: CsrfForm<LogoutForm>,
) -> Result<Response, HtmlError> {
    if form.logout.as_deref() != Some("yes") {
        return Ok(Redirect::to("/account").into_response());
    }
    let target = logout_target(&state, &form.back, None).await?;
    if let Some(user) = &user {
        end_everything(&state, &ctx, user).await?;
    }
    Ok(signed_out(&state, &target))
}
