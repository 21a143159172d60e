//! Who a JSON API call acts for (RFC 6750): the bearer access token checked
//! as `/userinfo` checks it (signature, issuer, expiry, revocation, a user
//! who can still sign in), then the roles and the client read fresh on
//! every call, so a demoted admin's or a narrowed client's live token stops
//! at once. [`api_access`] is the pure rule.
use serde_json::Value;

use super::Tokens;
use crate::oauth::clients::Client;
use crate::oauth::error::{ErrorCode, GrantError, OAuthError};
use crate::oauth::scope::Scope;
use crate::security::audit::{self, AuditAction};

/// The two API scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiScope {
    /// The token's user acts on their own account (`/api/v1/me…`).
    Account,
    /// Management: the user holds the `admin` role, or the client the
    /// `admin` service role.
    Admin,
}

impl ApiScope {
    /// The scope name a token carries.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Admin => "admin",
        }
    }
}

/// The role that the `admin` scope needs, on the user or as a service role.
pub const ADMIN_ROLE: &str = "admin";

/// The caller behind a live API token.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The token's user; `None` for a client's own (`client_credentials`) token.
    pub user_id: Option<String>,
    /// The client the token was issued to, as registered now.
    pub client: Client,
    /// The token's scope.
    pub scope: Scope,
    /// The user's roles now, or the client's service roles.
    pub roles: Vec<String>,
    /// The token's `jti`.
    pub jti: String,
}

impl Principal {
    /// The audit actor: the user, or the client acting for itself.
    pub fn actor(&self) -> &str {
        self.user_id.as_deref().unwrap_or(&self.client.client_id)
    }

    /// The IP rule scopes that apply to this caller getting back in: every
    /// request (global), its client's (at `/token`), and for a user each of
    /// their roles (at sign-in). A change to the rules must leave the
    /// caller's address passing each of them.
    pub fn ip_scopes(&self) -> Vec<crate::security::ip_rules::Scope> {
        use crate::security::ip_rules::Scope;
        let mut out = vec![Scope::Global, Scope::Client(self.client.client_id.clone())];
        if self.user_id.is_some() {
            out.extend(self.roles.iter().map(|r| Scope::Role(r.clone())));
        }
        out
    }
}

/// RFC 6750 §3.1: whether `p` may use routes of `need`; the refusal is
/// `insufficient_scope` (the token is good, it does not reach this route).
/// - `account`: a user's token with the `account` scope.
/// - `admin`: the `admin` scope, and the `admin` role held now by the user
///   (or the client, for its own token).
///
/// Either way the client must still be allowed the scope: the API is off
/// for a client unless its registration lists the scope.
pub fn api_access(p: &Principal, need: ApiScope) -> Result<(), OAuthError> {
    let scope = need.as_str();
    let refuse = |why: &str| Err(OAuthError::new(ErrorCode::InsufficientScope, why.to_owned()));
    if !p.scope.contains(scope) || !p.client.scope.contains(scope) {
        return refuse(&format!("this route needs an access token with the {scope} scope"));
    }
    match need {
        ApiScope::Account if p.user_id.is_none() => refuse("this route acts on a user's own account"),
        ApiScope::Admin if !p.roles.iter().any(|r| r == ADMIN_ROLE) => refuse("this route needs the admin role"),
        _ => Ok(()),
    }
}

/// Whether `p` may delete the client `client_id`: not the client its own
/// token was issued to (that would end the caller's access mid-task, as
/// an administrator may not block their own account).
pub fn may_delete_client(p: &Principal, client_id: &str) -> bool {
    p.client.client_id != client_id
}

/// Scopes a user's token carries only while the user holds a role: `admin`
/// needs [`ADMIN_ROLE`]. Applied when tokens are minted (codes, refresh)
/// and again on every API call.
pub fn scope_for_roles(scope: &Scope, roles: &[String]) -> Scope {
    let admin = roles.iter().any(|r| r == ADMIN_ROLE);
    scope.without(|s| s == ApiScope::Admin.as_str() && !admin)
}

