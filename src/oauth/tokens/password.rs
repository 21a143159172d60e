//! The resource-owner password grant (RFC 6749 §4.3), the client side and
//! the minting; whether the user may is `accounts`' answer, asked by the
//! token endpoint in between (`accounts` and `oauth` do not know each
//! other). RFC 9700 §2.4: the grant MUST NOT be used; gatehouse keeps it
//! for confidential clients an operator allowed it, for apps that cannot
//! redirect yet. The client is checked first, so a client not allowed the
//! grant spends no lockout counter.
use super::minting::{Grant, Origin};
use super::{TokenResponse, Tokens, settle};
use crate::oauth::clients::{Client, GrantType};
use crate::oauth::error::{ErrorCode, GrantError, OAuthError};
use crate::oauth::scope::Scope;

/// The `amr` of a password-grant token (RFC 8176 `pwd`).
const AMR: &str = "pwd";

/// The scope a password grant of `client` carries: what was `asked` (each
/// one the client's, else `invalid_scope`), or by default the client's whole
/// scope. `admin` is then cut to the user's roles when minting.
pub fn password_scope(client: &Client, asked: Option<&Scope>) -> Result<Scope, OAuthError> {
    let Some(asked) = asked else { return Ok(client.scope.clone()) };
    if let Some(bad) = asked.iter().find(|s| !client.scope.contains(s)) {
        return Err(OAuthError::new(ErrorCode::InvalidScope, format!("scope {bad} is not available to this client")));
    }
    Ok(asked.clone())
}

impl Tokens {
    /// The client's half of a password grant: the client is registered for
    /// it (and confidential; RFC 6749 §4.3.2, §5.2 `unauthorized_client`)
    /// and may have the scope asked. Returns the scope to grant.
    pub fn password_client(&self, client: &Client, asked: Option<&Scope>) -> Result<Scope, GrantError> {
        if !client.may_use(GrantType::Password) {
            return Err(
                OAuthError::new(ErrorCode::UnauthorizedClient, "this client may not use the password grant").into()
            );
        }
        Ok(password_scope(client, asked)?)
    }

    /// Tokens for `user_id`, whom `accounts` let through with their password:
    /// an access token, a refresh token with `offline_access` (when the
    /// client has the refresh grant; no browser session holds it), an ID
    /// token with `openid`, like the code grant.
    pub async fn password_tokens(
        &self,
        client: &Client,
        user_id: &str,
        scope: &Scope,
    ) -> Result<TokenResponse, GrantError> {
        let now = self.clock.unix();
        let mut tx = self.store.begin().await?;
        // The user's row lock, in the order revocations take it.
        tx.db().lock_user(user_id).await?;
        let user = tx.db().find_user(user_id).await?.filter(|u| !u.blocked);
        let Some(user) = user else {
            return Err(GrantError::invalid_grant("the user can no longer sign in"));
        };
        let grant = Grant::new(&user, None, &scope.to_string(), now, AMR);
        let issued = async {
            let family = self.refresh_family_for(&mut tx.db(), client, &grant, None, None, now).await?;
            let (family_id, refresh) = family.unzip();
            let origin = Origin { code_id: None, family_id: family_id.as_deref(), session_id: None };
            self.user_tokens(&mut tx.db(), client, &grant, origin, refresh, now).await
        }
        .await;
        settle(tx, issued).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::clients::test_row as row;

    fn client(public: bool, grants: &str) -> Client {
        let mut r = row(public, &["https://rp.example/cb"], &[]);
        r.grant_types = grants.into();
        r.scope = "openid profile offline_access account".into();
        Client::from_row(&r)
    }

    #[test]
    fn only_a_confidential_client_allowed_the_grant_may_use_it_rfc_6749_4_3_2() {
        assert!(client(false, "authorization_code password").may_use(GrantType::Password));
        assert!(!client(false, "authorization_code refresh_token").may_use(GrantType::Password), "off by default");
        assert!(!client(true, "authorization_code password").may_use(GrantType::Password), "public client");
    }

    #[test]
    fn the_scope_is_what_was_asked_within_the_clients_rfc_6749_3_3() {
        let c = client(false, "password");
        assert_eq!(password_scope(&c, None).unwrap().to_string(), c.scope.to_string());
        assert_eq!(password_scope(&c, Some(&Scope::words("openid account"))).unwrap().to_string(), "openid account");
        let e = password_scope(&c, Some(&Scope::words("openid admin"))).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidScope);
    }
}
