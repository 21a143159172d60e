//! Accounts behind upstream identities (issue 7): who an upstream sign-in
//! is, new accounts from a first sign-in, linking with proof, unlinking, and
//! the flows in progress (bound to a browser, used once).
//!
//! An upstream identity is never joined to an existing account by its email
//! address, verified or not: a provider (or whoever controls an account
//! there) could claim any address. Joining takes a sign-in to the local
//! account and a confirmation; see `linking.rs`.
use crate::security::audit::{self, AuditAction, AuditEvent, Context};
use crate::security::token;
use crate::store::{self, FlowRow, IdentityRow, NewFlow, NewUser, UserRow};
use crate::upstream::Identity;

use super::names::{Email, USERNAME_MAX, Username};
use super::{Accounts, Error, Purpose, Result};

/// How long a flow waits: for the provider's callback, or for the owner
/// of a matching account to sign in and confirm a link.
pub const FLOW_SECS: i64 = 600;

/// A flow's kind (`upstream_flows.purpose`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FlowKind {
    /// Sent to the provider; the key is the `state` parameter.
    Start,
    /// A verified identity waiting for its link to be confirmed.
    Link,
}

impl FlowKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Link => "link",
        }
    }
}

/// A new flow.
pub(super) struct FlowStart<'a> {
    pub kind: FlowKind,
    /// The `state` parameter, or a fresh token for a link.
    pub key: &'a str,
    /// The browser's binding cookie.
    pub browser: &'a str,
    pub provider: &'a str,
    /// JSON: the pending secrets, or the identity to link.
    pub secret: &'a str,
    pub next: &'a str,
    /// A signed-in user adding a link from `/account`.
    pub link_user_id: Option<&'a str>,
}

/// Who an upstream sign-in is.
pub enum UpstreamUser {
    /// A linked account (or one just created for a new identity).
    Known(UserRow),
    /// The identity is new and its email belongs to an account: the owner
    /// must sign in to that account to link it.
    Taken,
}

impl Accounts {
    /// Finds the account linked to `identity`, or creates one when the
    /// identity is new. Only an address the provider vouches for is used:
    /// it may lead to an existing account (`Taken`), or become the new
    /// account's verified address. `event` (actor and target are filled
    /// in) is audited with a new link.
    pub async fn upstream_user(&self, ctx: &Context, identity: &Identity) -> Result<UpstreamUser> {
        if let Some(known) = self.linked_user(identity).await? {
            return Ok(known);
        }
        let email = identity.email.as_deref().filter(|_| identity.email_verified).and_then(|e| Email::parse(e).ok());
        if let Some(email) = &email
            && self.store.conn().await?.db().find_user_by_login(&email.key).await?.is_some()
        {
            return Ok(UpstreamUser::Taken);
        }
        // A new identity would be a sign-up: the `[registration]` policy
        // holds here as on /register (mode, and an allowed domain on the
        // address the provider vouches for).
        if !self.self_registration_open() || !self.signup.allows_upstream(email.as_ref().map(|e| e.key.as_str())) {
            return Err(Error::SignUpRefused);
        }
        self.create_upstream_user(ctx, identity, email.as_ref()).await
    }

    /// The account already linked to `identity`, if any.
    async fn linked_user(&self, identity: &Identity) -> Result<Option<UpstreamUser>> {
        let mut conn = self.store.conn().await?;
        let Some(link) = conn.db().upstream_identity(&identity.provider, &identity.subject).await? else {
            return Ok(None);
        };
        let user = conn.db().find_user(&link.user_id).await?.ok_or(Error::UnknownUser)?;
        if user.blocked {
            return Err(Error::Blocked);
        }
        conn.db().touch_upstream_identity(&identity.provider, &identity.subject, self.now()).await?;
        Ok(Some(UpstreamUser::Known(user)))
    }

