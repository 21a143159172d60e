//! The signed-in user's own page: details, display name, password change,
//! and active sessions with revoke-one and sign-out-everywhere.
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use secrecy::SecretString;
use serde::Deserialize;

use crate::accounts::{self, CurrentUser, FieldError};
use crate::app::AppState;
use crate::http::audit::AuditCtx;
use crate::http::error::HtmlError;
use crate::http::extract::{CsrfForm, PageCsrf, SignedIn, empty_secret, field_error};
use crate::http::login::signed_out;
use crate::http::pages::{Nav, device_name, display_time};

/// Routes for this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account", get(get_account))
        .route("/account/profile", post(post_profile))
        .route("/account/password", post(post_password))
        .route("/account/email", post(post_email))
        .route("/account/sessions/{id}/revoke", post(post_revoke_session))
        .route("/account/sessions/revoke-all", post(post_revoke_all))
}

/// A session row, ready to display.
struct SessionView {
    id: String,
    device: String,
    ip: String,
    created: String,
    last_seen: String,
    current: bool,
}

/// A sign-in attempt, ready to display.
struct ActivityView {
    when: String,
    outcome: &'static str,
    method: String,
    ip: String,
    device: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "account.html")]
struct AccountPage {
    nav: Nav,
    csrf: String,
    username: String,
    email: String,
    email_verified: bool,
    display_name: String,
    roles: String,
    member_since: String,
    sessions: Vec<SessionView>,
    activity: Vec<ActivityView>,
    notice: Option<&'static str>,
    errors: Vec<FieldError>,
    /// The new address as typed, kept when the form comes back with errors.
    new_email: String,
    /// Two-step sign-in is on.
    mfa_on: bool,
    /// Upstream providers: the configured ones, and any still linked.
    upstream: Vec<UpstreamView>,
    /// False for an account made by an upstream sign-in that never set one.
    has_password: bool,
}

/// One provider on the account page.
struct UpstreamView {
    id: String,
    name: String,
    /// The linked account's address, if linked ("" when it gave none).
    linked: Option<String>,
}

/// Configured providers with their link state, then links to providers no
/// longer configured (so they can still be removed).
async fn upstream_views(state: &AppState, user_id: &str) -> Result<Vec<UpstreamView>, HtmlError> {
    let links = state.accounts.upstream_identities(user_id).await?;
    let mut views: Vec<UpstreamView> = state
        .upstream
        .iter()
        .map(|p| UpstreamView {
            id: p.id().to_owned(),
            name: p.display_name().to_owned(),
            linked: links.iter().find(|l| l.provider == p.id()).map(|l| l.email.clone()),
        })
        .collect();
    for link in links {
        if !views.iter().any(|v| v.id == link.provider) {
            views.push(UpstreamView { id: link.provider.clone(), name: link.provider, linked: Some(link.email) });
        }
    }
    Ok(views)
}

impl AccountPage {
    fn error_for(&self, field: &str) -> Option<&str> {
        field_error(&self.errors, field)
    }
}

impl SessionView {
    fn new(s: accounts::SessionInfo, current: bool) -> Self {
        Self {
            current,
            device: device_name(&s.user_agent),
            ip: s.ip,
            created: display_time(s.created_at),
            last_seen: display_time(s.last_seen_at),
            id: s.id,
        }
    }
}

impl From<accounts::Attempt> for ActivityView {
    fn from(a: accounts::Attempt) -> Self {
        Self {
            when: display_time(a.at),
            outcome: a.outcome,
            method: a.method,
            device: device_name(&a.user_agent),
            ip: a.ip,
        }
    }
}

async fn account_page(
    state: &AppState,
    user: &CurrentUser,
    csrf: &PageCsrf,
    notice: Option<&'static str>,
    errors: Vec<FieldError>,
) -> Result<AccountPage, HtmlError> {
    let o = state.accounts.overview(user).await?;
    Ok(AccountPage {
        nav: Nav::new(Some(user)),
        csrf: csrf.token.clone(),
        roles: user.roles.join(", "),
        member_since: display_time(o.user.created_at),
        has_password: o.user.has_password,
        username: o.user.username,
        email: o.user.email,
        email_verified: o.user.email_verified,
        display_name: o.user.display_name,
        sessions: o.sessions.into_iter().map(|(s, current)| SessionView::new(s, current)).collect(),
        activity: o.activity.into_iter().map(ActivityView::from).collect(),
        notice,
        errors,
        new_email: String::new(),
        mfa_on: o.mfa_on,
        upstream: upstream_views(state, &user.user_id).await?,
    })
}

#[derive(Deserialize, Default)]
struct AccountQuery {
    notice: Option<String>,
}

