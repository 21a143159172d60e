//! Accounts an operator makes and edits: [`Accounts::create_account`]
//! (`gatehouse user create` and `POST /api/v1/users`), with a password
//! (the address counts as confirmed) or with an invitation mail carrying a
//! set-password link (`Purpose::Invite`); [`Accounts::update_account`]
//! (username, email, display name, roles under an entity tag), and the
//! reset mail an administrator sends.
//!
//! Unlike self-registration, an operator is told when a name or address is
//! taken (`Error::Taken`). Must not import axum or `http`.
use secrecy::SecretString;
use serde_json::json;

use super::admin::known_roles;
use super::recovery::greeting_name;
use super::{Account, Accounts, Error, FieldError, Purpose, Result, User, names};
use crate::mail::Mail;
use crate::security::audit::{self, AuditAction, Context};
use crate::store::{self, Db, NewUser};

/// What an operator gives for a new account.
pub struct NewAccount<'a> {
    pub username: &'a str,
    pub email: &'a str,
    /// `None`: the user is invited to choose one by mail.
    pub password: Option<&'a SecretString>,
    /// Extra roles besides `user`.
    pub roles: &'a [String],
    pub display_name: &'a str,
}

/// Changes to an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AccountChanges {
    pub username: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub roles: Option<Vec<String>>,
}

/// The conflict a unique key answered with.
fn taken(what: &str) -> Error {
    if what.contains("email") { Error::Taken("email") } else { Error::Taken("username") }
}

impl Accounts {
    /// Creates an account from an operator (audited `user_created` with the
    /// roles and whether an invitation went out). Every field is checked
    /// before anything is written (422 per field); a taken username or
    /// address is `Error::Taken`.
    pub async fn create_account(&self, ctx: &Context, n: &NewAccount<'_>) -> Result<Account> {
        let mut errors = Vec::new();
        let username = names::Username::parse(n.username).map_err(|m| errors.push(FieldError::new("username", m))).ok();
        let email = names::Email::parse(n.email).map_err(|m| errors.push(FieldError::new("email", m))).ok();
        let display_name =
            names::parse_display_name(n.display_name).map_err(|m| errors.push(FieldError::new("display_name", m))).ok();
        let policy_input =
            crate::security::policy::Account { username: n.username, email: n.email, display_name: n.display_name };
        if let Some(pw) = n.password
            && let Err(Error::Invalid(mut e)) = self.check_new_password("password", pw, &policy_input)
        {
            errors.append(&mut e);
        }
        if n.password.is_none() && !self.invitations_open() {
            errors.push(FieldError::new(
                "password",
                "Registration is closed, invitations too: give the account a password.".to_owned(),
            ));
        }
        let roles = known_roles(n.roles).map_err(|e| {
            if let Error::Invalid(mut f) = e {
                errors.append(&mut f)
            }
        });
        let (Some(username), Some(email), Some(display_name), Ok(roles), true) =
            (username, email, display_name, roles, errors.is_empty())
        else {
            return Err(Error::Invalid(errors));
        };
        let hash = match n.password {
            Some(pw) => Some(self.passwords.hash(pw).await?),
            None => None,
        };
        let id = store::new_id();
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let new = NewUser {
            id: &id,
            username: &username.display,
            username_key: &username.key,
            email: &email.display,
            email_key: &email.key,
            email_verified: hash.is_some(),
            display_name: &display_name,
            password_hash: hash.as_deref(),
            now,
        };
        match tx.db().insert_user(&new).await {
            Err(store::Error::Conflict(what)) => return Err(taken(&what)),
            other => other?,
        }
        tx.db().set_user_roles(&id, &roles).await?;
        let invited = hash.is_none();
        if invited {
            let user = tx.db().find_user(&id).await?.ok_or(Error::UnknownUser)?;
            let link = self.new_link(&mut tx.db(), &id, Purpose::Invite, "").await?;
            self.outbox.enqueue(&mut tx.db(), &user.email, &Mail::Invite { name: greeting_name(&user), link }).await?;
        }
        let event = ctx.event(AuditAction::UserCreated, &id).with_detail(json!({ "roles": roles, "invited": invited }));
        audit::append(&mut tx.db(), &event, now).await?;
        tx.commit().await?;
        if invited {
            self.outbox.kick();
        }
        tracing::info!(user_id = %id, invited, "account created by an operator");
        self.account(&id).await
    }

