//! Account figures for the console's dashboard.
use super::{Accounts, Result};

/// Figures of the moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountFigures {
    /// Sessions neither signed out, expired nor idle too long.
    pub live_sessions: i64,
    /// Users locked now after failed sign-ins (password or second step).
    pub locked_users: i64,
    /// Mail waiting to be sent.
    pub mail_pending: i64,
    /// Mail given up on.
    pub mail_dead: i64,
}

impl Accounts {
    /// Live sessions, locked accounts and the outbox's depth, now.
    pub async fn figures(&self) -> Result<AccountFigures> {
        let now = self.now();
        let mut conn = self.store.conn().await?;
        let live_sessions = conn.db().live_session_count(now, now - self.session.idle_timeout_secs).await?;
        let mut locked: Vec<String> = conn
            .db()
            .locked_users(now)
            .await?
            .into_iter()
            .map(|s| s.split_once(':').map_or(s.clone(), |(_, id)| id.to_owned()))
            .collect();
        locked.sort();
        locked.dedup();
        let depth = conn.db().outbox_depth().await?;
        Ok(AccountFigures {
            live_sessions,
            locked_users: locked.len() as i64,
            mail_pending: depth.pending,
            mail_dead: depth.dead,
        })
    }
}