    /// A new account for a new identity: role `user`, no password. It gets
    /// the address only when the provider verified it and nobody may still
    /// restore it; otherwise it has none (the user can add one on
    /// `/account`, confirmed by mail as usual). An unverified address is
    /// never stored as the account's: whoever controls the provider account
    /// could claim someone else's address, have its owner confirm it, and
    /// keep the link after the owner takes the account over by a reset.
    async fn create_upstream_user(
        &self,
        ctx: &Context,
        identity: &Identity,
        email: Option<&Email>,
    ) -> Result<UpstreamUser> {
        let now = self.now();
        let id = store::new_id();
        // Without an address the key must still be unique, and can never
        // equal a normalized address (no `@`) or a username (no `:`).
        let placeholder = format!("upstream:{}:{}", identity.provider, identity.subject);
        let display_name: String = identity.name.as_deref().unwrap_or_default().trim().chars().take(64).collect();
        let base = username_base(identity);
        for attempt in 0..20 {
            let candidate = username_candidate(&base, attempt);
            let Ok(username) = Username::parse(&candidate) else { continue };
            let mut tx = self.store.begin().await?;
            let email = match email {
                Some(e) if !tx.db().email_reserved(&e.key, Purpose::EmailUndo.as_str(), "", now).await? => Some(e),
                _ => None,
            };
            let (email_display, email_key) = match email {
                Some(e) => (e.display.as_str(), e.key.as_str()),
                None => ("", placeholder.as_str()),
            };
            let inserted = tx
                .db()
                .insert_user(&NewUser {
                    id: &id,
                    username: &username.display,
                    username_key: &username.key,
                    email: email_display,
                    email_key,
                    email_verified: email.is_some(),
                    display_name: &display_name,
                    password_hash: None,
                    now,
                })
                .await;
            match inserted {
                // A sign-in racing this one made the account (the
                // placeholder is taken), or the address was taken meanwhile.
                Err(store::Error::Conflict(what)) if what.contains("email") => {
                    drop(tx);
                    return Ok(self.linked_user(identity).await?.unwrap_or(UpstreamUser::Taken));
                }
                Err(store::Error::Conflict(_)) => continue,
                other => other?,
            }
            tx.db().set_user_roles(&id, &["user"]).await?;
            let shown = identity.email.as_deref().unwrap_or_default();
            let shown: String = shown.chars().take(super::names::EMAIL_MAX).collect();
            match tx.db().insert_upstream_identity(&identity.provider, &identity.subject, &id, &shown, now).await {
                Err(store::Error::Conflict(_)) => {
                    drop(tx);
                    return Ok(self.linked_user(identity).await?.unwrap_or(UpstreamUser::Taken));
                }
                other => other?,
            }
            let event = with_who(ctx, &id, identity, true);
            audit::append(&mut tx.db(), &event, now).await?;
            let user = tx.db().find_user(&id).await?.ok_or(Error::UnknownUser)?;
            tx.commit().await?;
            tracing::info!(user_id = %id, provider = %identity.provider, "account created by upstream sign-in");
            return Ok(UpstreamUser::Known(user));
        }
        Err(Error::field("username", "No free username could be made for this account."))
    }

    /// Links `identity` to `user_id`. `Error::AlreadyLinked` if it belongs to
    /// another account; linking it again to the same account is a no-op.
    pub async fn link_upstream(&self, ctx: &Context, user_id: &str, identity: &Identity) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if let Some(link) = tx.db().upstream_identity(&identity.provider, &identity.subject).await? {
            return if link.user_id == user_id { Ok(()) } else { Err(Error::AlreadyLinked) };
        }
        let email = identity.email.as_deref().unwrap_or_default();
        let email: String = email.chars().take(super::names::EMAIL_MAX).collect();
        match tx.db().insert_upstream_identity(&identity.provider, &identity.subject, user_id, &email, now).await {
            Err(store::Error::Conflict(_)) => return Err(Error::AlreadyLinked),
            other => other?,
        }
        audit::append(&mut tx.db(), &with_who(ctx, user_id, identity, false), now).await?;
        tx.commit().await?;
        tracing::info!(user_id, provider = %identity.provider, "upstream account linked");
        Ok(())
    }

    /// Unlinks the user's accounts at `provider`, unless that would leave
    /// no way to sign in (no password and no other link).
    pub async fn unlink_upstream(&self, ctx: &Context, user_id: &str, provider: &str) -> Result<()> {
        let event = ctx.event(AuditAction::UpstreamUnlinked, user_id);
        let now = self.now();
        let mut tx = self.store.begin().await?;
        // Takes the user's row lock first, so two unlinks at once (on
        // PostgreSQL) count one after the other and cannot both remove a
        // passwordless account's last two links.
        tx.db().lock_user(user_id).await?;
        let user = tx.db().find_user(user_id).await?.ok_or(Error::UnknownUser)?;
        let links = tx.db().user_upstream_identities(user_id).await?;
        let here = links.iter().filter(|l| l.provider == provider).count();
        if here == 0 {
            return Err(Error::UnknownUser);
        }
        if user.password_hash.is_none() && links.len() == here {
            return Err(Error::LastSignInMethod);
        }
        tx.db().delete_upstream_identities(user_id, provider).await?;
        let event = event.with_detail(serde_json::json!({ "provider": provider }));
        audit::append(&mut tx.db(), &event, now).await?;
        tx.commit().await?;
        tracing::info!(user_id, provider, "upstream account unlinked");
        Ok(())
    }

    /// The user's linked upstream accounts.
    pub async fn upstream_identities(&self, user_id: &str) -> Result<Vec<IdentityRow>> {
        Ok(self.store.conn().await?.db().user_upstream_identities(user_id).await?)
    }

    /// Stores a flow until its callback or confirmation (hashes only for
    /// the state and the browser cookie).
    pub(super) async fn begin_upstream_flow(&self, f: &FlowStart<'_>) -> Result<()> {
        let now = self.now();
        self.store
            .conn()
            .await?
            .db()
            .insert_upstream_flow(&NewFlow {
                id: &store::new_id(),
                purpose: f.kind.as_str(),
                key_hash: &token::hash_secret(f.key),
                browser_hash: &token::hash_secret(f.browser),
                provider: f.provider,
                secret: f.secret,
                next: f.next,
                link_user_id: f.link_user_id,
                now,
                expires_at: now + FLOW_SECS,
            })
            .await?;
        Ok(())
    }

    /// Takes a live flow (once) that this browser started; `provider`, when
    /// given, must match too.
    pub(super) async fn take_upstream_flow(
        &self,
        kind: FlowKind,
        key: &str,
        browser: &str,
        provider: Option<&str>,
    ) -> Result<Option<FlowRow>> {
        let Some((key, browser)) = flow_hashes(key, browser) else { return Ok(None) };
        let mut conn = self.store.conn().await?;
        Ok(conn.db().take_upstream_flow(kind.as_str(), &key, &browser, provider, self.now()).await?)
    }

    /// Reads a live flow without taking it.
    pub(super) async fn peek_upstream_flow(&self, kind: FlowKind, key: &str, browser: &str) -> Result<Option<FlowRow>> {
        let Some((key, browser)) = flow_hashes(key, browser) else { return Ok(None) };
        Ok(self.store.conn().await?.db().peek_upstream_flow(kind.as_str(), &key, &browser, self.now()).await?)
    }
}

