//! The shared rate limiter (issue 6): per-client-address request buckets,
//! the failed-sign-in counter behind the progressive delay, and the
//! failed-client-authentication counters of the token, revocation and
//! introspection endpoints (RFC 6749 §10.10; issue 13). Counts live in the
//! database (one atomic upsert per hit), so every instance agrees.
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::config::{Limit, RateLimitsConfig};
use crate::security::lockout::{FailureDelay, client_key};
use crate::store::{self, Store};

/// A rate-limited action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Login,
    Mfa,
    Register,
    Forgot,
    Token,
    /// Failed sign-ins (counted after the fact, checked before sign-in).
    FailedLogins,
    /// Failed client authentications per `client_id` (counted after the
    /// fact, checked before authenticating).
    FailedClientAuthPerClient,
    /// Failed client authentications per address.
    FailedClientAuthPerAddress,
}

impl Bucket {
    /// The bucket's name (database key and metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Login => "login",
            Bucket::Mfa => "mfa",
            Bucket::Register => "register",
            Bucket::Forgot => "forgot",
            Bucket::Token => "token",
            Bucket::FailedLogins => "failed_logins",
            Bucket::FailedClientAuthPerClient => "failed_client_auth_per_client",
            Bucket::FailedClientAuthPerAddress => "failed_client_auth_per_address",
        }
    }

    /// The bucket guarding `POST path`, if any.
    pub fn for_post(path: &str) -> Option<Self> {
        Some(match path {
            // The expired-password form checks a password too.
            "/login" | "/password/expired" | "/login/link" => Bucket::Login,
            // Password confirmations inside a session (ASVS 5 V6.3.1).
            "/account/password" | "/account/email" | "/account/mfa/disable" => Bucket::Login,
            "/login/mfa" | "/login/mfa/email" | "/login/mfa/setup" => Bucket::Mfa,
            "/register" | "/api/v1/register" => Bucket::Register,
            // The API's password confirmations count like the pages' (ASVS 5 V6.3.1).
            "/api/v1/me/password" | "/api/v1/me/email" => Bucket::Login,
            "/password/forgot" => Bucket::Forgot,
            "/token" => Bucket::Token,
            _ => return None,
        })
    }

    /// The bucket guarding `DELETE path`, if any: deleting one's own account
    /// over the API checks the password.
    pub fn for_delete(path: &str) -> Option<Self> {
        (path == "/api/v1/me").then_some(Bucket::Login)
    }

    /// The bucket guarding `GET path`, if any: starting an upstream sign-in
    /// (`/login/{provider}`, which stores a flow) and its callback (which
    /// calls the provider) count as sign-in attempts.
    pub fn for_get(path: &str) -> Option<Self> {
        let rest = path.strip_prefix("/login/")?;
        let id = rest.strip_suffix("/callback").unwrap_or(rest);
        let ours = matches!(id, "mfa" | "link");
        (!id.is_empty() && !id.contains('/') && !ours).then_some(Bucket::Login)
    }

    fn limit(self, c: &RateLimitsConfig) -> Limit {
        match self {
            Bucket::Login => c.login,
            Bucket::Mfa => c.mfa,
            Bucket::Register => c.register,
            Bucket::Forgot => c.forgot,
            Bucket::Token => c.token,
            Bucket::FailedLogins => c.failed_logins,
            Bucket::FailedClientAuthPerClient => c.failed_client_auth_per_client,
            Bucket::FailedClientAuthPerAddress => c.failed_client_auth_per_address,
        }
    }
}

/// Whether a request may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Over the limit: `bucket` refused it; try again in `retry_after` seconds.
    Limited {
        bucket: Bucket,
        retry_after: i64,
    },
}

/// The limiter; cheap to clone.
#[derive(Clone)]
pub struct Limiter {
    store: Store,
    clock: Arc<dyn Clock>,
    config: RateLimitsConfig,
}

impl Limiter {
    /// A limiter over `store` with the configured buckets.
    pub fn new(store: Store, clock: Arc<dyn Clock>, config: RateLimitsConfig) -> Self {
        Self { store, clock, config }
    }

