//! `users` and `user_roles`.
use sqlx::{AssertSqlSafe, FromRow};

use super::{Db, Result, exec, like_pattern, on};

/// A user as stored. `*_key` columns hold the normalized forms that carry the
/// case-insensitive uniqueness; the plain columns keep what the user typed.
#[derive(Clone, FromRow)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    pub display_name: String,
    pub password_hash: Option<String>,
    pub blocked: bool,
    pub created_at: i64,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("blocked", &self.blocked)
            .field("password_hash", &self.password_hash.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// Columns for a new user.
pub struct NewUser<'a> {
    pub id: &'a str,
    pub username: &'a str,
    pub username_key: &'a str,
    pub email: &'a str,
    pub email_key: &'a str,
    pub email_verified: bool,
    pub display_name: &'a str,
    pub password_hash: Option<&'a str>,
    pub now: i64,
}

/// The columns of [`UserRow`], as a literal so that `concat!` can build whole statements from it.
macro_rules! user_columns {
    () => {
        "id, username, email, email_verified, display_name, password_hash, blocked, created_at"
    };
}

const USER_COLUMNS: &str = user_columns!();

/// A user by normalized username or email (sign-in). `pub(crate)` so the
/// index test EXPLAINs the statement the store runs.
pub(crate) const FIND_USER_BY_LOGIN: &str =
    concat!("select ", user_columns!(), " from users where username_key = $1 or email_key = $1");

/// A user by id (refresh, userinfo).
pub(crate) const FIND_USER: &str = concat!("select ", user_columns!(), " from users where id = $1");

