//! The account centre's own-account services beyond the `/account` page's
//! forms: the display name with a version check (`If-Match`), sessions and
//! sign-in activity a page at a time, and deleting one's own account with
//! the password (mailed to the owner). The JSON API and the pages call
//! these; the export is in `export.rs`.
use secrecy::SecretString;
use serde_json::json;

use super::{Account, Accounts, CurrentUser, Error, Result, SessionInfo, User, recovery::greeting_name};
use crate::mail::Mail;
use crate::security::audit::{self, AuditAction, Context};

/// One sign-in attempt with its id (the page key).
#[derive(Debug, Clone)]
pub struct SignInRecord {
    pub id: String,
    pub at: i64,
    /// The stored outcome (`success`, `wrong_password` …).
    pub outcome: String,
    pub method: String,
    pub ip: String,
    pub user_agent: String,
}

impl Accounts {
    /// Sets the display name if the account is still at version `if_match`
    /// (`Error::Stale` otherwise; compared inside the update's transaction),
    /// audited as `profile_changed`; returns the account as it now is.
    pub async fn set_display_name_if(
        &self,
        ctx: &Context,
        user_id: &str,
        raw: &str,
        if_match: Option<&str>,
    ) -> Result<Account> {
        let name = super::names::parse_display_name(raw).map_err(|m| Error::field("display_name", m))?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.db().lock_user(user_id).await?;
        let row = tx.db().find_user(user_id).await?.ok_or(Error::UnknownUser)?;
        let roles = tx.db().user_roles(user_id).await?;
        let current = User::from(row);
        if let Some(given) = if_match
            && !crate::wire::if_match(given, &current.etag(&roles))
        {
            return Err(Error::Stale);
        }
        tx.db().set_display_name(user_id, &name, now).await?;
        let event = ctx.event(AuditAction::ProfileChanged, user_id).with_detail(json!({
            "field": "display_name",
            "cleared": name.is_empty(),
        }));
        audit::append(&mut tx.db(), &event, now).await?;
        tx.commit().await?;
        Ok(Account { user: User { display_name: name, ..current }, roles })
    }

    /// Up to `limit` of the user's live sessions after the page key `after`
    /// (created_at, id), newest first.
    pub async fn sessions_page(
        &self,
        user_id: &str,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<SessionInfo>> {
        let now = self.now();
        let idle_after = now - self.session.idle_timeout_secs;
        let key = after.as_ref().map(|(at, id)| (*at, id.as_str()));
        let rows = self.store.conn().await?.db().user_sessions_page(user_id, now, idle_after, key, limit).await?;
        Ok(rows.into_iter().map(SessionInfo::from).collect())
    }

    /// Up to `limit` of the user's sign-in attempts after the page key
    /// `after` (at, id), newest first.
    pub async fn activity_page(
        &self,
        user_id: &str,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<SignInRecord>> {
        let key = after.as_ref().map(|(at, id)| (*at, id.as_str()));
        let rows = self.store.conn().await?.db().activity_page(user_id, key, limit).await?;
        Ok(rows
            .into_iter()
            .map(|a| SignInRecord {
                id: a.id,
                at: a.at,
                outcome: a.outcome,
                method: a.method,
                ip: a.ip,
                user_agent: a.user_agent,
            })
            .collect())
    }

    /// The owner deletes their own account: the password first (a wrong one
    /// counts toward the lockout like every confirmation form, and is a 422
    /// on `password`), then [`Accounts::delete_user`]'s lifecycle, with a
    /// mail to the owner queued in the same transaction. An account without
    /// a password (made by an upstream sign-in) cannot prove itself here: it
    /// is deleted from the account page after a fresh sign-in. The last
    /// administrator cannot delete themselves (`Error::LastAdmin`).
    pub async fn delete_own_account(&self, ctx: &Context, user_id: &str, password: &SecretString) -> Result<()> {
        let user = self.store.conn().await?.db().find_user(user_id).await?.ok_or(Error::UnknownUser)?;
        if user.password_hash.is_none() {
            return Err(Error::field(
                "password",
                "This account has no password; delete it on the account page after signing in again.",
            ));
        }
        self.confirm_password(&user, password, "password", ctx).await?;
        let mail = (!user.email.is_empty()).then(|| {
            (user.email.clone(), Mail::AccountDeleted { name: greeting_name(&user), username: user.username.clone() })
        });
        self.delete_user_mailing(user_id, ctx, mail).await?;
        Ok(())
    }

    /// An account without a password deletes itself after a recent
    /// (upstream) sign-in of the session `who` ([`Accounts::recently_authenticated`]);
    /// otherwise as [`Accounts::delete_own_account`]. An account with a
    /// password must give it.
    pub async fn delete_own_account_recent(&self, ctx: &Context, who: &CurrentUser) -> Result<()> {
        let user_id = who.user_id.as_str();
        let user = self.store.conn().await?.db().find_user(user_id).await?.ok_or(Error::UnknownUser)?;
        if user.password_hash.is_some() {
            return Err(Error::field("password", "Enter your current password."));
        }
        if !self.recently_authenticated(who) {
            return Err(Error::field("password", "Sign in again first, then delete the account."));
        }
        let mail = (!user.email.is_empty()).then(|| {
            (user.email.clone(), Mail::AccountDeleted { name: greeting_name(&user), username: user.username.clone() })
        });
        self.delete_user_mailing(user_id, ctx, mail).await?;
        Ok(())
    }
}
