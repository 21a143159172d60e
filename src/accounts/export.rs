//! "All my data" (GDPR Art. 15/20): one JSON document of the account, its
//! roles, sessions, sign-in activity, linked providers, connected apps
//! (consents and live tokens), second-factor state and the audit events
//! about it, for the JSON API's `GET /api/v1/me/export` and the
//! `/account/export` download alike. Never a secret or a hash (no password
//! hash, TOTP secret, recovery code or token), and nothing of another
//! user: in events someone else did, their id, address and user agent are
//! left out; in events the user did to another account, that account and
//! the detail are.
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use super::{Accounts, Result, User};
use crate::security::audit::{ACTOR_CLI, ACTOR_SYSTEM};

/// At most this many audit events and sign-in attempts (the newest).
const EXPORT_MAX_ROWS: i64 = 10_000;

/// The export document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Export {
    #[schema(format = DateTime)]
    pub exported_at: String,
    pub profile: ExportProfile,
    pub roles: Vec<String>,
    pub sessions: Vec<ExportSession>,
    pub activity: Vec<ExportAttempt>,
    pub linked_providers: Vec<ExportLink>,
    pub connected_apps: Vec<ExportApp>,
    pub mfa: ExportMfa,
    pub audit_events: Vec<ExportEvent>,
}

/// The account itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportProfile {
    pub id: String,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    pub display_name: String,
    pub blocked: bool,
    pub has_password: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// A live browser session.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportSession {
    pub id: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub last_seen_at: String,
    pub ip: String,
    pub user_agent: String,
}

/// A sign-in attempt on the account.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportAttempt {
    #[schema(format = DateTime)]
    pub at: String,
    pub outcome: String,
    pub method: String,
    pub ip: String,
    pub user_agent: String,
}

/// An upstream account linked to this one.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportLink {
    pub provider: String,
    pub email: String,
    #[schema(format = DateTime)]
    pub linked_at: String,
    #[schema(format = DateTime)]
    pub last_used_at: String,
}

/// A client the user allowed, or that holds live tokens of the user.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportApp {
    pub client_id: String,
    pub client_name: String,
    /// The consented scopes (empty without a consent).
    pub scopes: Vec<String>,
    pub live_access_tokens: i64,
    pub live_refresh_tokens: i64,
}

/// Two-step sign-in, without any secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportMfa {
    pub totp: bool,
    pub email: bool,
    pub recovery_codes_left: i64,
    /// A role of the account requires a second factor.
    pub required: bool,
}

/// An audit event about the account.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportEvent {
    #[schema(format = DateTime)]
    pub at: String,
    pub action: String,
    /// `you`, `system`, `cli`, or `someone else`.
    pub actor: String,
    /// `you`, or "" for an event about something that is not an account.
    pub target: String,
    pub ip: String,
    #[schema(value_type = Object)]
    pub detail: Value,
}

fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix).ok().and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
}

/// An audit row as the user may see it (see the module docs).
fn own_event(user_id: &str, row: crate::store::AuditRow) -> ExportEvent {
    let by_me = row.actor == user_id;
    let actor = match row.actor.as_str() {
        _ if by_me => "you",
        ACTOR_SYSTEM => ACTOR_SYSTEM,
        ACTOR_CLI => ACTOR_CLI,
        _ => "someone else",
    };
    let about_me = row.target == user_id;
    let detail = if about_me || row.target.is_empty() {
        serde_json::from_str(&row.detail).unwrap_or(Value::Null)
    } else {
        Value::Object(Default::default())
    };
    ExportEvent {
        at: rfc3339(row.at),
        action: row.action,
        actor: actor.to_owned(),
        target: if about_me { "you".to_owned() } else { String::new() },
        ip: if by_me { row.ip } else { String::new() },
        detail,
    }
}

