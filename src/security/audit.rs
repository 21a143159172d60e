//! The tamper-evident audit log of security events.
//!
//! Each event is appended as one row carrying a sequence number, the time,
//! who did it (`actor`: a user id, a client id, `cli` or `system`), what it
//! was done to (`target`), the [`AuditAction`], the client address, the
//! request id and a small JSON `detail` (never a secret). Rows form a hash
//! chain:
//!
//! ```text
//!   hash(n) = SHA-256( prev_hash(n) ‖ id ‖ at ‖ actor ‖ target ‖ action ‖ ip ‖ request_id ‖ detail [‖ user_agent] )
//!   prev_hash(n) = hash(n-1),  prev_hash(1) = 64 × "0"
//! ```
//!
//! where every field is encoded as its byte length (u64, big endian)
//! followed by its UTF-8 bytes, so no two rows encode alike. `user_agent`
//! is hashed on every row written since migration 0017 (older rows have
//! none, and keep their original hash). The one-row
//! `audit_head` (last sequence number and hash) is updated first in every
//! append's transaction: its row lock serializes appends across instances on
//! PostgreSQL (SQLite's `BEGIN IMMEDIATE` already does). [`verify`] walks the
//! chain and names the first row that does not fit. The database refuses
//! updates and deletes by trigger as well; the chain catches whoever drops
//! the triggers first.
use sha2::{Digest, Sha256};

use crate::store::{self, AuditRow, Db, Store};

/// `prev_hash` of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Longest text kept in `actor`, `target`, `ip` and `request_id`.
const FIELD_MAX: usize = 128;

/// What happened. Stored as the stable string of [`AuditAction::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    SignIn,
    SignInFailed,
    SignOut,
    PasswordChanged,
    PasswordReset,
    EmailChanged,
    RoleChanged,
    UserBlocked,
    UserUnblocked,
    ClientCreated,
    ClientDeleted,
    KeyRotated,
    TokenRevoked,
    SessionRevoked,
    AccountLocked,
    AccountUnlocked,
    MfaEnabled,
    MfaDisabled,
    RecoveryCodesGenerated,
    IpDenied,
    IpRuleChanged,
    UpstreamLinked,
    UpstreamUnlinked,
    UserDeleted,
    ClientUpdated,
    ClientSecretRotated,
    /// A wrong password in a "confirm your password" form.
    ReauthFailed,
    // Issue 15, item 6: complete coverage.
    /// Someone signed up at `/register`.
    UserRegistered,
    /// An operator made an account (`gatehouse user create`).
    UserCreated,
    /// The display name changed.
    ProfileChanged,
    /// `/admin` refused a signed-in non-admin, or an address its rules refuse.
    AdminRefused,
    // OAuth protocol events (issue 15), written by `oauth` services.
    /// A user allowed a client scopes at the consent page.
    ConsentGranted,
    /// A spent authorization code was presented again; its tokens are revoked.
    CodeReplayed,
    /// A spent refresh token was presented again; its family is revoked.
    RefreshReplayed,
    /// A client failed to authenticate at the token endpoints.
    ClientAuthFailed,
    /// `/authorize` named a redirect URI the client did not register.
    RedirectUriRefused,
    // The JSON API (issue 16).
    /// One authenticated call of the JSON API (method, route, status); the
    /// change a call makes is audited by its service as well.
    ApiCall,
    /// An administrator mailed the user a password-reset link.
    PasswordResetSent,
    /// An operator made an unsent (waiting or dead) mail due again.
    MailRetried,
    /// An operator deleted sent and dead mail older than some days.
    MailPurged,
}

impl AuditAction {
    /// Every action, for parsing.
    pub const ALL: [AuditAction; 40] = [
        Self::SignIn,
        Self::SignInFailed,
        Self::SignOut,
        Self::PasswordChanged,
        Self::PasswordReset,
        Self::EmailChanged,
        Self::RoleChanged,
        Self::UserBlocked,
        Self::UserUnblocked,
        Self::ClientCreated,
        Self::ClientDeleted,
        Self::KeyRotated,
        Self::TokenRevoked,
        Self::SessionRevoked,
        Self::AccountLocked,
        Self::AccountUnlocked,
        Self::MfaEnabled,
        Self::MfaDisabled,
        Self::RecoveryCodesGenerated,
        Self::IpDenied,
        Self::IpRuleChanged,
        Self::UpstreamLinked,
        Self::UpstreamUnlinked,
        Self::UserDeleted,
        Self::ClientUpdated,
        Self::ClientSecretRotated,
        Self::ReauthFailed,
        Self::UserRegistered,
        Self::UserCreated,
        Self::ProfileChanged,
        Self::AdminRefused,
        // OAuth protocol events (issue 15).
        Self::ConsentGranted,
        Self::CodeReplayed,
        Self::RefreshReplayed,
        Self::ClientAuthFailed,
        Self::RedirectUriRefused,
        Self::ApiCall,
        Self::PasswordResetSent,
        Self::MailRetried,
        Self::MailPurged,
    ];

