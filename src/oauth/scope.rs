//! Scope sets (RFC 6749 §3.3): the one parser of the space-delimited wire
//! form. A [`Scope`] keeps the order tokens were first given in and holds no
//! duplicates; `Display` writes the wire form back. The same splitting
//! ([`words`], from `crate::wire`) serves the other space-delimited lists we store (`amr`,
//! `prompt`, grant types), so no other module splits on spaces.
//!
//! Owns: parsing, set tests (`contains`, `is_subset`), narrowing. Must not
//! import the store, axum or anything with I/O.
use std::fmt;

/// The non-empty words of a space-delimited list (RFC 6749 §3.3 form).
pub use crate::wire::words;

/// Whether `token` uses only the characters RFC 6749 §3.3 allows in a scope
/// token: %x21 / %x23-5B / %x5D-7E.
pub fn is_scope_token(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// A scope token that RFC 6749 §3.3 does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scope token {0:?} has characters RFC 6749 §3.3 forbids")]
pub struct BadToken(pub String);

/// An ordered set of scope tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope(Vec<String>);

impl Scope {
    /// Parses the wire form, checking every token's characters (RFC 6749
    /// §3.3); repeats are dropped, order is kept. May be empty.
    pub fn parse(raw: &str) -> Result<Self, BadToken> {
        let mut out = Self::default();
        for tok in words(raw) {
            if !is_scope_token(tok) {
                return Err(BadToken(tok.to_owned()));
            }
            out.insert(tok);
        }
        Ok(out)
    }

    /// The tokens of `raw` without a character check: for values we stored
    /// ourselves (checked when they came in), and for requests where an
    /// unknown token is refused by a set test anyway.
    pub fn words(raw: &str) -> Self {
        let mut out = Self::default();
        for tok in words(raw) {
            out.insert(tok);
        }
        out
    }

    /// The set of `tokens`, repeats dropped.
    pub fn of<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Self {
        let mut out = Self::default();
        for tok in tokens {
            out.insert(tok);
        }
        out
    }

    fn insert(&mut self, tok: &str) {
        if !self.contains(tok) {
            self.0.push(tok.to_owned());
        }
    }

    /// Whether the set holds `token`.
    pub fn contains(&self, token: &str) -> bool {
        self.0.iter().any(|s| s == token)
    }

    /// Whether every token of `self` is in `other`.
    pub fn is_subset(&self, other: &Scope) -> bool {
        self.0.iter().all(|s| other.contains(s))
    }

    /// The first token of `self` that `other` lacks.
    pub fn first_missing_from(&self, other: &Scope) -> Option<&str> {
        self.iter().find(|s| !other.contains(s))
    }

    /// RFC 6749 §6: `asked` (a refresh's `scope`) may narrow the granted set
    /// `self`, never widen it. `None` keeps all of it; a token that was not
    /// granted comes back as the error.
    pub fn narrow(&self, asked: Option<&Scope>) -> Result<Scope, String> {
        match asked {
            None => Ok(self.clone()),
            Some(asked) => match asked.first_missing_from(self) {
                Some(extra) => Err(extra.to_owned()),
                None => Ok(asked.clone()),
            },
        }
    }

    /// `self` with the tokens of `more` that it lacks appended.
    pub fn union(&self, more: &Scope) -> Scope {
        let mut out = self.clone();
        for tok in more.iter() {
            out.insert(tok);
        }
        out
    }

    /// `self` without the tokens `drop` says to leave out.
    pub fn without(&self, drop: impl Fn(&str) -> bool) -> Scope {
        Scope(self.0.iter().filter(|s| !drop(s)).cloned().collect())
    }

    /// The tokens, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_keeps_order_drops_repeats_and_checks_characters_rfc_6749_3_3() {
        let s = Scope::parse("openid  email openid profile").unwrap();
        assert_eq!(s.to_string(), "openid email profile");
        assert!(s.contains("email") && !s.contains("mail"));
        assert_eq!(Scope::parse("bad\"quote").unwrap_err(), BadToken("bad\"quote".into()));
        assert!(Scope::parse("back\\slash").is_err());
        assert!(Scope::parse("   ").unwrap().is_empty());
        assert_eq!(Scope::words("a\"b c").to_string(), "a\"b c", "stored values are not checked again");
    }

    #[test]
    fn subsets_and_narrowing_never_widen_rfc_6749_6() {
        let granted = Scope::parse("openid email offline_access").unwrap();
        let fewer = Scope::parse("email").unwrap();
        assert!(fewer.is_subset(&granted) && !granted.is_subset(&fewer));
        assert_eq!(granted.narrow(None).unwrap(), granted);
        assert_eq!(granted.narrow(Some(&fewer)).unwrap(), fewer);
        let wider = Scope::parse("email admin").unwrap();
        assert_eq!(granted.narrow(Some(&wider)).unwrap_err(), "admin");
    }

    #[test]
    fn union_and_without_keep_order() {
        let a = Scope::parse("openid email").unwrap();
        let b = Scope::parse("email profile").unwrap();
        assert_eq!(a.union(&b).to_string(), "openid email profile");
        assert_eq!(a.union(&b).without(|s| s == "openid").to_string(), "email profile");
        assert_eq!(words(" pwd  otp ").collect::<Vec<_>>(), ["pwd", "otp"]);
    }
}
