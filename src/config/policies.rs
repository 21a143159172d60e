//! The `[lockout]` and `[retention]` sections. Their behaviour lives with
//! the code that applies them (`security::lockout`, `janitor`, which re-export
//! these types); the data and its validation live here so that `config`
//! depends on nothing else in the crate.
use anyhow::bail;
use serde::{Deserialize, Serialize};

use super::TokensConfig;

/// Lockout settings (seconds); the `[lockout]` config section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockoutPolicy {
    /// Failures in one window that lock the subject; 0 turns lockout off.
    pub max_failures: i64,
    /// The window starts at the first failure.
    pub window_secs: i64,
    /// The first lock's length.
    pub base_delay_secs: i64,
    /// No lock is longer.
    pub max_delay_secs: i64,
    /// A level this long past its last lock starts again from the first delay.
    pub forget_after_secs: i64,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self { max_failures: 5, window_secs: 900, base_delay_secs: 60, max_delay_secs: 3600, forget_after_secs: 86_400 }
    }
}

/// How long ended rows are kept, and how the janitor runs: the `[retention]`
/// config section (seconds unless named otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// How often the janitor runs (hourly); the first run is a minute after start.
    pub interval_secs: u64,
    /// Rows per delete (1000); each batch is its own short transaction.
    pub batch_size: i64,
    /// How long codes, refresh tokens, mail links, sign-in challenges and
    /// upstream flows are kept once they ended (used, revoked or expired),
    /// so a replay is still recognised (1 day).
    pub token_grace_secs: i64,
    /// How long sessions are kept after they expired or were revoked (1 day).
    pub sessions_secs: i64,
    /// How long sent mail is kept for `gatehouse mail list --all` (7 days).
    pub sent_mail_secs: i64,
    /// How long sign-in activity is kept (90 days).
    pub activity_secs: i64,
    /// A device or network not seen for this long is forgotten: a sign-in
    /// from it mails a new-device notice again (365 days).
    pub devices_secs: i64,
    /// How long retired signing keys (no longer in JWKS) are kept (7 days).
    pub retired_keys_secs: i64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            interval_secs: 3600,
            batch_size: 1000,
            token_grace_secs: 86_400,
            sessions_secs: 86_400,
            sent_mail_secs: 7 * 86_400,
            activity_secs: 90 * 86_400,
            devices_secs: 365 * 86_400,
            retired_keys_secs: 7 * 86_400,
        }
    }
}

impl RetentionConfig {
    /// Rules serde cannot express.
    pub fn validate(&self, tokens: &TokensConfig) -> anyhow::Result<()> {
        if self.interval_secs == 0 || !(1..=100_000).contains(&self.batch_size) {
            bail!("retention.interval_secs must be positive and retention.batch_size 1 to 100000");
        }
        // Both send limits count the last hour's links and mail.
        if self.token_grace_secs < 3600 || self.sent_mail_secs < 3600 {
            bail!("retention.token_grace_secs and retention.sent_mail_secs must be at least 3600");
        }
        // A replayed code or refresh token revokes the access tokens it issued.
        if self.token_grace_secs < tokens.access_token_secs {
            bail!("retention.token_grace_secs must be at least tokens.access_token_secs");
        }
        let kept = [self.sessions_secs, self.activity_secs, self.devices_secs, self.retired_keys_secs];
        if kept.iter().any(|v| *v < 0) {
            bail!("retention.sessions_secs, activity_secs, devices_secs and retired_keys_secs must not be negative");
        }
        Ok(())
    }
}
