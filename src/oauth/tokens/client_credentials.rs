//! The client credentials grant (RFC 6749 §4.4): a token for the client
//! itself, never an ID token or a refresh token. [`granted_scope`] is the
//! pure scope rule.
use super::api::{ADMIN_ROLE, ApiScope, scope_for_roles};
use super::minting::Origin;
use super::{TokenResponse, Tokens};
use crate::oauth::clients::Client;
use crate::oauth::error::{ErrorCode, GrantError, OAuthError};
use crate::oauth::scope::Scope;

/// Scopes that only make sense for a user: no client gets them for itself.
fn user_only(scope: &str) -> bool {
    matches!(scope, "openid" | "offline_access" | "account")
}

/// The scope a client credentials token carries: what was `asked`, or by
/// default everything the client may have except the user-only scopes. Each
/// asked scope must be the client's and not user-only (`invalid_scope`).
pub fn granted_scope(client_scope: &Scope, asked: Option<&Scope>) -> Result<Scope, OAuthError> {
    let asked = match asked {
        Some(asked) => asked.clone(),
        None => client_scope.without(user_only),
    };
    if let Some(bad) = asked.iter().find(|s| !client_scope.contains(s) || user_only(s)) {
        return Err(OAuthError::new(ErrorCode::InvalidScope, format!("scope {bad} is not available to this client")));
    }
    Ok(asked)
}

impl Tokens {
    /// RFC 6749 §4.4: a token for the client itself, issued at `now`.
    pub(super) async fn client_credentials(
        &self,
        client: &Client,
        asked: Option<&Scope>,
        now: i64,
    ) -> Result<TokenResponse, GrantError> {
        let scope = granted_scope(&client.scope, asked)?;
        // `admin` reaches a client's own token only with the admin service role.
        let scope = match asked {
            Some(_) if scope.contains(ApiScope::Admin.as_str()) && !client.has_service_role(ADMIN_ROLE) => {
                let why = "scope admin needs the client's admin service role";
                return Err(OAuthError::new(ErrorCode::InvalidScope, why).into());
            }
            _ => scope_for_roles(&scope, &client.service_roles).to_string(),
        };
        let mut conn = self.store.conn().await?;
        let access_token =
            self.access_token(&mut conn.db(), &client.client_id, None, &scope, None, Origin::default(), now).await?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.settings.access_secs,
            scope,
            id_token: None,
            refresh_token: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_scope_is_the_clients_without_user_only_scopes_rfc_6749_4_4() {
        let mine = Scope::words("openid api:read api:write offline_access");
        assert_eq!(granted_scope(&mine, None).unwrap().to_string(), "api:read api:write");
        assert_eq!(granted_scope(&mine, Some(&Scope::words("api:read"))).unwrap().to_string(), "api:read");
    }

    #[test]
    fn a_scope_the_client_lacks_or_a_user_only_scope_is_invalid_scope_rfc_6749_5_2() {
        let mine = Scope::words("openid api:read");
        for bad in ["api:write", "openid", "api:read offline_access"] {
            let e = granted_scope(&mine, Some(&Scope::words(bad))).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidScope, "{bad}");
        }
    }
}
