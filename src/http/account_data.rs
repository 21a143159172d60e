//! The account centre's data sections: connected apps (revoke one: its
//! consent goes and its access and refresh tokens stop, `oauth::tokens::apps`),
//! "Your data" (`/account/export`, the download at `?download=1`: the same
//! JSON as `GET /api/v1/me/export`) and deleting one's own account (a
//! confirmation page, the password or a recent sign-in, a notice mail).
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use secrecy::SecretString;
use serde::Deserialize;

use crate::accounts::{self, CurrentUser};
use crate::app::AppState;
use crate::http::account::{AccountNav, NoticeQuery, Section, notice_text};
use crate::http::audit::AuditCtx;
use crate::http::confirm::ConfirmPage;
use crate::http::error::HtmlError;
use crate::http::extract::{CsrfForm, PageCsrf, SignedIn, empty_secret};
use crate::http::pages::{MessagePage, Nav, display_time, reauthenticate};

/// Routes for this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account/apps", get(get_apps))
        .route("/account/apps/{client_id}/revoke", post(post_revoke_app))
        .route("/account/export", get(get_export))
        .route("/account/delete", get(get_delete).post(post_delete))
}

/// A connected app, ready to display.
struct AppView {
    client_id: String,
    name: String,
    scopes: String,
    consented: String,
    last_used: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "account/apps.html")]
struct AppsPage {
    nav: Nav,
    account: AccountNav,
    csrf: String,
    apps: Vec<AppView>,
    notice: Option<&'static str>,
}

async fn get_apps(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    csrf: PageCsrf,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, HtmlError> {
    let apps = state.tokens.connected_apps(&user.user_id).await.map_err(HtmlError::internal)?;
    let apps = apps
        .into_iter()
        .map(|a| AppView {
            name: if a.client_name.is_empty() { a.client_id.clone() } else { a.client_name },
            scopes: if a.scope.is_empty() {
                "not asked (the app holds tokens only)".into()
            } else {
                a.scope.to_string()
            },
            consented: a.consented_at.map_or_else(|| "not recorded".into(), display_time),
            last_used: a.newest_token_at.map_or_else(|| "no live tokens".into(), display_time),
            client_id: a.client_id,
        })
        .collect();
    let page = AppsPage {
        nav: Nav::new(Some(&user)),
        account: AccountNav::new(Section::Apps),
        csrf: csrf.token.clone(),
        apps,
        notice: notice_text(q.notice.as_deref()),
    };
    Ok((csrf, page).into_response())
}

#[derive(Deserialize)]
struct EmptyForm {}

/// Removes the consent and stops the app's access and refresh tokens at once
/// (the same service as `DELETE /api/v1/me/apps/{client_id}`; audited there).
async fn post_revoke_app(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    ctx: AuditCtx,
    Path(client_id): Path<String>,
    _: CsrfForm<EmptyForm>,
) -> Result<Response, HtmlError> {
    let revoked = state.tokens.revoke_app(&ctx.context(&user.user_id), &user.user_id, &client_id).await;
    if !revoked.map_err(HtmlError::internal)? {
        return Err(HtmlError::not_found());
    }
    Ok(Redirect::to("/account/apps?notice=revoked").into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "account/data.html")]
struct DataPage {
    nav: Nav,
    account: AccountNav,
}

#[derive(Deserialize, Default)]
struct ExportQuery {
    download: Option<String>,
}

/// The "Your data" page, or with `?download=1` the JSON download.
async fn get_export(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Query(q): Query<ExportQuery>,
) -> Result<Response, HtmlError> {
    if q.download.is_none() {
        return Ok(DataPage { nav: Nav::new(Some(&user)), account: AccountNav::new(Section::Data) }.into_response());
    }
    let export = state.accounts.export(&user.user_id).await?;
    let body = serde_json::to_vec_pretty(&export).map_err(HtmlError::internal)?;
    // Usernames are already plain; this keeps the header safe regardless.
    let name: String =
        user.username.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')).collect();
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"gatehouse-export-{name}.json\""))
        .map_err(HtmlError::internal)?;
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
        (header::CONTENT_DISPOSITION, disposition),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ];
    Ok((headers, body).into_response())
}

/// The confirmation page for deleting one's own account.
fn delete_page(user: &CurrentUser, csrf: &str, has_password: bool, error: Option<&'static str>) -> ConfirmPage {
    let mut page = ConfirmPage::new(
        user,
        csrf,
        "Delete your account".into(),
        "/account/delete".into(),
        "Delete my account".into(),
        "/account".into(),
    )
    .losing(vec![
        format!("Your account {} and your profile", user.username),
        "Your password, two-step sign-in and recovery codes".into(),
        "Every session, and the access of every connected app".into(),
        "Your links to other sign-in providers".into(),
    ]);
    page.password = has_password;
    page.error = error;
    page
}

async fn get_delete(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    csrf: PageCsrf,
) -> Result<Response, HtmlError> {
    let has_password = state.accounts.user(&user.user_id).await?.has_password;
    // Without a password, a recent sign-in is the proof: ask for one first.
    if !has_password && !state.accounts.recently_authenticated(&user) {
        return Ok(reauthenticate("/account/delete").into_response());
    }
    let page = delete_page(&user, &csrf.token, has_password, None);
    Ok((csrf, page).into_response())
}

#[derive(Deserialize)]
struct DeleteForm {
    #[serde(default)]
    confirm: String,
    #[serde(default = "empty_secret")]
    password: SecretString,
}

async fn post_delete(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    ctx: AuditCtx,
    CsrfForm { form, csrf }: CsrfForm<DeleteForm>,
) -> Result<Response, HtmlError> {
    let has_password = state.accounts.user(&user.user_id).await?.has_password;
    if form.confirm != "yes" {
        return Ok(Redirect::to("/account/delete").into_response());
    }
    let ctx = ctx.context(&user.user_id);
    let deleted = if has_password {
        state.accounts.delete_own_account(&ctx, &user.user_id, &form.password).await
    } else {
        state.accounts.delete_own_account_recent(&ctx, &user).await
    };
    match deleted {
        Ok(()) => Ok(crate::http::login::signed_out_page(&state, deleted_page())),
        // Without a password, the proof is a recent sign-in: ask for one.
        Err(accounts::Error::Invalid(_)) if !has_password => Ok(reauthenticate("/account/delete").into_response()),
        Err(accounts::Error::Invalid(_)) => {
            let page = delete_page(&user, &csrf.token, has_password, Some("That password is not right."));
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

fn deleted_page() -> MessagePage {
    MessagePage::new(
        "Your account is deleted",
        vec![
            "Your account and everything it held are gone, and you are signed out.",
            "We have sent a note about it to your address.",
        ],
        None,
    )
}
