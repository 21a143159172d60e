//! What an administrator reads about users through the JSON API: the
//! filtered user list in keyset pages (ordered by creation time, then id;
//! ids are uuid v7), and one user's sessions, linked upstream accounts and
//! consents. Consents are read from the store here, since `accounts` may not
//! import `oauth`. Must not import axum or `http`; returns domain types.
use super::{Account, Accounts, Error, Result, SessionInfo, User};
use crate::store::{ListedUserRow, UserQuery};

/// A user's state in the list filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserState {
    /// Neither blocked nor locked.
    Active,
    Blocked,
    /// Locked after too many failed sign-ins (`accounts::lockout`).
    Locked,
}

impl UserState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Blocked => "blocked",
            Self::Locked => "locked",
        }
    }

    /// The state named `raw`.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Active, Self::Blocked, Self::Locked].into_iter().find(|s| s.as_str() == raw)
    }
}

/// The list's filters; `None` filters nothing.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Part of the username or email (case-insensitive; at most 100 characters).
    pub q: Option<String>,
    pub role: Option<String>,
    pub state: Option<UserState>,
    pub verified: Option<bool>,
    /// Created at or after (unix seconds).
    pub created_since: Option<i64>,
}

/// Where a page starts: after the user created at `.0` with id `.1`.
pub type UserKey = (i64, String);

/// A linked upstream account.
#[derive(Debug, Clone)]
pub struct LinkedProvider {
    pub provider: String,
    pub subject: String,
    pub email: String,
    pub linked_at: i64,
    pub last_used_at: i64,
}

/// A client the user allowed scopes.
#[derive(Debug, Clone)]
pub struct Consent {
    pub client_id: String,
    /// `None` when the client has been deleted since.
    pub client_name: Option<String>,
    pub scopes: Vec<String>,
    pub updated_at: i64,
}

impl Accounts {
    /// Up to `limit` users matching `filter` after `after`, in (created_at,
    /// id) order, each with its roles. Fetch `limit + 1` to learn whether
    /// another page follows.
    pub async fn list_accounts(
        &self,
        filter: &UserFilter,
        after: Option<&UserKey>,
        limit: u32,
    ) -> Result<Vec<Account>> {
        // A cursor is ours only if it holds a stored id (no NUL reaches the database).
        if after.is_some_and(|(_, id)| id.contains('\0') || id.len() > 64) {
            return Err(Error::field("cursor", "the cursor is not one this server handed out"));
        }
        if filter.role.as_deref().is_some_and(|r| !super::ROLES.contains(&r)) {
            return Err(Error::field("role", format!("use one of: {}", super::ROLES.join(", "))));
        }
        let needle = filter.q.as_deref().map(super::bounded_query).map(|q| super::names::login_key(&q));
        let query = UserQuery {
            needle: needle.as_deref().unwrap_or_default(),
            role: filter.role.as_deref().unwrap_or_default(),
            state: filter.state.map_or("", UserState::as_str),
            verified: filter.verified,
            created_since: filter.created_since,
            after: after.map(|(at, id)| (*at, id.as_str())),
            now: self.now(),
            limit: i64::from(limit),
        };
        let rows = self.store.conn().await?.db().list_users_page(&query).await?;
        Ok(group_roles(rows))
    }

    /// Fails with `UnknownUser` unless the account exists.
    async fn ensure_user(&self, user_id: &str) -> Result<()> {
        self.store.conn().await?.db().find_user(user_id).await?.map(|_| ()).ok_or(Error::UnknownUser)
    }

    /// Up to `limit` of the user's live sessions after the one with id
    /// `after`, newest first (ids are uuid v7); `UnknownUser` for no such user.
    pub async fn sessions_of(&self, user_id: &str, after: Option<&str>, limit: u32) -> Result<Vec<SessionInfo>> {
        self.ensure_user(user_id).await?;
        let sessions = self.sessions(user_id).await?;
        Ok(keyset(sessions, |s| std::cmp::Reverse(s.id.clone()), after.map(|a| std::cmp::Reverse(a.to_owned())), limit))
    }

