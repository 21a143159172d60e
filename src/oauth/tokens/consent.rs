//! Consent: the scopes a user has allowed a client (OIDC Core §3.1.2.4),
//! checked by the authorize decision and added to on approval, with a
//! `consent_granted` audit event in the same transaction.
use serde_json::json;

use super::Tokens;
use crate::oauth::error::GrantError;
use crate::oauth::scope::Scope;
use crate::security::audit::{self, AuditAction};

impl Tokens {
    /// Whether `user_id` has already allowed `client_id` every scope in `scope`.
    pub async fn consent_covers(&self, user_id: &str, client_id: &str, scope: &Scope) -> Result<bool, GrantError> {
        let granted = self.store.conn().await?.db().consent(user_id, client_id).await?.unwrap_or_default();
        Ok(scope.is_subset(&Scope::words(&granted)))
    }

    /// Records that the user allowed `scope`, added to what they allowed
    /// before (in one transaction, so concurrent approvals lose nothing),
    /// with its audit event by `ctx`.
    pub async fn grant_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scope: &Scope,
        ctx: &audit::Context,
    ) -> Result<(), GrantError> {
        let now = self.clock.unix();
        let mut tx = self.store.begin().await?;
        let before = Scope::words(&tx.db().consent(user_id, client_id).await?.unwrap_or_default());
        let all = before.union(scope);
        tx.db().save_consent(user_id, client_id, &all.to_string(), now).await?;
        let detail = json!({ "client_id": client_id, "scope": scope.to_string() });
        audit::append(&mut tx.db(), &ctx.event(AuditAction::ConsentGranted, client_id).with_detail(detail), now)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
