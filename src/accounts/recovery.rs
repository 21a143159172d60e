//! Flows driven by single-use mailed links: address confirmation, password
//! reset, email change (with an undo link to the old address), and "this
//! wasn't me". Each link is a 256-bit secret stored as its SHA-256, spent with
//! one atomic update, and built from the configured issuer only. Every change
//! and the mail reporting it are written in one transaction (the outbox).
//!
//! Nothing here tells a caller whether an address has an account: the
//! forgot-password and resend answers are the same either way.
use secrecy::{ExposeSecret, SecretString};

use super::{Accounts, Error, Result, names};
use crate::mail::Mail;
use crate::security::audit::{self, AuditAction, Context};
use crate::security::token;
use crate::store::{Db, NewLink, UserRow};

/// What a link is for; also its lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Confirm the address given at registration (24 h).
    Confirm,
    /// Set a new password (1 h).
    Reset,
    /// Confirm a new address (24 h).
    EmailChange,
    /// Restore the old address (7 days).
    EmailUndo,
    /// "This wasn't me": sign out everywhere, then reset (7 days).
    NotMe,
    /// An administrator's invitation: set a first password (7 days). It
    /// opens the reset page and works like a reset link.
    Invite,
}

impl Purpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Confirm => "confirm",
            Purpose::Reset => "reset",
            Purpose::EmailChange => "email_change",
            Purpose::EmailUndo => "email_undo",
            Purpose::NotMe => "not_me",
            Purpose::Invite => "invite",
        }
    }

    /// How long the link works.
    pub fn lifetime_secs(self) -> i64 {
        match self {
            Purpose::Confirm | Purpose::EmailChange => 86_400,
            Purpose::Reset => 3_600,
            Purpose::EmailUndo | Purpose::NotMe | Purpose::Invite => 7 * 86_400,
        }
    }

    /// The page the link opens.
    pub fn path(self) -> &'static str {
        match self {
            Purpose::Confirm => "/register/confirm",
            Purpose::Reset | Purpose::Invite => "/password/reset",
            Purpose::EmailChange => "/account/email/confirm",
            Purpose::EmailUndo => "/account/email/undo",
            Purpose::NotMe => "/account/not-me",
        }
    }
}

/// The links that act on the account as it was when they were sent: each
/// dies when the password or the address changes, or the account is blocked
/// (OWASP Forgot Password Cheat Sheet; ASVS 5 V6.4). Undo and "this wasn't
/// me" links stay: they are the owner's way back after such a change.
const STALE_AFTER_CHANGE: [Purpose; 4] = [Purpose::Reset, Purpose::Confirm, Purpose::EmailChange, Purpose::Invite];

/// Per account and purpose: at most this many mailed links an hour...
const LINKS_PER_HOUR: i64 = 3;
/// ...and none sooner than this after the previous one.
const LINK_GAP_SECS: i64 = 60;

/// The name a mail greets the user by.
pub(super) fn greeting_name(user: &UserRow) -> String {
    if user.display_name.is_empty() { user.username.clone() } else { user.display_name.clone() }
}

impl Accounts {
    /// Stores a new link for `user_id` and returns its absolute URL.
    pub(super) async fn new_link(
        &self,
        db: &mut Db<'_>,
        user_id: &str,
        purpose: Purpose,
        email: &str,
    ) -> Result<String> {
        let secret = token::new_secret();
        let now = self.now();
        db.insert_link(&NewLink {
            id: &crate::store::new_id(),
            token_hash: &token::hash_secret(&secret),
            user_id,
            purpose: purpose.as_str(),
            email,
            email_key: &if email.is_empty() { String::new() } else { names::login_key(email) },
            now,
            expires_at: now + purpose.lifetime_secs(),
        })
        .await?;
        let mut url = url::Url::parse(&format!("{}{}", self.outbox.site(), purpose.path()))
            .map_err(|_| Error::field("link", "The issuer is not a valid URL."))?;
        url.query_pairs_mut().append_pair("token", &secret);
        Ok(url.into())
    }

    /// Voids the user's reset, confirmation and email-change links (see
    /// [`STALE_AFTER_CHANGE`]), inside the change's transaction.
    pub(super) async fn void_account_links(&self, db: &mut Db<'_>, user_id: &str) -> Result<()> {
        let ended = db.void_links_of(user_id, &STALE_AFTER_CHANGE.map(Purpose::as_str), self.now()).await?;
        if ended > 0 {
            tracing::info!(user_id, ended, "outstanding mailed links voided by an account change");
        }
        Ok(())
    }

