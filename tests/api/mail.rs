//! Mail flows end to end: every message travels over TCP to the SMTP sink in
//! this process. Registration and confirmation, forgot/reset password, email
//! change and undo, the new-device notice and "this wasn't me", dead and
//! reused links, identical answers for unknown addresses, and the outbox's
//! delivery guarantees (SMTP down then up, a worker stopped mid-send, two
//! workers on one database).
use std::time::Duration;

use crate::helpers::{PASSWORD, TestApp, hidden_value, location, spawn_app, spawn_app_with};
use crate::smtp::{SmtpSink, link};

const NEW_PASSWORD: &str = "a brand new passphrase";

/// Sets a display name through /account (so mail greets the user by it).
async fn set_display_name(app: &TestApp, browser: &reqwest::Client, name: &str) {
    let res = app.submit(browser, "/account", "/account/profile", &[("display_name", name)]).await;
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn register_confirm_sign_in_forget_reset_and_sign_in_with_the_new_password() {
    let app = spawn_app().await;
    let browser = app.register_confirmed("nia").await;
    let welcome = app.mail.wait_for("nia@example.com", "Welcome").await;
    assert!(welcome.text.contains(&app.url("/account")));
    assert_eq!(app.login(&browser, "nia", PASSWORD).await.status(), 303);
    set_display_name(&app, &browser, "<b>Nia & co</b>").await;

    // Forgot password (from another browser), reset link, new password.
    let other = app.browser();
    let res = app.submit(&other, "/password/forgot", "/password/forgot", &[("email", "NIA@example.com")]).await;
    assert_eq!(res.status(), 200);
    let mail = app.mail.wait_for("nia@example.com", "Reset your password").await;
    // Names are escaped in the HTML part and kept as typed in the text part.
    assert!(
        mail.html.contains("Hello &#60;b&#62;Nia &#38; co&#60;/b&#62;,")
            || mail.html.contains("Hello &lt;b&gt;Nia &amp; co&lt;/b&gt;,"),
        "{}",
        mail.html
    );
    assert!(!mail.html.contains("<b>Nia"));
    assert!(mail.text.contains("Hello <b>Nia & co</b>,"));
    let reset = link(&mail, &app.url("/password/reset?"));
    let page = other.get(&reset).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let token = hidden_value(&html, "token").unwrap();
    let csrf = hidden_value(&html, "csrf_token").unwrap();
    // The policy applies: a short password is refused and the link stays usable.
    let short = [
        ("token", token.as_str()),
        ("csrf_token", csrf.as_str()),
        ("password", "short"),
        ("password_confirm", "short"),
    ];
    assert_eq!(other.post(app.url("/password/reset")).form(&short).send().await.unwrap().status(), 422);
    let good = [
        ("token", token.as_str()),
        ("csrf_token", csrf.as_str()),
        ("password", NEW_PASSWORD),
        ("password_confirm", NEW_PASSWORD),
    ];
    let done = other.post(app.url("/password/reset")).form(&good).send().await.unwrap();
    assert_eq!(location(&done), "/login?reset=1");
    app.mail.wait_for("nia@example.com", "Your password was changed").await;

    // Every session ended; the old password is refused; the new one works.
    assert_eq!(browser.get(app.url("/account")).send().await.unwrap().status(), 303, "old session ended");
    assert_eq!(app.login(&other, "nia", PASSWORD).await.status(), 401);
    assert_eq!(app.login(&other, "nia", NEW_PASSWORD).await.status(), 303);
    // The link was single use.
    assert_eq!(app.browser().get(&reset).send().await.unwrap().status(), 410);
}

#[tokio::test]
async fn forgot_password_answers_the_same_for_known_and_unknown_addresses() {
    let app = spawn_app().await;
    app.create_user("olga", &[]).await;
    let ask = |email: &'static str| {
        let app = &app;
        async move {
            let res = app.submit(&app.browser(), "/password/forgot", "/password/forgot", &[("email", email)]).await;
            (res.status(), res.text().await.unwrap())
        }
    };
    let known = ask("olga@example.com").await;
    let unknown = ask("nobody@example.com").await;
    assert_eq!(known.0, 200);
    assert_eq!(known, unknown, "status and page are identical");
    app.mail.wait_for("olga@example.com", "Reset your password").await;
    assert_eq!(app.mail.count_to("nobody@example.com"), 0);
}

