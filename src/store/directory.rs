//! Reads of the JSON API's user administration: the filtered, keyset-paged
//! user list (index `users_created`), a user's consents, a username change,
//! and a user's action history from `audit_log` (indexes `audit_log_actor`
//! and `audit_log_target`, one branch each, so neither scans the log).
use sqlx::{AssertSqlSafe, FromRow};

use super::{Db, Result, exec, like_pattern, on};

/// The filters of the user list; empty strings and `None` filter nothing.
#[derive(Debug, Clone, Default)]
pub struct UserQuery<'a> {
    /// A normalized fragment of the username or email.
    pub needle: &'a str,
    /// Holders of this role only.
    pub role: &'a str,
    /// `active` (neither blocked nor locked), `blocked` or `locked`.
    pub state: &'a str,
    pub verified: Option<bool>,
    /// Created at or after (unix seconds).
    pub created_since: Option<i64>,
    /// The (created_at, id) of the last user of the previous page.
    pub after: Option<(i64, &'a str)>,
    /// Locks count at this time.
    pub now: i64,
    pub limit: i64,
}

/// A listed user with one of their roles (one row per role; `None`: none).
#[derive(Debug, Clone, FromRow)]
pub struct ListedUserRow {
    pub id: String,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    pub display_name: String,
    pub has_password: bool,
    pub blocked: bool,
    pub created_at: i64,
    pub role: Option<String>,
}

/// A client the user consented to, with the scope.
#[derive(Debug, Clone, FromRow)]
pub struct ConsentRow {
    pub client_id: String,
    /// The client's name; `None` when the client is gone.
    pub client_name: Option<String>,
    pub scope: String,
    pub updated_at: i64,
}

/// The filters of a user's action history.
#[derive(Debug, Clone, Default)]
pub struct ActionQuery<'a> {
    pub user_id: &'a str,
    /// One action name, or "" for all.
    pub action: &'a str,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Sequence numbers below this one only.
    pub before: Option<i64>,
    pub limit: i64,
}

/// An audit event with its actor and target resolved to names.
#[derive(Debug, Clone, FromRow)]
pub struct ActionRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub target: String,
    pub action: String,
    pub ip: String,
    pub detail: String,
    pub actor_username: Option<String>,
    pub actor_client: Option<String>,
    pub target_username: Option<String>,
    pub target_client: Option<String>,
}

/// Whether a lock on the user (`user:` or `mfa:` subject) is live at `$1`.
const LOCKED: &str = "exists (select 1 from lockouts l where l.subject in ('user:' || u.id, 'mfa:' || u.id) \
     and l.locked_until > $1)";

/// The user list's query (see [`Db::list_users_page`] for the parameters).
pub(super) fn list_users_sql() -> String {
    format!(
        "select p.*, r.role from (select u.id, u.username, u.email, u.email_verified, u.display_name, \
           (u.password_hash is not null) as has_password, u.blocked, u.created_at from users u \
         where ($2 = '' or u.username_key like $3 escape '\\' or u.email_key like $3 escape '\\') \
           and ($4 = '' or exists (select 1 from user_roles x where x.user_id = u.id and x.role = $4)) \
           and ($5 = '' or ($5 = 'blocked' and u.blocked = true) \
                or ($5 = 'locked' and {LOCKED}) \
                or ($5 = 'active' and u.blocked = false and not {LOCKED})) \
           and ($6 < 0 or u.email_verified = ($6 = 1)) \
           and u.created_at >= $7 \
           and (u.created_at > $8 or (u.created_at = $8 and u.id > $9)) \
         order by u.created_at, u.id limit $10) p \
         left join user_roles r on r.user_id = p.id order by p.created_at, p.id, r.role"
    )
}

/// The history's query: one branch per index, merged (see [`Db::user_actions`]).
pub(super) fn user_actions_sql() -> String {
    // Each branch walks one index backwards; the outer query merges them.
    let branch = |column: &str| {
        format!(
            "select * from (select id, at, actor, target, action, ip, detail from audit_log \
             where {column} = $1 and id < $2 and ($3 = '' or action = $3) and at >= $4 and at <= $5 \
             order by id desc limit $6) by_{column}"
        )
    };
    format!(
        "select a.id, a.at, a.actor, a.target, a.action, a.ip, a.detail, \
           ua.username as actor_username, ca.name as actor_client, \
           ut.username as target_username, ct.name as target_client \
         from ({} union {}) a \
         left join users ua on ua.id = a.actor left join clients ca on ca.client_id = a.actor \
         left join users ut on ut.id = a.target left join clients ct on ct.client_id = a.target \
         order by a.id desc limit $6",
        branch("actor"),
        branch("target")
    )
}

impl Db<'_> {
    /// Up to `limit` users matching `q`, ordered by (created_at, id), after
    /// `q.after`; one row per role (the rows of a user are adjacent).
    pub async fn list_users_page(&mut self, q: &UserQuery<'_>) -> Result<Vec<ListedUserRow>> {
        let (after_at, after_id) = q.after.unwrap_or((i64::MIN, ""));
        let verified = q.verified.map_or(-1_i64, i64::from);
        let sql = list_users_sql();
        Ok(on!(self, |c| sqlx::query_as::<_, ListedUserRow>(AssertSqlSafe(sql.as_str()))
            .bind(q.now)
            .bind(q.needle)
            .bind(like_pattern(q.needle))
            .bind(q.role)
            .bind(q.state)
            .bind(verified)
            .bind(q.created_since.unwrap_or(i64::MIN))
            .bind(after_at)
            .bind(after_id)
            .bind(q.limit)
            .fetch_all(c)
            .await)?)
    }

    /// The user's consents, newest first, with the clients' names.
    pub async fn user_consents(&mut self, user_id: &str) -> Result<Vec<ConsentRow>> {
        Ok(on!(self, |c| sqlx::query_as::<_, ConsentRow>(
            "select g.client_id, c.name as client_name, g.scope, g.updated_at from consents g \
             left join clients c on c.client_id = g.client_id \
             where g.user_id = $1 order by g.updated_at desc, g.client_id"
        )
        .bind(user_id)
        .fetch_all(c)
        .await)?)
    }

    /// Replaces the username (a taken key answers `Conflict`).
    pub async fn set_username(&mut self, id: &str, username: &str, key: &str, now: i64) -> Result<()> {
        exec!(
            self,
            sqlx::query("update users set username = $1, username_key = $2, updated_at = $3 where id = $4")
                .bind(username)
                .bind(key)
                .bind(now)
                .bind(id)
        )?;
        Ok(())
    }

    /// Whether the log records the deletion of user `id`.
    pub async fn user_was_deleted(&mut self, id: &str) -> Result<bool> {
        let n: i64 = on!(self, |c| sqlx::query_scalar(
            "select count(*) from audit_log where target = $1 and action = 'user_deleted'"
        )
        .bind(id)
        .fetch_one(c)
        .await)?;
        Ok(n > 0)
    }

    /// Up to `limit` events where the user is actor or target, newest first.
    pub async fn user_actions(&mut self, q: &ActionQuery<'_>) -> Result<Vec<ActionRow>> {
        let sql = user_actions_sql();
        Ok(on!(self, |c| sqlx::query_as::<_, ActionRow>(AssertSqlSafe(sql.as_str()))
            .bind(q.user_id)
            .bind(q.before.unwrap_or(i64::MAX))
            .bind(q.action)
            .bind(q.since.unwrap_or(i64::MIN))
            .bind(q.until.unwrap_or(i64::MAX))
            .bind(q.limit)
            .fetch_all(c)
            .await)?)
    }
}