    /// Counts a request from `ip` against `bucket`. Sign-in steps are also
    /// refused while the address is over its failed sign-in limit.
    pub async fn check(&self, bucket: Bucket, ip: &str) -> store::Result<Verdict> {
        let key = client_key(ip);
        let now = self.clock.unix();
        let mut conn = self.store.conn().await?;
        let failed = self.config.failed_logins;
        if matches!(bucket, Bucket::Login | Bucket::Mfa)
            && failed.enabled()
            && let Some(hit) = conn.db().peek_rate_counter(Bucket::FailedLogins.as_str(), &key, now).await?
            && hit.hits >= failed.max
        {
            return Ok(Verdict::Limited { bucket: Bucket::FailedLogins, retry_after: (hit.expires_at - now).max(1) });
        }
        let limit = bucket.limit(&self.config);
        if !limit.enabled() {
            return Ok(Verdict::Allowed);
        }
        let hit = conn.db().hit_rate_counter(bucket.as_str(), &key, now, limit.per_secs).await?;
        Ok(if hit.hits > limit.max {
            Verdict::Limited { bucket, retry_after: (hit.expires_at - now).max(1) }
        } else {
            Verdict::Allowed
        })
    }

    /// Counts a failed sign-in (or password confirmation) from `ip` and holds
    /// the caller for the growing delay. A counting failure is logged and
    /// lets the answer go out.
    pub async fn hold_failed_sign_in(&self, ip: &str) {
        match self.failed_sign_in(ip).await {
            Ok(delay) if !delay.is_zero() => tokio::time::sleep(delay).await,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "counting a failed sign-in failed"),
        }
    }

    /// Counts a failed sign-in from `ip`; returns how long to hold its answer.
    pub async fn failed_sign_in(&self, ip: &str) -> store::Result<Duration> {
        let limit = self.config.failed_logins;
        let delay = FailureDelay {
            free_failures: self.config.free_failures,
            base_ms: self.config.failure_delay_ms,
            max_ms: self.config.max_failure_delay_ms,
        };
        if limit.per_secs <= 0 || (!limit.enabled() && delay.free_failures == 0) {
            return Ok(Duration::ZERO);
        }
        let now = self.clock.unix();
        let key = client_key(ip);
        let hit = self
            .store
            .conn()
            .await?
            .db()
            .hit_rate_counter(Bucket::FailedLogins.as_str(), &key, now, limit.per_secs)
            .await?;
        Ok(delay.for_count(hit.hits))
    }

    /// The counters a client authentication from `ip` for `client_id`
    /// (`None`: the request named none we could read) is counted under.
    fn client_auth_keys(client_id: Option<&str>, ip: &str) -> Vec<(Bucket, String)> {
        let mut keys = vec![(Bucket::FailedClientAuthPerAddress, client_key(ip))];
        if let Some(id) = client_id {
            // Bounded: unknown ids count too, so nothing tells them from real ones.
            keys.push((Bucket::FailedClientAuthPerClient, id.chars().take(128).collect()));
        }
        keys
    }

    /// Whether client authentication for `client_id` from `ip` is paused
    /// (either counter is at its limit): `Limited` with the seconds left.
    /// Checked before the secret is compared, and counts nothing.
    pub async fn client_auth_paused(&self, client_id: Option<&str>, ip: &str) -> store::Result<Verdict> {
        let now = self.clock.unix();
        let mut conn = self.store.conn().await?;
        for (bucket, key) in Self::client_auth_keys(client_id, ip) {
            let limit = bucket.limit(&self.config);
            if limit.enabled()
                && let Some(hit) = conn.db().peek_rate_counter(bucket.as_str(), &key, now).await?
                && hit.hits >= limit.max
            {
                return Ok(Verdict::Limited { bucket, retry_after: (hit.expires_at - now).max(1) });
            }
        }
        Ok(Verdict::Allowed)
    }

    /// Counts a failed client authentication for `client_id` from `ip`.
    pub async fn failed_client_auth(&self, client_id: Option<&str>, ip: &str) -> store::Result<()> {
        let now = self.clock.unix();
        let mut conn = self.store.conn().await?;
        for (bucket, key) in Self::client_auth_keys(client_id, ip) {
            let limit = bucket.limit(&self.config);
            if limit.enabled() {
                conn.db().hit_rate_counter(bucket.as_str(), &key, now, limit.per_secs).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod bucket_tests {
    use super::Bucket;

    #[test]
    fn upstream_sign_in_starts_and_callbacks_count_as_sign_ins_but_our_own_pages_do_not() {
        assert_eq!(Bucket::for_get("/login/google"), Some(Bucket::Login));
        assert_eq!(Bucket::for_get("/login/google/callback"), Some(Bucket::Login));
        assert_eq!(Bucket::for_get("/login/mfa"), None);
        assert_eq!(Bucket::for_get("/login/link"), None);
        assert_eq!(Bucket::for_get("/login"), None);
        assert_eq!(Bucket::for_get("/login/a/b/callback"), None);
        assert_eq!(Bucket::for_post("/login/link"), Some(Bucket::Login));
    }
}
