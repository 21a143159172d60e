//! `password_history` (earlier password hashes of a user) and the password
//! age read from `users.password_changed_at`, for the password policy.
use super::{Db, Result, exec, on};

impl Db<'_> {
    /// Appends an earlier password hash to the user's history and keeps only
    /// the newest `keep` rows (`keep` 0 empties it).
    pub async fn push_password_history(&mut self, user_id: &str, hash: &str, keep: i64, now: i64) -> Result<()> {
        if keep > 0 {
            exec!(
                self,
                sqlx::query(
                    "insert into password_history (user_id, seq, password_hash, created_at) \
                     select $1, coalesce(max(seq), 0) + 1, $2, $3 from password_history where user_id = $1"
                )
                .bind(user_id)
                .bind(hash)
                .bind(now)
            )?;
        }
        exec!(
            self,
            sqlx::query(
                "delete from password_history where user_id = $1 and seq <= \
                 (select coalesce(max(seq), 0) from password_history where user_id = $1) - $2"
            )
            .bind(user_id)
            .bind(keep)
        )?;
        Ok(())
    }

    /// The user's newest `limit` earlier password hashes, newest first.
    pub async fn password_history(&mut self, user_id: &str, limit: i64) -> Result<Vec<String>> {
        Ok(on!(self, |c| sqlx::query_scalar(
            "select password_hash from password_history where user_id = $1 order by seq desc limit $2"
        )
        .bind(user_id)
        .bind(limit)
        .fetch_all(c)
        .await)?)
    }

    /// When the user's password was last set (unix seconds), if known.
    pub async fn password_changed_at(&mut self, user_id: &str) -> Result<Option<i64>> {
        let at: Option<Option<i64>> =
            on!(self, |c| sqlx::query_scalar("select password_changed_at from users where id = $1")
                .bind(user_id)
                .fetch_optional(c)
                .await)?;
        Ok(at.flatten())
    }

    /// The user a live link belongs to, without spending it.
    pub async fn live_link_user(&mut self, token_hash: &str, purpose: &str, now: i64) -> Result<Option<String>> {
        Ok(on!(self, |c| sqlx::query_scalar(
            "select user_id from mail_links \
             where token_hash = $1 and purpose = $2 and used_at is null and expires_at > $3"
        )
        .bind(token_hash)
        .bind(purpose)
        .bind(now)
        .fetch_optional(c)
        .await)?)
    }
}
