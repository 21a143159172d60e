//! Administrative changes to accounts, one function per action, shared by
//! the console (`http::admin`), the CLI (`gatehouse user …`) and, later, the
//! JSON API: block, unblock, unlock, sign out, set roles, and the console's
//! access check. Each writes its audit event from the caller's [`Context`]
//! (actor, address, user agent, request id) inside the change's own
//! transaction, so no caller writes audit rows and the CLI-made and
//! console-made events have the same shape.
//!
//! Must not import axum or `http`; takes and returns ids and plain values
//! (no store row leaves this module).
use serde_json::json;

use super::{Accounts, CurrentUser, Error, ROLES, Result};
use crate::security::audit::{self, AuditAction, Context};

/// What [`Accounts::admin_access`] decided for a request to the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAccess {
    Granted,
    /// Signed in, without the `admin` role.
    NotAdmin,
    /// From an address the user's role IP rules refuse.
    RefusedAddress,
}

impl AdminAccess {
    fn reason(self) -> &'static str {
        match self {
            Self::Granted => "granted",
            Self::NotAdmin => "not_admin",
            Self::RefusedAddress => "address",
        }
    }
}

impl Accounts {
    /// Blocks an account (ends its sessions and tokens); an administrator
    /// cannot block themselves (`Error::OwnAccount`).
    pub async fn block(&self, ctx: &Context, user_id: &str) -> Result<()> {
        if ctx.actor == user_id {
            return Err(Error::OwnAccount);
        }
        self.set_blocked(user_id, true, ctx).await?;
        tracing::info!(actor = %ctx.actor, user_id, "user blocked");
        Ok(())
    }

    /// Lifts a block.
    pub async fn unblock(&self, ctx: &Context, user_id: &str) -> Result<()> {
        self.set_blocked(user_id, false, ctx).await?;
        tracing::info!(actor = %ctx.actor, user_id, "user unblocked");
        Ok(())
    }

    /// Every session and token of the user ends (an administrator's "sign
    /// out user"); how many sessions ended.
    pub async fn sign_out_user(&self, ctx: &Context, user_id: &str) -> Result<u64> {
        let ended = self.sign_out_everywhere(user_id, ctx).await?;
        tracing::info!(actor = %ctx.actor, user_id, ended, "user signed out everywhere");
        Ok(ended)
    }

    /// Ends a user's sign-in locks (wrong passwords and wrong second-step
    /// codes) before their time runs out. `true` if the account was locked;
    /// only then is `account_unlocked` audited.
    pub async fn unlock(&self, ctx: &Context, user_id: &str) -> Result<bool> {
        let mut tx = self.store.begin().await?;
        if tx.db().find_user(user_id).await?.is_none() {
            return Err(Error::UnknownUser);
        }
        let unlocked = self.clear_locks(&mut tx.db(), user_id).await?;
        if unlocked {
            audit::append(&mut tx.db(), &ctx.event(AuditAction::AccountUnlocked, user_id), self.now()).await?;
        }
        tx.commit().await?;
        tracing::info!(actor = %ctx.actor, user_id, was_locked = unlocked, "account unlocked");
        Ok(unlocked)
    }

    /// Replaces the user's roles; `user` is always kept. The last unblocked
    /// administrator cannot lose `admin` (`Error::LastAdmin`). A change ends
    /// every session of the user, so no live cookie carries a privilege it
    /// was not signed in with (OWASP Session Management Cheat Sheet: renew
    /// the session after any privilege level change). Audited as
    /// `role_changed` with the roles now held, changed or not.
    pub async fn set_roles(&self, ctx: &Context, user_id: &str, roles: &[String]) -> Result<Vec<String>> {
        let wanted = known_roles(roles)?;
        let mut tx = self.store.begin().await?;
        tx.db().lock_admins().await?;
        if tx.db().find_user(user_id).await?.is_none() {
            return Err(Error::UnknownUser);
        }
        let held = self.apply_roles(&mut tx.db(), ctx, user_id, &wanted).await?;
        tx.commit().await?;
        tracing::info!(actor = %ctx.actor, user_id, roles = ?held, "roles set");
        Ok(held)
    }

    /// [`Accounts::set_roles`] inside the caller's transaction, which has
    /// taken `lock_admins` and found the user; `wanted` from [`known_roles`].
    pub(super) async fn apply_roles(
        &self,
        db: &mut crate::store::Db<'_>,
        ctx: &Context,
        user_id: &str,
        wanted: &[&'static str],
    ) -> Result<Vec<String>> {
        let now = self.now();
        if !wanted.contains(&"admin") && self.would_leave_no_admin(db, user_id).await? {
            return Err(Error::LastAdmin);
        }
        let mut wanted = wanted.to_vec();
        let mut before = db.user_roles(user_id).await?;
        before.sort_unstable();
        wanted.sort_unstable();
        if before.iter().map(String::as_str).ne(wanted.iter().copied()) {
            db.lock_user(user_id).await?;
            db.set_user_roles(user_id, &wanted).await?;
            let ended = db.revoke_user_sessions(user_id, None, now).await?;
            tracing::info!(user_id, sessions_ended = ended, "roles changed; sessions ended");
        }
        let event = ctx.event(AuditAction::RoleChanged, user_id).with_detail(json!({ "roles": wanted }));
        audit::append(db, &event, now).await?;
        Ok(wanted.into_iter().map(str::to_owned).collect())
    }

    /// Whether `user` may use the admin console at `path`: the `admin` role,
    /// from an address its role rules allow (`address_allowed`, decided by
    /// the IP policy at the edge). A refusal is audited (`admin_refused`,
    /// with the reason and the path) in a transaction of its own.
    pub async fn admin_access(
        &self,
        ctx: &Context,
        user: &CurrentUser,
        address_allowed: bool,
        path: &str,
    ) -> Result<AdminAccess> {
        // The address first, as on every signed-in page.
        let access = match (address_allowed, user.has_role("admin")) {
            (false, _) => AdminAccess::RefusedAddress,
            (true, false) => AdminAccess::NotAdmin,
            (true, true) => return Ok(AdminAccess::Granted),
        };
        let path: String = path.chars().take(200).collect();
        let event = ctx
            .acting_as(&user.user_id)
            .event(AuditAction::AdminRefused, &user.user_id)
            .with_detail(json!({ "reason": access.reason(), "path": path }));
        audit::record(&self.store, &event, self.now()).await?;
        tracing::info!(user_id = %user.user_id, reason = access.reason(), "admin console refused");
        Ok(access)
    }
}

/// `roles` as known role names, with `user` always among them (422 for an
/// unknown one).
pub(super) fn known_roles(roles: &[String]) -> Result<Vec<&'static str>> {
    let mut wanted: Vec<&'static str> = vec!["user"];
    for role in roles {
        let Some(known) = ROLES.iter().find(|k| **k == role.as_str()) else {
            return Err(Error::field("role", format!("Unknown role {role:?}; use admin or user.")));
        };
        if !wanted.contains(known) {
            wanted.push(known);
        }
    }
    Ok(wanted)
}
