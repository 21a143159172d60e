//! Issue 14, account items of the security review, black-box: mailed links
//! die when the account changes (item 1), password confirmations inside a
//! session are throttled and audited (item 2), passwords compare after NFKC
//! (item 11), and a right password followed by a failed or abandoned second
//! step tells the owner (item 13).
use argon2::password_hash::{PasswordHasher as _, SaltString};
use secrecy::SecretString;

use crate::helpers::{PASSWORD, TestApp, location, spawn_app, spawn_app_with, test_ctx};
use crate::mfa::{code_now, enrolled, password_step, second_step};
use crate::smtp::link;

const NEW_PASSWORD: &str = "a brand new passphrase 42";

/// Asks for a reset link for `user` from a fresh browser; returns the link.
async fn reset_link(app: &TestApp, user: &str, nth: usize) -> String {
    let email = format!("{user}@example.com");
    let res = app.submit(&app.browser(), "/password/forgot", "/password/forgot", &[("email", &email)]).await;
    assert_eq!(res.status(), 200);
    let mail = app.mail.wait_for_nth(&email, "Reset your password", nth).await;
    link(&mail, &app.url("/password/reset?"))
}

async fn status_of(app: &TestApp, url: &str) -> u16 {
    app.browser().get(url).send().await.unwrap().status().as_u16()
}

async fn change_password(app: &TestApp, browser: &reqwest::Client, current: &str) -> reqwest::Response {
    let fields =
        [("current_password", current), ("new_password", NEW_PASSWORD), ("new_password_confirm", NEW_PASSWORD)];
    app.submit(browser, "/account", "/account/password", &fields).await
}

async fn audited(app: &TestApp, action: &str) -> i64 {
    app.state.store.conn().await.unwrap().db().count_where("audit_log", "action", action).await.unwrap()
}

// ---- Item 1: links die when the account changes -------------------------

#[tokio::test]
async fn a_reset_link_dies_when_the_owner_changes_the_password_owasp_forgot_password_cheat_sheet() {
    let app = spawn_app().await;
    let browser = app.signed_in("ada", &[]).await;
    let reset = reset_link(&app, "ada", 1).await;
    assert_eq!(status_of(&app, &reset).await, 200, "live before the change");
    assert_eq!(change_password(&app, &browser, PASSWORD).await.status(), 303);
    assert_eq!(status_of(&app, &reset).await, 410, "void after the password change");
}

#[tokio::test]
async fn a_reset_link_dies_when_a_new_address_is_confirmed_asvs_5_v6_4() {
    let app = spawn_app().await;
    let browser = app.signed_in("ben", &[]).await;
    // A reset link to the old mailbox is outstanding...
    let reset = reset_link(&app, "ben", 1).await;
    let fields = [("new_email", "ben@new.example"), ("email_password", PASSWORD)];
    assert_eq!(app.submit(&browser, "/account", "/account/email", &fields).await.status(), 303);
    let change = app.mail.wait_for("ben@new.example", "Confirm your new email").await;
    let res = app.follow_link(&app.browser(), &link(&change, &app.url("/account/email/confirm?"))).await;
    assert!(res.status().is_success() || res.status().is_redirection(), "{}", res.status());
    assert_eq!(app.state.accounts.find("ben").await.unwrap().email, "ben@new.example");
    // ...and the old mailbox can no longer take the account back.
    assert_eq!(status_of(&app, &reset).await, 410);
}

#[tokio::test]
async fn reset_and_email_change_links_die_when_the_account_is_blocked_asvs_5_v6_4() {
    let app = spawn_app().await;
    let browser = app.signed_in("cal", &[]).await;
    let fields = [("new_email", "cal@new.example"), ("email_password", PASSWORD)];
    assert_eq!(app.submit(&browser, "/account", "/account/email", &fields).await.status(), 303);
    let change = app.mail.wait_for("cal@new.example", "Confirm your new email").await;
    let change = link(&change, &app.url("/account/email/confirm?"));
    let reset = reset_link(&app, "cal", 1).await;
    let id = app.state.accounts.find("cal").await.unwrap().id;
    app.state.accounts.set_blocked(&id, true, &test_ctx()).await.unwrap();
    app.state.accounts.set_blocked(&id, false, &test_ctx()).await.unwrap();
    assert_eq!(status_of(&app, &reset).await, 410, "unblocking does not bring the link back");
    assert_eq!(status_of(&app, &change).await, 410);
}