    /// The stored name; never change one that has been released.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign_in",
            Self::SignInFailed => "sign_in_failed",
            Self::SignOut => "sign_out",
            Self::PasswordChanged => "password_changed",
            Self::PasswordReset => "password_reset",
            Self::EmailChanged => "email_changed",
            Self::RoleChanged => "role_changed",
            Self::UserBlocked => "user_blocked",
            Self::UserUnblocked => "user_unblocked",
            Self::ClientCreated => "client_created",
            Self::ClientDeleted => "client_deleted",
            Self::KeyRotated => "key_rotated",
            Self::TokenRevoked => "token_revoked",
            Self::SessionRevoked => "session_revoked",
            Self::AccountLocked => "account_locked",
            Self::AccountUnlocked => "account_unlocked",
            Self::MfaEnabled => "mfa_enabled",
            Self::MfaDisabled => "mfa_disabled",
            Self::RecoveryCodesGenerated => "recovery_codes_generated",
            Self::IpDenied => "ip_denied",
            Self::IpRuleChanged => "ip_rule_changed",
            Self::UpstreamLinked => "upstream_linked",
            Self::UpstreamUnlinked => "upstream_unlinked",
            Self::UserDeleted => "user_deleted",
            Self::ClientUpdated => "client_updated",
            Self::ClientSecretRotated => "client_secret_rotated",
            Self::ReauthFailed => "reauth_failed",
            Self::UserRegistered => "user_registered",
            Self::UserCreated => "user_created",
            Self::ProfileChanged => "profile_changed",
            Self::AdminRefused => "admin_refused",
            // OAuth protocol events (issue 15).
            Self::ConsentGranted => "consent_granted",
            Self::CodeReplayed => "code_replayed",
            Self::RefreshReplayed => "refresh_replayed",
            Self::ClientAuthFailed => "client_auth_failed",
            Self::RedirectUriRefused => "redirect_uri_refused",
            Self::ApiCall => "api_call",
            Self::PasswordResetSent => "password_reset_sent",
            Self::MailRetried => "mail_retried",
            Self::MailPurged => "mail_purged",
        }
    }

    /// The action stored as `name`, if known.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Actor of commands run with the `gatehouse` binary.
pub const ACTOR_CLI: &str = "cli";
/// Actor of background work (automatic key rotation, expiry).
pub const ACTOR_SYSTEM: &str = "system";

/// One security event, before it is stored.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// A user id, a client id, [`ACTOR_CLI`] or [`ACTOR_SYSTEM`].
    pub actor: String,
    /// What the action was done to: a user id, client id, key id…; may be empty.
    pub target: String,
    pub action: AuditAction,
    /// The client address ("" outside HTTP).
    pub ip: String,
    /// The `x-request-id` of the request ("" outside HTTP).
    pub request_id: String,
    /// The request's `User-Agent` ("" outside HTTP).
    pub user_agent: String,
    /// A small JSON object; never a secret.
    pub detail: serde_json::Value,
}

