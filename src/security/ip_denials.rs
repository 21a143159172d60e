//! Global IP denials in the audit log, aggregated per address and minute so
//! that a scan cannot flood the log (issue 15):
//!
//! ```text
//!   denied request ──> count (address, minute) in memory
//!   later request  ──> minutes that have ended ──> store claim (address, minute)
//!                                                  ├─ first claim: one `ip_denied` row, with the count
//!                                                  └─ taken by another instance: its count is added, no row
//! ```
//!
//! Each instance counts in memory (at most [`MAX_PENDING`] addresses at a
//! time; beyond that a denial is only counted in `/metrics`), and writes a
//! minute once it has ended. The store claim (`insert … on conflict do
//! nothing` on the address-minute key) keeps several instances from writing
//! more than one row per address-minute. The row carries the first denied
//! request's user agent and request id, and `{"scope","minute","count"}`.
//!
//! Pure counting (no I/O, `now` passed in); the writing is
//! [`crate::security::ip_policy::IpPolicy::flush_denials`]. No axum.
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

/// Most addresses counted at once per instance.
pub const MAX_PENDING: usize = 10_000;

/// One address-minute's denials, waiting for its minute to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub ip: String,
    /// Unix minutes (`at / 60`).
    pub minute: i64,
    pub count: i64,
    /// Of the first denied request.
    pub user_agent: String,
    pub request_id: String,
}

/// The in-memory counts of one instance.
#[derive(Debug)]
pub struct Denials {
    pending: Mutex<HashMap<(String, i64), Ended>>,
    /// The earliest pending minute (`i64::MAX`: none), so a request that
    /// finds nothing ended does not take the lock.
    earliest: AtomicI64,
}

impl Default for Denials {
    fn default() -> Self {
        Self { pending: Mutex::default(), earliest: AtomicI64::new(i64::MAX) }
    }
}

impl Denials {
    /// Counts one denial of `ip` at `now` (unix seconds).
    pub fn note(&self, ip: &str, user_agent: &str, request_id: &str, now: i64) {
        let minute = now.div_euclid(60);
        let Ok(mut pending) = self.pending.lock() else { return };
        let key = (ip.to_owned(), minute);
        if let Some(e) = pending.get_mut(&key) {
            e.count += 1;
            return;
        }
        if pending.len() >= MAX_PENDING {
            return;
        }
        let first = Ended {
            ip: key.0.clone(),
            minute,
            count: 1,
            user_agent: user_agent.chars().take(256).collect(),
            request_id: request_id.to_owned(),
        };
        pending.insert(key, first);
        self.earliest.fetch_min(minute, Ordering::Relaxed);
    }

    /// Takes out the counts of minutes that have ended by `now`.
    pub fn take_ended(&self, now: i64) -> Vec<Ended> {
        let minute = now.div_euclid(60);
        if self.earliest.load(Ordering::Relaxed) >= minute {
            return Vec::new();
        }
        let Ok(mut pending) = self.pending.lock() else { return Vec::new() };
        let mut ended: Vec<Ended> = Vec::new();
        pending.retain(|(_, m), e| {
            if *m < minute {
                ended.push(e.clone());
                false
            } else {
                true
            }
        });
        let earliest = pending.keys().map(|(_, m)| *m).min().unwrap_or(i64::MAX);
        self.earliest.store(earliest, Ordering::Relaxed);
        ended.sort_by(|a, b| (a.minute, &a.ip).cmp(&(b.minute, &b.ip)));
        ended
    }

    /// Puts counts back (their write failed; the next flush tries again).
    pub fn restore(&self, ended: Vec<Ended>) {
        let Ok(mut pending) = self.pending.lock() else { return };
        for e in ended {
            self.earliest.fetch_min(e.minute, Ordering::Relaxed);
            pending.entry((e.ip.clone(), e.minute)).and_modify(|p| p.count += e.count).or_insert(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_767_225_600; // a minute boundary

    #[test]
    fn denials_of_one_address_in_one_minute_are_one_count() {
        let d = Denials::default();
        for n in 0..200 {
            d.note("192.0.2.1", "scanner/1", &format!("r{n}"), T + n % 60);
        }
        d.note("192.0.2.2", "other", "x", T + 5);
        assert!(d.take_ended(T + 59).is_empty(), "the minute has not ended");
        let ended = d.take_ended(T + 60);
        assert_eq!(ended.len(), 2);
        assert_eq!((ended[0].ip.as_str(), ended[0].count, ended[0].request_id.as_str()), ("192.0.2.1", 200, "r0"));
        assert_eq!((ended[0].minute, ended[0].user_agent.as_str()), (T / 60, "scanner/1"));
        assert_eq!(ended[1].count, 1);
        assert!(d.take_ended(T + 3_600).is_empty(), "taken once");
    }

    #[test]
    fn each_minute_is_its_own_count_and_a_failed_write_is_kept() {
        let d = Denials::default();
        d.note("192.0.2.1", "", "", T);
        d.note("192.0.2.1", "", "", T + 60);
        let first = d.take_ended(T + 61);
        assert_eq!(first.iter().map(|e| e.count).collect::<Vec<_>>(), [1]);
        d.restore(first);
        d.note("192.0.2.1", "", "", T + 1);
        let both = d.take_ended(T + 120);
        assert_eq!(both.iter().map(|e| (e.minute - T / 60, e.count)).collect::<Vec<_>>(), [(0, 2), (1, 1)]);
    }

    #[test]
    fn the_number_of_addresses_counted_at_once_is_bounded() {
        let d = Denials::default();
        for n in 0..(MAX_PENDING + 10) {
            d.note(&format!("10.0.{}.{}", n / 256, n % 256), "", "", T);
        }
        assert_eq!(d.take_ended(T + 60).len(), MAX_PENDING);
    }
}