#[tokio::test]
async fn an_email_change_link_dies_when_the_password_changes_owasp_forgot_password_cheat_sheet() {
    let app = spawn_app().await;
    let browser = app.signed_in("dan", &[]).await;
    let fields = [("new_email", "dan@new.example"), ("email_password", PASSWORD)];
    assert_eq!(app.submit(&browser, "/account", "/account/email", &fields).await.status(), 303);
    let change = app.mail.wait_for("dan@new.example", "Confirm your new email").await;
    let change = link(&change, &app.url("/account/email/confirm?"));
    assert_eq!(change_password(&app, &browser, PASSWORD).await.status(), 303);
    assert_eq!(status_of(&app, &change).await, 410);
}

#[tokio::test]
async fn a_newer_reset_link_voids_the_older_one_owasp_forgot_password_cheat_sheet() {
    let app = spawn_app().await;
    app.create_user("eve", &[]).await;
    let first = reset_link(&app, "eve", 1).await;
    app.clock.advance(61); // past the one-link-a-minute pause
    let second = reset_link(&app, "eve", 2).await;
    assert_ne!(first, second);
    assert_eq!(status_of(&app, &first).await, 410);
    assert_eq!(status_of(&app, &second).await, 200);
}

#[tokio::test]
async fn a_reset_link_dies_with_its_account_owasp_forgot_password_cheat_sheet() {
    let app = spawn_app().await;
    let id = app.create_user("fay", &[]).await;
    let reset = reset_link(&app, "fay", 1).await;
    app.state.accounts.delete_user(&id, &test_ctx()).await.unwrap();
    // The same username again is a new account: the old link is not its way in.
    app.create_user("fay", &[]).await;
    assert_eq!(status_of(&app, &reset).await, 410);
}

#[tokio::test]
async fn a_not_me_link_used_after_a_block_mails_no_reset_link_asvs_5_v6_4() {
    let app = spawn_app().await;
    let browser = app.signed_in("gil", &[]).await;
    assert_eq!(change_password(&app, &browser, PASSWORD).await.status(), 303);
    let notice = app.mail.wait_for("gil@example.com", "Your password was changed").await;
    let id = app.state.accounts.find("gil").await.unwrap().id;
    app.state.accounts.set_blocked(&id, true, &test_ctx()).await.unwrap();
    let res = app.follow_link(&app.browser(), &link(&notice, &app.url("/account/not-me?"))).await;
    assert!(res.status().is_success() || res.status().is_redirection(), "{}", res.status());
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let resets = app.mail.received().iter().filter(|m| m.subject.contains("Reset your password")).count();
    assert_eq!(resets, 0, "a blocked account is not reopened by a mailed link");
}

// ---- Item 2: re-authentication is throttled ----------------------------

#[tokio::test]
async fn wrong_current_passwords_lock_the_account_and_are_audited_asvs_5_v6_3_1() {
    let app = spawn_app().await;
    let browser = app.signed_in("gus", &[]).await;
    // The default lockout: five failures in fifteen minutes. Spread over two
    // forms, they still count toward one account.
    for _ in 0..2 {
        let fields = [("new_email", "gus@new.example"), ("email_password", "not my password")];
        assert_eq!(app.submit(&browser, "/account", "/account/email", &fields).await.status(), 422);
    }
    for _ in 0..2 {
        assert_eq!(change_password(&app, &browser, "not my password").await.status(), 422);
    }
    let res = change_password(&app, &browser, "not my password").await;
    assert_eq!(res.status(), 429, "the fifth wrong password locks the account");
    assert!(res.headers().get("retry-after").is_some());
    // While locked, even the right password is not checked...
    assert_eq!(change_password(&app, &browser, PASSWORD).await.status(), 429);
    // ...and the lock holds at /login too, and the owner was told.
    assert_eq!(app.login(&app.browser(), "gus", PASSWORD).await.status(), 429);
    app.mail.wait_for("gus@example.com", "Sign-in to your account is paused").await;
    assert_eq!(audited(&app, "reauth_failed").await, 5, "each wrong confirmation is in the audit log");
    assert_eq!(app.state.accounts.find("gus").await.unwrap().email, "gus@example.com", "nothing changed");
}

