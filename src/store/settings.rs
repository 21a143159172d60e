//! `settings`: instance-wide values that every instance must agree on, such as
//! generated secrets. The first writer wins; everyone reads the winner.
use super::{Db, Result, exec, on};

impl Db<'_> {
    /// Returns the value stored under `key`, storing `candidate` first if there is none.
    /// Concurrent callers on several instances all get the same value.
    pub async fn setting_or_insert(&mut self, key: &str, candidate: &str, now: i64) -> Result<String> {
        exec!(
            self,
            sqlx::query(
                "insert into settings (key, value, created_at) values ($1, $2, $3) on conflict (key) do nothing"
            )
            .bind(key)
            .bind(candidate)
            .bind(now)
        )?;
        Ok(on!(self, |c| sqlx::query_scalar("select value from settings where key = $1").bind(key).fetch_one(c).await)?)
    }
}
