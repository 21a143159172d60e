//! Refresh tokens (RFC 6749 §6, OIDC Core §11): families, rotation on
//! every use, replay detection (a spent token revokes its family, audited
//! as `refresh_replayed`), and the pure rules ([`gets_refresh`],
//! [`refresh_live`], scope narrowing through [`Scope::narrow`]).
use serde_json::json;

use super::minting::{Grant, Origin};
use super::{TokenResponse, Tokens, settle};
use crate::oauth::clients::{Client, GrantType};
use crate::oauth::error::{ErrorCode, GrantError, OAuthError};
use crate::oauth::scope::Scope;
use crate::security::audit::{self, AuditAction};
use crate::security::token;
use crate::store::{self, Db, NewRefresh, RefreshRow};

const REFUSED: &str = "refresh token is invalid, expired or revoked";

/// Whether a grant of `scope` gets a refresh token: the client must be
/// registered for refresh, and a grant without `offline_access` (OIDC Core
/// §11) is bound to its browser session, so without one it gets none.
pub fn gets_refresh(client: &Client, scope: &Scope, has_session: bool) -> bool {
    client.grant_types.contains(GrantType::RefreshToken) && (scope.contains("offline_access") || has_session)
}

/// Whether a spent refresh token was still within its idle and absolute
/// lifetimes at `now`.
pub fn refresh_live(row: &RefreshRow, now: i64) -> bool {
    row.expires_at > now && row.family_expires_at > now
}

impl Tokens {
    /// RFC 6749 §6: a new access token (and a new refresh token: the old one
    /// is spent). Replaying a spent token revokes its whole family; so does
    /// losing a race for the same token (exactly one concurrent use wins). A
    /// token that is not `offline_access` works only while its browser session
    /// is live. Spending and issuing are one transaction under the user's row
    /// lock, which revocations take too: a revocation racing a refresh either
    /// comes first (the refresh is refused) or also revokes the new token.
    pub(super) async fn refresh(
        &self,
        client: &Client,
        presented: &str,
        scope: Option<&Scope>,
        ctx: &audit::Context,
        now: i64,
    ) -> Result<TokenResponse, GrantError> {
        let hash = token::hash_secret(presented);
        let mut tx = self.store.begin().await?;
        // Another client's token is refused without spending it.
        let Some(found) = tx.db().find_refresh(&hash).await?.filter(|r| r.client_id == client.client_id) else {
            return Err(GrantError::invalid_grant(REFUSED));
        };
        tx.db().lock_user(&found.user_id).await?;
        let outcome = self.refresh_locked(&mut tx.db(), client, &hash, scope, ctx, now).await;
        settle(tx, outcome).await
    }

    async fn refresh_locked(
        &self,
        db: &mut Db<'_>,
        client: &Client,
        hash: &str,
        scope: Option<&Scope>,
        ctx: &audit::Context,
        now: i64,
    ) -> Result<TokenResponse, GrantError> {
        let Some(row) = db.spend_refresh(hash, now).await? else {
            if let Some(old) = db.find_refresh(hash).await? {
                let revoked = db.revoke_family(&old.family_id, now).await?;
                let detail = json!({ "client_id": old.client_id, "family_id": old.family_id, "revoked": revoked });
                let event = ctx.event(AuditAction::RefreshReplayed, &old.user_id).with_detail(detail);
                audit::append(db, &event, now).await?;
                tracing::warn!(client_id = %old.client_id, revoked, "spent refresh token replayed; family revoked");
            }
            return Err(GrantError::invalid_grant(REFUSED));
        };
        if !refresh_live(&row, now) {
            return Err(GrantError::invalid_grant(REFUSED));
        }
        // OIDC Core §11: only offline_access outlives the browser session.
        if !row.offline {
            let idle_after = now - self.settings.session_idle_secs;
            let live = match row.session_id.as_deref() {
                Some(sid) => db.touch_live_session(sid, now, idle_after).await?,
                None => false,
            };
            if !live {
                db.revoke_family(&row.family_id, now).await?;
                return Err(GrantError::invalid_grant("the sign-in this refresh token belongs to has ended"));
            }
        }
        let user = db.find_user(&row.user_id).await?;
        let Some(user) = user.filter(|u| !u.blocked) else {
            db.revoke_family(&row.family_id, now).await?;
            return Err(GrantError::invalid_grant("the user can no longer sign in"));
        };
        // RFC 6749 §6: the scope may narrow, never widen.
        let granted = Scope::words(&row.scope);
        let scope = granted.narrow(scope).map_err(|extra| {
            GrantError::from(OAuthError::new(ErrorCode::InvalidScope, format!("scope {extra} was not granted")))
        })?;
        // OIDC Core §12.2: an ID token from a refresh carries no nonce.
        let grant = Grant { scope, ..Grant::new(&user, row.session_id.as_deref(), "", row.auth_time, &row.amr) };
        // The new refresh token keeps the original (full) scope of the family.
        let keep = Grant { scope: granted, ..grant.clone() };
        let family = self
            .refresh_family_for(db, client, &keep, None, Some((&row.family_id, row.family_expires_at)), now)
            .await?;
        let origin = Origin { code_id: None, family_id: Some(&row.family_id), session_id: None };
        self.user_tokens(db, client, &grant, origin, family.map(|(_, t)| t), now).await
    }