impl Db<'_> {
    /// Inserts a user; a taken username or email is `Error::Conflict`.
    pub async fn insert_user(&mut self, u: &NewUser<'_>) -> Result<()> {
        exec!(
            self,
            sqlx::query(
                "insert into users (id, username, username_key, email, email_key, email_verified, \
             display_name, password_hash, password_changed_at, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $9)"
            )
            .bind(u.id)
            .bind(u.username)
            .bind(u.username_key)
            .bind(u.email)
            .bind(u.email_key)
            .bind(u.email_verified)
            .bind(u.display_name)
            .bind(u.password_hash)
            .bind(u.now)
        )?;
        Ok(())
    }

    /// Finds a user by normalized username or normalized email.
    pub async fn find_user_by_login(&mut self, key: &str) -> Result<Option<UserRow>> {
        Ok(on!(self, |c| sqlx::query_as::<_, UserRow>(FIND_USER_BY_LOGIN).bind(key).fetch_optional(c).await)?)
    }

    /// Finds a user by id.
    pub async fn find_user(&mut self, id: &str) -> Result<Option<UserRow>> {
        Ok(on!(self, |c| sqlx::query_as::<_, UserRow>(FIND_USER).bind(id).fetch_optional(c).await)?)
    }

    /// One page of users whose username or email contains `needle` (normalized),
    /// ordered by username, plus the total number of matches.
    pub async fn search_users(&mut self, needle: &str, limit: i64, offset: i64) -> Result<(Vec<UserRow>, i64)> {
        let pattern = like_pattern(needle);
        let filter = "where username_key like $1 escape '\\' or email_key like $1 escape '\\'";
        let sql = format!("select {USER_COLUMNS} from users {filter} order by username_key limit $2 offset $3");
        let rows = on!(self, |c| sqlx::query_as::<_, UserRow>(AssertSqlSafe(sql.as_str()))
            .bind(&pattern)
            .bind(limit)
            .bind(offset)
            .fetch_all(c)
            .await)?;
        let count_sql = format!("select count(*) from users {filter}");
        let total: i64 =
            on!(self, |c| sqlx::query_scalar(AssertSqlSafe(count_sql.as_str())).bind(&pattern).fetch_one(c).await)?;
        Ok((rows, total))
    }

    /// Sets the blocked flag; returns whether the user exists.
    pub async fn set_user_blocked(&mut self, id: &str, blocked: bool, now: i64) -> Result<bool> {
        let done = exec!(
            self,
            sqlx::query("update users set blocked = $1, updated_at = $2 where id = $3")
                .bind(blocked)
                .bind(now)
                .bind(id)
        )?;
        Ok(done == 1)
    }

    /// Replaces the password hash.
    pub async fn set_password_hash(&mut self, id: &str, hash: &str, now: i64) -> Result<()> {
        exec!(
            self,
            sqlx::query("update users set password_hash = $1, password_changed_at = $2, updated_at = $2 where id = $3")
                .bind(hash)
                .bind(now)
                .bind(id)
        )?;
        Ok(())
    }

    /// Replaces the hash only if it is still `old` (a concurrent password change wins).
    pub async fn upgrade_password_hash(&mut self, id: &str, old: &str, new: &str) -> Result<()> {
        exec!(
            self,
            sqlx::query("update users set password_hash = $1 where id = $2 and password_hash = $3")
                .bind(new)
                .bind(id)
                .bind(old)
        )?;
        Ok(())
    }

    /// Marks the address confirmed.
    pub async fn set_email_verified(&mut self, id: &str, now: i64) -> Result<()> {
        exec!(
            self,
            sqlx::query("update users set email_verified = true, updated_at = $1 where id = $2").bind(now).bind(id)
        )?;
        Ok(())
    }

    /// Replaces the address (a unique email key may answer `Conflict`).
    pub async fn set_email(&mut self, id: &str, email: &str, key: &str, verified: bool, now: i64) -> Result<()> {
        exec!(
            self,
            sqlx::query(
                "update users set email = $1, email_key = $2, email_verified = $3, updated_at = $4 where id = $5"
            )
            .bind(email)
            .bind(key)
            .bind(verified)
            .bind(now)
            .bind(id)
        )?;
        Ok(())
    }

    /// Sets the display name.
    pub async fn set_display_name(&mut self, id: &str, name: &str, now: i64) -> Result<()> {
        exec!(
            self,
            sqlx::query("update users set display_name = $1, updated_at = $2 where id = $3")
                .bind(name)
                .bind(now)
                .bind(id)
        )?;
        Ok(())
    }

    /// The user's roles, sorted.
    pub async fn user_roles(&mut self, user_id: &str) -> Result<Vec<String>> {
        Ok(on!(self, |c| sqlx::query_scalar("select role from user_roles where user_id = $1 order by role")
            .bind(user_id)
            .fetch_all(c)
            .await)?)
    }

    /// The ids of every user holding `role`.
    pub async fn role_holders(&mut self, role: &str) -> Result<Vec<String>> {
        Ok(on!(self, |c| sqlx::query_scalar("select user_id from user_roles where role = $1")
            .bind(role)
            .fetch_all(c)
            .await)?)
    }

    /// Replaces the user's roles with `roles`.
    pub async fn set_user_roles(&mut self, user_id: &str, roles: &[&str]) -> Result<()> {
        exec!(self, sqlx::query("delete from user_roles where user_id = $1").bind(user_id))?;
        for role in roles {
            exec!(
                self,
                sqlx::query("insert into user_roles (user_id, role) values ($1, $2)").bind(user_id).bind(*role)
            )?;
        }
        Ok(())
    }

    /// Deletes a user and everything they own: the foreign keys cascade to
    /// sessions, codes, refresh tokens, consents, factors, links, devices,
    /// upstream identities and activity; access-token records and sign-in
    /// locks (`lock_subjects`) are keyed by text and go here. The audit log
    /// is kept (it names users by id only). Returns whether the user existed.
    pub async fn delete_user(&mut self, id: &str, lock_subjects: &[String]) -> Result<bool> {
        exec!(self, sqlx::query("delete from access_tokens where user_id = $1").bind(id))?;
        for subject in lock_subjects {
            exec!(self, sqlx::query("delete from lockouts where subject = $1").bind(subject))?;
        }
        let done = exec!(self, sqlx::query("delete from users where id = $1").bind(id))?;
        Ok(done == 1)
    }

    /// How many unblocked users other than `except` hold `role`.
    pub async fn count_role_holders(&mut self, role: &str, except: &str) -> Result<i64> {
        // A blocked holder cannot use the role, so it does not count.
        Ok(on!(self, |c| sqlx::query_scalar(
            "select count(*) from user_roles r join users u on u.id = r.user_id \
             where r.role = $1 and r.user_id <> $2 and u.blocked = $3"
        )
        .bind(role)
        .bind(except)
        .bind(false)
        .fetch_one(c)
        .await)?)
    }

    /// Serializes changes that could leave no administrator, for the rest of
    /// the transaction: two admins deleting each other at once must not both
    /// succeed. PostgreSQL takes a transaction-scoped advisory lock; SQLite's
    /// `BEGIN IMMEDIATE` already serializes every writer.
    pub async fn lock_admins(&mut self) -> Result<()> {
        if let Db::Postgres(c) = self {
            // An arbitrary constant that names this lock among gatehouse's.
            sqlx::query("select pg_advisory_xact_lock(7243190012)").execute(&mut **c).await?;
        }
        Ok(())
    }
}
