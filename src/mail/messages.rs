//! Every message gatehouse sends: its subject (all in [`Mail::subject`]) and
//! its words (in [`Mail::content`]), rendered through two askama templates,
//! `mail/message.txt` (the text part, always there) and `mail/message.html`
//! (the HTML part, which escapes every value, user-supplied names included).
use askama::Template;

use crate::branding::Branding;

/// A typed message. Names are what the user chose; links are absolute URLs
/// built from the configured issuer.
#[derive(Debug, Clone)]
pub enum Mail {
    /// After registration: confirm the address.
    Confirm { name: String, link: String },
    /// After confirmation.
    Welcome { name: String, account: String },
    /// Someone registered with an address that already has an account.
    AlreadyRegistered { name: String, login: String, forgot: String },
    /// A password reset link.
    Reset { name: String, link: String },
    /// An administrator made an account without a password: set one (the
    /// link also confirms the address).
    Invite { name: String, link: String },
    /// The password was changed (by reset or on /account).
    PasswordChanged { name: String, when: String, not_me: String },
    /// To the new address: confirm the change.
    EmailChange { name: String, new_email: String, link: String },
    /// To the old address: the address is changing; undo link.
    EmailChanging { name: String, new_email: String, undo: String },
    /// A sign-in from a device and network not seen before.
    NewSignIn { name: String, when: String, ip: String, device: String, not_me: String },
    /// A one-time sign-in code (the emailed second factor).
    SignInCode { name: String, code: String },
    /// A second factor was added.
    TwoFactorOn { name: String, method: String, when: String, not_me: String },
    /// Two-step sign-in was turned off, or a factor removed.
    TwoFactorOff { name: String, when: String, not_me: String },
    /// Too many wrong passwords: sign-in is locked until `until` (one per lock).
    AccountLocked { name: String, until: String, reset: String, codes: bool },
    /// A right password followed by wrong second-step codes, or by a second
    /// step left unfinished (`abandoned`): someone may know the password.
    SecondStepFailed { name: String, when: String, abandoned: bool, not_me: String },
    /// The owner deleted their account (issue 16): what went, and that it is final.
    AccountDeleted { name: String, username: String },
}

/// The parts of a message, ready for the templates.
pub struct Content {
    pub greeting: String,
    pub paragraphs: Vec<String>,
    pub action: Option<Action>,
    pub details: Vec<(&'static str, String)>,
    pub closing: Option<String>,
}

/// The one button (HTML) or link (text) of a message.
pub struct Action {
    pub label: &'static str,
    pub url: String,
}

/// A rendered message.
pub struct Rendered {
    /// The subject with the product's name (never user input).
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Template)]
#[template(path = "mail/message.txt")]
struct TextPart<'a> {
    c: &'a Content,
    site: &'a str,
    brand: &'a Branding,
}

#[derive(Template)]
#[template(path = "mail/message.html")]
struct HtmlPart<'a> {
    c: &'a Content,
    subject: &'a str,
    site: &'a str,
    brand: &'a Branding,
}

const IGNORE: &str = "If this was not you, you can ignore this message.";

