//! The password policy for new passwords: length (at least `min_length`
//! characters, at most [`MAX_PASSWORD_BYTES`] bytes), no context-specific
//! words (the username, the email's local part or the display name, NIST SP
//! 800-63B §3.1.1.2), the bundled list of common breached passwords, and
//! strength with zxcvbn fed the user's own inputs (username, email and its
//! local part, display name). Pure: history and expiry, which need the
//! database, live in `accounts::policy`.
use unicode_normalization::UnicodeNormalization;

use crate::config::PasswordConfig;
use crate::security::breached;
use crate::security::password::MAX_PASSWORD_BYTES;

/// Why a new password is refused. `Display` is the message shown next to the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// Fewer characters than `min_length`.
    TooShort { min: usize },
    /// More bytes than we hash.
    TooLong { max: usize },
    /// Contains the username, the email's local part or the display name.
    ContextWord,
    /// In the bundled list of common breached passwords.
    Breached,
    /// zxcvbn scores it below `min_score`; its feedback, where it has some.
    Weak { feedback: Vec<String> },
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Violation::TooShort { min } => write!(f, "Use at least {min} characters."),
            Violation::TooLong { max } => write!(f, "Use at most {max} bytes."),
            Violation::ContextWord => f.write_str(
                "Do not use your username, the part of your email address before the @, or your name in the password.",
            ),
            Violation::Breached => f.write_str(
                "This password appears in lists of passwords leaked in data breaches, so attackers try it first. Choose another one.",
            ),
            Violation::Weak { feedback } => {
                f.write_str("This password is too easy to guess.")?;
                for line in feedback {
                    write!(f, " {line}")?;
                }
                Ok(())
            }
        }
    }
}

/// The account a new password is for; its words are context-specific
/// (NIST SP 800-63B §3.1.1.2) and zxcvbn's user inputs. Empty fields are
/// fine (registration has no display name yet).
#[derive(Debug, Clone, Copy, Default)]
pub struct Account<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub display_name: &'a str,
}

/// The shortest username, email local part or display name that counts as a
/// context word: shorter ones ("li", "ann") occur in too many good passwords.
pub const CONTEXT_WORD_MIN_CHARS: usize = 4;

/// Folds text for comparison: NFKC (so composed and decomposed letters, and
/// full-width forms, are the same), then Unicode lower case.
fn fold(text: &str) -> String {
    text.trim().nfkc().collect::<String>().to_lowercase()
}

impl Account<'_> {
    /// The context words a password must not contain: the username, the
    /// email's local part and the whole display name, folded, each only if
    /// it has at least [`CONTEXT_WORD_MIN_CHARS`] characters.
    pub fn context_words(&self) -> Vec<String> {
        let local = self.email.rsplit_once('@').map_or(self.email, |(local, _)| local);
        let mut words: Vec<String> = [self.username, local, self.display_name]
            .into_iter()
            .map(fold)
            .filter(|w| w.chars().count() >= CONTEXT_WORD_MIN_CHARS)
            .collect();
        words.sort_unstable();
        words.dedup();
        words
    }

    /// Whether `password` contains one of the [`Account::context_words`],
    /// ignoring case.
    pub fn in_password(&self, password: &str) -> bool {
        let folded = fold(password);
        self.context_words().iter().any(|w| folded.contains(w.as_str()))
    }

    /// zxcvbn's user inputs (see [`user_inputs`]).
    pub fn inputs(&self) -> Vec<String> {
        user_inputs(self.username, self.email, self.display_name)
    }
}

/// The policy's pure rules.
#[derive(Debug, Clone)]
pub struct Policy {
    min_length: usize,
    min_score: u8,
    check_breached: bool,
}

impl Policy {
    /// The rules from the configuration.
    pub fn new(cfg: &PasswordConfig) -> Self {
        Self { min_length: cfg.min_length, min_score: cfg.min_score, check_breached: cfg.check_breached }
    }

