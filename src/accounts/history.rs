//! A user's action history: the audit events where the user is the actor
//! or the target, newest first, paged by sequence number, with actor and
//! target resolved to names (a user's username, a client's name, `cli` and
//! `system` as themselves; a deleted user's id stays unresolved).
//!
//! A deleted user's history stays readable by id: the log keeps their
//! events, and an id counts as known while a user has it or the log records
//! its `user_deleted`. Any other id is `UnknownUser`.
use super::{Accounts, Error, Result};
use crate::security::audit::{ACTOR_CLI, ACTOR_SYSTEM, AuditAction};
use crate::store::{ActionQuery, ActionRow};

/// The history's filters.
#[derive(Debug, Clone, Default)]
pub struct ActionFilter {
    pub action: Option<AuditAction>,
    /// At or after (unix seconds).
    pub since: Option<i64>,
    /// At or before (unix seconds).
    pub until: Option<i64>,
}

/// One side of an event: its id and, when known, its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub id: String,
    pub name: Option<String>,
}

/// One event of the history.
#[derive(Debug, Clone)]
pub struct ActionEntry {
    /// The event's sequence number in the log.
    pub seq: i64,
    pub at: i64,
    pub action: String,
    pub actor: Party,
    pub target: Party,
    pub ip: String,
    /// The face the call came through (`api`), "" when not recorded.
    pub via: String,
    /// The event's detail object.
    pub detail: serde_json::Value,
}

fn party(id: String, username: Option<String>, client: Option<String>) -> Party {
    let name = match id.as_str() {
        ACTOR_CLI | ACTOR_SYSTEM => Some(id.clone()),
        "" => None,
        _ => username.or(client),
    };
    Party { id, name }
}

impl From<ActionRow> for ActionEntry {
    fn from(r: ActionRow) -> Self {
        let detail: serde_json::Value = serde_json::from_str(&r.detail).unwrap_or_else(|_| serde_json::json!({}));
        let via = detail.get("via").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        Self {
            seq: r.id,
            at: r.at,
            action: r.action,
            actor: party(r.actor, r.actor_username, r.actor_client),
            target: party(r.target, r.target_username, r.target_client),
            ip: r.ip,
            via,
            detail,
        }
    }
}

impl Accounts {
    /// Up to `limit` events of `user_id`'s history older than sequence
    /// number `before` (the newest when `None`), newest first. Fetch
    /// `limit + 1` to learn whether another page follows.
    pub async fn actions_of(
        &self,
        user_id: &str,
        filter: &ActionFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ActionEntry>> {
        let mut conn = self.store.conn().await?;
        if conn.db().find_user(user_id).await?.is_none() && !conn.db().user_was_deleted(user_id).await? {
            return Err(Error::UnknownUser);
        }
        let query = ActionQuery {
            user_id,
            action: filter.action.map_or("", AuditAction::as_str),
            since: filter.since,
            until: filter.until,
            before,
            limit: i64::from(limit),
        };
        let rows = conn.db().user_actions(&query).await?;
        Ok(rows.into_iter().map(ActionEntry::from).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_and_system_name_themselves_and_unknown_ids_stay_unresolved() {
        assert_eq!(party("cli".into(), None, None).name.as_deref(), Some("cli"));
        assert_eq!(party("system".into(), None, None).name.as_deref(), Some("system"));
        assert_eq!(party("u1".into(), Some("ann".into()), None).name.as_deref(), Some("ann"));
        assert_eq!(party("rp".into(), None, Some("rp app".into())).name.as_deref(), Some("rp app"));
        assert_eq!(party("gone".into(), None, None).name, None);
    }
}