impl AuditEvent {
    /// An event with no address, request id or detail (set them as needed).
    pub fn new(actor: impl Into<String>, action: AuditAction, target: impl Into<String>) -> Self {
        Self {
            actor: actor.into(),
            target: target.into(),
            action,
            ip: String::new(),
            request_id: String::new(),
            user_agent: String::new(),
            detail: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    /// Adds the members of `detail` (an object) to the detail object, so
    /// what the context put there (`via`) stays.
    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        match (&mut self.detail, detail) {
            (serde_json::Value::Object(mine), serde_json::Value::Object(more)) => {
                // The context's `via` is the context's to say; a service key cannot replace it.
                let via = mine.get("via").cloned();
                mine.extend(more);
                if let Some(via) = via {
                    mine.insert("via".to_owned(), via);
                }
            }
            (mine, other) => *mine = other,
        }
        self
    }
}

/// Who is acting and from where: the small value every mutating service
/// call takes, so that the service (never http or the CLI) writes the audit
/// event inside the change's own transaction. http builds one per request
/// (`http::audit::AuditCtx`), the CLI uses [`Context::cli`], background work
/// [`Context::system`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// A user id, a client id, [`ACTOR_CLI`] or [`ACTOR_SYSTEM`]; "" while
    /// nobody is signed in (the service then names the account it acts on).
    pub actor: String,
    pub ip: String,
    pub user_agent: String,
    pub request_id: String,
    /// The face the call came through when it is worth recording: `"api"`
    /// for the JSON API; "" for pages, the CLI and background work. Every
    /// event of the context carries it as `detail.via`.
    pub via: &'static str,
}

/// [`Context::via`] of the JSON API.
pub const VIA_API: &str = "api";

impl Context {
    /// A command run with the `gatehouse` binary.
    pub fn cli() -> Self {
        Self { actor: ACTOR_CLI.to_owned(), ..Self::default() }
    }

    /// Background work (the janitor, key rotation).
    pub fn system() -> Self {
        Self { actor: ACTOR_SYSTEM.to_owned(), ..Self::default() }
    }

    /// The same request, acting as `actor` (for example once the password
    /// named the account).
    pub fn acting_as(&self, actor: impl Into<String>) -> Self {
        Self { actor: actor.into(), ..self.clone() }
    }

    /// An event by this context's actor (or `target` when there is none yet).
    pub fn event(&self, action: AuditAction, target: impl Into<String>) -> AuditEvent {
        let target = target.into();
        let actor = if self.actor.is_empty() { target.clone() } else { self.actor.clone() };
        let event = AuditEvent {
            ip: self.ip.clone(),
            request_id: self.request_id.clone(),
            user_agent: self.user_agent.clone(),
            ..AuditEvent::new(actor, action, target)
        };
        if self.via.is_empty() { event } else { event.with_detail(serde_json::json!({ "via": self.via })) }
    }

    /// The same request, marked as coming through `via` (see [`Self::via`]).
    pub fn via(self, via: &'static str) -> Self {
        Self { via, ..self }
    }
}

fn bounded(s: &str) -> String {
    s.chars().take(FIELD_MAX).collect()
}