impl Mail {
    /// A short name for lists and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Mail::Confirm { .. } => "confirm",
            Mail::Welcome { .. } => "welcome",
            Mail::AlreadyRegistered { .. } => "already_registered",
            Mail::Reset { .. } => "reset",
            Mail::Invite { .. } => "invite",
            Mail::PasswordChanged { .. } => "password_changed",
            Mail::EmailChange { .. } => "email_change",
            Mail::EmailChanging { .. } => "email_changing",
            Mail::NewSignIn { .. } => "new_sign_in",
            Mail::SignInCode { .. } => "sign_in_code",
            Mail::TwoFactorOn { .. } => "two_factor_on",
            Mail::TwoFactorOff { .. } => "two_factor_off",
            Mail::AccountLocked { .. } => "account_locked",
            Mail::SecondStepFailed { .. } => "second_step_failed",
            Mail::AccountDeleted { .. } => "account_deleted",
        }
    }

    /// Every subject line, in one place. None carries user input, so no
    /// header can be injected through a name.
    pub fn subject(&self) -> &'static str {
        match self {
            Mail::Confirm { .. } => "Confirm your email address",
            Mail::Welcome { .. } => "Welcome to gatehouse",
            Mail::AlreadyRegistered { .. } => "You already have an account",
            Mail::Reset { .. } => "Reset your password",
            Mail::Invite { .. } => "You have been invited to gatehouse",
            Mail::PasswordChanged { .. } => "Your password was changed",
            Mail::EmailChange { .. } => "Confirm your new email address",
            Mail::EmailChanging { .. } => "Your email address is being changed",
            Mail::NewSignIn { .. } => "New sign-in to your account",
            Mail::SignInCode { .. } => "Your sign-in code",
            Mail::TwoFactorOn { .. } => "Two-step sign-in was turned on",
            Mail::TwoFactorOff { .. } => "Two-step sign-in was turned off",
            Mail::AccountLocked { .. } => "Sign-in to your account is paused",
            Mail::SecondStepFailed { .. } => "Someone may know your password",
            Mail::AccountDeleted { .. } => "Your account was deleted",
        }
    }

    /// The words of the message.
    pub fn content(&self) -> Content {
        let hello = |name: &str| format!("Hello {name},");
        let act = |label, url: &str| Some(Action { label, url: url.to_owned() });
        let p = |s: &str| s.to_owned();
        match self {
            Mail::Confirm { name, link } => Content {
                greeting: hello(name),
                paragraphs: vec![p(
                    "Please confirm your email address to finish creating your account. The link works once, for 24 hours.",
                )],
                action: act("Confirm my address", link),
                details: vec![],
                closing: Some(p(IGNORE)),
            },
            Mail::Welcome { name, account } => Content {
                greeting: hello(name),
                paragraphs: vec![p("Your email address is confirmed and your account is ready.")],
                action: act("Go to my account", account),
                details: vec![],
                closing: None,
            },
            Mail::AlreadyRegistered { name, login, forgot } => Content {
                greeting: hello(name),
                paragraphs: vec![
                    p("Someone tried to create an account with this email address, which already has one."),
                    format!("If it was you, sign in at {login}. If you forgot your password, reset it at {forgot}."),
                ],
                action: act("Sign in", login),
                details: vec![],
                closing: Some(p(IGNORE)),
            },
            Mail::Reset { name, link } => Content {
                greeting: hello(name),
                paragraphs: vec![p("We received a request to reset your password. The link works once, for one hour.")],
                action: act("Choose a new password", link),
                details: vec![],
                closing: Some(p("If you did not ask for this, ignore this message; your password stays as it is.")),
            },
            Mail::Invite { name, link } => Content {
                greeting: hello(name),
                paragraphs: vec![p(
                    "An administrator created an account for you. Choose a password to start using it. The link works once, for 7 days.",
                )],
                action: act("Choose my password", link),
                details: vec![],
                closing: Some(p("If you did not expect this, ignore this message; nothing happens without the link.")),
            },
            Mail::PasswordChanged { name, when, not_me } => Content {
                greeting: hello(name),
                paragraphs: vec![p("The password of your account was changed, and every session was signed out.")],
                action: act("This wasn't me", not_me),
                details: vec![("Time", when.clone())],
                closing: Some(p("If this was you, there is nothing else to do.")),
            },
            Mail::EmailChange { name, new_email, link } => Content {
                greeting: hello(name),
                paragraphs: vec![format!(
                    "Please confirm {new_email} as the new email address of your account. The link works once, for 24 hours."
                )],
                action: act("Confirm my new address", link),
                details: vec![],
                closing: Some(p(IGNORE)),
            },
            Mail::EmailChanging { name, new_email, undo } => Content {
                greeting: hello(name),
                paragraphs: vec![
                    format!("Someone asked to change the email address of your account to {new_email}."),
                    p(
                        "If this was not you, undo it: your address is restored and every session is signed out. The link works for 7 days.",
                    ),
                ],
                action: act("Undo this change", undo),
                details: vec![],
                closing: None,
            },
            Mail::NewSignIn { name, when, ip, device, not_me } => Content {
                greeting: hello(name),
                paragraphs: vec![p("Your account was signed in to from a device and network we have not seen before.")],
                action: act("This wasn't me", not_me),
                details: vec![("Time", when.clone()), ("IP address", ip.clone()), ("Device", device.clone())],
                closing: Some(p(
                    "If this was you, there is nothing to do. If not, the link signs you out everywhere and sends you a password reset link.",
                )),
            },
            Mail::SignInCode { name, code } => Content {
                greeting: hello(name),
                paragraphs: vec![p("Enter this code to finish signing in. It works once, for 10 minutes.")],
                action: None,
                details: vec![("Code", code.clone())],
                closing: Some(p("If you did not just sign in, someone knows your password: change it now.")),
            },
            Mail::TwoFactorOn { name, method, when, not_me } => Content {
                greeting: hello(name),
                paragraphs: vec![
                    format!("Two-step sign-in with {method} was turned on for your account."),
                    p("Every other session was signed out."),
                ],
                action: act("This wasn't me", not_me),
                details: vec![("Time", when.clone())],
                closing: Some(p("If this was you, there is nothing else to do.")),
            },
            Mail::SecondStepFailed { name, when, abandoned, not_me } => Content {
                greeting: hello(name),
                paragraphs: vec![
                    p(if *abandoned {
                        "Someone signed in to your account with the right password, then did not finish the second step."
                    } else {
                        "Someone signed in to your account with the right password, then entered wrong second-step codes."
                    }),
                    p("Your second factor stopped them. If this wasn't you, someone knows your password: choose the \
                       button below to sign out everywhere and set a new one."),
                ],
                action: act("This wasn't me", not_me),
                details: vec![("Time", when.clone())],
                closing: Some(p("If this was you, there is nothing else to do.")),
            },
            Mail::TwoFactorOff { name, when, not_me } => Content {
                greeting: hello(name),
                paragraphs: vec![p(
                    "Two-step sign-in was turned off for your account. Signing in now needs only your password.",
                )],
                action: act("This wasn't me", not_me),
                details: vec![("Time", when.clone())],
                closing: Some(p("If this was you, there is nothing else to do.")),
            },
            Mail::AccountLocked { name, until, reset, codes: false } => Content {
                greeting: hello(name),
                paragraphs: vec![
                    p(
                        "Someone entered a wrong password for your account several times, so signing in is paused for a while.",
                    ),
                    p("If this was you, wait until the time below and try again, or choose a new password now."),
                ],
                action: act("Reset my password", reset),
                details: vec![("Paused until", until.clone())],
                closing: Some(p(
                    "If this was not you, your password was not given away; consider changing it if it is weak or used elsewhere.",
                )),
            },
            Mail::AccountDeleted { name, username } => Content {
                greeting: hello(name),
                paragraphs: vec![
                    p(
                        "Your account and everything it held (sessions, sign-in methods, connected apps) are deleted, as you asked.",
                    ),
                    p(
                        "Apps you signed in to with it can no longer use it. This cannot be undone; you can register again at any time.",
                    ),
                ],
                action: None,
                details: vec![("Username", username.clone())],
                closing: Some(p("If you did not ask for this, contact whoever runs this service at once.")),
            },
            Mail::AccountLocked { name, until, reset, codes: true } => Content {
                greeting: hello(name),
                paragraphs: vec![
                    p(
                        "Someone signed in with your password but then entered wrong two-step codes several times, so signing in is paused for a while.",
                    ),
                    p("If this was not you, someone knows your password: choose a new one now."),
                ],
                action: act("Reset my password", reset),
                details: vec![("Paused until", until.clone())],
                closing: None,
            },
        }
    }

    /// Subject, text part and HTML part, with the default branding.
    pub fn render(&self, site: &str) -> Result<Rendered, askama::Error> {
        self.render_branded(site, &Branding::default())
    }

    /// Subject, text part and HTML part: the product's name in the subject,
    /// the heading and the signature, the accent colour on the button, and
    /// the footer links.
    pub fn render_branded(&self, site: &str, brand: &Branding) -> Result<Rendered, askama::Error> {
        let content = self.content();
        let subject = self.subject().replace("gatehouse", &brand.product_name);
        Ok(Rendered {
            text: TextPart { c: &content, site, brand }.render()?,
            html: HtmlPart { c: &content, subject: &subject, site, brand }.render()?,
            subject,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_part_escapes_names_and_text_part_keeps_them() {
        let mail = Mail::Welcome { name: "<b>Eve & \"co\"</b>".into(), account: "https://sso.example/account".into() };
        let r = mail.render("https://sso.example").unwrap();
        assert!(
            r.html.contains("&#60;b&#62;Eve &#38; &#34;co&#34;&#60;/b&#62;") || r.html.contains("&lt;b&gt;Eve"),
            "{}",
            r.html
        );
        assert!(!r.html.contains("<b>Eve"));
        assert!(r.text.contains("Hello <b>Eve & \"co\"</b>,"));
        assert!(r.text.contains("https://sso.example/account"));
    }

    #[test]
    fn every_message_has_a_subject_a_text_and_an_html_part() {
        let l = || "https://sso.example/x?token=abc".to_owned();
        let all = [
            Mail::Confirm { name: "a".into(), link: l() },
            Mail::Welcome { name: "a".into(), account: l() },
            Mail::AlreadyRegistered { name: "a".into(), login: l(), forgot: l() },
            Mail::Reset { name: "a".into(), link: l() },
            Mail::Invite { name: "a".into(), link: l() },
            Mail::PasswordChanged { name: "a".into(), when: "now".into(), not_me: l() },
            Mail::EmailChange { name: "a".into(), new_email: "b@example.com".into(), link: l() },
            Mail::EmailChanging { name: "a".into(), new_email: "b@example.com".into(), undo: l() },
            Mail::NewSignIn {
                name: "a".into(),
                when: "t".into(),
                ip: "1.2.3.4".into(),
                device: "d".into(),
                not_me: l(),
            },
            Mail::TwoFactorOff { name: "a".into(), when: "t".into(), not_me: l() },
            Mail::TwoFactorOn { name: "a".into(), method: "m".into(), when: "t".into(), not_me: l() },
            Mail::AccountLocked { name: "a".into(), until: "t".into(), reset: l(), codes: false },
            Mail::AccountLocked { name: "a".into(), until: "t".into(), reset: l(), codes: true },
            Mail::SecondStepFailed { name: "a".into(), when: "t".into(), abandoned: false, not_me: l() },
            Mail::SecondStepFailed { name: "a".into(), when: "t".into(), abandoned: true, not_me: l() },
        ];
        for mail in all {
            let r = mail.render("https://sso.example").unwrap();
            assert!(
                !r.subject.is_empty() && r.text.contains(&l()) && r.html.contains("https://sso.example/x?token=abc")
            );
            assert!(r.html.contains("<html") && !r.text.contains('<'), "{}", mail.kind());
        }
        // The deletion notice has nothing left to link to.
        let gone =
            Mail::AccountDeleted { name: "a".into(), username: "u".into() }.render("https://sso.example").unwrap();
        assert!(gone.text.contains("deleted") && gone.html.contains("<html") && !gone.text.contains('<'));
        let code = Mail::SignInCode { name: "a".into(), code: "123456".into() }.render("https://sso.example").unwrap();
        assert!(code.text.contains("123456") && code.html.contains("123456"));
    }
}