    /// Whether the user may be sent another link for `purpose` now. Takes the
    /// user's row lock first, so concurrent requests count one after another.
    async fn may_send(&self, db: &mut Db<'_>, user_id: &str, purpose: Purpose) -> Result<bool> {
        db.lock_user(user_id).await?;
        let now = self.now();
        let p = purpose.as_str();
        Ok(db.count_links_since(user_id, p, now - LINK_GAP_SECS).await? == 0
            && db.count_links_since(user_id, p, now - 3_600).await? < LINKS_PER_HOUR)
    }

    /// Whether a link can still be used (its page shows a button that spends
    /// it). An empty or overlong secret is no link (and costs no query).
    pub async fn link_is_live(&self, secret: &str, purpose: Purpose) -> Result<bool> {
        if secret.is_empty() || secret.len() > 128 {
            return Ok(false);
        }
        let hash = token::hash_secret(secret);
        let mut conn = self.store.conn().await?;
        if conn.db().link_is_live(&hash, purpose.as_str(), self.now()).await? {
            return Ok(true);
        }
        // The reset page also takes invitations (same form, longer lifetime).
        Ok(purpose == Purpose::Reset && conn.db().link_is_live(&hash, Purpose::Invite.as_str(), self.now()).await?)
    }

    /// Mails a confirmation link in `db`'s transaction (registration); older
    /// confirmation links stop working.
    pub(super) async fn queue_confirmation(&self, db: &mut Db<'_>, user: &UserRow) -> Result<()> {
        db.void_links(&user.id, Purpose::Confirm.as_str(), self.now()).await?;
        let link = self.new_link(db, &user.id, Purpose::Confirm, "").await?;
        self.outbox.enqueue(db, &user.email, &Mail::Confirm { name: greeting_name(user), link }).await?;
        Ok(())
    }

    /// Confirms a registration address and sends the welcome mail.
    pub async fn confirm_email(&self, secret: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let spent = tx.db().spend_link(&token::hash_secret(secret), Purpose::Confirm.as_str(), self.now()).await?;
        let user = match spent {
            Some(s) => tx.db().find_user(&s.user_id).await?.ok_or(Error::BadLink)?,
            None => return Err(Error::BadLink),
        };
        if user.email_verified {
            return Ok(()); // nothing to do, and no second welcome
        }
        tx.db().set_email_verified(&user.id, self.now()).await?;
        let account = format!("{}/account", self.outbox.site());
        self.outbox.enqueue(&mut tx.db(), &user.email, &Mail::Welcome { name: greeting_name(&user), account }).await?;
        tx.commit().await?;
        self.outbox.kick();
        tracing::info!(user_id = %user.id, "email address confirmed");
        Ok(())
    }

    /// Sends a new confirmation link if `login` names an unconfirmed account
    /// (rate-limited). The caller answers the same whatever happened.
    pub async fn resend_confirmation(&self, login: &str) -> Result<()> {
        let key = names::login_key(login);
        if key.is_empty() || key.len() > names::EMAIL_MAX {
            return Ok(());
        }
        let mut tx = self.store.begin().await?;
        let Some(user) = tx.db().find_user_by_login(&key).await? else { return Ok(()) };
        if user.email_verified || user.blocked || !self.may_send(&mut tx.db(), &user.id, Purpose::Confirm).await? {
            return Ok(());
        }
        self.queue_confirmation(&mut tx.db(), &user).await?;
        tx.commit().await?;
        self.outbox.kick();
        Ok(())
    }

    /// Mails a reset link if `email` belongs to an account (rate-limited).
    /// The caller answers the same whatever happened.
    pub async fn forgot_password(&self, email: &str) -> Result<()> {
        let Ok(email) = names::Email::parse(email) else { return Ok(()) };
        let mut tx = self.store.begin().await?;
        let Some(user) = tx.db().find_user_by_login(&email.key).await? else { return Ok(()) };
        // Usernames cannot hold '@', so the match was on the address.
        if user.blocked {
            return Ok(());
        }
        if !self.may_send(&mut tx.db(), &user.id, Purpose::Reset).await? {
            return Ok(());
        }
        self.queue_reset(&mut tx.db(), &user).await?;
        tx.commit().await?;
        self.outbox.kick();
        tracing::info!(user_id = %user.id, "password reset link queued");
        Ok(())
    }

    pub(super) async fn queue_reset(&self, db: &mut Db<'_>, user: &UserRow) -> Result<()> {
        db.void_links(&user.id, Purpose::Reset.as_str(), self.now()).await?;
        let link = self.new_link(db, &user.id, Purpose::Reset, "").await?;
        self.outbox.enqueue(db, &user.email, &Mail::Reset { name: greeting_name(user), link }).await?;
        Ok(())
    }