    /// Up to `limit` of the user's linked upstream accounts after the
    /// (provider, subject) `after`, in that order.
    pub async fn providers_of(
        &self,
        user_id: &str,
        after: Option<&(String, String)>,
        limit: u32,
    ) -> Result<Vec<LinkedProvider>> {
        self.ensure_user(user_id).await?;
        let rows = self.store.conn().await?.db().user_upstream_identities(user_id).await?;
        let providers = rows
            .into_iter()
            .map(|r| LinkedProvider {
                provider: r.provider,
                subject: r.subject,
                email: r.email,
                linked_at: r.created_at,
                last_used_at: r.last_used_at,
            })
            .collect();
        Ok(keyset(providers, |p| (p.provider.clone(), p.subject.clone()), after.cloned(), limit))
    }

    /// Up to `limit` of the clients the user consented to (and the scopes)
    /// after client id `after`, by client id.
    pub async fn consents_of(&self, user_id: &str, after: Option<&str>, limit: u32) -> Result<Vec<Consent>> {
        self.ensure_user(user_id).await?;
        let rows = self.store.conn().await?.db().user_consents(user_id).await?;
        let consents = rows
            .into_iter()
            .map(|r| Consent {
                scopes: crate::wire::words(&r.scope).map(str::to_owned).collect(),
                client_id: r.client_id,
                client_name: r.client_name,
                updated_at: r.updated_at,
            })
            .collect();
        Ok(keyset(consents, |c| c.client_id.clone(), after.map(str::to_owned), limit))
    }
}

/// The items whose `key` follows `after`, in `key` order, at most `limit`
/// (a user's sessions, links and consents are few: paged in memory).
fn keyset<T, K: Ord>(mut items: Vec<T>, key: impl Fn(&T) -> K, after: Option<K>, limit: u32) -> Vec<T> {
    items.sort_by_key(&key);
    items.retain(|i| after.as_ref().is_none_or(|a| key(i) > *a));
    items.truncate(limit as usize);
    items
}

/// Folds the list's one-row-per-role rows into accounts (a user's rows are
/// adjacent and come in role order).
fn group_roles(rows: Vec<ListedUserRow>) -> Vec<Account> {
    let mut out: Vec<Account> = Vec::new();
    for row in rows {
        if let Some(last) = out.last_mut()
            && last.user.id == row.id
        {
            last.roles.extend(row.role);
            continue;
        }
        let user = User {
            id: row.id,
            username: row.username,
            email: row.email,
            email_verified: row.email_verified,
            display_name: row.display_name,
            blocked: row.blocked,
            created_at: row.created_at,
            has_password: row.has_password,
        };
        out.push(Account { user, roles: row.role.into_iter().collect() });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, role: Option<&str>) -> ListedUserRow {
        ListedUserRow {
            id: id.into(),
            username: id.into(),
            email: format!("{id}@example.com"),
            email_verified: true,
            display_name: String::new(),
            has_password: true,
            blocked: false,
            created_at: 1,
            role: role.map(str::to_owned),
        }
    }

    #[test]
    fn adjacent_role_rows_fold_into_one_account() {
        let rows = vec![row("a", Some("admin")), row("a", Some("user")), row("b", Some("user")), row("c", None)];
        let accounts = group_roles(rows);
        assert_eq!(accounts.len(), 3);
        assert_eq!(accounts[0].roles, ["admin", "user"]);
        assert_eq!(accounts[1].roles, ["user"]);
        assert!(accounts[2].roles.is_empty());
    }

    #[test]
    fn keyset_pages_follow_the_key() {
        let page = keyset(vec![5, 1, 4, 2, 3], |n| *n, Some(2), 2);
        assert_eq!(page, [3, 4]);
        let newest = keyset(vec![1, 3, 2], |n| std::cmp::Reverse(*n), None, 5);
        assert_eq!(newest, [3, 2, 1]);
    }

    #[test]
    fn states_round_trip() {
        for s in [UserState::Active, UserState::Blocked, UserState::Locked] {
            assert_eq!(UserState::parse(s.as_str()), Some(s));
        }
        assert_eq!(UserState::parse("gone"), None);
    }
}
