//! Privilege changes and what must follow them (issue 14, items 3, 7, 8):
//!
//! - role IP rules are decided from the identified account *before* its
//!   password is checked, so the answer cannot tell a right password from a
//!   wrong one ([`Accounts::roles_for_login`], [`Accounts::spend_password_check`]);
//! - a role change ends the user's sessions (OWASP Session Management Cheat
//!   Sheet: "renew the session ID after any privilege level change"; ASVS
//!   V7), and a browser that adds a factor goes on under a new session id
//!   (in the factor's own transaction, see `accounts/mfa.rs`);
//! - there is always an administrator: the last unblocked one cannot be
//!   demoted, blocked or deleted, and every such change takes the same lock
//!   (`lock_admins`) so two admins demoting or blocking each other at once
//!   cannot both succeed.
use secrecy::SecretString;

use super::{Accounts, Result, names};
use crate::store::Db;

impl Accounts {
    /// The id and roles of the account that `login` (username or email)
    /// names, if any, read before anything is checked.
    pub async fn roles_for_login(&self, login: &str) -> Result<Option<(String, Vec<String>)>> {
        let key = names::login_key(login);
        if key.is_empty() || key.len() > names::EMAIL_MAX {
            return Ok(None);
        }
        let mut conn = self.store.conn().await?;
        let Some(user) = conn.db().find_user_by_login(&key).await? else { return Ok(None) };
        let roles = conn.db().user_roles(&user.id).await?;
        Ok(Some((user.id, roles)))
    }

    /// Spends the time of a password check without checking anything (the
    /// dummy hash never matches), for answers that must not be faster than a
    /// real check.
    pub async fn spend_password_check(&self, password: &SecretString) -> Result<()> {
        self.passwords.verify(password, None).await?;
        Ok(())
    }

    /// Whether taking `user_id` out of the administrators (demotion, block)
    /// would leave none. Call after `lock_admins` in the same transaction.
    pub(super) async fn would_leave_no_admin(&self, db: &mut Db<'_>, user_id: &str) -> Result<bool> {
        let Some(user) = db.find_user(user_id).await? else { return Ok(false) };
        // A blocked admin is no admin now, so taking them out changes nothing.
        if user.blocked || !db.user_roles(user_id).await?.iter().any(|r| r == "admin") {
            return Ok(false);
        }
        Ok(db.count_role_holders("admin", user_id).await? == 0)
    }
}
