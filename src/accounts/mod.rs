//! Account services: registration, sign-in (the `sign_in` state machine),
//! upstream account linking (`linking`), second factors, password and profile
//! changes, recovery links, blocking, roles (`admin`), deletion and browser
//! sessions. Pages, the CLI (and the JSON API to come) call these; they hold
//! the business rules and write every audit event inside the change's own
//! transaction, from the caller's `audit::Context`. SQL stays in `store`.
//!
//! Owns: every rule about accounts. Must not import: `oauth`, `http`, `cli`,
//! axum. Store rows should not leave it (a few read helpers still return
//! `UserRow` to the CLI; see the README's code map).
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::clock::Clock;
use crate::config::{PasswordConfig, SessionConfig};
use crate::keys::Kek;
use crate::mail::{Mail, Outbox};
use crate::security::audit::{self, AuditAction, Context};
use crate::security::password::{self, MAX_PASSWORD_BYTES, Passwords};
use crate::store::{self, NewUser, Store, UserRow};

pub mod activity;
mod admin;
pub mod console_view;
pub mod devices;
pub mod directory;
pub mod export;
pub mod history;
mod lifecycle;
pub mod linking;
mod lockout;
mod lookup;
pub mod mfa;
mod mfa_notice;
pub mod names;
mod own;
pub mod password_grant;
mod policy;
mod privilege;
mod provisioning;
mod reauth;
pub mod recovery;
mod sessions;
mod stats;
pub use stats::AccountFigures;
pub mod sign_in;
pub mod signup;
pub mod upstream;
mod user;
mod wording;

pub use activity::{SignInAttempt, SignInOutcome};
pub use admin::AdminAccess;
pub use console_view::{AccountPage, ListedAccount, UserSummary};
pub use devices::SignInOrigin;
pub use directory::{Consent, LinkedProvider, UserFilter, UserKey, UserState};
pub use history::{ActionEntry, ActionFilter, Party};
pub use names::{Email, Username};
pub use own::SignInRecord;
pub use password_grant::GrantRefusal;
pub use provisioning::{AccountChanges, NewAccount};
pub use recovery::Purpose;
pub use sessions::{CurrentUser, SessionInfo, StartedSession};
pub use user::{Account, Attempt, ListedUser, Overview, User, UserList, bounded_query};

/// The roles gatehouse knows. Every account has `user`.
pub const ROLES: [&str; 2] = ["admin", "user"];

/// A problem with one form field, shown next to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self { field, message: message.into() }
    }
}

