//! The password policy (issue 6, item 4) on the forms that set a password:
//! registration, the /account change, the reset link and the expired-password
//! step of sign-in. One test per rule: length, context words (NIST SP 800-63B
//! §3.1.1.2), zxcvbn strength (with the user's own inputs), the bundled
//! breached list, history, and expiry.
use crate::helpers::{PASSWORD, TestApp, hidden_value, location, set_cookie, spawn_app, spawn_app_with};
use crate::smtp::link;

const DAY: i64 = 86_400;

/// Submits the registration form; returns the status and the page.
async fn register(app: &TestApp, username: &str, password: &str) -> (u16, String) {
    let email = format!("{username}@example.com");
    let fields = [("username", username), ("email", &email), ("password", password), ("password_confirm", password)];
    let res = app.submit(&app.browser(), "/register", "/register", &fields).await;
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Submits the /account password change; returns the status and the page.
async fn change(app: &TestApp, browser: &reqwest::Client, current: &str, new: &str) -> (u16, String) {
    let fields = [("current_password", current), ("new_password", new), ("new_password_confirm", new)];
    let res = app.submit(browser, "/account", "/account/password", &fields).await;
    (res.status().as_u16(), res.text().await.unwrap_or_default())
}

/// Asks for a reset link for `username` and submits `password` on its form.
async fn reset(app: &TestApp, username: &str, password: &str, nth: usize) -> (u16, String) {
    let email = format!("{username}@example.com");
    let browser = app.browser();
    app.submit(&browser, "/password/forgot", "/password/forgot", &[("email", &email)]).await;
    let mail = app.mail.wait_for_nth(&email, "Reset your password", nth).await;
    let html = browser.get(link(&mail, &app.url("/password/reset?"))).send().await.unwrap().text().await.unwrap();
    let form = [
        ("token", hidden_value(&html, "token").unwrap()),
        ("csrf_token", hidden_value(&html, "csrf_token").unwrap()),
        ("password", password.to_owned()),
        ("password_confirm", password.to_owned()),
    ];
    let res = browser.post(app.url("/password/reset")).form(&form).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap_or_default())
}

#[tokio::test]
async fn a_password_shorter_than_twelve_characters_is_refused_on_every_form() {
    let app = spawn_app().await;
    let (status, page) = register(&app, "shorty", "eleven-char").await;
    assert_eq!(status, 422);
    assert!(page.contains("Use at least 12 characters."), "{page}");

    let browser = app.signed_in("shelly", &[]).await;
    let (status, page) = change(&app, &browser, PASSWORD, "eleven-char").await;
    assert_eq!(status, 422);
    assert!(page.contains("Use at least 12 characters."), "{page}");

    let (status, page) = reset(&app, "shelly", "eleven-char", 1).await;
    assert_eq!(status, 422);
    assert!(page.contains("Use at least 12 characters."), "{page}");
}

#[tokio::test]
async fn a_password_longer_than_one_kib_is_refused() {
    let app = spawn_app().await;
    let long = "maple otter quartz lantern ".repeat(40);
    assert!(long.len() > 1024);
    let (status, page) = register(&app, "longo", &long).await;
    assert_eq!(status, 422);
    assert!(page.contains("Use at most 1024 bytes."), "{page}");

    let browser = app.signed_in("lena", &[]).await;
    let (status, page) = change(&app, &browser, PASSWORD, &long).await;
    assert_eq!(status, 422);
    assert!(page.contains("Use at most 1024 bytes."), "{page}");
    // At the limit is fine.
    let (status, _) = change(&app, &browser, PASSWORD, &long[..1024]).await;
    assert_eq!(status, 303);
}

#[tokio::test]
async fn a_weak_password_is_refused_with_zxcvbn_feedback() {
    let app = spawn_app().await;
    let (status, page) = register(&app, "weakling", "zzzzzzzzzzzzzzzzzzzzz").await;
    assert_eq!(status, 422);
    assert!(page.contains("This password is too easy to guess."), "{page}");
    assert!(page.contains("Avoid repeated words and characters."), "zxcvbn's suggestion is shown: {page}");

    let browser = app.signed_in("wanda", &[]).await;
    let (status, page) = change(&app, &browser, PASSWORD, "summer summer summer").await;
    assert_eq!(status, 422);
    assert!(page.contains("This password is too easy to guess."), "{page}");
}