#[tokio::test]
async fn links_start_with_the_configured_issuer_whatever_the_host_header_says() {
    let app = spawn_app().await;
    app.create_user("yan", &[]).await;
    let browser = app.browser();
    let token = app.csrf_token(&browser, "/password/forgot").await;
    let res = browser
        .post(app.url("/password/forgot"))
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .form(&[("email", "yan@example.com"), ("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mail = app.mail.wait_for("yan@example.com", "Reset").await;
    assert!(!mail.text.contains("evil.example") && !mail.html.contains("evil.example"));
    link(&mail, &app.url("/password/reset?token="));
}

#[tokio::test]
async fn expired_and_reused_links_get_a_410_page() {
    let app = spawn_app().await;
    let browser = app.browser();
    let fields =
        [("username", "pia"), ("email", "pia@example.com"), ("password", PASSWORD), ("password_confirm", PASSWORD)];
    app.submit(&browser, "/register", "/register", &fields).await;
    let mail = app.mail.wait_for("pia@example.com", "Confirm your email").await;
    let confirm = link(&mail, &app.url("/register/confirm?"));
    // 24 hours later the link is dead, and it says so.
    app.clock.advance(86_401);
    let res = browser.get(&confirm).send().await.unwrap();
    assert_eq!(res.status(), 410);
    assert!(res.text().await.unwrap().contains("This link no longer works"));

    // A new link (resend), used once, then refused.
    let res = app.submit(&browser, "/login", "/register/resend", &[("login", "pia")]).await;
    assert_eq!(res.status(), 200);
    let mail = app.mail.wait_for_nth("pia@example.com", "Confirm your email", 2).await;
    let fresh = link(&mail, &app.url("/register/confirm?"));
    assert_ne!(fresh, confirm);
    assert_eq!(location(&app.follow_link(&browser, &fresh).await), "/login?confirmed=1");
    assert_eq!(browser.get(&fresh).send().await.unwrap().status(), 410, "used");
    // Reset links last an hour, and a newer one voids the older.
    app.submit(&browser, "/password/forgot", "/password/forgot", &[("email", "pia@example.com")]).await;
    let first = link(&app.mail.wait_for("pia@example.com", "Reset").await, &app.url("/password/reset?"));
    app.clock.advance(61);
    app.submit(&browser, "/password/forgot", "/password/forgot", &[("email", "pia@example.com")]).await;
    let second = link(&app.mail.wait_for_nth("pia@example.com", "Reset", 2).await, &app.url("/password/reset?"));
    assert_eq!(browser.get(&first).send().await.unwrap().status(), 410, "voided by the newer link");
    assert_eq!(browser.get(&second).send().await.unwrap().status(), 200);
    app.clock.advance(3_601);
    assert_eq!(browser.get(&second).send().await.unwrap().status(), 410, "expired");
}

#[tokio::test]
async fn resend_is_rate_limited_and_says_the_same_for_any_login() {
    let app = spawn_app().await;
    let browser = app.browser();
    let fields =
        [("username", "ria"), ("email", "ria@example.com"), ("password", PASSWORD), ("password_confirm", PASSWORD)];
    app.submit(&browser, "/register", "/register", &fields).await;
    app.mail.wait_for("ria@example.com", "Confirm").await;
    let a = app.submit(&browser, "/login", "/register/resend", &[("login", "ria")]).await;
    let b = app.submit(&browser, "/login", "/register/resend", &[("login", "nobody")]).await;
    assert_eq!((a.status(), a.text().await.unwrap()), (b.status(), b.text().await.unwrap()));
    // Within a minute of the first link, no second one is queued (the pages
    // answer before the work is done, so ask the service directly).
    app.state.accounts.resend_confirmation("ria").await.unwrap();
    let queued = app.state.outbox.list(true).await.unwrap();
    assert_eq!(queued.iter().filter(|m| m.recipient == "ria@example.com").count(), 1);
}

#[tokio::test]
async fn email_change_confirms_the_new_address_and_undo_restores_the_old_one() {
    let app = spawn_app().await;
    let browser = app.signed_in("sol", &[]).await;
    // The current password is required.
    let res = app
        .submit(
            &browser,
            "/account",
            "/account/email",
            &[("new_email", "sol@new.example"), ("email_password", "wrong")],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("value=\"sol@new.example\""), "typed address kept");
    let res = app
        .submit(
            &browser,
            "/account",
            "/account/email",
            &[("new_email", "sol@new.example"), ("email_password", PASSWORD)],
        )
        .await;
    assert_eq!(location(&res), "/account/email?notice=email");
    let confirm = app.mail.wait_for("sol@new.example", "Confirm your new email").await;
    let notice = app.mail.wait_for("sol@example.com", "is being changed").await;
    assert!(notice.text.contains("sol@new.example"));
    let res = app.follow_link(&browser, &link(&confirm, &app.url("/account/email/confirm?"))).await;
    assert_eq!(res.status(), 200);
    let user = app.state.accounts.find("sol").await.unwrap();
    assert_eq!((user.email.as_str(), user.email_verified), ("sol@new.example", true));

    // Until the undo link expires, the old address is not free for someone else.
    let squatter = app.browser();
    let fields = [
        ("username", "squatter"),
        ("email", "sol@example.com"),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
    ];
    let res = app.submit(&squatter, "/register", "/register", &fields).await;
    assert_eq!(res.status(), 303, "answered like any registration");
    assert!(app.state.accounts.find("squatter").await.is_err(), "but no account was made");

    // The old address's owner undoes it: address back, signed out, reset link sent there.
    let stranger = app.browser();
    let res = app.follow_link(&stranger, &link(&notice, &app.url("/account/email/undo?"))).await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.state.accounts.find("sol").await.unwrap().email, "sol@example.com");
    assert_eq!(browser.get(app.url("/account")).send().await.unwrap().status(), 303, "every session ended");
    app.mail.wait_for("sol@example.com", "Reset your password").await;
}

#[tokio::test]
async fn a_sign_in_from_a_new_device_and_network_mails_a_notice_whose_link_signs_out_everywhere() {
    let app = spawn_app().await;
    let home = app.signed_in("tao", &[]).await; // first sign-in: nothing to compare with
    // Same network, new device: not news.
    assert_eq!(app.login(&app.browser(), "tao", PASSWORD).await.status(), 303);
    // A new device on another network (127.0.1.0/24).
    let away = crate::helpers::away_browser();
    assert_eq!(app.login(&away, "tao", PASSWORD).await.status(), 303);
    let mail = app.mail.wait_for("tao@example.com", "New sign-in").await;
    assert!(mail.text.contains("127.0.1.1") && mail.text.contains("Firefox on Linux"), "{}", mail.text);
    assert_eq!(app.mail.count_to("tao@example.com"), 1, "only the sign-in from the new network was news");

    let res = app.follow_link(&app.browser(), &link(&mail, &app.url("/account/not-me?"))).await;
    assert_eq!(res.status(), 200);
    for browser in [&home, &away] {
        assert_eq!(browser.get(app.url("/account")).send().await.unwrap().status(), 303, "signed out");
    }
    app.mail.wait_for("tao@example.com", "Reset your password").await;
}

#[tokio::test]
async fn mail_queued_while_smtp_is_down_arrives_when_it_is_back() {
    let sink = SmtpSink::start().await;
    sink.set_hang_up(true);
    let app = spawn_app_with(|c| c.mail.smtp_url = Some(sink.url().into())).await;
    app.create_user("uma", &[]).await;
    app.submit(&app.browser(), "/password/forgot", "/password/forgot", &[("email", "uma@example.com")]).await;
    // The attempt fails and is scheduled again; nothing is lost.
    let row = wait_until(|| async {
        let rows = app.state.outbox.list(false).await.unwrap();
        rows.into_iter().find(|r| r.attempts >= 1 && r.last_error.is_some())
    })
    .await;
    assert!(row.next_attempt_at > app.clock_now(), "backed off");
    let text = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(text.contains("gatehouse_mail_failures_total 1"), "{text}");

    sink.set_hang_up(false);
    app.clock.advance(3_600);
    let mail = sink.wait_for("uma@example.com", "Reset your password").await;
    assert_eq!(mail.message_id, row.message_id, "the Message-ID is stable across attempts");
}

#[tokio::test]
async fn mail_being_sent_when_the_worker_stops_is_sent_after_restart() {
    let sink = SmtpSink::start().await;
    sink.set_stall(true);
    let url = sink.url();
    let app = spawn_app_with(|c| c.mail.smtp_url = Some(url.clone().into())).await;
    app.create_user("vic", &[]).await;
    app.submit(&app.browser(), "/password/forgot", "/password/forgot", &[("email", "vic@example.com")]).await;
    wait_until(|| async { (sink.stalled_count() == 1).then_some(()) }).await;
    let restarted = app.second_instance().await;
    app.stop().await; // mid-send: the row stays leased
    sink.set_stall(false);
    restarted.clock.advance(restarted.config.mail.lease_secs + 1);
    sink.wait_for("vic@example.com", "Reset your password").await;
    assert_eq!(sink.count_to("vic@example.com"), 1);
}

#[tokio::test]
async fn two_workers_on_one_database_send_each_message_once() {
    let app = spawn_app().await;
    let other = app.second_instance().await;
    let names: Vec<String> = (0..12).map(|i| format!("w{i:02}")).collect();
    for name in &names {
        app.create_user(name, &[]).await;
    }
    for (i, name) in names.iter().enumerate() {
        let via = if i % 2 == 0 { &app } else { &other };
        let email = format!("{name}@example.com");
        via.submit(&via.browser(), "/password/forgot", "/password/forgot", &[("email", email.as_str())]).await;
    }
    for name in &names {
        app.mail.wait_for(&format!("{name}@example.com"), "Reset").await;
    }
    // Every row was claimed once (attempts count claims) and nothing is due.
    // A message can reach the sink a moment before its worker records it as
    // sent, so wait for the write-backs first.
    let rows = wait_until(|| async {
        let rows = app.state.outbox.list(true).await.unwrap();
        rows.iter().all(|r| r.sent_at.is_some()).then_some(rows)
    })
    .await;
    assert_eq!(rows.len(), names.len());
    assert!(rows.iter().all(|r| r.attempts == 1), "{rows:?}");
    assert!(!app.state.outbox.send_one().await.unwrap() && !other.state.outbox.send_one().await.unwrap());
    let received = app.mail.received();
    assert_eq!(received.len(), names.len(), "each message once");
    let mut ids: Vec<&str> = received.iter().map(|m| m.message_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), names.len());
}

/// Polls `check` every 20 ms for up to 10 s.
async fn wait_until<T, F, Fut>(check: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..500 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("condition not met within 10 s");
}

impl TestApp {
    fn clock_now(&self) -> i64 {
        use gatehouse::clock::Clock;
        self.clock.unix()
    }
}

#[tokio::test]
async fn a_password_reset_voids_an_email_change_someone_else_started() {
    let app = spawn_app().await;
    let browser = app.signed_in("zed", &[]).await;
    let fields = [("new_email", "zed@attacker.example"), ("email_password", PASSWORD)];
    app.submit(&browser, "/account", "/account/email", &fields).await;
    let change = app.mail.wait_for("zed@attacker.example", "Confirm your new email").await;
    // The owner resets the password from their own mailbox.
    let owner = app.browser();
    app.submit(&owner, "/password/forgot", "/password/forgot", &[("email", "zed@example.com")]).await;
    let reset = app.mail.wait_for("zed@example.com", "Reset your password").await;
    let page = owner.get(link(&reset, &app.url("/password/reset?"))).send().await.unwrap().text().await.unwrap();
    let form = [
        ("token", hidden_value(&page, "token").unwrap()),
        ("csrf_token", hidden_value(&page, "csrf_token").unwrap()),
        ("password", NEW_PASSWORD.to_owned()),
        ("password_confirm", NEW_PASSWORD.to_owned()),
    ];
    assert_eq!(owner.post(app.url("/password/reset")).form(&form).send().await.unwrap().status(), 303);
    let res = app.browser().get(link(&change, &app.url("/account/email/confirm?"))).send().await.unwrap();
    assert_eq!(res.status(), 410, "the change link died with the reset");
    assert_eq!(app.state.accounts.find("zed").await.unwrap().email, "zed@example.com");
}
