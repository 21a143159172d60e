//! The sign-up policy (`[registration]`): whether people may create their
//! own account (`open`) or only administrators make them (`invite`: by
//! invitation mail or with a password; `closed`: with a password only, no
//! invitations), and which
//! email domains self-registration and one's own email change accept.
use super::{Accounts, Error, Result};
use crate::config::{RegistrationConfig, RegistrationMode};

/// The `[registration]` section as the services apply it.
#[derive(Debug, Clone, Default)]
pub struct SignupPolicy {
    mode: RegistrationMode,
    /// Lowercase; empty means any domain.
    domains: Vec<String>,
}

impl SignupPolicy {
    /// From the config section.
    pub fn new(c: &RegistrationConfig) -> Self {
        Self { mode: c.mode, domains: c.allowed_domains.iter().map(|d| d.trim().to_ascii_lowercase()).collect() }
    }

    /// Whether an address's domain is allowed: exactly one of the listed
    /// domains, case-insensitively (a subdomain only when listed itself).
    pub fn allows(&self, email: &str) -> bool {
        if self.domains.is_empty() {
            return true;
        }
        let Some((_, domain)) = email.trim().rsplit_once('@') else { return false };
        let domain = domain.to_ascii_lowercase();
        self.domains.contains(&domain)
    }

    /// Whether an upstream sign-in may make a new account with `email`
    /// (the verified address, if the provider gave one): with a domain list,
    /// only an allowed address will do.
    pub fn allows_upstream(&self, email: Option<&str>) -> bool {
        self.domains.is_empty() || email.is_some_and(|e| self.allows(e))
    }
}

impl Accounts {
    /// Applies the `[registration]` section.
    pub fn with_registration(mut self, c: &RegistrationConfig) -> Self {
        self.signup = SignupPolicy::new(c);
        self
    }

    /// Whether visitors may create their own account (`mode = "open"`).
    pub fn self_registration_open(&self) -> bool {
        self.signup.mode == RegistrationMode::Open
    }

    /// Whether administrators may invite by mail (`open` and `invite`;
    /// `closed` means accounts are made with a password by an operator only).
    pub fn invitations_open(&self) -> bool {
        self.signup.mode != RegistrationMode::Closed
    }

    /// `Err(Invalid)` on `field` when `email`'s domain is not allowed.
    pub(super) fn check_email_domain(&self, field: &'static str, email: &str) -> Result<()> {
        if self.signup.allows(email) {
            return Ok(());
        }
        let list = self.signup.domains.join(", ");
        Err(Error::field(field, format!("Use an address at one of these domains: {list}.")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_match_exactly_and_case_insensitively() {
        let p = SignupPolicy::new(&RegistrationConfig {
            mode: RegistrationMode::Open,
            allowed_domains: vec!["Example.com".into()],
        });
        assert!(p.allows("kim@EXAMPLE.com"));
        assert!(!p.allows("kim@sub.example.com"), "no subdomains unless listed");
        assert!(!p.allows("kim@example.com.evil"));
        assert!(!p.allows("kim@notexample.com"));
        assert!(SignupPolicy::default().allows("anyone@anywhere.test"));
    }
}
