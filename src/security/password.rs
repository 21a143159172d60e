//! Password hashing with Argon2id (RFC 9106; OWASP parameters by default).
//! Hashing runs on its own threads (`hash_pool`) so it never stalls the async
//! workers and its memory stays bounded.
//! Verification of an unknown user runs against a dummy hash, so a wrong
//! username costs as much time as a wrong password (no user enumeration).
//!
//! Passwords are hashed in Unicode NFKC form (NIST SP 800-63B §5.1.1.2), so a
//! fullwidth or decomposed spelling of the same password matches. Hashes made
//! before that (of the bytes as typed) still verify: when the normalized form
//! fails and differs from what was typed, the typed bytes are tried too, and a
//! match asks for a rehash, which stores the normalized form from then on.
use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use unicode_normalization::UnicodeNormalization as _;

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
    Pool(#[from] super::hash_pool::Error),
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
    /// One thread per core, at most one hash each: each takes `m_cost` KiB,
    /// so an unbounded flood of sign-ins would otherwise exhaust memory.
    pool: Arc<super::hash_pool::HashPool>,
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
        Ok(Self { params, dummy: dummy.into(), pool: super::hash_pool::HashPool::new(cores)? })
    }

    /// Hashes a password into a PHC string.
    pub async fn hash(&self, password: &SecretString) -> Result<String, Error> {
        let params = self.params.clone();
        let password = password.clone();
        self.blocking(move || hash_with(&params, normalize(password.expose_secret()).as_bytes())).await?
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
            let typed = password.expose_secret();
            let normal = normalize(typed);
            let hasher = argon2(&params);
            let mut ok = hasher.verify_password(normal.as_bytes(), &parsed).is_ok();
            // A hash made before normalization, of a password typed in another form.
            let legacy = !ok && normal != typed && hasher.verify_password(typed.as_bytes(), &parsed).is_ok();
            ok |= legacy;
            let needs_rehash = legacy
                || Params::try_from(&parsed).map(|p| !same_params(&p, &params)).unwrap_or(true)
                || parsed.algorithm.as_str() != "argon2id";
            Verified { ok: ok && known, needs_rehash: ok && known && needs_rehash }
        })
        .await
    }
}

/// The form a password is hashed in: NFKC (NIST SP 800-63B §5.1.1.2).
pub fn normalize(password: &str) -> String {
    password.nfkc().collect()
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
    /// Runs CPU- and memory-heavy work on the hashing threads, inside the
    /// caller's tracing span, once one is free.
    async fn blocking<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, Error> {
        let span = tracing::Span::current();
        Ok(self.pool.run(move || span.in_scope(f)).await?)
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

    #[tokio::test]
    async fn other_unicode_forms_of_a_password_match_nist_800_63b_5_1_1_2() {
        let p = Passwords::new(&cheap()).unwrap();
        // "Ｐäss wörd": typed once composed, then decomposed, then fullwidth.
        let composed = SecretString::from("P\u{e4}ss w\u{f6}rd 2026");
        let hash = p.hash(&composed).await.unwrap();
        let decomposed = SecretString::from("Pa\u{308}ss wo\u{308}rd 2026");
        let fullwidth = SecretString::from("\u{ff30}\u{e4}ss w\u{f6}rd \u{ff12}\u{ff10}\u{ff12}\u{ff16}");
        for form in [&composed, &decomposed, &fullwidth] {
            assert_eq!(p.verify(form, Some(&hash)).await.unwrap(), Verified { ok: true, needs_rehash: false });
        }
        assert!(!p.verify(&SecretString::from("Pass word 2026"), Some(&hash)).await.unwrap().ok);
    }

    #[tokio::test]
    async fn a_hash_made_before_normalization_verifies_and_asks_for_a_rehash_nist_800_63b_5_1_1_2() {
        let p = Passwords::new(&cheap()).unwrap();
        let typed = "\u{ff50}\u{ff41}\u{ff53}\u{ff53} fullwidth phrase";
        let legacy = hash_with(&p.params, typed.as_bytes()).unwrap();
        let pw = SecretString::from(typed);
        assert_eq!(p.verify(&pw, Some(&legacy)).await.unwrap(), Verified { ok: true, needs_rehash: true });
        let upgraded = p.hash(&pw).await.unwrap();
        assert_eq!(p.verify(&pw, Some(&upgraded)).await.unwrap(), Verified { ok: true, needs_rehash: false });
        let ascii = SecretString::from("pass fullwidth phrase");
        assert!(p.verify(&ascii, Some(&upgraded)).await.unwrap().ok, "the normalized form now matches too");
        assert!(!p.verify(&ascii, Some(&legacy)).await.unwrap().ok, "but never matched the old hash");
    }
}
