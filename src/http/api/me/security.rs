//! Password and address changes over the API: the `/account` forms'
//! services, with the same confirmation rules (a wrong current password
//! counts toward the lockout and the per-address delay, and is a 422 on its
//! field).
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use super::super::{AccountCaller, ApiJson, Problem};
use crate::accounts;
use crate::app::AppState;

/// A password change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    #[schema(value_type = String, format = Password)]
    pub current_password: SecretString,
    /// Checked against the password policy.
    #[schema(value_type = String, format = Password)]
    pub new_password: SecretString,
}

/// Change your password; every session ends (and the tokens issued in them).
#[utoipa::path(
    post, path = "/api/v1/me/password", tag = "account",
    security(("bearer" = ["account"])),
    request_body = PasswordChange,
    responses((status = 204, description = "The password is changed")),
)]
pub async fn post_password(
    State(state): State<AppState>,
    me: AccountCaller,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<Response, Problem> {
    let (current, new) = (&body.current_password, &body.new_password);
    state.accounts.change_password(&me.user_id, current, new, None, None, me.ctx()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// An address change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailChange {
    /// The new address; a confirmation link goes there.
    pub email: String,
    /// Your current password (required when the account has one).
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<SecretString>,
}

/// The page's form fields, as this body names them.
fn api_fields(err: accounts::Error) -> accounts::Error {
    match err {
        accounts::Error::Invalid(fields) => accounts::Error::Invalid(
            fields
                .into_iter()
                .map(|mut f| {
                    f.field = match f.field {
                        "new_email" => "email",
                        "email_password" => "password",
                        other => other,
                    };
                    f
                })
                .collect(),
        ),
        other => other,
    }
}

/// Start an address change: a confirmation link goes to the new address and
/// a notice (with an undo link) to the old one, as on the account page. An
/// account without a password changes its address on the account page.
#[utoipa::path(
    post, path = "/api/v1/me/email", tag = "account",
    security(("bearer" = ["account"])),
    request_body = EmailChange,
    responses((status = 202, description = "The confirmation mail is on its way")),
)]
pub async fn post_email(
    State(state): State<AppState>,
    me: AccountCaller,
    ApiJson(body): ApiJson<EmailChange>,
) -> Result<Response, Problem> {
    let password = body.password.unwrap_or_else(|| SecretString::from(String::new()));
    // No browser sign-in stands behind a token: `recent` is false.
    let asked = state.accounts.request_email_change(&me.user_id, &password, &body.email, false, me.ctx()).await;
    asked.map_err(api_fields)?;
    Ok(StatusCode::ACCEPTED.into_response())
}
