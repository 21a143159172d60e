//! Password hashing with Argon2id (RFC 9106; OWASP parameters by default).
//! Hashing runs on the blocking pool so it never stalls the async workers.
//! Verification of an unknown user runs against a dummy hash, so a wrong
//! username costs as much time as a wrong password (no user enumeration).
use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use crate::config::PasswordConfig;

/// Longest password we hash, in bytes (hashing cost grows with input).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Hashing errors; none of them carries the password.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid argon2 parameters: {0}")]
    Params(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("hashing task failed")]
    Join(#[from] tokio::task::JoinError),
}

/// Outcome of a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The password matched.
    pub ok: bool,
    /// The stored hash uses other parameters than the configured ones.
    pub needs_rehash: bool,
}

/// Hashes and verifies passwords with the configured parameters.
#[derive(Clone)]
pub struct Passwords {
    params: Params,
    dummy: Arc<str>,
    /// At most one hash per core at a time: each takes `m_cost` KiB, so an
    /// unbounded flood of sign-ins would otherwise exhaust memory.
    permits: Arc<Semaphore>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords").field("params", &self.params).finish_non_exhaustive()
    }
}

impl Passwords {
    /// Builds the hasher and its dummy hash (one hash, at startup).
    pub fn new(cfg: &PasswordConfig) -> Result<Self, Error> {
        let params = Params::new(cfg.argon2_memory_kib, cfg.argon2_iterations, cfg.argon2_parallelism, None)
            .map_err(|e| Error::Params(e.to_string()))?;
        let dummy = hash_with(&params, b"gatehouse dummy password")?;
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Ok(Self { params, dummy: dummy.into(), permits: Arc::new(Semaphore::new(cores)) })
    }

    /// Hashes a password into a PHC string.
    pub async fn hash(&self, password: &SecretString) -> Result<String, Error> {
        let params = self.params.clone();
        let password = password.clone();
        self.blocking(move || hash_with(&params, password.expose_secret().as_bytes())).await?
    }

    /// Verifies `password` against `stored`; `None` (unknown user, or no
    /// password set) verifies against the dummy hash and never matches.
    pub async fn verify(&self, password: &SecretString, stored: Option<&str>) -> Result<Verified, Error> {
        let known = stored.is_some();
        let stored: Arc<str> = stored.map(Arc::from).unwrap_or_else(|| self.dummy.clone());
        let password = password.clone();
        let params = self.params.clone();
        self.blocking(move || {
            let Ok(parsed) = PasswordHash::new(&stored) else {
                return Verified { ok: false, needs_rehash: false };
            };
            let ok = argon2(&params).verify_password(password.expose_secret().as_bytes(), &parsed).is_ok();
            let needs_rehash = Params::try_from(&parsed).map(|p| !same_params(&p, &params)).unwrap_or(true)
                || parsed.algorithm.as_str() != "argon2id";
            Verified { ok: ok && known, needs_rehash: ok && known && needs_rehash }
        })
        .await
    }
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn same_params(a: &Params, b: &Params) -> bool {
    a.m_cost() == b.m_cost() && a.t_cost() == b.t_cost() && a.p_cost() == b.p_cost()
}

fn hash_with(params: &Params, password: &[u8]) -> Result<String, Error> {
    let salt = SaltString::encode_b64(&crate::security::token::random_bytes::<16>())
        .map_err(|e| Error::Hash(e.to_string()))?;
    argon2(params).hash_password(password, &salt).map(|h| h.to_string()).map_err(|e| Error::Hash(e.to_string()))
}

impl Passwords {
    /// Runs CPU- and memory-heavy work on the blocking pool, inside the
    /// caller's tracing span, once a permit is free.
    async fn blocking<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, Error> {
        let _permit = self.permits.acquire().await.map_err(|_| Error::Hash("hasher closed".into()))?;
        let span = tracing::Span::current();
        Ok(tokio::task::spawn_blocking(move || span.in_scope(f)).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordConfig {
        PasswordConfig {
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            argon2_parallelism: 1,
            ..PasswordConfig::default()
        }
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let p = Passwords::new(&cheap()).unwrap();
        let pw = SecretString::from("correct horse battery");
        let hash = p.hash(&pw).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert_eq!(p.verify(&pw, Some(&hash)).await.unwrap(), Verified { ok: true, needs_rehash: false });
        let wrong = SecretString::from("wrong horse battery");
        assert!(!p.verify(&wrong, Some(&hash)).await.unwrap().ok);
    }

    #[tokio::test]
    async fn unknown_user_never_matches_even_the_dummy_password() {
        let p = Passwords::new(&cheap()).unwrap();
        let pw = SecretString::from("gatehouse dummy password");
        assert!(!p.verify(&pw, None).await.unwrap().ok);
    }

    #[tokio::test]
    async fn changed_parameters_ask_for_a_rehash() {
        let old = Passwords::new(&cheap()).unwrap();
        let pw = SecretString::from("correct horse battery");
        let hash = old.hash(&pw).await.unwrap();
        let new = Passwords::new(&PasswordConfig { argon2_memory_kib: 128, ..cheap() }).unwrap();
        assert_eq!(new.verify(&pw, Some(&hash)).await.unwrap(), Verified { ok: true, needs_rehash: true });
    }
}
