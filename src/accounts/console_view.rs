//! What the admin console shows of users beyond the JSON API's shapes: the
//! filtered list ([`Accounts::list_accounts`]) with each row's lock and
//! whether it is the viewer's own account, and one user's summary (state,
//! two-step sign-in, last sign-in, and what a deletion would remove).
//!
//! Must not import axum or `http`.
use super::directory::UserKey;
use super::{Account, Accounts, Result, UserFilter};

/// A row of the console's user list.
#[derive(Debug, Clone)]
pub struct ListedAccount {
    pub account: Account,
    /// Locked after too many failed sign-ins.
    pub locked: bool,
    /// The viewing administrator's own account.
    pub is_viewer: bool,
}

/// One page of the console's list: the rows and the key after the last one
/// when another page follows.
#[derive(Debug, Clone)]
pub struct AccountPage {
    pub rows: Vec<ListedAccount>,
    pub next: Option<UserKey>,
}

/// One user as the console's detail page shows them.
#[derive(Debug, Clone)]
pub struct UserSummary {
    pub account: Account,
    pub locked: bool,
    pub mfa_on: bool,
    /// The newest successful sign-in among the recent attempts.
    pub last_sign_in: Option<i64>,
    pub sessions: usize,
    pub consents: usize,
    pub providers: usize,
    /// Second factors set up (authenticator app, email codes).
    pub factors: usize,
}

impl Accounts {
    /// Up to `limit` users matching `filter` after `after`, with the facts
    /// the console's row actions need (the same query as the JSON API's list).
    pub async fn console_accounts(
        &self,
        filter: &UserFilter,
        after: Option<&UserKey>,
        limit: u32,
        viewer_id: &str,
    ) -> Result<AccountPage> {
        let mut accounts = self.list_accounts(filter, after, limit + 1).await?;
        let more = accounts.len() > limit as usize;
        accounts.truncate(limit as usize);
        let next = if more { accounts.last().map(|a| (a.user.created_at, a.user.id.clone())) } else { None };
        let locked = self.locked_user_ids().await?;
        let rows = accounts
            .into_iter()
            .map(|account| ListedAccount {
                locked: locked.contains(&account.user.id),
                is_viewer: account.user.id == viewer_id,
                account,
            })
            .collect();
        Ok(AccountPage { rows, next })
    }

    /// The console's summary of one user; `UnknownUser` for no such user.
    pub async fn user_summary(&self, user_id: &str) -> Result<UserSummary> {
        let account = self.account(user_id).await?;
        let mfa = self.mfa_status(user_id, &account.roles).await?;
        let last_sign_in =
            self.recent_activity(user_id).await?.into_iter().find(|a| a.outcome == "success").map(|a| a.at);
        let locked = self.locked_user_ids().await?.contains(user_id);
        let sessions = self.sessions(user_id).await?.len();
        let consents = self.consents_of(user_id, None, u32::MAX).await?.len();
        let providers = self.providers_of(user_id, None, u32::MAX).await?.len();
        Ok(UserSummary {
            account,
            locked,
            mfa_on: mfa.enabled(),
            last_sign_in,
            sessions,
            consents,
            providers,
            factors: usize::from(mfa.totp) + usize::from(mfa.email),
        })
    }
}