    /// Applies `changes` if the account is still at version `if_match` (its
    /// [`Account::etag`], compared inside the transaction: `Error::Stale`
    /// otherwise). Names follow the registration rules (`Error::Taken` when
    /// taken); a new address is unconfirmed until its owner follows the
    /// confirmation link mailed to it, and links sent to the old one die;
    /// roles follow [`Accounts::set_roles`]. Audited per change:
    /// `profile_changed` (username, display name), `email_changed`,
    /// `role_changed`.
    pub async fn update_account(
        &self,
        ctx: &Context,
        user_id: &str,
        if_match: &str,
        changes: &AccountChanges,
    ) -> Result<Account> {
        let mut errors = Vec::new();
        let username = changes.username.as_deref().map(names::Username::parse).transpose();
        let username = username.map_err(|m| errors.push(FieldError::new("username", m))).ok().flatten();
        let email = changes.email.as_deref().map(names::Email::parse).transpose();
        let email = email.map_err(|m| errors.push(FieldError::new("email", m))).ok().flatten();
        let display = changes.display_name.as_deref().map(names::parse_display_name).transpose();
        let display = display.map_err(|m| errors.push(FieldError::new("display_name", m))).ok().flatten();
        let roles = changes.roles.as_deref().map(known_roles).transpose();
        let roles = roles
            .map_err(|e| {
                if let Error::Invalid(mut f) = e {
                    errors.append(&mut f)
                }
            })
            .ok()
            .flatten();
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.db().lock_admins().await?;
        tx.db().lock_user(user_id).await?;
        let row = tx.db().find_user(user_id).await?.ok_or(Error::UnknownUser)?;
        let current = Account { user: User::from(row.clone()), roles: tx.db().user_roles(user_id).await? };
        if !crate::wire::if_match(if_match, &current.etag()) {
            return Err(Error::Stale);
        }
        if let Some(name) = username.filter(|u| u.display != row.username) {
            match tx.db().set_username(user_id, &name.display, &name.key, now).await {
                Err(store::Error::Conflict(what)) => return Err(taken(&what)),
                other => other?,
            }
            self.audit_profile(&mut tx.db(), ctx, user_id, json!({ "field": "username" })).await?;
        }
        if let Some(name) = display.filter(|d| *d != row.display_name) {
            tx.db().set_display_name(user_id, &name, now).await?;
            let detail = json!({ "field": "display_name", "cleared": name.is_empty() });
            self.audit_profile(&mut tx.db(), ctx, user_id, detail).await?;
        }
        if let Some(email) = email.filter(|e| e.display != row.email) {
            self.replace_email(&mut tx.db(), ctx, user_id, &email).await?;
        }
        if let Some(roles) = roles {
            self.apply_roles(&mut tx.db(), ctx, user_id, &roles).await?;
        }
        tx.commit().await?;
        self.outbox.kick();
        tracing::info!(actor = %ctx.actor, user_id, "account updated by an operator");
        self.account(user_id).await
    }

    async fn audit_profile(&self, db: &mut Db<'_>, ctx: &Context, user_id: &str, d: serde_json::Value) -> Result<()> {
        audit::append(db, &ctx.event(AuditAction::ProfileChanged, user_id).with_detail(d), self.now()).await?;
        Ok(())
    }

    /// An operator's new address: unconfirmed, a confirmation mailed to it,
    /// the old address's links voided; audited `email_changed`.
    async fn replace_email(&self, db: &mut Db<'_>, ctx: &Context, user_id: &str, email: &names::Email) -> Result<()> {
        let now = self.now();
        match db.set_email(user_id, &email.display, &email.key, false, now).await {
            Err(store::Error::Conflict(what)) => return Err(taken(&what)),
            other => other?,
        }
        self.void_account_links(db, user_id).await?;
        let user = db.find_user(user_id).await?.ok_or(Error::UnknownUser)?;
        self.queue_confirmation(db, &user).await?;
        let event = ctx.event(AuditAction::EmailChanged, user_id).with_detail(json!({ "by": "operator" }));
        audit::append(db, &event, now).await?;
        Ok(())
    }

    /// An administrator sends the user a password-reset link (audited
    /// `password_reset_sent`). A blocked account gets none (its block voids
    /// reset links): `Error::Blocked`.
    pub async fn send_password_reset(&self, ctx: &Context, user_id: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        tx.db().lock_user(user_id).await?;
        let user = tx.db().find_user(user_id).await?.ok_or(Error::UnknownUser)?;
        if user.blocked {
            return Err(Error::Blocked);
        }
        self.queue_reset(&mut tx.db(), &user).await?;
        audit::append(&mut tx.db(), &ctx.event(AuditAction::PasswordResetSent, user_id), self.now()).await?;
        tx.commit().await?;
        self.outbox.kick();
        tracing::info!(actor = %ctx.actor, user_id, "password reset link sent by an administrator");
        Ok(())
    }
}