/// Submits the registration form with its own email address.
async fn register_as(app: &TestApp, username: &str, email: &str, password: &str) -> (u16, String) {
    let fields = [("username", username), ("email", email), ("password", password), ("password_confirm", password)];
    let res = app.submit(&app.browser(), "/register", "/register", &fields).await;
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Sets the signed-in user's display name through /account.
async fn set_display_name(app: &TestApp, browser: &reqwest::Client, name: &str) {
    let res = app.submit(browser, "/account", "/account/profile", &[("display_name", name)]).await;
    assert_eq!(res.status(), 303, "display name saved");
}

#[tokio::test]
async fn a_password_built_from_the_users_own_name_is_refused() {
    let app = spawn_app().await;
    // Strong enough for someone else...
    let (status, _) = register(&app, "otto", "wolfgangmozart2024").await;
    assert_eq!(status, 303);
    // ...but not for the user whose address it is made of: no context word
    // (the local part is "wolfgangmozart+gh"), but zxcvbn gets its pieces.
    let (status, page) = register_as(&app, "amadeus", "wolfgangmozart+gh@example.com", "wolfgangmozart2024").await;
    assert_eq!(status, 422);
    assert!(page.contains("Avoid your username, email address or name in it."), "{page}");

    // The change form knows the account's own inputs too: the display name's words.
    let browser = app.signed_in("amadeus2", &[]).await;
    set_display_name(&app, &browser, "Wolfgangmozart Jr").await;
    let (status, page) = change(&app, &browser, PASSWORD, "wolfgangmozart2024").await;
    assert_eq!(status, 422);
    assert!(page.contains("Avoid your username, email address or name in it."), "{page}");
}

const CONTEXT_WORD: &str = "Do not use your username, the part of your email address before the @, or your name";

// NIST SP 800-63B §3.1.1.2: new passwords are compared against
// context-specific words such as the username; registration refuses a
// password containing the username or the email's local part, whatever its case.
#[tokio::test]
async fn registration_refuses_a_password_containing_the_username_or_local_part() {
    let app = spawn_app().await;
    let (status, page) = register_as(&app, "Heron", "sky.walker@example.com", "blue HERON over the fjord").await;
    assert_eq!(status, 422);
    assert!(page.contains(CONTEXT_WORD), "{page}");
    let (status, page) = register_as(&app, "heron", "sky.walker@example.com", "maple Sky.Walker lantern").await;
    assert_eq!(status, 422);
    assert!(page.contains(CONTEXT_WORD), "{page}");
    // Under four characters a name is no context word: "ivo" may appear.
    let (status, page) = register_as(&app, "ivo", "ivo@example.com", "ivo maple otter quartz").await;
    assert_eq!(status, 303, "{page}");
    // The same passwords are fine for someone else.
    let (status, _) = register_as(&app, "heron", "sky.walker@example.com", "maple otter quartz lantern").await;
    assert_eq!(status, 303);
}

// NIST SP 800-63B §3.1.1.2 on the /account change: the username and the
// display name (set on /account) are context words; the reset link uses the same check.
#[tokio::test]
async fn a_password_change_refuses_the_username_and_the_display_name() {
    let app = spawn_app().await;
    let browser = app.signed_in("pelican", &[]).await;
    let (status, page) = change(&app, &browser, PASSWORD, "the PELICAN flies at dawn").await;
    assert_eq!(status, 422);
    assert!(page.contains(CONTEXT_WORD), "{page}");

    set_display_name(&app, &browser, "Zoë Ångström").await;
    let (status, page) = change(&app, &browser, PASSWORD, "tea with zoË ÅNGSTRÖM at nine").await;
    assert_eq!(status, 422);
    assert!(page.contains(CONTEXT_WORD), "{page}");
    let (status, page) = reset(&app, "pelican", "tea with zoë ångström at nine", 1).await;
    assert_eq!(status, 422);
    assert!(page.contains(CONTEXT_WORD), "{page}");

    let (status, _) = change(&app, &browser, PASSWORD, "maple otter quartz lantern").await;
    assert_eq!(status, 303, "a password without context words is taken");
}

#[tokio::test]
async fn a_password_from_the_breached_list_is_refused_whatever_its_case() {
    let app = spawn_app().await;
    let breached = "leaked in data breaches";
    let (status, page) = register(&app, "bruno", "QwertyUiop123").await;
    assert_eq!(status, 422);
    assert!(page.contains(breached), "{page}");

    let browser = app.signed_in("berta", &[]).await;
    let (status, page) = change(&app, &browser, PASSWORD, "Password1234").await;
    assert_eq!(status, 422);
    assert!(page.contains(breached), "{page}");

    let (status, page) = reset(&app, "berta", "qwertyuiop10", 1).await;
    assert_eq!(status, 422);
    assert!(page.contains(breached), "{page}");
}

#[tokio::test]
async fn the_last_five_passwords_cannot_be_reused_but_the_sixth_can() {
    let app = spawn_app().await;
    let browser = app.signed_in("hugo", &[]).await;
    let pw = |n: usize| format!("{PASSWORD} number {n}");
    let history = "not used for your last 5 passwords";

    // PASSWORD, then 1..=4: the last five.
    let mut current = PASSWORD.to_owned();
    for n in 1..=4 {
        let (status, page) = change(&app, &browser, &current, &pw(n)).await;
        assert_eq!(status, 303, "change {n}: {page}");
        current = pw(n);
    }
    for old in [PASSWORD.to_owned(), pw(1), pw(3), pw(4)] {
        let (status, page) = change(&app, &browser, &current, &old).await;
        assert_eq!(status, 422, "{old} is among the last five");
        assert!(page.contains(history), "{page}");
    }
    // The reset form applies the same history.
    let (status, page) = reset(&app, "hugo", PASSWORD, 1).await;
    assert_eq!(status, 422);
    assert!(page.contains(history), "{page}");

    // One more change pushes PASSWORD out of the last five: it may come back.
    let (status, _) = change(&app, &browser, &current, &pw(5)).await;
    assert_eq!(status, 303);
    let (status, page) = change(&app, &browser, &pw(5), &pw(1)).await;
    assert_eq!(status, 422, "{page}");
    let (status, page) = change(&app, &browser, &pw(5), PASSWORD).await;
    assert_eq!(status, 303, "the sixth-latest password is allowed again: {page}");
    assert_eq!(app.login(&app.browser(), "hugo", PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn history_zero_turns_the_reuse_rule_off() {
    let app = spawn_app_with(|c| c.password.history = 0).await;
    let browser = app.signed_in("hanna", &[]).await;
    let (status, page) = change(&app, &browser, PASSWORD, PASSWORD).await;
    assert_eq!(status, 303, "{page}");
}

#[tokio::test]
async fn an_expired_password_must_be_changed_before_signing_in() {
    let app = spawn_app_with(|c| c.password.max_age_days = 90).await;
    app.create_user("elsa", &[]).await;
    assert_eq!(app.login(&app.browser(), "elsa", PASSWORD).await.status(), 303, "fresh passwords sign in");
    app.clock.advance(91 * DAY);

    // A wrong password still gets the one generic answer.
    assert_eq!(app.login(&app.browser(), "elsa", "not the password at all").await.status(), 401);

    // The right one shows the expired page: no session, `next` carried, no secret in it.
    let browser = app.browser();
    let token = app.csrf_token(&browser, "/login").await;
    let form = [("username", "elsa"), ("password", PASSWORD), ("next", "/account?tab=x"), ("csrf_token", &token)];
    let res = browser.post(app.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(set_cookie(&res, "gh_session").is_none(), "an expired password does not sign in");
    let html = res.text().await.unwrap();
    assert!(html.contains("Your password has expired"), "{html}");
    assert!(!html.contains(PASSWORD), "the password is not echoed");
    assert_eq!(hidden_value(&html, "username").as_deref(), Some("elsa"));
    assert_eq!(hidden_value(&html, "next").as_deref(), Some("/account?tab=x"));
    assert_eq!(browser.get(app.url("/account")).send().await.unwrap().status(), 303, "still signed out");

    let csrf = hidden_value(&html, "csrf_token").unwrap();
    let post = |current: &'static str, new: &'static str| {
        let form = [
            ("username", "elsa"),
            ("current_password", current),
            ("new_password", new),
            ("new_password_confirm", new),
            ("next", "/account?tab=x"),
            ("csrf_token", &csrf),
        ];
        browser.post(app.url("/password/expired")).form(&form).send()
    };
    let res = post("not the password at all", "a brand new passphrase").await.unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("The current password is not correct."));
    let res = post(PASSWORD, PASSWORD).await.unwrap();
    assert_eq!(res.status(), 422, "the expired password cannot be kept");
    assert!(res.text().await.unwrap().contains("not used for your last 5 passwords"));
    let res = post(PASSWORD, "short").await.unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("Use at least 12 characters."));

    let res = post(PASSWORD, "a brand new passphrase").await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login?reset=1&next=%2Faccount%3Ftab%3Dx");
    app.mail.wait_for("elsa@example.com", "Your password was changed").await;
    let audit = gatehouse::security::audit::tail(&app.state.store, 20).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "password_changed" && e.detail.contains("expired")), "{audit:?}");
    assert_eq!(app.login(&app.browser(), "elsa", PASSWORD).await.status(), 401);
    let res = app.login(&browser, "elsa", "a brand new passphrase").await;
    assert_eq!(res.status(), 303, "the new password signs in");
}

#[tokio::test]
async fn the_expired_form_changes_nothing_for_a_password_that_has_not_expired() {
    let app = spawn_app_with(|c| c.password.max_age_days = 90).await;
    app.create_user("edda", &[]).await;
    let fields = [
        ("username", "edda"),
        ("current_password", PASSWORD),
        ("new_password", "a brand new passphrase"),
        ("new_password_confirm", "a brand new passphrase"),
    ];
    // Without the ticket a complete sign-in hands out, the form is no way in
    // (nor a password oracle): back to sign-in, nothing changed.
    let res = app.submit(&app.browser(), "/login", "/password/expired", &fields).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login?mfa=expired");
    assert_eq!(app.login(&app.browser(), "edda", PASSWORD).await.status(), 303);
}