#[tokio::test]
async fn a_wrong_password_when_turning_two_step_off_counts_nist_800_63b_5_2_2() {
    let app = spawn_app().await;
    let (browser, _, _) = enrolled(&app, "hal").await;
    for _ in 0..5 {
        let res = app.submit(&browser, "/account/mfa", "/account/mfa/disable", &[("mfa_password", "nope nope")]).await;
        assert!(matches!(res.status().as_u16(), 422 | 429), "{}", res.status());
    }
    let res = app.submit(&browser, "/account/mfa", "/account/mfa/disable", &[("mfa_password", PASSWORD)]).await;
    assert_eq!(res.status(), 429, "locked: two-step sign-in stays on");
    assert_eq!(audited(&app, "reauth_failed").await, 5);
    let id = app.state.accounts.find("hal").await.unwrap().id;
    let roles = app.state.accounts.roles(&id).await.unwrap();
    assert!(app.state.accounts.mfa_status(&id, &roles).await.unwrap().totp);
}

#[tokio::test]
async fn wrong_confirmations_count_toward_the_per_address_failure_throttle_nist_800_63b_5_2_2() {
    // Lockout off, so only the per-address throttle can answer.
    let app = spawn_app_with(|c| {
        c.lockout.max_failures = 0;
        c.rate_limits.failed_logins.max = 3;
        c.rate_limits.failed_logins.per_secs = 600;
    })
    .await;
    let browser = app.signed_in("ida", &[]).await;
    for _ in 0..3 {
        assert_eq!(change_password(&app, &browser, "not my password").await.status(), 422);
    }
    // The address is now over its failure limit: sign-ins and
    // confirmations alike wait, whichever account they name.
    assert_eq!(change_password(&app, &browser, "not my password").await.status(), 429);
    app.create_user("jon", &[]).await;
    assert_eq!(app.login(&app.browser(), "jon", PASSWORD).await.status(), 429);
}

#[tokio::test]
async fn forty_quick_guesses_at_a_confirmation_form_do_not_all_get_answered_asvs_5_v6_3_1() {
    let app = spawn_app_with(|c| {
        c.lockout.max_failures = 0;
        c.rate_limits.free_failures = 1000;
    })
    .await;
    let browser = app.signed_in("kim", &[]).await;
    let token = app.csrf_token(&browser, "/account").await;
    let mut limited = 0;
    for i in 0..40 {
        let guess = format!("guess number {i}");
        let form = [("current_password", guess.as_str()), ("new_password", NEW_PASSWORD), ("csrf_token", &token)];
        let res = browser.post(app.url("/account/password")).form(&form).send().await.unwrap();
        if res.status() == 429 {
            limited += 1;
        }
    }
    assert!(limited > 0, "the sign-in rate limit applies to confirmation forms");
}

// ---- Item 11: passwords compare after Unicode normalisation -------------

