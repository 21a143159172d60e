//! The actions on one user that need no confirmation, from the list's rows
//! and the user's page: block, unblock, unlock, sign out everywhere, the
//! admin role, a password-reset mail. Each goes back to the page it came
//! from (`back`, only inside `/admin/users`).
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, post};
use serde::Deserialize;

use crate::app::AppState;
use crate::http::audit::AuditCtx;
use crate::http::error::HtmlError;
use crate::http::extract::{Admin, CsrfForm};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users/{id}/block", act(Action::Block))
        .route("/admin/users/{id}/unblock", act(Action::Unblock))
        .route("/admin/users/{id}/unlock", act(Action::Unlock))
        .route("/admin/users/{id}/sign-out", act(Action::SignOut))
        .route("/admin/users/{id}/roles", post(post_roles))
        .route("/admin/users/{id}/password-reset", act(Action::PasswordReset))
}

#[derive(Deserialize)]
struct BlockForm {
    back: Option<String>,
}

/// Where to go after the action: only back into the user list, whatever the
/// form says. Checked before the action runs: a CR or LF (CWE-93) or another
/// control character cannot go into a `Location` header, and refusing it
/// after the change would leave the change made behind a 500.
fn back_to(back: Option<&str>) -> Result<String, HtmlError> {
    if back.is_some_and(|b| b.chars().any(char::is_control)) {
        return Err(HtmlError::bad_request("The form contains a line break or control character."));
    }
    Ok(back
        .filter(|b| b.starts_with("/admin/users") && !b.contains('\\') && !b.contains("//"))
        .unwrap_or("/admin/users")
        .to_owned())
}

/// The one-click actions, each on its own path.
#[derive(Debug, Clone, Copy)]
enum Action {
    Block,
    Unblock,
    /// Ends a sign-in lock (issue 6) before its time runs out.
    Unlock,
    /// An administrator's "sign out user": every session and token of the user.
    SignOut,
    /// Mails the user a password-reset link (audited `password_reset_sent`).
    PasswordReset,
}

/// The POST route of `action`: the `back` field is checked, the service
/// acts (and audits), the browser goes back.
fn act(action: Action) -> MethodRouter<AppState> {
    post(
        move |State(state): State<AppState>,
              Admin(admin): Admin,
              ctx: AuditCtx,
              Path(id): Path<String>,
              CsrfForm { form, .. }: CsrfForm<BlockForm>| async move {
            let back = back_to(form.back.as_deref())?;
            let (ctx, accounts) = (ctx.context(&admin.user_id), &state.accounts);
            match action {
                Action::Block => accounts.block(&ctx, &id).await.map(drop),
                Action::Unblock => accounts.unblock(&ctx, &id).await.map(drop),
                Action::Unlock => accounts.unlock(&ctx, &id).await.map(drop),
                Action::SignOut => accounts.sign_out_user(&ctx, &id).await.map(drop),
                Action::PasswordReset => accounts.send_password_reset(&ctx, &id).await.map(drop),
            }?;
            Ok::<_, HtmlError>(Redirect::to(&back).into_response())
        },
    )
}

#[derive(Deserialize)]
struct RolesForm {
    /// `yes` gives the admin role, anything else takes it away.
    #[serde(default)]
    admin: String,
    back: Option<String>,
}

/// Gives or takes the admin role. The service ends the user's sessions and
/// refuses to take the role from the last administrator (409).
async fn post_roles(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ctx: AuditCtx,
    Path(id): Path<String>,
    CsrfForm { form, .. }: CsrfForm<RolesForm>,
) -> Result<Response, HtmlError> {
    // Validated before the change is made (CWE-93).
    let back = back_to(form.back.as_deref())?;
    let roles: Vec<String> = if form.admin == "yes" { vec!["admin".into()] } else { Vec::new() };
    state.accounts.set_roles(&ctx.context(&admin.user_id), &id, &roles).await?;
    Ok(Redirect::to(&back).into_response())
}
