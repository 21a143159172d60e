//! `rate_counters` and `lockouts`: the brute-force counters (issue 6). Every
//! count is one atomic upsert (`insert … on conflict … do update … returning`,
//! the same text on SQLite and PostgreSQL), so instances sharing the database
//! agree and never lose a hit.
use super::{Db, Result, exec, on};

/// A rate counter after a hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct RateHit {
    /// Hits in the current window, this one included.
    pub hits: i64,
    /// When the current window ends (unix seconds).
    pub expires_at: i64,
}

/// A subject's failure record as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct LockoutRow {
    pub failures: i64,
    pub window_start: i64,
    pub level: i64,
    pub locked_until: i64,
}

/// A sign-in subject's lockout record (every sign-in). `pub(crate)` so the
/// index test EXPLAINs the statement the store runs.
pub(crate) const FIND_LOCKOUT: &str =
    "select failures, window_start, level, locked_until from lockouts where subject = $1";

impl Db<'_> {
    /// Counts one hit of `(bucket, key)` in a window of `per_secs` that starts
    /// at the first hit; returns the count and the window's end.
    pub async fn hit_rate_counter(&mut self, bucket: &str, key: &str, now: i64, per_secs: i64) -> Result<RateHit> {
        Ok(on!(self, |c| sqlx::query_as::<_, RateHit>(
            "insert into rate_counters (bucket, key, hits, expires_at) values ($1, $2, 1, $3 + $4) \
             on conflict (bucket, key) do update set \
             hits = case when rate_counters.expires_at > $3 then rate_counters.hits + 1 else 1 end, \
             expires_at = case when rate_counters.expires_at > $3 then rate_counters.expires_at else $3 + $4 end \
             returning hits, expires_at"
        )
        .bind(bucket)
        .bind(key)
        .bind(now)
        .bind(per_secs)
        .fetch_one(c)
        .await)?)
    }

    /// The live count of `(bucket, key)` without counting a hit (`None`: no live window).
    pub async fn peek_rate_counter(&mut self, bucket: &str, key: &str, now: i64) -> Result<Option<RateHit>> {
        Ok(on!(self, |c| sqlx::query_as::<_, RateHit>(
            "select hits, expires_at from rate_counters where bucket = $1 and key = $2 and expires_at > $3"
        )
        .bind(bucket)
        .bind(key)
        .bind(now)
        .fetch_optional(c)
        .await)?)
    }

    /// The subject's record, if any.
    pub async fn find_lockout(&mut self, subject: &str) -> Result<Option<LockoutRow>> {
        Ok(on!(self, |c| sqlx::query_as::<_, LockoutRow>(FIND_LOCKOUT).bind(subject).fetch_optional(c).await)?)
    }

    /// Counts one failed sign-in for `subject` in a window of `window_secs`
    /// that starts at the first failure. A subject locked at `now` is not
    /// counted (`None`): while locked, nothing is checked.
    pub async fn count_failure(&mut self, subject: &str, now: i64, window_secs: i64) -> Result<Option<LockoutRow>> {
        Ok(on!(self, |c| sqlx::query_as::<_, LockoutRow>(
            "insert into lockouts (subject, failures, window_start, level, locked_until, updated_at) \
             values ($1, 1, $2, 0, 0, $2) \
             on conflict (subject) do update set \
             failures = case when lockouts.window_start > $2 - $3 then lockouts.failures + 1 else 1 end, \
             window_start = case when lockouts.window_start > $2 - $3 then lockouts.window_start else $2 end, \
             updated_at = $2 \
             where lockouts.locked_until <= $2 \
             returning failures, window_start, level, locked_until"
        )
        .bind(subject)
        .bind(now)
        .bind(window_secs)
        .fetch_optional(c)
        .await)?)
    }

    /// Locks `subject` until `until` at lockout number `level`, if it is not
    /// locked yet and still at `seen_level` (of concurrent callers one wins:
    /// `true`). The failure count starts again.
    pub async fn lock_subject(
        &mut self,
        subject: &str,
        seen_level: i64,
        level: i64,
        until: i64,
        now: i64,
    ) -> Result<bool> {
        let n = exec!(
            self,
            sqlx::query(
                "update lockouts set level = $1, locked_until = $2, failures = 0, window_start = $3, updated_at = $3 \
                 where subject = $4 and level = $5 and locked_until <= $3"
            )
            .bind(level)
            .bind(until)
            .bind(now)
            .bind(subject)
            .bind(seen_level)
        )?;
        Ok(n == 1)
    }

    /// A successful sign-in: the failure count starts again (the lockout
    /// level stays, and fades with time).
    pub async fn clear_failures(&mut self, subject: &str) -> Result<()> {
        exec!(self, sqlx::query("update lockouts set failures = 0 where subject = $1 and failures > 0").bind(subject))?;
        Ok(())
    }

    /// Ends a lock at once (admin or CLI); the next lock starts from the
    /// first delay again. `true` if the subject was locked.
    pub async fn unlock_subject(&mut self, subject: &str, now: i64) -> Result<bool> {
        let locked = self.find_lockout(subject).await?.is_some_and(|r| r.locked_until > now);
        exec!(self, sqlx::query("delete from lockouts where subject = $1").bind(subject))?;
        Ok(locked)
    }

    /// Subjects among `user:<id>` (passwords) and `mfa:<id>` (second-step
    /// codes) that are locked at `now`.
    pub async fn locked_users(&mut self, now: i64) -> Result<Vec<String>> {
        Ok(on!(self, |c| sqlx::query_scalar::<_, String>(
            "select subject from lockouts where locked_until > $1 and (subject like 'user:%' or subject like 'mfa:%')"
        )
        .bind(now)
        .fetch_all(c)
        .await)?)
    }
}