/// Account errors. `InvalidCredentials` deliberately covers unknown user and
/// wrong password alike.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("account blocked")]
    Blocked,
    /// Self-registration is off (`registration.mode` is not `open`).
    #[error("registration is closed")]
    RegistrationClosed,
    /// An upstream sign-in of a new identity would make an account that the
    /// sign-up policy does not allow (not `open`, or a domain not listed).
    #[error("sign-up refused by the registration policy")]
    SignUpRefused,
    /// Too many failed sign-ins: the subject is locked for `retry_after`
    /// seconds (`newly`: this attempt locked it). Unknown names lock alike.
    #[error("sign-in locked")]
    Locked { retry_after: i64, newly: bool },
    /// The password was right, but the address is not confirmed yet.
    #[error("email address not confirmed")]
    Unconfirmed,
    /// A mailed link that is unknown, used or expired.
    #[error("the link is not valid")]
    BadLink,
    #[error("no such user")]
    UnknownUser,
    /// The upstream account is linked to another user.
    #[error("upstream account linked elsewhere")]
    AlreadyLinked,
    /// Unlinking would leave the account with no way to sign in.
    #[error("last sign-in method")]
    LastSignInMethod,
    /// The change would leave no administrator.
    #[error("the last administrator cannot be removed")]
    LastAdmin,
    /// An administrator may not block their own account.
    #[error("you cannot block your own account")]
    OwnAccount,
    /// An update named a version (`If-Match`) that is no longer current.
    #[error("the resource has changed since it was read")]
    Stale,
    /// The name or address is taken by another account (an operator's
    /// change; registration never tells).
    #[error("{0} is taken")]
    Taken(&'static str),
    // Not `transparent`: the store error must stay in the source chain so the
    // HTTP layer can tell "database unreachable" (503) from other failures.
    #[error("storage failed")]
    Store(#[from] store::Error),
    #[error("password hashing failed")]
    Password(#[from] password::Error),
    #[error("queueing mail failed")]
    Mail(#[from] crate::mail::Error),
    /// Sealing or opening a TOTP secret failed (wrong or missing KEK).
    #[error("sealing a secret failed")]
    Sealing(#[source] crate::keys::Error),
    #[error("drawing the QR code failed: {0}")]
    Qr(String),
}

impl Error {
    fn field(field: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid(vec![FieldError::new(field, message)])
    }
}

/// Result alias for account services.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a new account starts with.
pub struct Registration<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub password: &'a SecretString,
    pub password_confirm: Option<&'a SecretString>,
    /// Operators create accounts with a verified address; self-registration does not.
    pub email_verified: bool,
    /// Extra roles besides `user`.
    pub roles: &'a [String],
}

/// The account services, shared by the HTTP layer and the CLI.
#[derive(Clone)]
pub struct Accounts {
    store: Store,
    passwords: Passwords,
    clock: Arc<dyn Clock>,
    session: SessionConfig,
    policy: policy::PolicySettings,
    outbox: Outbox,
    kek: Arc<Kek>,
    mfa: MfaPolicy,
    lockout: crate::security::lockout::LockoutPolicy,
    /// The per-address failure counter (see `reauth.rs`).
    limiter: Option<crate::security::limiter::Limiter>,
    /// The IP rules for roles at sign-in (see `sign_in`).
    ip: Option<crate::security::ip_policy::IpPolicy>,
    /// Who may sign up by themselves (see `signup.rs`).
    signup: signup::SignupPolicy,
}

/// Two-step sign-in settings the services need.
#[derive(Debug, Clone)]
pub struct MfaPolicy {
    /// Roles whose members must use a second factor.
    pub required_roles: Vec<String>,
    /// The name authenticator apps show for gatehouse.
    pub issuer_label: String,
}

impl MfaPolicy {
    /// Whether any of `roles` requires a second factor.
    pub fn required_for(&self, roles: &[String]) -> bool {
        roles.iter().any(|r| self.required_roles.contains(r))
    }
}

impl Accounts {
    /// Builds the services.
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        session: SessionConfig,
        password: &PasswordConfig,
        outbox: Outbox,
        kek: Arc<Kek>,
        mfa: MfaPolicy,
    ) -> Result<Self, password::Error> {
        let policy = policy::PolicySettings::new(password);
        let lockout = Default::default();
        let passwords = Passwords::new(password)?;
        Ok(Self {
            store,
            passwords,
            clock,
            session,
            policy,
            outbox,
            kek,
            mfa,
            lockout,
            limiter: None,
            ip: None,
            signup: signup::SignupPolicy::default(),
        })
    }

    fn now(&self) -> i64 {
        self.clock.unix()
    }

    /// Creates an account with the `user` role (plus `roles`). Either the user,
    /// their roles (and, for self-registration, the confirmation mail) are
    /// written, or nothing is.
    ///
    /// Self-registration never tells whether an address has an account: if
    /// it has, the answer is `Ok(None)` and that account's owner gets a mail
    /// instead. Operators (`email_verified`) get the plain conflict error.
    /// The new account is audited with it (`user_registered` for a
    /// self-registration, `user_created` for an operator's), from `ctx`.
    pub async fn register(&self, ctx: &Context, r: &Registration<'_>) -> Result<Option<String>> {
        // Self-registration (not an operator's account) follows `[registration]`.
        if !r.email_verified && !self.self_registration_open() {
            return Err(Error::RegistrationClosed);
        }
        let mut errors = Vec::new();
        let username = Username::parse(r.username).map_err(|m| errors.push(FieldError::new("username", m))).ok();
        let email = Email::parse(r.email).map_err(|m| errors.push(FieldError::new("email", m))).ok();
        if email.is_some()
            && !r.email_verified
            && let Err(Error::Invalid(mut e)) = self.check_email_domain("email", r.email)
        {
            errors.append(&mut e);
        }
        let account = crate::security::policy::Account { username: r.username, email: r.email, display_name: "" };
        if let Err(Error::Invalid(mut e)) = self.check_new_password("password", r.password, &account) {
            errors.append(&mut e);
        }
        if let Some(confirm) = r.password_confirm
            && confirm.expose_secret() != r.password.expose_secret()
        {
            errors.push(FieldError::new("password_confirm", "The passwords do not match."));
        }
        let mut roles: Vec<&str> = vec!["user"];
        for role in r.roles {
            match ROLES.iter().find(|known| **known == role.as_str()) {
                Some(known) if !roles.contains(known) => roles.push(known),
                Some(_) => {}
                None => errors.push(FieldError::new("role", format!("Unknown role {role:?}; use admin or user."))),
            }
        }
        let (Some(username), Some(email), true) = (username, email, errors.is_empty()) else {
            return Err(Error::Invalid(errors));
        };
        let hash = self.passwords.hash(r.password).await?;
        let id = store::new_id();
        let now = self.now();
        let mut tx = self.store.begin().await?;
        // An address its previous owner may still restore (an undo link is
        // live) is not free for self-registration; it answers as taken.
        if !r.email_verified && tx.db().email_reserved(&email.key, Purpose::EmailUndo.as_str(), "", now).await? {
            drop(tx);
            return self.registered_address(&username, &email, false).await;
        }
        let inserted = tx
            .db()
            .insert_user(&NewUser {
                id: &id,
                username: &username.display,
                username_key: &username.key,
                email: &email.display,
                email_key: &email.key,
                email_verified: r.email_verified,
                display_name: "",
                password_hash: Some(&hash),
                now,
            })
            .await;
        match inserted {
            Err(store::Error::Conflict(what)) if what.contains("email") => {
                drop(tx);
                return self.registered_address(&username, &email, r.email_verified).await;
            }
            Err(store::Error::Conflict(_)) => return Err(Error::field("username", "That username is taken.")),
            other => other?,
        }
        tx.db().set_user_roles(&id, &roles).await?;
        if !r.email_verified {
            let user = tx.db().find_user(&id).await?.ok_or(Error::UnknownUser)?;
            self.queue_confirmation(&mut tx.db(), &user).await?;
        }
        let action = if r.email_verified { AuditAction::UserCreated } else { AuditAction::UserRegistered };
        let event = ctx.event(action, &id).with_detail(serde_json::json!({ "roles": roles }));
        audit::append(&mut tx.db(), &event, now).await?;
        tx.commit().await?;
        self.outbox.kick();
        tracing::info!(user_id = %id, "account created");
        Ok(Some(id))
    }

    /// Registration hit an address that has an account.
    async fn registered_address(&self, username: &Username, email: &Email, operator: bool) -> Result<Option<String>> {
        if operator {
            return Err(Error::field("email", "That email address is already registered."));
        }
        let mut tx = self.store.begin().await?;
        // A taken username may be said; usernames are public.
        if tx.db().find_user_by_login(&username.key).await?.is_some() {
            return Err(Error::field("username", "That username is taken."));
        }
        let Some(owner) = tx.db().find_user_by_login(&email.key).await? else { return Ok(None) };
        let site = self.outbox.site();
        let mail = Mail::AlreadyRegistered {
            name: recovery::greeting_name(&owner),
            login: format!("{site}/login"),
            forgot: format!("{site}/password/forgot"),
        };
        // One such mail an hour at most, so repeated attempts cannot flood the owner.
        if tx.db().count_outbox_since(&owner.email, mail.kind(), self.now() - 3_600).await? > 0 {
            return Ok(None);
        }
        self.outbox.enqueue(&mut tx.db(), &owner.email, &mail).await?;
        tx.commit().await?;
        self.outbox.kick();
        tracing::info!(user_id = %owner.id, "registration attempted with a registered address; owner notified");
        Ok(None)
    }

    /// Checks a login (username or email) and password. Unknown user and wrong
    /// password are the same error and cost the same time. A blocked account is
    /// reported only to someone who knows its password. Too many failures lock
    /// the name (`Error::Locked`), known or not (see `accounts/lockout.rs`).
    pub async fn authenticate(&self, ctx: &Context, login: &str, password: &SecretString) -> Result<UserRow> {
        let key = names::login_key(login);
        let user = if key.is_empty() || key.len() > names::EMAIL_MAX {
            None
        } else {
            self.store.conn().await?.db().find_user_by_login(&key).await?
        };
        // Lockout (issue 6): keyed alike for known and unknown names.
        let subject = lockout::subject(user.as_ref(), &key);
        self.ensure_unlocked(&subject).await?;
        let too_long = password.expose_secret().len() > MAX_PASSWORD_BYTES;
        let stored = user.as_ref().and_then(|u| u.password_hash.as_deref()).filter(|_| !too_long);
        let verified = self.passwords.verify(password, stored).await?;
        if !verified.ok {
            return Err(self.failure_from(ctx, &subject, user.as_ref()).await?);
        }
        let Some(mut user) = user else { return Err(Error::InvalidCredentials) };
        self.sign_in_succeeded(&subject).await?;
        if user.blocked {
            return Err(Error::Blocked);
        }
        if !user.email_verified {
            return Err(Error::Unconfirmed);
        }
        if verified.needs_rehash
            && let Some(old) = &user.password_hash
        {
            let new = self.passwords.hash(password).await?;
            self.store.conn().await?.db().upgrade_password_hash(&user.id, old, &new).await?;
            tracing::info!(user_id = %user.id, "password rehashed with current parameters");
            user.password_hash = Some(new);
        }
        Ok(user)
    }

    /// Changes the password after checking the current one. Every other
    /// session of the user ends, and every refresh token with the access
    /// tokens issued from it. The session making the change (`keep`) goes on
    /// under a new id: the new session is returned, for the browser's cookie.
    pub async fn change_password(
        &self,
        user_id: &str,
        current: &SecretString,
        new: &SecretString,
        confirm: Option<&SecretString>,
        keep: Option<&str>,
        ctx: &Context,
    ) -> Result<Option<StartedSession>> {
        let user = self.store.conn().await?.db().find_user(user_id).await?.ok_or(Error::UnknownUser)?;
        self.confirm_password(&user, current, "current_password", ctx).await?;
        self.check_new_password_for("new_password", new, &user)?;
        if confirm.is_some_and(|c| c.expose_secret() != new.expose_secret()) {
            return Err(Error::field("new_password_confirm", "The passwords do not match."));
        }
        self.check_reuse("new_password", new, &user, false).await?;
        let hash = self.passwords.hash(new).await?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.db().lock_user(user_id).await?;
        self.store_new_password(&mut tx.db(), &user, &hash, now).await?;
        let ended = tx.db().revoke_user_sessions(user_id, keep, now).await?;
        tx.db().revoke_user_refresh(user_id, now).await?;
        let renewed = match keep {
            Some(old) => self.rotate_session(&mut tx.db(), user_id, old).await?,
            None => None,
        };
        self.queue_password_notice(&mut tx.db(), &user).await?;
        audit::append(&mut tx.db(), &ctx.event(AuditAction::PasswordChanged, user_id), now).await?;
        tx.commit().await?;
        self.outbox.kick();
        tracing::info!(user_id, sessions_ended = ended, "password changed");
        Ok(renewed)
    }

    /// Sets the display name, audited (`profile_changed`) with it. The name
    /// itself stays out of the log (it is free text the user typed).
    pub async fn set_display_name(&self, ctx: &Context, user_id: &str, raw: &str) -> Result<()> {
        self.set_display_name_if(ctx, user_id, raw, None).await.map(|_| ())
    }

    /// Finds a user by id, username or email.
    pub async fn find(&self, who: &str) -> Result<UserRow> {
        let mut conn = self.store.conn().await?;
        if let Some(user) = conn.db().find_user(who).await? {
            return Ok(user);
        }
        conn.db().find_user_by_login(&names::login_key(who)).await?.ok_or(Error::UnknownUser)
    }

    /// The user's roles.
    pub async fn roles(&self, user_id: &str) -> Result<Vec<String>> {
        Ok(self.store.conn().await?.db().user_roles(user_id).await?)
    }

    /// The ids of the users holding `role` (one query, for lists).
    pub async fn role_holders(&self, role: &str) -> Result<std::collections::HashSet<String>> {
        Ok(self.store.conn().await?.db().role_holders(role).await?.into_iter().collect())
    }

    /// Blocks or unblocks an account. Blocking ends all its sessions and
    /// tokens at once, in the same transaction as its audit event
    /// (`user_blocked` / `user_unblocked`, from `ctx`). The last unblocked
    /// administrator cannot be blocked (`Error::LastAdmin`). The console and
    /// the CLI call [`Accounts::block`] and [`Accounts::unblock`].
    pub async fn set_blocked(&self, user_id: &str, blocked: bool, ctx: &Context) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        // Issue 14, "there is always an admin": under the lock every change
        // that could remove an admin takes, so two cannot both pass the check.
        tx.db().lock_admins().await?;
        if blocked && self.would_leave_no_admin(&mut tx.db(), user_id).await? {
            return Err(Error::LastAdmin);
        }
        if !tx.db().set_user_blocked(user_id, blocked, now).await? {
            return Err(Error::UnknownUser);
        }
        if blocked {
            tx.db().revoke_user_sessions(user_id, None, now).await?;
            tx.db().revoke_user_tokens(user_id, now).await?;
            self.void_account_links(&mut tx.db(), user_id).await?;
        }
        let action = if blocked { AuditAction::UserBlocked } else { AuditAction::UserUnblocked };
        audit::append(&mut tx.db(), &ctx.event(action, user_id), now).await?;
        tx.commit().await?;
        tracing::info!(user_id, blocked, "account block state changed");
        Ok(())
    }

    /// A page of users matching `query`, and the total count.
    pub async fn search(&self, query: &str, page: i64, per_page: i64) -> Result<(Vec<UserRow>, i64)> {
        let needle = names::login_key(query);
        let offset = page.saturating_sub(1).max(0).saturating_mul(per_page);
        Ok(self.store.conn().await?.db().search_users(&needle, per_page, offset).await?)
    }
}
