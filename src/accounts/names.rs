//! Parsed account identifiers. Parse, don't validate: a [`Username`] or an
//! [`Email`] that exists is well-formed, and carries the normalized `key` that
//! the database makes unique. Keys fold case (after Unicode NFKC, so full-width
//! and other compatibility forms collapse) and map the common Cyrillic and
//! Greek letters that look like Latin ones, so `Аlice` (Cyrillic А) cannot
//! impersonate `alice`. That is the cheap part of UTS #39 skeletons.
use unicode_normalization::UnicodeNormalization;

/// A valid username and its uniqueness key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username {
    pub display: String,
    pub key: String,
}

/// A valid email address and its uniqueness key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub display: String,
    pub key: String,
}

/// Longest username, in characters.
pub const USERNAME_MAX: usize = 32;
/// Longest email address (RFC 5321 §4.5.3.1.3 path limit less the brackets).
pub const EMAIL_MAX: usize = 254;
/// Longest display name, in characters.
pub const DISPLAY_NAME_MAX: usize = 64;

impl Username {
    /// Parses a username: 3–32 letters, digits, `.`, `_` or `-`, starting with
    /// a letter or digit.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let display: String = raw.trim().nfkc().collect();
        let len = display.chars().count();
        if len < 3 {
            return Err("Choose a username of at least 3 characters.");
        }
        if len > USERNAME_MAX {
            return Err("Choose a username of at most 32 characters.");
        }
        if !display.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-')) {
            return Err("Use only letters, digits, '.', '_' and '-' in the username.");
        }
        if !display.chars().next().is_some_and(char::is_alphanumeric) {
            return Err("Start the username with a letter or a digit.");
        }
        let key = login_key(&display);
        Ok(Self { display, key })
    }
}

impl Email {
    /// Parses an address of the form `local@domain.tld` (a practical subset of
    /// RFC 5322: no quoted local parts, no IP literals, no whitespace).
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        const BAD: &str = "Enter an email address like name@example.com.";
        let display: String = raw.trim().nfkc().collect();
        if display.len() > EMAIL_MAX {
            return Err("That email address is too long.");
        }
        let Some((local, domain)) = display.rsplit_once('@') else { return Err(BAD) };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local.chars().all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !local_ok || !domain_ok {
            return Err(BAD);
        }
        let key = login_key(&display);
        Ok(Self { display, key })
    }
}

/// The key under which a typed login (username or email) is looked up.
pub fn login_key(raw: &str) -> String {
    let normalized: String = raw.trim().nfkc().collect();
    normalized.to_lowercase().chars().map(fold_lookalike).collect()
}

/// Parses a display name: up to 64 characters, no control characters.
pub fn parse_display_name(raw: &str) -> Result<String, &'static str> {
    let name: String = raw.trim().nfc().collect();
    if name.chars().count() > DISPLAY_NAME_MAX {
        return Err("Use at most 64 characters for the display name.");
    }
    if name.chars().any(char::is_control) {
        return Err("The display name cannot contain control characters.");
    }
    Ok(name)
}

/// Maps lowercase Cyrillic and Greek letters to the Latin letter they imitate.
fn fold_lookalike(c: char) -> char {
    match c {
        'а' | 'α' => 'a',
        'в' | 'β' => 'b',
        'с' | 'ϲ' => 'c',
        'ԁ' => 'd',
        'е' | 'ε' => 'e',
        'һ' => 'h',
        'і' | 'ι' => 'i',
        'ј' => 'j',
        'к' | 'κ' => 'k',
        'ӏ' => 'l',
        'м' => 'm',
        'п' | 'η' => 'n',
        'о' | 'ο' => 'o',
        'р' | 'ρ' => 'p',
        'ѕ' => 's',
        'т' | 'τ' => 't',
        'υ' => 'u',
        'ѵ' | 'ν' => 'v',
        'ԝ' | 'ω' => 'w',
        'х' | 'χ' => 'x',
        'у' | 'γ' => 'y',
        'ᴢ' => 'z',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_differing_in_case_or_lookalikes_share_a_key() {
        let a = Username::parse("Alice").unwrap();
        assert_eq!(a.display, "Alice");
        assert_eq!(a.key, "alice");
        assert_eq!(Username::parse("ALICE").unwrap().key, a.key);
        assert_eq!(Username::parse("\u{0410}lice").unwrap().key, a.key, "Cyrillic A");
        assert_eq!(Username::parse("\u{FF41}lice").unwrap().key, a.key, "full-width a");
        assert_eq!(login_key("  ALICE "), "alice");
    }

    #[test]
    fn bad_usernames_are_refused() {
        for bad in ["", "ab", "a b c", "<script>", "-dash", &"x".repeat(33), "nul\0x"] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn emails_are_parsed_and_keyed_case_insensitively() {
        let e = Email::parse(" Bob.Smith+x@Example.COM ").unwrap();
        assert_eq!(e.display, "Bob.Smith+x@Example.COM");
        assert_eq!(e.key, "bob.smith+x@example.com");
        assert_eq!(login_key("BOB.smith+x@example.com"), e.key);
        assert_eq!(Email::parse("bob.smith+x@ex\u{0430}mple.com").unwrap().key, e.key, "Cyrillic a");
    }

    #[test]
    fn malformed_emails_are_refused() {
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in
            ["", "plain", "@x.com", "a@", "a@b", "a@@b.com", "a b@c.com", "a@b..com", ".a@b.com", "a@-b.com", &long]
        {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn display_names_refuse_control_characters_and_length() {
        assert_eq!(parse_display_name("  Ada L. ").unwrap(), "Ada L.");
        assert!(parse_display_name("a\u{7}b").is_err());
        assert!(parse_display_name(&"x".repeat(65)).is_err());
    }
}
