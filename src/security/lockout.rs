//! Brute-force arithmetic, pure and time-injected (issue 6): when a subject
//! (an account, or a login name without one) is locked and for how long, and
//! how long a client address waits after failed sign-ins.
//!
//! ```text
//!            failure (count < max)          failure (count = max)
//!   open ─────────────────────────▶ open ──────────────────────────▶ locked(level+1)
//!    ▲  ◀── success: count = 0 ──┘                                      │
//!    └──────────── delay over (or admin/CLI unlock) ────────────────────┘
//! ```
//! The n-th lock in a row lasts `base · 2^(n-1)`, capped at `max`. The level
//! falls back to 0 once the last lock ended `forget_after` seconds ago. While
//! locked nothing is counted and the password is not checked.
use std::time::Duration;

pub use crate::config::LockoutPolicy;

/// A subject's counters, as the store returns them after a failure was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    pub failures: i64,
    pub level: i64,
    pub locked_until: i64,
}

/// A lock to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lock {
    /// The lock's number in a row (1 for the first).
    pub level: i64,
    pub until: i64,
}

impl LockoutPolicy {
    /// Whether lockout is on.
    pub fn enabled(&self) -> bool {
        self.max_failures > 0
    }

    /// How long the `level`-th lock in a row lasts: `base · 2^(level-1)`, capped.
    pub fn delay(&self, level: i64) -> i64 {
        let doublings = u32::try_from(level.saturating_sub(1).clamp(0, 62)).unwrap_or(62);
        self.base_delay_secs.saturating_mul(1_i64.checked_shl(doublings).unwrap_or(i64::MAX)).min(self.max_delay_secs)
    }

    /// The level to build on at `now`: the stored one, or 0 once the last
    /// lock ended long enough ago.
    pub fn effective_level(&self, f: &Failures, now: i64) -> i64 {
        if f.level > 0 && now - f.locked_until < self.forget_after_secs { f.level } else { 0 }
    }

    /// After a failure was counted: the lock it triggers, if any.
    pub fn on_failure(&self, f: &Failures, now: i64) -> Option<Lock> {
        if !self.enabled() || f.failures < self.max_failures || f.locked_until > now {
            return None;
        }
        let level = self.effective_level(f, now) + 1;
        Some(Lock { level, until: now + self.delay(level) })
    }

    /// Seconds left on a lock at `now` (0: not locked).
    pub fn remaining(locked_until: i64, now: i64) -> i64 {
        (locked_until - now).max(0)
    }
}

/// Progressive delay for failed sign-ins from one client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureDelay {
    /// Failures (in the window) answered without delay; 0 turns delays off.
    pub free_failures: i64,
    /// The first delay, doubled with each further failure.
    pub base_ms: u64,
    /// No failure waits longer.
    pub max_ms: u64,
}

impl FailureDelay {
    /// How long the `count`-th failure in the window waits before its answer.
    pub fn for_count(&self, count: i64) -> Duration {
        if self.free_failures <= 0 || count <= self.free_failures {
            return Duration::ZERO;
        }
        let doublings = u32::try_from((count - self.free_failures - 1).clamp(0, 32)).unwrap_or(32);
        Duration::from_millis(self.base_ms.saturating_mul(1_u64 << doublings).min(self.max_ms))
    }
}

/// The counter key for a client address: IPv4 as is, IPv6 by its /64 (one
/// host usually holds a whole /64, so single addresses are free to rotate).
pub fn client_key(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Ok(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => ip.chars().take(64).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

    fn failures(failures: i64, level: i64, locked_until: i64) -> Failures {
        Failures { failures, level, locked_until }
    }

    #[test]
    fn delays_double_per_lock_and_stop_at_the_cap() {
        let p = LockoutPolicy::default();
        let got: Vec<i64> = (1..=8).map(|l| p.delay(l)).collect();
        assert_eq!(got, [60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(p.delay(10_000), 3600, "no overflow for absurd levels");
        assert_eq!(p.delay(0), 60);
    }

    #[test]
    fn the_fifth_failure_locks_for_a_minute_and_fewer_do_not() {
        let p = LockoutPolicy::default();
        assert_eq!(p.on_failure(&failures(4, 0, 0), NOW), None);
        assert_eq!(p.on_failure(&failures(5, 0, 0), NOW), Some(Lock { level: 1, until: NOW + 60 }));
    }

    #[test]
    fn a_lock_soon_after_the_last_one_lasts_twice_as_long() {
        let p = LockoutPolicy::default();
        let ended = NOW - 600;
        assert_eq!(p.on_failure(&failures(5, 1, ended), NOW), Some(Lock { level: 2, until: NOW + 120 }));
        assert_eq!(p.on_failure(&failures(5, 3, ended), NOW), Some(Lock { level: 4, until: NOW + 480 }));
    }

    #[test]
    fn the_level_is_forgotten_a_day_after_the_last_lock() {
        let p = LockoutPolicy::default();
        let f = failures(5, 4, NOW - 86_400);
        assert_eq!(p.effective_level(&f, NOW), 0);
        assert_eq!(p.on_failure(&f, NOW), Some(Lock { level: 1, until: NOW + 60 }));
        assert_eq!(p.effective_level(&failures(0, 4, NOW - 86_399), NOW), 4);
    }

    #[test]
    fn a_locked_subject_or_a_disabled_policy_never_locks_again() {
        let p = LockoutPolicy::default();
        assert_eq!(p.on_failure(&failures(9, 1, NOW + 1), NOW), None);
        let off = LockoutPolicy { max_failures: 0, ..p };
        assert!(!off.enabled());
        assert_eq!(off.on_failure(&failures(100, 0, 0), NOW), None);
        assert_eq!(LockoutPolicy::remaining(NOW + 30, NOW), 30);
        assert_eq!(LockoutPolicy::remaining(NOW - 30, NOW), 0);
    }

    #[test]
    fn failed_sign_ins_wait_longer_each_time_up_to_the_cap() {
        let d = FailureDelay { free_failures: 3, base_ms: 250, max_ms: 3000 };
        let got: Vec<u128> = (1..=9).map(|n| d.for_count(n).as_millis()).collect();
        assert_eq!(got, [0, 0, 0, 250, 500, 1000, 2000, 3000, 3000]);
        assert_eq!(d.for_count(i64::MAX), Duration::from_millis(3000));
        let off = FailureDelay { free_failures: 0, ..d };
        assert_eq!(off.for_count(100), Duration::ZERO);
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_prefix() {
        assert_eq!(client_key("203.0.113.7"), "203.0.113.7");
        assert_eq!(client_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(client_key("2001:db8:1:2:bbbb::9"), "2001:db8:1:2::/64");
        assert_eq!(client_key("::ffff:198.51.100.4"), "198.51.100.4");
    }
}
