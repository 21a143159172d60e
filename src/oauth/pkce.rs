//! Proof Key for Code Exchange (RFC 7636). Only `S256` is accepted: `plain`
//! gives no protection when the authorization request can be observed, and
//! OAuth 2.0 Security BCP (RFC 9700 §2.1.1) says to use S256.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::OAuthError;

/// A validated `code_challenge` (S256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge(String);

impl Challenge {
    /// Parses `code_challenge` and `code_challenge_method` from an
    /// authorization request. RFC 7636 §4.3: a missing method means `plain`,
    /// which we refuse.
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, OAuthError> {
        match method {
            Some("S256") => {}
            Some("plain") | None => {
                return Err(OAuthError::invalid_request("code_challenge_method must be S256 (plain is not supported)"));
            }
            Some(_) => return Err(OAuthError::invalid_request("unsupported code_challenge_method")),
        }
        // The S256 challenge is BASE64URL(SHA-256(..)): exactly 43 characters.
        let ok =
            challenge.len() == 43 && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(OAuthError::invalid_request("code_challenge is not a base64url SHA-256 value"));
        }
        Ok(Self(challenge.to_owned()))
    }

    /// The stored form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Restores a challenge that was validated when stored.
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    /// RFC 7636 §4.6: whether `verifier` matches, compared in constant time.
    /// §4.1: a verifier is 43–128 characters of `[A-Z a-z 0-9 - . _ ~]`.
    pub fn verify(&self, verifier: &str) -> bool {
        let well_formed = (43..=128).contains(&verifier.len())
            && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        well_formed && bool::from(computed.as_bytes().ct_eq(self.0.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc_7636_appendix_b_vector_verifies() {
        let c = Challenge::parse(CHALLENGE, Some("S256")).unwrap();
        assert!(c.verify(VERIFIER));
        assert!(!c.verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj"));
    }

    #[test]
    fn plain_and_missing_methods_are_refused_rfc_7636_4_3() {
        assert!(Challenge::parse(CHALLENGE, Some("plain")).is_err());
        assert!(Challenge::parse(CHALLENGE, None).is_err());
        assert!(Challenge::parse(CHALLENGE, Some("S512")).is_err());
    }

    #[test]
    fn malformed_challenges_and_verifiers_are_refused() {
        assert!(Challenge::parse("short", Some("S256")).is_err());
        assert!(Challenge::parse(&format!("{}=", &CHALLENGE[..42]), Some("S256")).is_err());
        let c = Challenge::parse(CHALLENGE, Some("S256")).unwrap();
        assert!(!c.verify(""), "missing verifier");
        assert!(!c.verify(&"a".repeat(129)), "too long (RFC 7636 §4.1)");
    }
}
