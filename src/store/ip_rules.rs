//! `ip_rules`: IP allow and deny rules, edited by the CLI and read (cached)
//! by every instance.
use super::{Db, Result, exec, on};

/// A stored rule.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IpRuleRow {
    pub id: i64,
    pub action: String,
    pub cidr: String,
    pub scope: String,
    pub subject: String,
    pub note: String,
    pub created_at: i64,
}

/// Columns of a new rule.
pub struct NewIpRule<'a> {
    pub action: &'a str,
    pub cidr: &'a str,
    pub scope: &'a str,
    pub subject: &'a str,
    pub note: &'a str,
    pub now: i64,
}

impl Db<'_> {
    /// Stores a rule and returns its id.
    pub async fn insert_ip_rule(&mut self, r: &NewIpRule<'_>) -> Result<i64> {
        Ok(on!(self, |c| sqlx::query_scalar(
            "insert into ip_rules (action, cidr, scope, subject, note, created_at) \
             values ($1, $2, $3, $4, $5, $6) returning id"
        )
        .bind(r.action)
        .bind(r.cidr)
        .bind(r.scope)
        .bind(r.subject)
        .bind(r.note)
        .bind(r.now)
        .fetch_one(c)
        .await)?)
    }

    /// Every rule, oldest first.
    pub async fn list_ip_rules(&mut self) -> Result<Vec<IpRuleRow>> {
        Ok(on!(self, |c| sqlx::query_as::<_, IpRuleRow>(
            "select id, action, cidr, scope, subject, note, created_at from ip_rules order by id"
        )
        .fetch_all(c)
        .await)?)
    }

    /// Up to `limit` rules with an id above `after`, oldest first.
    pub async fn ip_rules_after(&mut self, after: i64, limit: i64) -> Result<Vec<IpRuleRow>> {
        Ok(on!(self, |c| sqlx::query_as::<_, IpRuleRow>(
            "select id, action, cidr, scope, subject, note, created_at from ip_rules where id > $1 order by id limit $2"
        )
        .bind(after)
        .bind(limit)
        .fetch_all(c)
        .await)?)
    }

    /// Deletes a rule; false if there was none with that id.
    pub async fn delete_ip_rule(&mut self, id: i64) -> Result<bool> {
        Ok(exec!(self, sqlx::query("delete from ip_rules where id = $1").bind(id))? > 0)
    }

    /// A cheap fingerprint of the rule table: `(count, highest id)`. Ids are
    /// never reused, so any insert raises the highest id and a delete alone
    /// lowers the count: every change gives a new fingerprint.
    pub async fn ip_rules_version(&mut self) -> Result<(i64, i64)> {
        Ok(on!(self, |c| sqlx::query_as::<_, (i64, i64)>("select count(*), coalesce(max(id), 0) from ip_rules")
            .fetch_one(c)
            .await)?)
    }
}

impl Db<'_> {
    /// Claims the audit row of `ip`'s global denials in `minute` (unix
    /// minutes) with `count` denials: true for the first claim across all
    /// instances (that caller writes the audit row); later claims add their
    /// count to the stored one and get false.
    pub async fn claim_ip_denials(&mut self, ip: &str, minute: i64, count: i64) -> Result<bool> {
        let inserted = exec!(
            self,
            sqlx::query("insert into ip_denials (ip, minute, count) values ($1, $2, $3) on conflict do nothing")
                .bind(ip)
                .bind(minute)
                .bind(count)
        )? > 0;
        if !inserted {
            exec!(
                self,
                sqlx::query("update ip_denials set count = count + $3 where ip = $1 and minute = $2")
                    .bind(ip)
                    .bind(minute)
                    .bind(count)
            )?;
        }
        Ok(inserted)
    }

    /// The denials counted for `ip` in `minute`, by every instance.
    pub async fn ip_denial_count(&mut self, ip: &str, minute: i64) -> Result<Option<i64>> {
        Ok(on!(self, |c| sqlx::query_scalar("select count from ip_denials where ip = $1 and minute = $2")
            .bind(ip)
            .bind(minute)
            .fetch_optional(c)
            .await)?)
    }
}
