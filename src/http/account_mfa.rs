//! `/account/mfa`: the signed-in user's two-step settings. Every change needs
//! a recent sign-in (`session.reauth_secs`, 10 minutes by default); an older
//! session is sent through `/login?prompt=login` first.
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use secrecy::SecretString;
use serde::Deserialize;

use crate::accounts::mfa::FactorAdded;
use crate::accounts::{self, CurrentUser, FieldError};
use crate::app::AppState;
use crate::http::audit::AuditCtx;
use crate::http::error::HtmlError;
use crate::http::extract::{CsrfForm, PageCsrf, SignedIn, empty_secret, field_error};
use crate::http::mfa::{CodesPage, SetupPage};
use crate::http::pages::{Nav, reauthenticate};

/// Routes for this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account/mfa", get(get_mfa))
        .route("/account/mfa/totp", post(post_totp))
        .route("/account/mfa/totp/confirm", post(post_totp_confirm))
        .route("/account/mfa/email", post(post_email))
        .route("/account/mfa/recovery", post(post_recovery))
        .route("/account/mfa/disable", post(post_disable))
}

const HERE: &str = "/account/mfa";

#[derive(Template, WebTemplate)]
#[template(path = "account_mfa.html")]
struct MfaPage {
    nav: Nav,
    account: crate::http::account::AccountNav,
    csrf: String,
    totp: bool,
    email: bool,
    recovery_left: i64,
    required: bool,
    recent: bool,
    notice: Option<&'static str>,
    errors: Vec<FieldError>,
}

#[derive(Deserialize, Default)]
struct NoticeQuery {
    done: Option<String>,
}

async fn page(
    state: &AppState,
    user: &CurrentUser,
    csrf: PageCsrf,
    notice: Option<&'static str>,
    errors: Vec<FieldError>,
) -> Result<Response, HtmlError> {
    let status = state.accounts.mfa_status(&user.user_id, &user.roles).await?;
    let code = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = MfaPage {
        nav: Nav::new(Some(user)),
        account: crate::http::account::AccountNav::new(crate::http::account::Section::Mfa),
        csrf: csrf.token.clone(),
        totp: status.totp,
        email: status.email,
        recovery_left: status.recovery_left,
        required: status.required,
        recent: state.accounts.recently_authenticated(user),
        notice,
        errors,
    };
    Ok((code, csrf, page).into_response())
}

async fn get_mfa(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    csrf: PageCsrf,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, HtmlError> {
    let notice = match q.done.as_deref() {
        Some("off") => Some("Two-step sign-in is off. We sent you an email about it."),
        Some("email") => Some("Sign-in codes by email are on."),
        _ => None,
    };
    page(&state, &user, csrf, notice, Vec::new()).await
}

/// A signed-in user whose sign-in is recent enough for a change
/// (`session.reauth_secs`). An older session is sent to sign in again and
/// comes back here; every change on this page takes this extractor.
struct Recent(CurrentUser);

impl FromRequestParts<AppState> for Recent {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let SignedIn(user) = SignedIn::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        if !state.accounts.recently_authenticated(&user) {
            return Err(reauthenticate(HERE).into_response());
        }
        Ok(Self(user))
    }
}

fn codes_page(user: &CurrentUser, codes: Vec<String>) -> Response {
    CodesPage { nav: Nav::new(Some(user)), codes, next: HERE.into() }.into_response()
}

#[derive(Deserialize)]
struct Empty {}

async fn post_totp(
    State(state): State<AppState>,
    Recent(user): Recent,
    CsrfForm { csrf, .. }: CsrfForm<Empty>,
) -> Result<Response, HtmlError> {
    let enrolment = match state.accounts.begin_totp(&user.user_id, &user.username).await {
        Ok(e) => e,
        Err(accounts::Error::Invalid(errors)) => return page(&state, &user, csrf, None, errors).await,
        Err(other) => return Err(other.into()),
    };
    Ok(setup(&user, csrf, enrolment, None))
}