/// The row's hash: SHA-256 over `prev_hash` and the length-prefixed fields.
pub fn row_hash(r: &AuditRow) -> String {
    let mut h = Sha256::new();
    let fields = [
        r.prev_hash.as_str(),
        &r.id.to_string(),
        &r.at.to_string(),
        r.actor.as_str(),
        r.target.as_str(),
        r.action.as_str(),
        r.ip.as_str(),
        r.request_id.as_str(),
        r.detail.as_str(),
    ];
    // Rows from before migration 0017 have no user agent and keep their hash.
    for field in fields.into_iter().chain(r.user_agent.as_deref()) {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Appends `event` inside the caller's transaction, so it commits (or rolls
/// back) with the change it describes. Returns the event's sequence number.
pub async fn append(db: &mut Db<'_>, event: &AuditEvent, now: i64) -> store::Result<i64> {
    let head = db.claim_audit_seq().await?;
    let mut row = AuditRow {
        id: head.seq,
        at: now,
        actor: bounded(&event.actor),
        target: bounded(&event.target),
        action: event.action.as_str().to_owned(),
        ip: bounded(&event.ip),
        request_id: bounded(&event.request_id),
        user_agent: Some(bounded(&event.user_agent)),
        detail: event.detail.to_string(),
        prev_hash: head.hash,
        hash: String::new(),
    };
    row.hash = row_hash(&row);
    db.insert_audit(&row).await?;
    Ok(row.id)
}

/// Appends `event` in a transaction of its own.
pub async fn record(store: &Store, event: &AuditEvent, now: i64) -> store::Result<i64> {
    let mut tx = store.begin().await?;
    let id = append(&mut tx.db(), event, now).await?;
    tx.commit().await?;
    Ok(id)
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every row fits; this many events.
    Intact(u64),
    /// The first row that does not fit (for a removed tail, the head's
    /// sequence number), and why.
    Broken { id: i64, reason: &'static str },
}

/// Walks the whole chain from the first row, in batches. Appends that
/// commit during the walk are fine: the head is read before and after.
pub async fn verify(store: &Store) -> store::Result<Verdict> {
    const BATCH: i64 = 1_000;
    let mut conn = store.conn().await?;
    let before = conn.db().audit_head().await?;
    let (mut prev_id, mut prev_hash, mut count) = (0_i64, GENESIS.to_owned(), 0_u64);
    loop {
        let rows = conn.db().audit_after(prev_id, BATCH).await?;
        let done = (rows.len() as i64) < BATCH;
        for row in rows {
            if row.id != prev_id + 1 {
                return Ok(Verdict::Broken { id: row.id, reason: "a row before it is missing" });
            }
            if row.prev_hash != prev_hash {
                return Ok(Verdict::Broken { id: row.id, reason: "prev_hash does not match the row before" });
            }
            if row_hash(&row) != row.hash {
                return Ok(Verdict::Broken { id: row.id, reason: "hash does not match the row's content" });
            }
            (prev_id, prev_hash, count) = (row.id, row.hash, count + 1);
        }
        if done {
            break;
        }
    }
    let after = conn.db().audit_head().await?;
    if prev_id < before.seq {
        return Ok(Verdict::Broken { id: prev_id + 1, reason: "rows at the end are missing" });
    }
    if prev_id > after.seq {
        return Ok(Verdict::Broken { id: after.seq + 1, reason: "a row was added outside the chain head" });
    }
    if prev_id == after.seq && prev_hash != after.hash {
        return Ok(Verdict::Broken { id: prev_id, reason: "the last row does not match the chain head" });
    }
    Ok(Verdict::Intact(count))
}

/// The newest `n` events, oldest first.
pub async fn tail(store: &Store, n: i64) -> store::Result<Vec<AuditRow>> {
    let mut rows = store.conn().await?.db().audit_latest(n.max(0)).await?;
    rows.reverse();
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> AuditRow {
        AuditRow {
            id: 1,
            at: 1_767_225_600,
            actor: "cli".into(),
            target: "u1".into(),
            action: "user_blocked".into(),
            ip: String::new(),
            request_id: String::new(),
            user_agent: Some(String::new()),
            detail: "{}".into(),
            prev_hash: GENESIS.into(),
            hash: String::new(),
        }
    }

    #[test]
    fn action_names_round_trip_and_are_unique() {
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(a));
        }
        let mut names: Vec<_> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), AuditAction::ALL.len());
    }

    #[test]
    fn hash_changes_with_every_field_and_field_boundaries() {
        let base = row_hash(&row());
        assert_eq!(base.len(), 64);
        let mut moved = row();
        // Same concatenation, different split: the length prefix tells them apart.
        moved.actor = "cliu".into();
        moved.target = "1".into();
        assert_ne!(row_hash(&moved), base);
        let mut other = row();
        other.detail = r#"{"a":1}"#.into();
        assert_ne!(row_hash(&other), base);
        let mut later = row();
        later.at += 1;
        assert_ne!(row_hash(&later), base);
        let mut browser = row();
        browser.user_agent = Some("curl/8".into());
        assert_ne!(row_hash(&browser), base);
        // A row from before migration 0017 (no user agent at all) is not the
        // same row as one with an empty user agent.
        let mut old = row();
        old.user_agent = None;
        assert_ne!(row_hash(&old), base);
    }

    #[test]
    fn a_context_event_names_the_target_when_nobody_is_signed_in() {
        let ctx =
            Context { ip: "192.0.2.1".into(), user_agent: "ua".into(), request_id: "r1".into(), ..Context::default() };
        let e = ctx.event(AuditAction::SignIn, "u1");
        assert_eq!(
            (e.actor.as_str(), e.target.as_str(), e.ip.as_str(), e.user_agent.as_str()),
            ("u1", "u1", "192.0.2.1", "ua")
        );
        let e = ctx.acting_as("admin").event(AuditAction::UserBlocked, "u1");
        assert_eq!((e.actor.as_str(), e.request_id.as_str()), ("admin", "r1"));
        assert_eq!(Context::cli().event(AuditAction::UserBlocked, "u1").actor, ACTOR_CLI);
    }
}
