//! Counts for the console's dashboard: sign-in attempts per hour (from the
//! audit log, by the index of migration 0023) and live sessions.
use super::{Db, Result, on};

impl Db<'_> {
    /// `(hour, action, count)` of the audit rows of `actions` at or after
    /// `since`, bucketed by hour (`at / 3600`, integer division on both
    /// databases).
    pub async fn audit_hourly(&mut self, actions: [&str; 2], since: i64) -> Result<Vec<(i64, String, i64)>> {
        Ok(on!(self, |c| sqlx::query_as::<_, (i64, String, i64)>(
            "select at / 3600 as hour, action, count(*) as n from audit_log \
             where action in ($1, $2) and at >= $3 group by at / 3600, action order by hour"
        )
        .bind(actions[0])
        .bind(actions[1])
        .bind(since)
        .fetch_all(c)
        .await)?)
    }

    /// Sessions neither revoked, expired nor idle past `idle_after`.
    pub async fn live_session_count(&mut self, now: i64, idle_after: i64) -> Result<i64> {
        Ok(on!(self, |c| sqlx::query_scalar::<_, i64>(
            "select count(*) from sessions where revoked_at is null and expires_at > $1 and last_seen_at > $2"
        )
        .bind(now)
        .bind(idle_after)
        .fetch_one(c)
        .await)?)
    }
}