fn setup(user: &CurrentUser, csrf: PageCsrf, e: accounts::mfa::Enrolment, error: Option<String>) -> Response {
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let page = SetupPage {
        nav: Nav::new(Some(user)),
        csrf: csrf.token.clone(),
        next: String::new(),
        action: "/account/mfa/totp/confirm",
        back: HERE,
        qr_svg: e.qr_svg,
        secret: e.secret_text,
        notice: None,
        error,
    };
    (status, csrf, page).into_response()
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
}

async fn post_totp_confirm(
    State(state): State<AppState>,
    Recent(user): Recent,
    ctx: AuditCtx,
    CsrfForm { form, csrf }: CsrfForm<CodeForm>,
) -> Result<Response, HtmlError> {
    let ctx = ctx.context(&user.user_id);
    match state.accounts.confirm_totp(&ctx, &user.user_id, &form.code, Some(&user.session_id)).await {
        Ok(added) => Ok(renewed(&state, added.session, codes_page(&user, added.codes.unwrap_or_default()))),
        Err(accounts::Error::Invalid(errors)) => {
            let message = field_error(&errors, "code").map(str::to_owned);
            match state.accounts.pending_totp(&user.user_id, &user.username).await? {
                Some(e) => Ok(setup(&user, csrf, e, message)),
                None => page(&state, &user, csrf, None, errors).await,
            }
        }
        Err(other) => Err(other.into()),
    }
}

async fn post_email(
    State(state): State<AppState>,
    Recent(user): Recent,
    ctx: AuditCtx,
    CsrfForm { csrf, .. }: CsrfForm<Empty>,
) -> Result<Response, HtmlError> {
    match state.accounts.enable_email_mfa(&ctx.context(&user.user_id), &user.user_id, Some(&user.session_id)).await {
        Ok(FactorAdded { codes: None, session }) => {
            Ok(renewed(&state, session, Redirect::to("/account/mfa?done=email").into_response()))
        }
        Ok(FactorAdded { codes: Some(codes), session }) => Ok(renewed(&state, session, codes_page(&user, codes))),
        Err(e) => show_codes(&state, &user, csrf, Err(e)).await,
    }
}

/// A factor was added: the service renewed the session (see
/// `accounts::mfa::FactorAdded`); the browser gets its cookie and a CSRF
/// cookie bound to it. The old id is dead.
fn renewed(state: &AppState, session: Option<accounts::StartedSession>, page: Response) -> Response {
    match session {
        Some(session) => crate::http::login::session_started(state, &session, page),
        None => page,
    }
}

/// The new recovery codes, or the settings page with the reason there are none.
async fn show_codes(
    state: &AppState,
    user: &CurrentUser,
    csrf: PageCsrf,
    made: accounts::Result<Vec<String>>,
) -> Result<Response, HtmlError> {
    match made {
        Ok(codes) => Ok(codes_page(user, codes)),
        Err(accounts::Error::Invalid(errors)) => page(state, user, csrf, None, errors).await,
        Err(other) => Err(other.into()),
    }
}

async fn post_recovery(
    State(state): State<AppState>,
    Recent(user): Recent,
    ctx: AuditCtx,
    CsrfForm { csrf, .. }: CsrfForm<Empty>,
) -> Result<Response, HtmlError> {
    let made = state.accounts.regenerate_recovery_codes(&ctx.context(&user.user_id), &user.user_id).await;
    show_codes(&state, &user, csrf, made).await
}

#[derive(Deserialize)]
struct DisableForm {
    #[serde(default = "empty_secret")]
    mfa_password: SecretString,
}

async fn post_disable(
    State(state): State<AppState>,
    Recent(user): Recent,
    ctx: AuditCtx,
    CsrfForm { form, csrf }: CsrfForm<DisableForm>,
) -> Result<Response, HtmlError> {
    match state.accounts.disable_mfa(&user.user_id, &form.mfa_password, &ctx.context(&user.user_id)).await {
        Ok(()) => Ok(Redirect::to("/account/mfa?done=off").into_response()),
        Err(accounts::Error::Invalid(errors)) => page(&state, &user, csrf, None, errors).await,
        Err(other) => Err(other.into()),
    }
}
