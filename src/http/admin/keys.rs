//! `/admin/keys`: the token signing keys through `keys::KeyRing` (the same
//! functions as `/api/v1/keys…` and `gatehouse keys`): public facts only,
//! never key material. Rotating now is destructive (a recent sign-in and a
//! confirmation page) and audited (`key_rotated`) by the key ring.
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::app::AppState;
use crate::http::admin::{Console, Section};
use crate::http::audit::AuditCtx;
use crate::http::confirm::{ConfirmForm, ConfirmPage, RecentAdmin};
use crate::http::error::HtmlError;
use crate::http::extract::{Admin, CsrfForm, PageCsrf};
use crate::http::pages::{Nav, display_time};
use crate::keys::{ALGORITHM, KeyInfo};

/// More keys than the schedule ever keeps live.
const SHOWN: i64 = 100;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/keys", get(get_keys)).route("/admin/keys/rotate", get(get_rotate).post(post_rotate))
}

struct KeyView {
    kid: String,
    state: String,
    created: String,
    activated: String,
    retiring: String,
    /// When a retiring key is (or was) unpublished.
    retired: String,
}

fn key_view(k: KeyInfo, retain: i64) -> KeyView {
    KeyView {
        retired: k.retiring_at.map(|t| display_time(t + retain)).unwrap_or_default(),
        kid: k.kid,
        state: k.state,
        created: display_time(k.created_at),
        activated: k.activated_at.map(display_time).unwrap_or_default(),
        retiring: k.retiring_at.map(display_time).unwrap_or_default(),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/keys.html")]
struct KeysPage {
    nav: Nav,
    console: Console,
    algorithm: &'static str,
    keys: Vec<KeyView>,
    notice: Option<&'static str>,
}

#[derive(Deserialize, Default)]
struct KeysQuery {
    #[serde(default)]
    done: String,
}

async fn get_keys(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Query(q): Query<KeysQuery>,
) -> Result<Response, HtmlError> {
    let retain = state.keys.retain_secs();
    let keys = state.keys.page(None, SHOWN).await.map_err(HtmlError::internal)?;
    let page = KeysPage {
        nav: Nav::new(Some(&admin)),
        console: Console::new(Section::Keys),
        algorithm: ALGORITHM,
        keys: keys.into_iter().map(|k| key_view(k, retain)).collect(),
        notice: (q.done == "rotated").then_some("The keys were rotated: a new key signs from now on."),
    };
    Ok(page.into_response())
}

async fn get_rotate(
    State(state): State<AppState>,
    RecentAdmin(admin): RecentAdmin,
    csrf: PageCsrf,
) -> Result<Response, HtmlError> {
    let days = state.keys.retain_secs() / 86_400;
    let hours = state.keys.retain_secs() / 3_600;
    let kept = if days >= 2 { format!("{days} days") } else { format!("{hours} hours") };
    let page = ConfirmPage::new(
        &admin,
        &csrf.token,
        "Rotate the signing keys now".to_owned(),
        "/admin/keys/rotate".to_owned(),
        "Rotate the keys now".to_owned(),
        "/admin/keys".to_owned(),
    )
    .losing(vec![
        format!("the current key {}'s place: it starts retiring and signs nothing more", state.keys.current_kid()),
        format!(
            "nothing else at once: tokens it signed stay valid until they expire, and it stays published for {kept}"
        ),
        "clients that cache the key set too long may refuse new tokens until they fetch it again".to_owned(),
    ]);
    Ok((csrf, page.response()).into_response())
}

async fn post_rotate(
    State(state): State<AppState>,
    RecentAdmin(admin): RecentAdmin,
    ctx: AuditCtx,
    CsrfForm { form, .. }: CsrfForm<ConfirmForm>,
) -> Result<Response, HtmlError> {
    if !form.confirmed() {
        return Err(HtmlError::bad_request("The confirmation is missing."));
    }
    state.keys.rotate_now_by(&ctx.context(&admin.user_id)).await.map_err(HtmlError::internal)?;
    Ok(Redirect::to("/admin/keys?done=rotated").into_response())
}