    /// Sets a new password through a reset link: applies the password rules,
    /// ends every session and refresh token, and sends a notice. Opening the
    /// link also proves the address, so it counts as confirmed.
    pub async fn reset_password(
        &self,
        ctx: &Context,
        secret: &str,
        new: &SecretString,
        confirm: Option<&SecretString>,
    ) -> Result<()> {
        let token_hash = token::hash_secret(secret);
        let (owner, purpose) = {
            let mut conn = self.store.conn().await?;
            let mut found = None;
            for purpose in [Purpose::Reset, Purpose::Invite] {
                if let Some(id) = conn.db().live_link_user(&token_hash, purpose.as_str(), self.now()).await? {
                    found = Some((conn.db().find_user(&id).await?.ok_or(Error::BadLink)?, purpose));
                    break;
                }
            }
            found.ok_or(Error::BadLink)?
        };
        // A block voids reset links; none made since may open the account.
        if owner.blocked {
            return Err(Error::BadLink);
        }
        self.check_new_password_for("password", new, &owner)?;
        if confirm.is_some_and(|c| c.expose_secret() != new.expose_secret()) {
            return Err(Error::field("password_confirm", "The passwords do not match."));
        }
        self.check_reuse("password", new, &owner, false).await?;
        let hash = self.passwords.hash(new).await?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let spent = tx.db().spend_link(&token_hash, purpose.as_str(), now).await?;
        let user = match spent {
            Some(s) => tx.db().find_user(&s.user_id).await?.ok_or(Error::BadLink)?,
            None => return Err(Error::BadLink),
        };
        self.store_new_password(&mut tx.db(), &user, &hash, now).await?;
        tx.db().set_email_verified(&user.id, now).await?;
        tx.db().lock_user(&user.id).await?;
        let ended = tx.db().revoke_user_sessions(&user.id, None, now).await?;
        tx.db().revoke_user_tokens(&user.id, now).await?;
        self.queue_password_notice(&mut tx.db(), &user).await?;
        // The lock mails point here: a reset by the mailed link ends locks.
        self.clear_locks(&mut tx.db(), &user.id).await?;
        let mut event = ctx.event(AuditAction::PasswordReset, &user.id);
        if purpose == Purpose::Invite {
            event = event.with_detail(serde_json::json!({ "link": "invite" }));
        }
        audit::append(&mut tx.db(), &event, now).await?;
        tx.commit().await?;
        self.outbox.kick();
        tracing::info!(user_id = %user.id, sessions_ended = ended, "password reset");
        Ok(())
    }

    /// "Your password was changed", with a "this wasn't me" link.
    pub(super) async fn queue_password_notice(&self, db: &mut Db<'_>, user: &UserRow) -> Result<()> {
        let not_me = self.new_link(db, &user.id, Purpose::NotMe, "").await?;
        let when = super::wording::format_time(self.now());
        self.outbox
            .enqueue(db, &user.email, &Mail::PasswordChanged { name: greeting_name(user), when, not_me })
            .await?;
        Ok(())
    }

    /// Starts an email change: a confirmation link to the new address and a
    /// notice with an undo link to the old one. Needs the current password;
    /// an account without one (made by an upstream sign-in) needs a sign-in
    /// made less than `session.reauth_secs` ago instead (`recent`).
    pub async fn request_email_change(
        &self,
        user_id: &str,
        password: &SecretString,
        new_email: &str,
        recent: bool,
        from: &Context,
    ) -> Result<()> {
        let email = names::Email::parse(new_email).map_err(|m| Error::field("new_email", m))?;
        self.check_email_domain("new_email", new_email)?;
        let user = self.store.conn().await?.db().find_user(user_id).await?.ok_or(Error::UnknownUser)?;
        match user.password_hash {
            None if !recent => {
                return Err(Error::field("email_password", "Sign in again first, then change the address."));
            }
            None => {}
            Some(_) => self.confirm_password(&user, password, "email_password", from).await?,
        }
        if names::login_key(&user.email) == email.key {
            return Err(Error::field("new_email", "That is already your address."));
        }
        let mut tx = self.store.begin().await?;
        if !self.may_send(&mut tx.db(), user_id, Purpose::EmailChange).await? {
            return Err(Error::field("new_email", "We sent a link a moment ago. Try again in a few minutes."));
        }
        tx.db().void_links(user_id, Purpose::EmailChange.as_str(), self.now()).await?;
        let name = greeting_name(&user);
        let link = self.new_link(&mut tx.db(), user_id, Purpose::EmailChange, &email.display).await?;
        // The new address has not proved anything yet: greet by username, not a
        // free-text display name, so this mail cannot carry someone's message.
        let change = Mail::EmailChange { name: user.username.clone(), new_email: email.display.clone(), link };
        self.outbox.enqueue(&mut tx.db(), &email.display, &change).await?;
        // An account without an address (made by an upstream sign-in) has
        // nothing to undo and nowhere to send the notice.
        if !user.email.is_empty() {
            let undo = self.new_link(&mut tx.db(), user_id, Purpose::EmailUndo, &user.email).await?;
            let notice = Mail::EmailChanging { name, new_email: email.display.clone(), undo };
            self.outbox.enqueue(&mut tx.db(), &user.email, &notice).await?;
        }
        tx.commit().await?;
        self.outbox.kick();
        tracing::info!(user_id, "email change requested");
        Ok(())
    }