fn notice_text(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "profile" => Some("Your display name is saved."),
        "password" => Some("Your password is changed. Your other sessions have ended."),
        "session" => Some("That session has ended."),
        "email" => Some("Check your new address: follow the link we sent there to confirm the change."),
        "linked" => Some("The account is linked: you can now sign in with it."),
        "unlinked" => Some("The account is unlinked."),
        _ => None,
    }
}

async fn get_account(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    csrf: PageCsrf,
    Query(q): Query<AccountQuery>,
) -> Result<Response, HtmlError> {
    let page = account_page(&state, &user, &csrf, notice_text(q.notice.as_deref()), Vec::new()).await?;
    Ok((csrf, page).into_response())
}

/// What the user typed into the form that failed, to show it again.
enum Typed<'a> {
    DisplayName(&'a str),
    Email(&'a str),
    Nothing,
}

/// Shows the account page again with field errors (and the display name as
/// typed, if that was the form), or fails.
async fn with_errors(
    state: &AppState,
    user: &CurrentUser,
    csrf: &PageCsrf,
    err: accounts::Error,
    typed: Typed<'_>,
) -> Result<Response, HtmlError> {
    match err {
        accounts::Error::Invalid(errors) => {
            let mut page = account_page(state, user, csrf, None, errors).await?;
            // Bounded, so a huge input is not echoed back whole.
            match typed {
                Typed::DisplayName(t) => {
                    page.display_name = t.chars().take(2 * accounts::names::DISPLAY_NAME_MAX).collect();
                }
                Typed::Email(t) => page.new_email = t.chars().take(accounts::names::EMAIL_MAX).collect(),
                Typed::Nothing => {}
            }
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        other => Err(other.into()),
    }
}

#[derive(Deserialize)]
struct ProfileForm {
    #[serde(default)]
    display_name: String,
}

async fn post_profile(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    ctx: AuditCtx,
    CsrfForm { form, csrf }: CsrfForm<ProfileForm>,
) -> Result<Response, HtmlError> {
    match state.accounts.set_display_name(&ctx.context(&user.user_id), &user.user_id, &form.display_name).await {
        Ok(()) => Ok(Redirect::to("/account?notice=profile").into_response()),
        Err(err) => with_errors(&state, &user, &csrf, err, Typed::DisplayName(&form.display_name)).await,
    }
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default = "empty_secret")]
    current_password: SecretString,
    #[serde(default = "empty_secret")]
    new_password: SecretString,
    new_password_confirm: Option<SecretString>,
}

async fn post_password(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    ctx: AuditCtx,
    CsrfForm { form, csrf }: CsrfForm<PasswordForm>,
) -> Result<Response, HtmlError> {
    let changed = state
        .accounts
        .change_password(
            &user.user_id,
            &form.current_password,
            &form.new_password,
            form.new_password_confirm.as_ref(),
            Some(&user.session_id),
            &ctx.context(&user.user_id),
        )
        .await;
    match changed {
        // The browser goes on under a new session id (and a CSRF token for it).
        Ok(Some(session)) => {
            Ok(crate::http::login::session_started(&state, &session, Redirect::to("/account?notice=password")))
        }
        Ok(None) => Ok(crate::http::login::signed_out(&state, "/login?signed_out=1")),
        Err(err) => with_errors(&state, &user, &csrf, err, Typed::Nothing).await,
    }
}

#[derive(Deserialize)]
struct EmailForm {
    #[serde(default)]
    new_email: String,
    #[serde(default = "empty_secret")]
    email_password: SecretString,
}

async fn post_email(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    ctx: AuditCtx,
    CsrfForm { form, csrf }: CsrfForm<EmailForm>,
) -> Result<Response, HtmlError> {
    let recent = state.accounts.recently_authenticated(&user);
    let from = ctx.context(&user.user_id);
    match state.accounts.request_email_change(&user.user_id, &form.email_password, &form.new_email, recent, &from).await
    {
        Ok(()) => Ok(Redirect::to("/account?notice=email").into_response()),
        Err(err) => with_errors(&state, &user, &csrf, err, Typed::Email(&form.new_email)).await,
    }
}

#[derive(Deserialize)]
struct EmptyForm {}

async fn post_revoke_session(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    ctx: AuditCtx,
    Path(id): Path<String>,
    _: CsrfForm<EmptyForm>,
) -> Result<Response, HtmlError> {
    if !state.accounts.revoke_session(&ctx.context(&user.user_id), &user.user_id, &id).await? {
        return Err(HtmlError::not_found());
    }
    if id == user.session_id {
        return Ok(signed_out(&state, "/login?signed_out=1"));
    }
    Ok(Redirect::to("/account?notice=session").into_response())
}

async fn post_revoke_all(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    ctx: AuditCtx,
    _: CsrfForm<EmptyForm>,
) -> Result<Response, HtmlError> {
    state.accounts.sign_out_everywhere(&user.user_id, &ctx.context(&user.user_id)).await?;
    Ok(signed_out(&state, "/login?signed_out=1"))
}