    /// Starts (or continues) a refresh family if the grant gets one (see
    /// [`gets_refresh`]); returns (family id, token).
    pub(super) async fn refresh_family_for(
        &self,
        db: &mut Db<'_>,
        client: &Client,
        grant: &Grant<'_>,
        code_id: Option<&str>,
        family: Option<(&str, i64)>,
        now: i64,
    ) -> Result<Option<(String, String)>, GrantError> {
        if !gets_refresh(client, &grant.scope, grant.session_id.is_some()) {
            return Ok(None);
        }
        let (family_id, family_expires_at) = match family {
            Some((id, expires)) => (id.to_owned(), expires),
            None => (store::new_id(), now + self.settings.refresh_absolute_secs),
        };
        let token = token::new_secret();
        db.insert_refresh(&NewRefresh {
            id: &store::new_id(),
            token_hash: &token::hash_secret(&token),
            family_id: &family_id,
            code_id,
            client_id: &client.client_id,
            user_id: &grant.user.id,
            session_id: grant.session_id,
            scope: &grant.scope.to_string(),
            auth_time: grant.auth_time,
            amr: grant.amr,
            now,
            expires_at: (now + self.settings.refresh_idle_secs).min(family_expires_at),
            family_expires_at,
            offline: grant.scope.contains("offline_access"),
        })
        .await?;
        Ok(Some((family_id, token)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::clients::GrantTypes;

    const NOW: i64 = 1_767_225_600;

    fn client(grants: &[GrantType]) -> Client {
        Client {
            client_id: "rp".into(),
            name: "RP".into(),
            public: false,
            skip_consent: false,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            grant_types: GrantTypes::of(grants.iter().copied()),
            scope: Scope::words("openid offline_access"),
            web_origins: vec![],
            resource_audiences: vec![],
            service_roles: vec![],
            created_at: 0,
        }
    }

    #[test]
    fn offline_access_or_a_session_gets_a_refresh_token_oidc_core_11() {
        let both = client(&[GrantType::AuthorizationCode, GrantType::RefreshToken]);
        assert!(gets_refresh(&both, &Scope::words("openid offline_access"), false));
        assert!(gets_refresh(&both, &Scope::words("openid"), true));
        assert!(!gets_refresh(&both, &Scope::words("openid"), false));
        let no_refresh = client(&[GrantType::AuthorizationCode]);
        assert!(!gets_refresh(&no_refresh, &Scope::words("openid offline_access"), true));
    }

    #[test]
    fn a_refresh_token_lives_within_its_idle_and_family_lifetimes_rfc_6749_6() {
        let row = |expires_at, family_expires_at| RefreshRow {
            id: "r".into(),
            family_id: "f".into(),
            client_id: "rp".into(),
            user_id: "u".into(),
            session_id: None,
            scope: "openid".into(),
            auth_time: NOW,
            amr: "pwd".into(),
            created_at: NOW - 10,
            expires_at,
            family_expires_at,
            used_at: None,
            revoked_at: None,
            offline: true,
        };
        assert!(refresh_live(&row(NOW + 1, NOW + 100), NOW));
        assert!(!refresh_live(&row(NOW, NOW + 100), NOW), "idle lifetime over");
        assert!(!refresh_live(&row(NOW + 100, NOW), NOW), "family lifetime over");
    }

    #[test]
    fn a_refresh_may_narrow_the_scope_never_widen_it_rfc_6749_6() {
        let granted = Scope::words("openid email offline_access");
        assert_eq!(granted.narrow(Some(&Scope::words("email"))).unwrap().to_string(), "email");
        assert_eq!(granted.narrow(Some(&Scope::words("email admin"))).unwrap_err(), "admin");
    }
}
