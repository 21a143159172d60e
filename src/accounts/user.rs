//! Accounts as the services hand them to http, the CLI and (later) the JSON
//! API: [`User`] (never the store row: no password hash leaves `accounts`)
//! and the admin console's user list ([`UserList`]), with the facts the
//! console shows (locked, administrator, the viewer's own account).
//!
//! Must not import axum or `http`.
use super::{Accounts, CurrentUser, Result, SessionInfo, SignInOutcome};
use crate::store::{ActivityRow, UserRow};

/// One account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    pub display_name: String,
    pub blocked: bool,
    pub created_at: i64,
    /// False for an account made by an upstream sign-in that never set one.
    pub has_password: bool,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            has_password: row.password_hash.is_some(),
            id: row.id,
            username: row.username,
            email: row.email,
            email_verified: row.email_verified,
            display_name: row.display_name,
            blocked: row.blocked,
            created_at: row.created_at,
        }
    }
}

impl User {
    /// The entity tag of the account as the JSON API shows it (RFC 9110
    /// §8.8.3): every field an update may change, and the roles.
    pub fn etag(&self, roles: &[String]) -> String {
        let verified = if self.email_verified { "1" } else { "0" };
        let blocked = if self.blocked { "1" } else { "0" };
        let roles = roles.join(" ");
        crate::wire::etag(&[&self.id, &self.username, &self.email, verified, &self.display_name, blocked, &roles])
    }
}

/// An account with its roles, as the JSON API shows one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub user: User,
    /// Sorted.
    pub roles: Vec<String>,
}

impl Account {
    /// See [`User::etag`].
    pub fn etag(&self) -> String {
        self.user.etag(&self.roles)
    }
}

/// One sign-in attempt on the account, as its owner sees it.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub at: i64,
    /// Words for the outcome ("Signed in", "Wrong password" …).
    pub outcome: &'static str,
    pub method: String,
    pub ip: String,
    pub user_agent: String,
}

impl From<ActivityRow> for Attempt {
    fn from(a: ActivityRow) -> Self {
        Self {
            at: a.at,
            outcome: SignInOutcome::describe(&a.outcome),
            method: a.method,
            ip: a.ip,
            user_agent: a.user_agent,
        }
    }
}

/// What the signed-in user's own page shows, in one call.
#[derive(Debug, Clone)]
pub struct Overview {
    pub user: User,
    /// Live sessions, with `current` marking the one asking.
    pub sessions: Vec<(SessionInfo, bool)>,
    /// The newest sign-in attempts, newest first.
    pub activity: Vec<Attempt>,
    /// Two-step sign-in is on.
    pub mfa_on: bool,
}

/// A user in the console's list.
#[derive(Debug, Clone)]
pub struct ListedUser {
    pub user: User,
    /// Locked after too many failed sign-ins (issue 6).
    pub locked: bool,
    /// Holds the `admin` role.
    pub admin: bool,
    /// The viewing administrator's own account (it cannot block itself).
    pub is_viewer: bool,
}

/// One page of the console's user list.
#[derive(Debug, Clone)]
pub struct UserList {
    pub users: Vec<ListedUser>,
    /// Matching users in all pages.
    pub total: i64,
    /// The page shown (from 1).
    pub page: i64,
    pub has_next: bool,
}

impl Accounts {
    /// The account with this id.
    pub async fn user(&self, user_id: &str) -> Result<User> {
        let row = self.store.conn().await?.db().find_user(user_id).await?;
        row.map(User::from).ok_or(super::Error::UnknownUser)
    }

    /// The account with this id and its roles.
    pub async fn account(&self, user_id: &str) -> Result<Account> {
        let mut conn = self.store.conn().await?;
        let row = conn.db().find_user(user_id).await?.ok_or(super::Error::UnknownUser)?;
        let roles = conn.db().user_roles(user_id).await?;
        Ok(Account { user: User::from(row), roles })
    }

    /// The account page's facts for the signed-in `who`.
    pub async fn overview(&self, who: &CurrentUser) -> Result<Overview> {
        let user = self.user(&who.user_id).await?;
        let sessions = self.sessions(&who.user_id).await?;
        let sessions = sessions.into_iter().map(|s| {
            let current = s.id == who.session_id;
            (s, current)
        });
        let sessions = sessions.collect();
        let activity = self.recent_activity(&who.user_id).await?.into_iter().map(Attempt::from).collect();
        let mfa_on = self.mfa_status(&who.user_id, &who.roles).await?.enabled();
        Ok(Overview { user, sessions, activity, mfa_on })
    }

    /// Page `page` (clamped to 1…1 000 000) of the users matching `query`
    /// (username or email; trimmed, at most 100 characters), as the
    /// administrator `viewer_id` sees it.
    pub async fn list_users(&self, query: &str, page: i64, per_page: i64, viewer_id: &str) -> Result<UserList> {
        let page = page.clamp(1, 1_000_000);
        let (rows, total) = self.search(&bounded_query(query), page, per_page).await?;
        let locked = self.locked_user_ids().await?;
        let admins = self.role_holders("admin").await?;
        let users = rows
            .into_iter()
            .map(|row| ListedUser {
                is_viewer: row.id == viewer_id,
                locked: locked.contains(&row.id),
                admin: admins.contains(&row.id),
                user: User::from(row),
            })
            .collect();
        Ok(UserList { users, total, page, has_next: page.saturating_mul(per_page) < total })
    }
}

/// The search text the list uses: trimmed, at most 100 characters.
pub fn bounded_query(query: &str) -> String {
    query.trim().chars().take(100).collect()
}
