//! Usernames, email addresses and display names (`accounts::names`), and the
//! `lettre` `Mailbox` parse the mailer applies to the addresses we accept
//! (`mail::Mailer::send`). SMTP replies are lettre's to parse, inside its
//! transport: we own no reply parser, so the mail side fuzzed here is ours.
use lettre::message::Mailbox;
use proptest::prelude::*;

use super::{check, text};
use crate::accounts::names::{self, Email, Username};

/// Text near a username or an address: lookalikes, full-width forms,
/// combining marks, dots and at signs.
fn near_name() -> BoxedStrategy<String> {
    let piece = prop::sample::select(vec![
        "a", "Z", "0", ".", "_", "-", "@", "+", " ", "é", "e\u{301}", "\u{FF41}", "\u{0410}", "\u{03B1}", "ß", "ﬁ",
        "\u{2460}", "\u{200B}", "\u{0}", "..", "example", "com", "'", "\"", "xn--", "ı", "İ",
    ]);
    prop_oneof![
        prop::collection::vec(piece, 0..20).prop_map(|v| v.concat()),
        "[a-z0-9._%+-]{1,20}@[a-z0-9-]{1,12}\\.[a-z]{2,6}",
        // Unicode letters and every special RFC 5322 allows in an atom.
        "[\\p{L}\\p{N}!#$%&'*+/=?^_`{|}~.-]{1,12}@[\\p{L}\\p{N}-]{1,12}\\.[\\p{L}\\p{N}-]{2,6}",
        text(),
    ]
    .boxed()
}

#[test]
fn fuzz_username() {
    check("username", near_name(), |raw| {
        if let Ok(u) = Username::parse(&raw) {
            let len = u.display.chars().count();
            prop_assert!((3..=names::USERNAME_MAX).contains(&len));
            prop_assert_eq!(&u.key, &names::login_key(&u.display));
            // Parsing what we stored gives it back (NFKC is idempotent).
            prop_assert_eq!(Username::parse(&u.display).ok(), Some(u.clone()));
            prop_assert_eq!(names::login_key(&u.key), u.key.clone(), "a key is its own key");
        }
        Ok(())
    });
}

#[test]
fn fuzz_email() {
    check("email", near_name(), |raw| {
        if let Ok(e) = Email::parse(&raw) {
            prop_assert!(e.display.len() <= names::EMAIL_MAX && e.display.contains('@'));
            prop_assert!(!e.display.chars().any(|c| c.is_whitespace() || c.is_control()));
            prop_assert_eq!(Email::parse(&e.display).ok(), Some(e.clone()));
            prop_assert_eq!(&e.key, &names::login_key(&e.display));
        }
        Ok(())
    });
}

#[test]
fn fuzz_display_name() {
    check("display_name", prop_oneof![near_name(), text()], |raw| {
        if let Ok(name) = names::parse_display_name(&raw) {
            prop_assert!(name.chars().count() <= names::DISPLAY_NAME_MAX);
            prop_assert!(!name.chars().any(char::is_control));
            prop_assert_eq!(names::parse_display_name(&name).ok(), Some(name.clone()));
        }
        Ok(())
    });
}

#[test]
fn fuzz_mailbox() {
    check("mailbox", near_name(), |raw| {
        // Whatever the outbox holds, the mailer's parse never panics...
        let _ = raw.parse::<Mailbox>();
        // ...and an address we accepted at registration is one it can send to.
        if let Ok(e) = Email::parse(&raw) {
            let parsed = e.display.parse::<Mailbox>();
            prop_assert!(parsed.is_ok(), "accepted {:?}, but the mailer cannot send to it", e.display);
        }
        Ok(())
    });
}