async fn register_with(app: &TestApp, username: &str, password: &str) -> String {
    app.state
        .accounts
        .register(
            &test_ctx(),
            &gatehouse::accounts::Registration {
                username,
                email: &format!("{username}@example.com"),
                password: &SecretString::from(password),
                password_confirm: None,
                email_verified: true,
                roles: &[],
            },
        )
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn fullwidth_and_decomposed_forms_of_a_password_sign_in_nist_800_63b_5_1_1_2() {
    let app = spawn_app().await;
    // Chosen with a composed "ä" and ASCII digits.
    register_with(&app, "lea", "L\u{e4}rchenweg lantern 2026").await;
    let decomposed = "La\u{308}rchenweg lantern 2026";
    let fullwidth = "\u{ff2c}\u{e4}rchenweg lantern \u{ff12}\u{ff10}\u{ff12}\u{ff16}";
    assert_eq!(app.login(&app.browser(), "lea", decomposed).await.status(), 303);
    assert_eq!(app.login(&app.browser(), "lea", fullwidth).await.status(), 303);
    assert_eq!(app.login(&app.browser(), "lea", "Larchenweg lantern 2026").await.status(), 401, "not a fold");
}

#[tokio::test]
async fn a_hash_made_before_normalisation_signs_in_and_is_upgraded_nist_800_63b_5_1_1_2() {
    let app = spawn_app().await;
    let id = register_with(&app, "max", PASSWORD).await;
    // What an older release stored: Argon2id over the bytes as typed.
    let typed = "\u{ff4d}\u{ff41}\u{ff58} typed in fullwidth";
    let p = &app.config.password;
    let params = argon2::Params::new(p.argon2_memory_kib, p.argon2_iterations, p.argon2_parallelism, None).unwrap();
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(b"sixteen byte salt").unwrap();
    let legacy = argon.hash_password(typed.as_bytes(), &salt).unwrap().to_string();
    app.state.store.conn().await.unwrap().db().set_password_hash(&id, &legacy, 0).await.unwrap();
    // The old form still works, and the stored hash changes to the NFKC one...
    assert_eq!(app.login(&app.browser(), "max", typed).await.status(), 303);
    let stored = app.state.accounts.find("max").await.unwrap().password_hash.unwrap();
    assert_ne!(stored, legacy, "upgraded at sign-in");
    // ...so the plain form of the same password works from now on.
    assert_eq!(app.login(&app.browser(), "max", "max typed in fullwidth").await.status(), 303);
    assert_eq!(app.login(&app.browser(), "max", typed).await.status(), 303);
}

// ---- Item 13: a right password with a failed second step ---------------

fn notices(app: &TestApp, to: &str) -> usize {
    app.mail
        .received()
        .iter()
        .filter(|m| m.to.iter().any(|t| t == to) && m.subject.contains("Someone may know your password"))
        .count()
}

#[tokio::test]
async fn two_wrong_codes_after_a_right_password_mail_the_owner_once_with_a_not_me_link() {
    let app = spawn_app().await;
    let (owner, _, _) = enrolled(&app, "ned").await;
    app.clock.advance(30);
    let attacker = app.browser();
    password_step(&app, &attacker, "ned").await;
    assert_eq!(second_step(&app, &attacker, &[("method", "totp"), ("code", "000000")]).await.status(), 401);
    assert_eq!(notices(&app, "ned@example.com"), 0, "one wrong code is a typo");
    assert_eq!(second_step(&app, &attacker, &[("method", "totp"), ("code", "111111")]).await.status(), 401);
    let mail = app.mail.wait_for("ned@example.com", "Someone may know your password").await;
    assert!(mail.text.contains("right password"), "{}", mail.text);
    assert_eq!(second_step(&app, &attacker, &[("method", "totp"), ("code", "222222")]).await.status(), 401);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(notices(&app, "ned@example.com"), 1, "one notice per second step");
    // "This wasn't me" signs out everywhere and mails a reset link.
    let res = app.follow_link(&app.browser(), &link(&mail, &app.url("/account/not-me?"))).await;
    assert!(res.status().is_success() || res.status().is_redirection());
    assert_eq!(owner.get(app.url("/account")).send().await.unwrap().status(), 303, "signed out");
    app.mail.wait_for("ned@example.com", "Reset your password").await;
}

#[tokio::test]
async fn an_abandoned_second_step_mails_the_owner() {
    let app = spawn_app().await;
    enrolled(&app, "oli").await;
    app.clock.advance(30);
    password_step(&app, &app.browser(), "oli").await;
    assert_eq!(app.state.accounts.notify_abandoned_second_steps().await.unwrap(), 0, "still in progress");
    app.clock.advance(gatehouse::accounts::mfa::CHALLENGE_SECS + 1);
    assert_eq!(app.state.accounts.notify_abandoned_second_steps().await.unwrap(), 1);
    let mail = app.mail.wait_for("oli@example.com", "Someone may know your password").await;
    assert!(mail.text.contains("did not finish"), "{}", mail.text);
    assert_eq!(app.state.accounts.notify_abandoned_second_steps().await.unwrap(), 0, "told once");
}

#[tokio::test]
async fn a_second_step_left_for_a_finished_sign_in_tells_nobody() {
    let app = spawn_app().await;
    let (_, secret, _) = enrolled(&app, "pia").await;
    app.clock.advance(30);
    password_step(&app, &app.browser(), "pia").await; // a tab left behind
    let browser = app.browser();
    password_step(&app, &browser, "pia").await;
    let res = second_step(&app, &browser, &[("method", "totp"), ("code", &code_now(&app, &secret))]).await;
    assert_eq!(res.status(), 303, "{}", location(&res));
    app.clock.advance(gatehouse::accounts::mfa::CHALLENGE_SECS + 1);
    assert_eq!(app.state.accounts.notify_abandoned_second_steps().await.unwrap(), 0);
    assert_eq!(notices(&app, "pia@example.com"), 0);
}
