//! The rotation schedule, as a pure function of the keys and the time.
//!
//! ```text
//!   (created) ──> next ──(current is old enough, and next has been
//!                  │      published for publish_ahead)──> current
//!                  │                                        │
//!                  │                      (a newer key takes over)
//!                  │                                        v
//!                  │                                     retiring ──(retain elapsed:
//!                  │                                        │        every token it signed
//!                  │                                        v        has expired)
//!                  └──────── in JWKS ──────────────────> retired (dropped from JWKS)
//! ```
//! `next` is in JWKS before it signs anything, so a relying party that caches
//! JWKS (for less than `publish_ahead`) already knows it at the switch.

/// Lifecycle states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Next,
    Current,
    Retiring,
    Retired,
}

impl State {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Next => "next",
            State::Current => "current",
            State::Retiring => "retiring",
            State::Retired => "retired",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [State::Next, State::Current, State::Retiring, State::Retired].into_iter().find(|st| st.as_str() == s)
    }
}

/// Timing rules, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// How long a key signs before the next one takes over.
    pub rotate_after: i64,
    /// How long a key is published before it may sign.
    pub publish_ahead: i64,
    /// How long a replaced key stays published (at least the longest token lifetime).
    pub retain: i64,
}

/// What the schedule needs to know of a key.
#[derive(Debug, Clone)]
pub struct KeyTimes {
    pub id: String,
    pub state: State,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retiring_at: Option<i64>,
}

/// A step to take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Make a new key in this state (`Current` only when there is none at all).
    Create(State),
    /// `next` becomes current; the old current (if any) starts retiring.
    Promote { next: String, current: Option<String> },
    /// A retiring key leaves JWKS.
    Retire(String),
}

/// The steps due at `now`. `force` rotates even if the current key is young
/// (`gatehouse keys rotate`).
pub fn plan(keys: &[KeyTimes], now: i64, policy: Policy, force: bool) -> Vec<Step> {
    let current = keys.iter().find(|k| k.state == State::Current);
    let next = keys.iter().find(|k| k.state == State::Next);
    let mut steps = Vec::new();
    match (current, next) {
        (None, None) => {
            steps.push(Step::Create(State::Current));
            steps.push(Step::Create(State::Next));
        }
        (None, Some(n)) => {
            steps.push(Step::Promote { next: n.id.clone(), current: None });
            steps.push(Step::Create(State::Next));
        }
        (Some(_), None) => steps.push(Step::Create(State::Next)),
        (Some(c), Some(n)) => {
            let old = c.activated_at.unwrap_or(c.created_at) + policy.rotate_after <= now;
            let published = n.created_at + policy.publish_ahead <= now;
            if force || (old && published) {
                steps.push(Step::Promote { next: n.id.clone(), current: Some(c.id.clone()) });
                steps.push(Step::Create(State::Next));
            }
        }
    }
    for k in keys.iter().filter(|k| k.state == State::Retiring) {
        if k.retiring_at.unwrap_or(k.created_at) + policy.retain <= now {
            steps.push(Step::Retire(k.id.clone()));
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy { rotate_after: 1000, publish_ahead: 100, retain: 50 };

    fn key(id: &str, state: State, created_at: i64, activated_at: Option<i64>, retiring_at: Option<i64>) -> KeyTimes {
        KeyTimes { id: id.into(), state, created_at, activated_at, retiring_at }
    }

    #[test]
    fn first_start_makes_a_current_and_a_next_key() {
        assert_eq!(plan(&[], 0, POLICY, false), vec![Step::Create(State::Current), Step::Create(State::Next)]);
    }

    #[test]
    fn a_young_current_key_is_left_alone() {
        let keys = [key("c", State::Current, 0, Some(0), None), key("n", State::Next, 0, None, None)];
        assert!(plan(&keys, 999, POLICY, false).is_empty());
    }

    #[test]
    fn an_old_key_rotates_only_once_next_has_been_published_long_enough() {
        let keys = [key("c", State::Current, 0, Some(0), None), key("n", State::Next, 950, None, None)];
        assert!(plan(&keys, 1000, POLICY, false).is_empty(), "next published for 50 s only");
        assert_eq!(
            plan(&keys, 1050, POLICY, false),
            vec![Step::Promote { next: "n".into(), current: Some("c".into()) }, Step::Create(State::Next)]
        );
    }

    #[test]
    fn forced_rotation_promotes_at_once() {
        let keys = [key("c", State::Current, 0, Some(0), None), key("n", State::Next, 0, None, None)];
        assert_eq!(plan(&keys, 1, POLICY, true).len(), 2);
    }

    #[test]
    fn retiring_keys_stay_published_for_the_retention_time() {
        let keys = [
            key("c", State::Current, 0, Some(0), None),
            key("n", State::Next, 0, None, None),
            key("r", State::Retiring, 0, Some(0), Some(10)),
        ];
        assert!(plan(&keys, 59, POLICY, false).is_empty());
        assert_eq!(plan(&keys, 60, POLICY, false), vec![Step::Retire("r".into())]);
    }

    #[test]
    fn a_missing_next_key_is_made() {
        let keys = [key("c", State::Current, 0, Some(0), None)];
        assert_eq!(plan(&keys, 5, POLICY, false), vec![Step::Create(State::Next)]);
    }
}
