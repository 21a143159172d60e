//! Reading the audit log for operators (the JSON API's `/api/v1/audit`, its
//! export, `gatehouse audit export`): filtered by actor, target, action and
//! time, keyset-paged by sequence number. Each filter has an index
//! (migrations 0006, 0020 and 0021), so a page reads only the rows it returns.
use super::{AuditRow, Db, Result, on};

/// Which audit rows to read; `None` leaves a field unfiltered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub target: Option<String>,
    pub action: Option<String>,
    /// Unix seconds, inclusive.
    pub since: Option<i64>,
    /// Unix seconds, inclusive.
    pub until: Option<i64>,
}

/// A bound value of a dynamically built statement.
enum Param<'a> {
    Text(&'a str),
    Int(i64),
}

impl Db<'_> {
    /// Up to `limit` rows matching `q`, past the sequence number `from`
    /// (exclusive): newest first when `newest_first` (rows below `from`),
    /// oldest first otherwise (rows above it).
    pub async fn audit_query(
        &mut self,
        q: &AuditQuery,
        from: Option<i64>,
        newest_first: bool,
        limit: i64,
    ) -> Result<Vec<AuditRow>> {
        let mut clauses: Vec<String> = Vec::new();
        let mut params: Vec<Param<'_>> = Vec::new();
        let texts = [("actor", &q.actor), ("target", &q.target), ("action", &q.action)];
        for (column, value) in texts {
            if let Some(v) = value {
                params.push(Param::Text(v));
                clauses.push(format!("{column} = ${}", params.len()));
            }
        }
        let ints = [("at >=", q.since), ("at <=", q.until), (if newest_first { "id <" } else { "id >" }, from)];
        for (test, value) in ints {
            if let Some(v) = value {
                params.push(Param::Int(v));
                clauses.push(format!("{test} ${}", params.len()));
            }
        }
        params.push(Param::Int(limit));
        let filter = if clauses.is_empty() { String::new() } else { format!("where {}", clauses.join(" and ")) };
        let order = if newest_first { "desc" } else { "asc" };
        let sql = format!(
            "select id, at, actor, target, action, ip, request_id, user_agent, detail, prev_hash, hash \
             from audit_log {filter} order by id {order} limit ${}",
            params.len()
        );
        Ok(on!(self, |c| {
            let mut query = sqlx::query_as::<_, AuditRow>(sqlx::AssertSqlSafe(sql.as_str()));
            for p in &params {
                query = match p {
                    Param::Text(s) => query.bind(*s),
                    Param::Int(i) => query.bind(*i),
                };
            }
            query.fetch_all(c).await
        })?)
    }
}