    /// Checks a new password for `account`.
    pub fn check(&self, password: &str, account: &Account<'_>) -> Result<(), Violation> {
        if password.chars().count() < self.min_length {
            return Err(Violation::TooShort { min: self.min_length });
        }
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(Violation::TooLong { max: MAX_PASSWORD_BYTES });
        }
        // NIST SP 800-63B §3.1.1.2: compare against context-specific words.
        if account.in_password(password) {
            return Err(Violation::ContextWord);
        }
        if self.check_breached && breached::contains(password) {
            return Err(Violation::Breached);
        }
        if self.min_score == 0 {
            return Ok(());
        }
        let user_inputs = account.inputs();
        let inputs: Vec<&str> = user_inputs.iter().map(String::as_str).collect();
        // zxcvbn itself looks at the first 100 characters only.
        let entropy = zxcvbn::zxcvbn(password, &inputs);
        if u8::from(entropy.score()) >= self.min_score {
            return Ok(());
        }
        let mut feedback = Vec::new();
        let lowered = password.to_lowercase();
        if user_inputs.iter().any(|i| i.chars().count() >= 3 && lowered.contains(&i.to_lowercase())) {
            feedback.push("Avoid your username, email address or name in it.".to_owned());
        }
        if let Some(fb) = entropy.feedback() {
            feedback.extend(fb.warning().map(|w| w.to_string()));
            feedback.extend(fb.suggestions().iter().map(ToString::to_string));
        }
        if feedback.is_empty() {
            feedback.push("Use a few uncommon words, or a longer password.".to_owned());
        }
        Err(Violation::Weak { feedback })
    }
}