/// The stored hashes of a flow's key and browser binding; `None` for
/// values no flow of ours can have (empty, or absurdly long).
fn flow_hashes(key: &str, browser: &str) -> Option<(String, String)> {
    let plausible = !key.is_empty() && !browser.is_empty() && key.len() <= 512 && browser.len() <= 128;
    plausible.then(|| (token::hash_secret(key), token::hash_secret(browser)))
}

/// Fills in who an upstream audit event is about.
fn with_who(ctx: &Context, user_id: &str, identity: &Identity, created: bool) -> AuditEvent {
    let event = ctx.acting_as(user_id).event(AuditAction::UpstreamLinked, user_id);
    event.with_detail(serde_json::json!({ "provider": identity.provider, "created": created }))
}

/// What a new account's username starts from: the provider's suggestion,
/// the address's local part, or the name; only username characters kept.
fn username_base(identity: &Identity) -> String {
    let from_email = identity.email.as_deref().and_then(|e| e.split('@').next());
    let raw = [identity.username.as_deref(), from_email, identity.name.as_deref()]
        .into_iter()
        .flatten()
        .map(|s| {
            s.chars()
                .map(|c| if c.is_whitespace() { '.' } else { c })
                .filter(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'))
                .skip_while(|c| !c.is_alphanumeric())
                .take(USERNAME_MAX - 4)
                .collect::<String>()
        })
        .find(|s| s.chars().count() >= 3);
    raw.unwrap_or_else(|| "user".to_owned())
}

/// The username to try at `attempt`: the base, then numbered, then random.
fn username_candidate(base: &str, attempt: u32) -> String {
    match attempt {
        0 => base.to_owned(),
        1..10 => format!("{base}{}", attempt + 1),
        _ => format!("{base}-{}", &token::new_secret()[..6].to_ascii_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(username: Option<&str>, email: Option<&str>, name: Option<&str>) -> Identity {
        Identity {
            provider: "corp".into(),
            subject: "1".into(),
            email: email.map(Into::into),
            email_verified: false,
            name: name.map(Into::into),
            username: username.map(Into::into),
        }
    }

    #[test]
    fn usernames_come_from_the_suggestion_then_the_address_then_the_name() {
        assert_eq!(username_base(&identity(Some("jdoe"), Some("x@y.z"), None)), "jdoe");
        assert_eq!(username_base(&identity(None, Some("jane.doe+x@y.z"), None)), "jane.doex");
        assert_eq!(username_base(&identity(Some("a"), None, Some("Jane Q Doe"))), "Jane.Q.Doe");
        assert_eq!(username_base(&identity(None, None, Some("!!"))), "user");
        assert_eq!(username_base(&identity(Some("__bob"), None, None)), "bob");
        assert!(Username::parse(&username_candidate("bob", 12)).is_ok());
        assert_eq!(username_candidate("bob", 1), "bob2");
    }
}
