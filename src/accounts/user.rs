//! Accounts as the services hand them to http, the CLI and (later) the JSON
//! API: [`User`] (never the store row: no password hash leaves `accounts`)
//! and the admin console's user list ([`UserList`]), with the facts the
//! console shows (locked, administrator, the viewer's own account).
//!
//! Must not import axum or `http`.
use super::{Accounts, Result};
use crate::store::UserRow;

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