impl Tokens {
    /// The caller behind `bearer` now; a token that is not live (or whose
    /// user is blocked or gone, or whose client is gone) is `invalid_token`.
    pub async fn api_principal(&self, bearer: &str) -> Result<Principal, GrantError> {
        let now = self.clock.unix();
        let claims = self.access_token_claims(bearer, now)?;
        let jti = claims.get("jti").and_then(Value::as_str).unwrap_or_default().to_owned();
        let mut conn = self.store.conn().await?;
        let mut db = conn.db();
        let Some(access) = db.live_access(&jti, now).await? else {
            return Err(GrantError::invalid_token("the access token has been revoked"));
        };
        let Some(row) = db.find_client(&access.client_id).await? else {
            return Err(GrantError::invalid_token("the access token's client no longer exists"));
        };
        let client = Client::from_row(&row);
        let roles = match &access.user_id {
            Some(_) if db.live_access_user(&jti, now).await?.is_none() => {
                return Err(GrantError::invalid_token("the access token's user can no longer sign in"));
            }
            Some(user_id) => db.user_roles(user_id).await?,
            None => client.service_roles.clone(),
        };
        Ok(Principal { user_id: access.user_id, client, scope: Scope::words(&access.scope), roles, jti })
    }

    /// Records one authenticated API call (`api_call`: the route template,
    /// never the raw path, and the answer's status) in its own transaction.
    pub async fn note_api_call(
        &self,
        ctx: &audit::Context,
        method: &str,
        route: &str,
        status: u16,
    ) -> Result<(), GrantError> {
        let detail = serde_json::json!({ "method": method, "route": route, "status": status });
        audit::record(&self.store, &ctx.event(AuditAction::ApiCall, "").with_detail(detail), self.clock.unix()).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::clients::test_row as row;

    fn principal(user: bool, token_scope: &str, client_scope: &str, roles: &[&str]) -> Principal {
        let mut r = row(false, &["https://rp.example/cb"], &[]);
        r.scope = client_scope.into();
        Principal {
            user_id: user.then(|| "u1".to_owned()),
            client: Client::from_row(&r),
            scope: Scope::words(token_scope),
            roles: roles.iter().map(|s| (*s).to_owned()).collect(),
            jti: "j".into(),
        }
    }

    #[test]
    fn a_token_without_the_scope_is_insufficient_scope_rfc_6750_3_1() {
        let p = principal(true, "openid", "openid account admin", &["user", "admin"]);
        for need in [ApiScope::Account, ApiScope::Admin] {
            assert_eq!(api_access(&p, need).unwrap_err().code, ErrorCode::InsufficientScope);
        }
        let both = principal(true, "account admin", "openid account admin", &["user", "admin"]);
        assert!(api_access(&both, ApiScope::Account).is_ok());
        assert!(api_access(&both, ApiScope::Admin).is_ok());
    }

    #[test]
    fn admin_needs_the_role_now_not_just_the_scope() {
        let demoted = principal(true, "account admin", "account admin", &["user"]);
        assert!(api_access(&demoted, ApiScope::Admin).is_err());
        assert!(api_access(&demoted, ApiScope::Account).is_ok());
        let service = principal(false, "admin", "admin", &["admin"]);
        assert!(api_access(&service, ApiScope::Admin).is_ok());
        assert!(api_access(&principal(false, "admin", "admin", &[]), ApiScope::Admin).is_err());
    }

    #[test]
    fn the_api_is_off_for_a_client_not_allowed_the_scope() {
        let narrowed = principal(true, "account", "openid", &["user"]);
        assert!(api_access(&narrowed, ApiScope::Account).is_err());
    }

    #[test]
    fn a_clients_own_token_has_no_account() {
        let service = principal(false, "account", "account", &["admin"]);
        assert!(api_access(&service, ApiScope::Account).is_err());
    }

    #[test]
    fn a_caller_keeps_the_client_of_its_own_token() {
        let p = principal(false, "admin", "admin", &["admin"]);
        assert!(!may_delete_client(&p, &p.client.client_id));
        assert!(may_delete_client(&p, "another"));
    }

    #[test]
    fn the_admin_scope_is_minted_only_for_admins() {
        let asked = Scope::words("openid account admin");
        assert_eq!(scope_for_roles(&asked, &["user".into()]).to_string(), "openid account");
        assert_eq!(scope_for_roles(&asked, &["admin".into()]).to_string(), "openid account admin");
    }
}
