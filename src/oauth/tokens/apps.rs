//! Connected apps: per client, what the user allowed it (consent) and the
//! tokens it holds now; and revoking one app, which removes the consent and
//! stops every access and refresh token of that client for the user at once
//! (one transaction under the user's row lock, like every revocation, so a
//! refresh racing it either comes first and is revoked too, or is refused).
use serde_json::json;

use super::Tokens;
use crate::oauth::error::GrantError;
use crate::oauth::scope::Scope;
use crate::security::audit::{self, AuditAction};

/// One connected app.
#[derive(Debug, Clone)]
pub struct ConnectedApp {
    pub client_id: String,
    /// "" when the client no longer exists.
    pub client_name: String,
    /// The consented scopes (empty when the app only holds tokens).
    pub scope: Scope,
    /// When the consent was last given or widened.
    pub consented_at: Option<i64>,
    /// Live access tokens.
    pub access_tokens: i64,
    /// Live refresh tokens.
    pub refresh_tokens: i64,
    /// When the newest live token was issued, if any.
    pub newest_token_at: Option<i64>,
}

impl Tokens {
    /// The user's connected apps, by client id: every client with a consent
    /// or a live token of the user.
    pub async fn connected_apps(&self, user_id: &str) -> Result<Vec<ConnectedApp>, GrantError> {
        let now = self.clock.unix();
        let mut conn = self.store.conn().await?;
        let mut apps: Vec<ConnectedApp> = conn
            .db()
            .user_consents(user_id)
            .await?
            .into_iter()
            .map(|c| ConnectedApp {
                client_id: c.client_id,
                client_name: c.client_name.unwrap_or_default(),
                scope: Scope::words(&c.scope),
                consented_at: Some(c.updated_at),
                access_tokens: 0,
                refresh_tokens: 0,
                newest_token_at: None,
            })
            .collect();
        let access = conn.db().user_live_access(user_id, now).await?;
        let refresh = conn.db().user_live_refresh(user_id, now).await?;
        // Access tokens record their expiry; every one lives `access_secs`.
        let issued = |t: &crate::store::LiveTokensRow, is_access: bool| {
            if is_access { t.newest - self.settings.access_secs } else { t.newest }
        };
        for (rows, is_access) in [(access, true), (refresh, false)] {
            for t in rows {
                let i = match apps.iter().position(|a| a.client_id == t.client_id) {
                    Some(i) => i,
                    None => {
                        let name = conn.db().find_client(&t.client_id).await?.map(|c| c.name).unwrap_or_default();
                        apps.push(ConnectedApp {
                            client_id: t.client_id.clone(),
                            client_name: name,
                            scope: Scope::default(),
                            consented_at: None,
                            access_tokens: 0,
                            refresh_tokens: 0,
                            newest_token_at: None,
                        });
                        apps.len() - 1
                    }
                };
                let at = issued(&t, is_access);
                let app = &mut apps[i];
                if is_access {
                    app.access_tokens = t.live;
                } else {
                    app.refresh_tokens = t.live;
                }
                app.newest_token_at = Some(app.newest_token_at.map_or(at, |n| n.max(at)));
            }
        }
        apps.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        Ok(apps)
    }

    /// Revokes the app `client_id` for the user (see the module docs),
    /// audited as `token_revoked`. False when the user had no consent and no
    /// live token of that client (nothing to revoke).
    pub async fn revoke_app(&self, ctx: &audit::Context, user_id: &str, client_id: &str) -> Result<bool, GrantError> {
        let now = self.clock.unix();
        let mut tx = self.store.begin().await?;
        tx.db().lock_user(user_id).await?;
        let live = tx.db().user_live_access(user_id, now).await?.iter().any(|t| t.client_id == client_id)
            || tx.db().user_live_refresh(user_id, now).await?.iter().any(|t| t.client_id == client_id);
        let (consent, revoked) = tx.db().revoke_user_client(user_id, client_id, now).await?;
        if !consent && !live {
            return Ok(false);
        }
        let detail = json!({ "client_id": client_id, "app": "revoked", "consent": consent, "revoked": revoked });
        audit::append(&mut tx.db(), &ctx.event(AuditAction::TokenRevoked, user_id).with_detail(detail), now).await?;
        tx.commit().await?;
        tracing::info!(user_id, client_id, revoked, "connected app revoked");
        Ok(true)
    }
}
