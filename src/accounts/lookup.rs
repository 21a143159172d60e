//! Names for ids and ids for names, for pages that show or filter records
//! naming users by id (the console's audit log).
use std::collections::HashMap;

use super::{Accounts, Result, names};

impl Accounts {
    /// The usernames of those of `ids` that are users (others are left out).
    pub async fn usernames(&self, ids: &[&str]) -> Result<HashMap<String, String>> {
        let mut conn = self.store.conn().await?;
        let mut out = HashMap::new();
        for id in ids {
            if id.is_empty() || out.contains_key(*id) {
                continue;
            }
            if let Some(user) = conn.db().find_user(id).await? {
                out.insert((*id).to_owned(), user.username);
            }
        }
        Ok(out)
    }

    /// The user id of `who` (a username, an email or an id) if it names a
    /// user, else `who` as given (a client id, `cli`, `system`).
    pub async fn subject_id(&self, who: &str) -> Result<String> {
        let who = who.trim();
        let mut conn = self.store.conn().await?;
        if conn.db().find_user(who).await?.is_some() {
            return Ok(who.to_owned());
        }
        Ok(conn.db().find_user_by_login(&names::login_key(who)).await?.map_or_else(|| who.to_owned(), |u| u.id))
    }
}
