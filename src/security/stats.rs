//! Sign-in figures for the console's dashboard: successful and failed
//! sign-ins (`sign_in`, `sign_in_failed` audit events) per hour, over the
//! last 24 hours and the last 7 days, from one aggregate query.
use super::audit::AuditAction;
use crate::store::{self, Store};

/// One hour's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Hour {
    /// Unix seconds of the hour's start.
    pub start: i64,
    pub ok: i64,
    pub failed: i64,
}

/// Hours, oldest first, ending with the current hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    pub hours: Vec<Hour>,
}

impl Series {
    pub fn ok(&self) -> i64 {
        self.hours.iter().map(|h| h.ok).sum()
    }

    pub fn failed(&self) -> i64 {
        self.hours.iter().map(|h| h.failed).sum()
    }

    /// The largest count of one hour (at least 1, to scale bars by).
    pub fn peak(&self) -> i64 {
        self.hours.iter().map(|h| h.ok.max(h.failed)).max().unwrap_or(0).max(1)
    }
}

/// The last 24 hours and the last 7 days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInStats {
    pub day: Series,
    pub week: Series,
}

/// `hours` hours up to and including the one holding `now`, from `(hour, action, n)` rows.
fn series(rows: &[(i64, String, i64)], now: i64, hours: i64) -> Series {
    let last = now.div_euclid(3600);
    let first = last - hours + 1;
    let mut out: Vec<Hour> = (first..=last).map(|h| Hour { start: h * 3600, ..Hour::default() }).collect();
    for (hour, action, n) in rows {
        let Some(slot) = usize::try_from(hour - first).ok().and_then(|i| out.get_mut(i)) else { continue };
        if action == AuditAction::SignIn.as_str() {
            slot.ok += n;
        } else {
            slot.failed += n;
        }
    }
    Series { hours: out }
}

/// Sign-ins and failed sign-ins per hour up to `now` (from the Clock).
pub async fn sign_ins(store: &Store, now: i64) -> store::Result<SignInStats> {
    let since = (now.div_euclid(3600) - 7 * 24 + 1) * 3600;
    let actions = [AuditAction::SignIn.as_str(), AuditAction::SignInFailed.as_str()];
    let rows = store.conn().await?.db().audit_hourly(actions, since).await?;
    Ok(SignInStats { day: series(&rows, now, 24), week: series(&rows, now, 7 * 24) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_land_in_their_hour_and_old_ones_are_dropped() {
        let now = 100 * 3600 + 59;
        let rows = vec![
            (100, "sign_in".to_owned(), 3),
            (100, "sign_in_failed".to_owned(), 2),
            (77, "sign_in".to_owned(), 1),
            (50, "sign_in".to_owned(), 9),
        ];
        let day = series(&rows, now, 24);
        assert_eq!(day.hours.len(), 24);
        assert_eq!(day.hours[23], Hour { start: 100 * 3600, ok: 3, failed: 2 });
        assert_eq!(day.hours[0].start, 77 * 3600);
        assert_eq!((day.ok(), day.failed(), day.peak()), (4, 2, 3));
        let week = series(&rows, now, 168);
        assert_eq!(week.ok(), 13);
    }
}
