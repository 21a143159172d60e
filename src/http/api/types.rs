//! Types more than one API area sends, and the wire form of times
//! (RFC 3339, UTC, whole seconds).
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use super::problem::Problem;
use crate::accounts::{Account, SessionInfo};

/// A unix time as RFC 3339 (`2026-12-03T14:00:00Z`).
pub fn timestamp(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix).ok().and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
}

/// An RFC 3339 time given in `field`, as unix seconds (422 otherwise).
pub fn parse_timestamp(field: &str, raw: &str) -> Result<i64, Problem> {
    OffsetDateTime::parse(raw, &Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| Problem::invalid_field(field, "give a time as RFC 3339, e.g. 2026-12-03T14:00:00Z"))
}

/// A user, as every API route shows one.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserBody {
    pub id: String,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    pub display_name: String,
    /// Sorted; every user has `user`.
    pub roles: Vec<String>,
    pub blocked: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<Account> for UserBody {
    fn from(a: Account) -> Self {
        Self {
            id: a.user.id,
            username: a.user.username,
            email: a.user.email,
            email_verified: a.user.email_verified,
            display_name: a.user.display_name,
            roles: a.roles,
            blocked: a.user.blocked,
            created_at: timestamp(a.user.created_at),
        }
    }
}

/// A live browser session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionBody {
    pub id: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub last_seen_at: String,
    pub ip: String,
    pub user_agent: String,
    /// The paging key (creation time, id); not sent.
    #[serde(skip)]
    pub key: (i64, String),
}

impl From<SessionInfo> for SessionBody {
    fn from(s: SessionInfo) -> Self {
        Self {
            key: (s.created_at, s.id.clone()),
            created_at: timestamp(s.created_at),
            last_seen_at: timestamp(s.last_seen_at),
            id: s.id,
            ip: s.ip,
            user_agent: s.user_agent,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_round_trip_as_rfc_3339() {
        assert_eq!(super::timestamp(1_767_225_600), "2026-01-01T00:00:00Z");
        assert_eq!(super::parse_timestamp("since", "2026-01-01T00:00:00Z").unwrap(), 1_767_225_600);
        assert!(super::parse_timestamp("since", "yesterday").is_err());
    }
}