    /// Applies an email change from the link sent to the new address.
    pub async fn confirm_email_change(&self, ctx: &Context, secret: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let user_id = self.set_email_from_link(&mut tx.db(), secret, Purpose::EmailChange).await?;
        let event = ctx
            .event(AuditAction::EmailChanged, &user_id)
            .with_detail(serde_json::json!({ "through": "confirmation link" }));
        audit::append(&mut tx.db(), &event, self.now()).await?;
        tx.commit().await?;
        tracing::info!(user_id, "email address changed");
        Ok(())
    }

    /// Restores the old address from the undo link, ends every session and
    /// refresh token, and mails a reset link there (whoever changed the
    /// address may also know the password).
    pub async fn undo_email_change(&self, ctx: &Context, secret: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let user_id = self.set_email_from_link(&mut tx.db(), secret, Purpose::EmailUndo).await?;
        self.lock_out_and_reset(ctx, &mut tx.db(), &user_id, "email_undo").await?;
        let event =
            ctx.event(AuditAction::EmailChanged, &user_id).with_detail(serde_json::json!({ "through": "undo link" }));
        audit::append(&mut tx.db(), &event, self.now()).await?;
        tx.commit().await?;
        self.outbox.kick();
        tracing::info!(user_id, "email change undone");
        Ok(())
    }

    /// Spends an email-change or undo link and sets the address it carries
    /// (confirmed, since it came through that mailbox); returns the user id.
    async fn set_email_from_link(&self, db: &mut Db<'_>, secret: &str, purpose: Purpose) -> Result<String> {
        let now = self.now();
        let Some(spent) = db.spend_link(&token::hash_secret(secret), purpose.as_str(), now).await? else {
            return Err(Error::BadLink);
        };
        let email = names::Email::parse(&spent.email).map_err(|_| Error::BadLink)?;
        let taken = Err(Error::field("email", "That address is now used by another account."));
        if purpose == Purpose::EmailChange
            && db.email_reserved(&email.key, Purpose::EmailUndo.as_str(), &spent.user_id, now).await?
        {
            return taken;
        }
        match db.set_email(&spent.user_id, &email.display, &email.key, true, now).await {
            Err(crate::store::Error::Conflict(_)) => taken,
            Err(other) => Err(other.into()),
            // Links sent to the old address must not outlive it.
            Ok(()) => self.void_account_links(db, &spent.user_id).await.map(|()| spent.user_id),
        }
    }

    /// "This wasn't me": ends every session and refresh token and mails a reset link.
    pub async fn not_me(&self, ctx: &Context, secret: &str) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let spent = tx.db().spend_link(&token::hash_secret(secret), Purpose::NotMe.as_str(), now).await?;
        let Some(spent) = spent else { return Err(Error::BadLink) };
        self.lock_out_and_reset(ctx, &mut tx.db(), &spent.user_id, "not_me").await?;
        // A second factor added since the reported event is someone else's.
        if tx.db().clear_mfa_since(&spent.user_id, spent.created_at, now).await? {
            tracing::warn!(user_id = %spent.user_id, "second factor added after the reported event removed");
        }
        tx.commit().await?;
        self.outbox.kick();
        tracing::warn!(user_id = %spent.user_id, "sign-in reported as not the user's own; signed out everywhere");
        Ok(())
    }

    /// Signs out everywhere (audited with `reason`) and mails a reset link.
    async fn lock_out_and_reset(&self, ctx: &Context, db: &mut Db<'_>, user_id: &str, reason: &str) -> Result<()> {
        let now = self.now();
        db.lock_user(user_id).await?;
        let ended = db.revoke_user_sessions(user_id, None, now).await?;
        db.revoke_user_tokens(user_id, now).await?;
        let event = ctx
            .event(AuditAction::SessionRevoked, user_id)
            .with_detail(serde_json::json!({ "sessions": "all", "ended": ended, "reason": reason }));
        audit::append(db, &event, now).await?;
        self.void_account_links(db, user_id).await?;
        let user = db.find_user(user_id).await?.ok_or(Error::UnknownUser)?;
        // A blocked account gets no reset link: an administrator lifts the block first.
        if user.blocked {
            return Ok(());
        }
        self.queue_reset(db, &user).await
    }
}
