//! CSRF protection by signed double submit (OWASP CSRF cheat sheet): the browser
//! holds a random value in an `HttpOnly; SameSite=Strict` cookie, and each form
//! carries HMAC(key, value ‖ session id). A forged form cannot know the HMAC;
//! a cookie planted by an attacker (who can mint matching pairs for his own
//! cookie) is still bound to no session of the victim's. The cookie is replaced
//! at sign-in and sign-out, so tokens from before those moments are refused.
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
    fn mac(&self, cookie: &str, session: &str) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("BUG: HMAC takes keys of any length");
        mac.update(b"gatehouse-csrf-v2:");
        mac.update(cookie.as_bytes());
        // The cookie is base64url, so NUL cannot occur in it: the split is unambiguous.
        mac.update(b"\0");
        mac.update(session.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// The form token for the browser holding `cookie`, signed in to `session`
    /// (empty when signed out).
    pub fn token_for(&self, cookie: &str, session: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(cookie, session))
    }

    /// Whether `token` was issued for `cookie` and `session`, in constant time.
    pub fn verify(&self, cookie: &str, session: &str, token: &str) -> bool {
        let Ok(given) = URL_SAFE_NO_PAD.decode(token.as_bytes()) else { return false };
        !cookie.is_empty() && bool::from(self.mac(cookie, session).ct_eq(&given))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_verifies_only_for_its_cookie() {
        let csrf = Csrf::new([7; 32]);
        let token = csrf.token_for("cookie-a", "session-1");
        assert!(csrf.verify("cookie-a", "session-1", &token));
        assert!(!csrf.verify("cookie-b", "session-1", &token));
        assert!(!csrf.verify("cookie-a", "session-2", &token), "bound to the session");
        assert!(!csrf.verify("cookie-a", "", &token));
        assert!(!csrf.verify("", "", &csrf.token_for("", "")));
        assert!(!csrf.verify("cookie-a", "session-1", "not base64 !"));
        assert!(!Csrf::new([8; 32]).verify("cookie-a", "session-1", &token));
    }
}