/// The user's own inputs for zxcvbn: username, email and its local part,
/// display name and its words. Empty ones are left out.
pub fn user_inputs(username: &str, email: &str, display_name: &str) -> Vec<String> {
    let local = email.split('@').next().unwrap_or_default();
    let mut inputs: Vec<String> = [username, email, local, display_name]
        .into_iter()
        .chain(display_name.split_whitespace())
        .chain(local.split(['.', '_', '-', '+']))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_lowercase)
        .collect();
    inputs.sort_unstable();
    inputs.dedup();
    inputs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy::new(&PasswordConfig::default())
    }

    fn no_inputs() -> Account<'static> {
        Account::default()
    }

    fn account<'a>(username: &'a str, email: &'a str, display_name: &'a str) -> Account<'a> {
        Account { username, email, display_name }
    }

    #[test]
    fn accepts_a_long_uncommon_passphrase() {
        assert_eq!(policy().check("maple otter quartz lantern", &no_inputs()), Ok(()));
    }

    #[test]
    fn refuses_fewer_characters_than_the_minimum() {
        assert_eq!(policy().check("short-pw", &no_inputs()), Err(Violation::TooShort { min: 12 }));
        // Characters, not bytes: twelve two-byte letters are long enough to pass this rule.
        assert!(!matches!(policy().check(&"é".repeat(12), &no_inputs()), Err(Violation::TooShort { .. })));
    }

    #[test]
    fn refuses_more_bytes_than_we_hash() {
        let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
        assert_eq!(policy().check(&long, &no_inputs()), Err(Violation::TooLong { max: MAX_PASSWORD_BYTES }));
        let max = "maple otter quartz lantern ".repeat(37);
        assert!(max.len() < MAX_PASSWORD_BYTES);
        assert_eq!(policy().check(&max, &no_inputs()), Ok(()));
    }

    #[test]
    fn refuses_a_breached_password_whatever_its_case() {
        assert_eq!(policy().check("QwertyUiop123", &no_inputs()), Err(Violation::Breached));
    }

    #[test]
    fn breached_check_can_be_turned_off() {
        let p = Policy::new(&PasswordConfig { check_breached: false, min_score: 0, ..PasswordConfig::default() });
        assert_eq!(p.check("qwertyuiop123", &no_inputs()), Ok(()));
    }

    #[test]
    fn refuses_a_weak_password_with_zxcvbn_feedback() {
        let Err(Violation::Weak { feedback }) = policy().check("zzzzzzzzzzzzzzzzzzzzz", &no_inputs()) else {
            panic!("expected a weak-password refusal");
        };
        assert!(feedback.iter().any(|f| f.contains("Repeats")), "{feedback:?}");
    }

    #[test]
    fn refuses_a_password_built_from_the_users_own_inputs() {
        // No context word is in it (the local part is "wolfgangmozart+gh"),
        // but zxcvbn gets the local part's pieces as user inputs.
        let who = account("amadeus", "wolfgangmozart+gh@example.com", "");
        assert_eq!(policy().check("wolfgangmozart2024", &no_inputs()), Ok(()));
        let err = policy().check("wolfgangmozart2024", &who).unwrap_err();
        assert!(matches!(err, Violation::Weak { .. }), "{err:?}");
        assert!(err.to_string().contains("username, email address or name"), "{err}");
    }

    // NIST SP 800-63B §3.1.1.2: a new password is compared against
    // context-specific words (here the username, the email's local part and
    // the display name) and refused if it contains one.
    #[test]
    fn refuses_a_password_containing_the_username_local_part_or_display_name() {
        let who = account("orchid", "lambda.fox@example.com", "Kim Nguyen");
        for pw in ["my orchid garden 1987", "xx lambda.fox blue tram", "zebra kim nguyen sailing"] {
            assert_eq!(policy().check(pw, &who), Err(Violation::ContextWord), "{pw}");
        }
        // Pieces of the local part or the name are not context words by themselves.
        assert_eq!(policy().check("maple lambda quartz lantern", &who), Ok(()));
        assert_eq!(policy().check("maple nguyen quartz lantern", &who), Ok(()));
        // The domain is not the user's own word.
        assert_eq!(policy().check("maple example quartz lantern", &who), Ok(()));
    }

    #[test]
    fn context_words_ignore_case_and_unicode_forms() {
        let who = account("Jürgen", "ÉLODIE@example.com", "Ελένη Παππά");
        assert_eq!(policy().check("maple JÜRGEN quartz lantern", &who), Err(Violation::ContextWord));
        // "ü" written as u + combining diaeresis is the same word after NFKC.
        assert_eq!(policy().check("maple ju\u{308}rgen quartz lantern", &who), Err(Violation::ContextWord));
        assert_eq!(policy().check("maple élodie quartz lantern", &who), Err(Violation::ContextWord));
        assert_eq!(policy().check("maple ελένη παππά quartz", &who), Err(Violation::ContextWord));
        // Full-width letters fold to ASCII under NFKC.
        let ascii = account("orchid", "", "");
        assert_eq!(policy().check("maple ＯＲＣＨＩＤ quartz lantern", &ascii), Err(Violation::ContextWord));
    }

    #[test]
    fn names_under_four_characters_are_not_context_words() {
        let who = account("ann", "bo@example.com", "Li");
        assert!(who.context_words().is_empty(), "{:?}", who.context_words());
        assert_eq!(policy().check("ann bo li maple otter quartz", &who), Ok(()));
        // Four characters count, even when they are four two-byte letters.
        let four = account("éàüö", "", "");
        assert_eq!(four.context_words(), vec!["éàüö".to_owned()]);
        assert_eq!(policy().check("maple ÉÀÜÖ quartz lantern", &four), Err(Violation::ContextWord));
    }

    #[test]
    fn user_inputs_include_the_email_local_part_and_name_words() {
        let inputs = user_inputs("Pia", "pia.berg@example.com", "Pia Berg");
        for want in ["pia", "pia.berg@example.com", "pia.berg", "berg", "pia berg"] {
            assert!(inputs.iter().any(|i| i == want), "{want} missing from {inputs:?}");
        }
    }

    #[test]
    fn messages_are_clear() {
        assert_eq!(Violation::TooShort { min: 12 }.to_string(), "Use at least 12 characters.");
        assert!(Violation::Breached.to_string().contains("leaked"));
        assert!(Violation::ContextWord.to_string().contains("username"));
        let weak = Violation::Weak { feedback: vec!["A word by itself is easy to guess.".into()] };
        assert_eq!(weak.to_string(), "This password is too easy to guess. A word by itself is easy to guess.");
    }
}