impl Accounts {
    /// The user's export (see the module docs).
    pub async fn export(&self, user_id: &str) -> Result<Export> {
        let account = self.account(user_id).await?;
        let sessions = self.sessions(user_id).await?;
        let activity = self.activity_page(user_id, None, EXPORT_MAX_ROWS).await?;
        let links = self.upstream_identities(user_id).await?;
        let mfa = self.mfa_status(user_id, &account.roles).await?;
        let now = self.now();
        let mut conn = self.store.conn().await?;
        let consents = conn.db().user_consents(user_id).await?;
        let access = conn.db().user_live_access(user_id, now).await?;
        let refresh = conn.db().user_live_refresh(user_id, now).await?;
        let events = conn.db().audit_about(user_id, EXPORT_MAX_ROWS).await?;
        let mut apps: Vec<ExportApp> = consents
            .into_iter()
            .map(|c| ExportApp {
                client_id: c.client_id,
                client_name: c.client_name.unwrap_or_default(),
                scopes: crate::wire::words(&c.scope).map(str::to_owned).collect(),
                live_access_tokens: 0,
                live_refresh_tokens: 0,
            })
            .collect();
        for (rows, is_access) in [(access, true), (refresh, false)] {
            for t in rows {
                let i = match apps.iter().position(|a| a.client_id == t.client_id) {
                    Some(i) => i,
                    None => {
                        let name = conn.db().find_client(&t.client_id).await?.map(|c| c.name).unwrap_or_default();
                        let empty = ExportApp {
                            client_id: t.client_id.clone(),
                            client_name: name,
                            scopes: Vec::new(),
                            live_access_tokens: 0,
                            live_refresh_tokens: 0,
                        };
                        apps.push(empty);
                        apps.len() - 1
                    }
                };
                if is_access {
                    apps[i].live_access_tokens = t.live;
                } else {
                    apps[i].live_refresh_tokens = t.live;
                }
            }
        }
        let User { id, username, email, email_verified, display_name, blocked, created_at, has_password } =
            account.user;
        Ok(Export {
            exported_at: rfc3339(now),
            profile: ExportProfile {
                id,
                username,
                email,
                email_verified,
                display_name,
                blocked,
                has_password,
                created_at: rfc3339(created_at),
            },
            roles: account.roles,
            sessions: sessions
                .into_iter()
                .map(|s| ExportSession {
                    id: s.id,
                    created_at: rfc3339(s.created_at),
                    last_seen_at: rfc3339(s.last_seen_at),
                    ip: s.ip,
                    user_agent: s.user_agent,
                })
                .collect(),
            activity: activity
                .into_iter()
                .map(|a| ExportAttempt {
                    at: rfc3339(a.at),
                    outcome: a.outcome,
                    method: a.method,
                    ip: a.ip,
                    user_agent: a.user_agent,
                })
                .collect(),
            linked_providers: links
                .into_iter()
                .map(|l| ExportLink {
                    provider: l.provider,
                    email: l.email,
                    linked_at: rfc3339(l.created_at),
                    last_used_at: rfc3339(l.last_used_at),
                })
                .collect(),
            connected_apps: apps,
            mfa: ExportMfa {
                totp: mfa.totp,
                email: mfa.email,
                recovery_codes_left: mfa.recovery_left,
                required: mfa.required,
            },
            audit_events: events.into_iter().map(|r| own_event(user_id, r)).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AuditRow;

    fn row(actor: &str, target: &str, detail: &str) -> AuditRow {
        AuditRow {
            id: 1,
            at: 1_767_225_600,
            actor: actor.into(),
            target: target.into(),
            action: "role_changed".into(),
            ip: "192.0.2.1".into(),
            request_id: "r".into(),
            user_agent: None,
            detail: detail.into(),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn events_keep_my_data_and_drop_other_users() {
        let mine = own_event("me", row("me", "me", r#"{"roles":["user"]}"#));
        assert_eq!((mine.actor.as_str(), mine.target.as_str(), mine.ip.as_str()), ("you", "you", "192.0.2.1"));
        assert_eq!(mine.detail["roles"][0], "user");
        // Someone else acted on me: who and from where stay out.
        let by_admin = own_event("me", row("admin-id", "me", r#"{"roles":["user"]}"#));
        assert_eq!((by_admin.actor.as_str(), by_admin.ip.as_str()), ("someone else", ""));
        // I acted on another account: that account and the detail stay out.
        let on_other = own_event("me", row("me", "other-id", r#"{"email":"other@example.com"}"#));
        assert_eq!(on_other.target, "");
        assert_eq!(on_other.detail, serde_json::json!({}));
        assert_eq!(own_event("me", row(ACTOR_SYSTEM, "me", "{}")).actor, "system");
    }
}
