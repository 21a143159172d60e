//! CSRF protection by signed double submit (OWASP CSRF cheat sheet): the browser
//! holds a random value in an `HttpOnly; SameSite=Strict` cookie, and each form
//! carries HMAC(key, value). A forged form cannot know the HMAC, and a planted
//! cookie is useless without the server key. The cookie is replaced at sign-in
//! and sign-out, so tokens from before those moments are refused.
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Issues and checks CSRF tokens with an instance-wide key.
#[derive(Clone)]
pub struct Csrf {
    key: [u8; 32],
}

impl std::fmt::Debug for Csrf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Csrf(<redacted>)")
    }
}

impl Csrf {
    /// A checker with this key.
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    #[allow(clippy::expect_used, reason = "HMAC accepts keys of any length")]
    fn mac(&self, cookie: &str) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("BUG: HMAC takes keys of any length");
        mac.update(b"gatehouse-csrf-v1:");
        mac.update(cookie.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// The form token for the browser holding `cookie`.
    pub fn token_for(&self, cookie: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(cookie))
    }

    /// Whether `token` was issued for `cookie`, compared in constant time.
    pub fn verify(&self, cookie: &str, token: &str) -> bool {
        let Ok(given) = URL_SAFE_NO_PAD.decode(token.as_bytes()) else { return false };
        !cookie.is_empty() && bool::from(self.mac(cookie).ct_eq(&given))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_verifies_only_for_its_cookie() {
        let csrf = Csrf::new([7; 32]);
        let token = csrf.token_for("cookie-a");
        assert!(csrf.verify("cookie-a", &token));
        assert!(!csrf.verify("cookie-b", &token));
        assert!(!csrf.verify("", &csrf.token_for("")));
        assert!(!csrf.verify("cookie-a", "not base64 !"));
        assert!(!Csrf::new([8; 32]).verify("cookie-a", &token));
    }
}
