//! Two-step sign-in, black-box: TOTP enrolment and sign-in with the app's
//! FixedClock (RFC 6238), replay refusal, recovery codes, emailed codes,
//! the wrong-code limit, 2FA required by role, `amr`/`acr` in ID tokens,
//! turning 2FA off (re-authentication and a notice), per-role session lifetime.
use gatehouse::clock::Clock;
use gatehouse::security::totp;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, RedirectUrl, TokenResponse,
};

use crate::helpers::{PASSWORD, TestApp, hidden_value, location, set_cookie, spawn_app, spawn_app_with};
use crate::oidc;

/// RFC 4648 base32 (no padding, spaces ignored), as the setup page shows the key.
fn base32_decode(text: &str) -> Vec<u8> {
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in text.chars().filter(|c| !c.is_whitespace()) {
        let v = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".find(c).expect("base32") as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// The TOTP key shown on a setup page.
pub(crate) fn shown_secret(html: &str) -> Vec<u8> {
    let start = html.find("<code class=\"secret\">").expect("secret on the page") + "<code class=\"secret\">".len();
    let end = html[start..].find("</code>").unwrap();
    base32_decode(&html[start..start + end])
}

/// The current code for `secret` on the app's clock.
pub(crate) fn code_now(app: &TestApp, secret: &[u8]) -> String {
    totp::code_at_step(secret, totp::step_at(app.clock.unix()))
}

/// Posts a form from the page the browser is on (`page`) to `action`.
async fn post(
    app: &TestApp,
    browser: &reqwest::Client,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    app.submit(browser, page, action, fields).await
}

/// The recovery codes on the page that shows them once.
fn recovery_codes(html: &str) -> Vec<String> {
    html.split("<li><code>").skip(1).map(|s| s.split("</code>").next().unwrap().to_owned()).collect()
}

/// Signs `username` in (no second factor yet) and sets up an authenticator;
/// returns the browser, the secret and the recovery codes.
pub(crate) async fn enrolled(app: &TestApp, username: &str) -> (reqwest::Client, Vec<u8>, Vec<String>) {
    let browser = app.signed_in(username, &[]).await;
    let res = post(app, &browser, "/account/mfa", "/account/mfa/totp", &[]).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("<svg") && html.contains("</svg>"), "a server-side SVG QR code");
    let secret = shown_secret(&html);
    assert_eq!(secret.len(), 20);
    // A wrong code is refused with a message; the same secret stays pending.
    let res = post(app, &browser, "/account/mfa", "/account/mfa/totp/confirm", &[("code", "000000")]).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("That code is not right"));
    let res =
        post(app, &browser, "/account/mfa", "/account/mfa/totp/confirm", &[("code", &code_now(app, &secret))]).await;
    assert_eq!(res.status(), 200);
    let codes = recovery_codes(&res.text().await.unwrap());
    assert_eq!(codes.len(), 10, "ten recovery codes, shown once");
    (browser, secret, codes)
}

/// Password step for a user with a second factor: lands on `/login/mfa`.
pub(crate) async fn password_step(app: &TestApp, browser: &reqwest::Client, username: &str) {
    let res = app.login(browser, username, PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/login/mfa"), "{}", location(&res));
    assert!(set_cookie(&res, "gh_session").is_none(), "no session before the second step");
}

pub(crate) async fn second_step(
    app: &TestApp,
    browser: &reqwest::Client,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    post(app, browser, "/login/mfa", "/login/mfa", fields).await
}

async fn is_signed_in(app: &TestApp, browser: &reqwest::Client) -> bool {
    browser.get(app.url("/account")).send().await.unwrap().status() == 200
}

#[tokio::test]
async fn totp_sign_in_with_a_fixed_clock_and_replay_refused_rfc_6238_5_2() {
    let app = spawn_app().await;
    let (_, secret, _) = enrolled(&app, "tess").await;
    // Each sign-in uses the next 30 s step: the enrolment spent the current one.
    app.clock.advance(30);
    let browser = app.browser();
    password_step(&app, &browser, "tess").await;
    assert!(!is_signed_in(&app, &browser).await);
    let page = browser.get(app.url("/login/mfa")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Code from your authenticator app") && page.contains("recovery code"));

    let res = second_step(&app, &browser, &[("method", "totp"), ("code", "123456")]).await;
    assert_eq!(res.status(), 401);
    assert!(res.text().await.unwrap().contains("4 tries left"));
    let code = code_now(&app, &secret);
    let res = second_step(&app, &browser, &[("method", "totp"), ("code", &code)]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/account");
    assert!(is_signed_in(&app, &browser).await);

    // RFC 6238 §5.2: the same code, still inside its window, is refused.
    let other = app.browser();
    password_step(&app, &other, "tess").await;
    let res = second_step(&app, &other, &[("method", "totp"), ("code", &code)]).await;
    assert_eq!(res.status(), 401, "a replayed code is refused");
    // The next step's code works.
    app.clock.advance(30);
    let res = second_step(&app, &other, &[("method", "totp"), ("code", &code_now(&app, &secret))]).await;
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn five_wrong_codes_end_the_challenge() {
    let app = spawn_app().await;
    let (_, secret, _) = enrolled(&app, "bruno").await;
    app.clock.advance(30);
    let browser = app.browser();
    password_step(&app, &browser, "bruno").await;
    for _ in 0..4 {
        assert_eq!(second_step(&app, &browser, &[("method", "totp"), ("code", "000000")]).await.status(), 401);
    }
    let res = second_step(&app, &browser, &[("method", "recovery"), ("recovery_code", "aaaa-bbbb-cccc-dddd")]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login?mfa=failed");
    // The right code no longer helps this challenge: back to the password.
    let token = crate::helpers::hidden_value(
        &browser.get(app.url("/login")).send().await.unwrap().text().await.unwrap(),
        "csrf_token",
    )
    .unwrap();
    let code = code_now(&app, &secret);
    let res = browser
        .post(app.url("/login/mfa"))
        .form(&[("method", "totp"), ("code", code.as_str()), ("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/login?mfa="));
    assert!(!is_signed_in(&app, &browser).await);
}

#[tokio::test]
async fn each_recovery_code_works_once() {
    let app = spawn_app().await;
    let (_, _, codes) = enrolled(&app, "rita").await;
    let browser = app.browser();
    password_step(&app, &browser, "rita").await;
    let upper = codes[3].to_uppercase();
    let res = second_step(&app, &browser, &[("method", "recovery"), ("recovery_code", &upper)]).await;
    assert_eq!(res.status(), 303, "case and dashes do not matter");
    assert!(is_signed_in(&app, &browser).await);

    let again = app.browser();
    password_step(&app, &again, "rita").await;
    let res = second_step(&app, &again, &[("method", "recovery"), ("recovery_code", &codes[3])]).await;
    assert_eq!(res.status(), 401, "a spent recovery code is refused");
    let res = second_step(&app, &again, &[("method", "recovery"), ("recovery_code", &codes[4])]).await;
    assert_eq!(res.status(), 303);
    let page = again.get(app.url("/account/mfa")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<dt>Recovery codes left</dt><dd>8</dd>"), "{page}");
}

#[tokio::test]
async fn emailed_codes_sign_in_and_expire() {
    let app = spawn_app().await;
    let browser = app.signed_in("emma", &[]).await;
    let res = post(&app, &browser, "/account/mfa", "/account/mfa/email", &[]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(recovery_codes(&res.text().await.unwrap()).len(), 10);

    let browser = app.browser();
    password_step(&app, &browser, "emma").await;
    let res = post(&app, &browser, "/login/mfa", "/login/mfa/email", &[]).await;
    assert_eq!(res.status(), 303);
    let mail = app.mail.wait_for("emma@example.com", "Your sign-in code").await;
    let code: String = mail.text.split("Code: ").nth(1).expect("code in the mail").chars().take(6).collect();
    assert!(code.chars().all(|c| c.is_ascii_digit()), "{code}");
    // Ten minutes later the code is dead, and so is the challenge.
    app.clock.advance(601);
    let res = browser.get(app.url("/login/mfa")).send().await.unwrap();
    assert_eq!(location(&res), "/login?mfa=expired");
    assert!(!code.is_empty());

    app.clock.advance(60);
    password_step(&app, &browser, "emma").await;
    post(&app, &browser, "/login/mfa", "/login/mfa/email", &[]).await;
    let mail = app.mail.wait_for_nth("emma@example.com", "Your sign-in code", 2).await;
    let code: String = mail.text.split("Code: ").nth(1).unwrap().chars().take(6).collect();
    let res = second_step(&app, &browser, &[("method", "email"), ("email_code", &code)]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/account");
}

#[tokio::test]
async fn a_role_that_requires_2fa_sets_it_up_at_sign_in() {
    let app = spawn_app_with(|c| c.mfa.required_roles = vec!["admin".into()]).await;
    app.create_user("ada", &["admin"]).await;
    let browser = app.browser();
    let res = app.login(&browser, "ada", PASSWORD).await;
    assert!(location(&res).starts_with("/login/mfa"));
    let res = browser.get(app.url(location(&res))).send().await.unwrap();
    let html = res.text().await.unwrap();
    assert!(html.contains("Your account needs two-step sign-in") && html.contains("<svg"));
    assert!(!is_signed_in(&app, &browser).await);
    let secret = shown_secret(&html);
    let csrf = hidden_value(&html, "csrf_token").unwrap();
    let code = code_now(&app, &secret);
    let res = browser
        .post(app.url("/login/mfa/setup"))
        .form(&[("code", code.as_str()), ("csrf_token", csrf.as_str()), ("next", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(set_cookie(&res, "gh_session").is_some(), "signed in once the app is set up");
    assert_eq!(recovery_codes(&res.text().await.unwrap()).len(), 10);
    assert!(is_signed_in(&app, &browser).await);
    // And it cannot be turned off.
    let res = post(&app, &browser, "/account/mfa", "/account/mfa/disable", &[("mfa_password", PASSWORD)]).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("requires two-step sign-in"));
}

#[tokio::test]
async fn id_tokens_carry_amr_and_acr_of_the_sign_in_oidc_core_2() {
    let app = spawn_app().await;
    let secret = oidc::register(&app, "rp", true).await;
    let meta =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.base.clone()).unwrap(), &oidc::http()).await.unwrap();
    let client = CoreClient::from_provider_metadata(meta, ClientId::new("rp".into()), Some(ClientSecret::new(secret)))
        .set_redirect_uri(RedirectUrl::new(oidc::REDIRECT.into()).unwrap());
    let id_claims = async |browser: &reqwest::Client| {
        let (url, _, nonce) = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .url();
        let back = oidc::authorize_as(&app, browser, url.as_str()).await;
        let code = oidc::param(&back, "code").unwrap();
        let tokens =
            client.exchange_code(AuthorizationCode::new(code)).unwrap().request_async(&oidc::http()).await.unwrap();
        let claims = tokens.id_token().unwrap().claims(&client.id_token_verifier(), &nonce).unwrap().clone();
        let amr: Vec<String> = claims.auth_method_refs().unwrap().iter().map(|a| a.to_string()).collect();
        (amr, claims.auth_context_ref().unwrap().to_string())
    };
    let (browser, secret, _) = enrolled(&app, "otto").await;
    // Signed in with the password alone (before enrolment).
    assert_eq!(id_claims(&browser).await, (vec!["pwd".to_owned()], "1".to_owned()));

    app.clock.advance(30);
    let browser = app.browser();
    password_step(&app, &browser, "otto").await;
    second_step(&app, &browser, &[("method", "totp"), ("code", &code_now(&app, &secret))]).await;
    let (amr, acr) = id_claims(&browser).await;
    assert_eq!(amr, ["pwd", "otp", "mfa"]);
    assert_eq!(acr, "2");
}

#[tokio::test]
async fn turning_2fa_off_needs_a_recent_sign_in_and_sends_a_notice() {
    let app = spawn_app().await;
    let (browser, secret, _) = enrolled(&app, "olga").await;
    // Eleven minutes after signing in, the change asks for a fresh sign-in.
    app.clock.advance(11 * 60);
    let res = post(&app, &browser, "/account/mfa", "/account/mfa/disable", &[("mfa_password", PASSWORD)]).await;
    assert_eq!(res.status(), 303);
    let again = location(&res).to_owned();
    assert_eq!(again, "/login?prompt=login&reauth=1&next=%2Faccount%2Fmfa");
    // Every other change on the page asks the same.
    for action in ["/account/mfa/totp", "/account/mfa/totp/confirm", "/account/mfa/email", "/account/mfa/recovery"] {
        let res = post(&app, &browser, "/account/mfa", action, &[("code", "123456")]).await;
        assert_eq!(location(&res), again, "{action} needs a recent sign-in");
    }
    let fields = [("username", "olga"), ("password", PASSWORD), ("next", "/account/mfa")];
    let res = app.submit(&browser, &again, "/login", &fields).await;
    assert!(location(&res).starts_with("/login/mfa"));
    let res = second_step(
        &app,
        &browser,
        &[("method", "totp"), ("code", &code_now(&app, &secret)), ("next", "/account/mfa")],
    )
    .await;
    assert_eq!(location(&res), "/account/mfa");

    let res =
        post(&app, &browser, "/account/mfa", "/account/mfa/disable", &[("mfa_password", "wrong password!")]).await;
    assert_eq!(res.status(), 422, "the password is checked too");
    let res = post(&app, &browser, "/account/mfa", "/account/mfa/disable", &[("mfa_password", PASSWORD)]).await;
    assert_eq!(location(&res), "/account/mfa?done=off");
    app.mail.wait_for("olga@example.com", "Two-step sign-in was turned off").await;
    // The next sign-in needs only the password.
    let res = app.login(&app.browser(), "olga", PASSWORD).await;
    assert_eq!(location(&res), "/account");
}

#[tokio::test]
async fn an_operator_reset_removes_the_factors_and_mails_the_owner() {
    let app = spawn_app().await;
    let (_, _, codes) = enrolled(&app, "lou").await;
    let id = app.state.accounts.find("lou").await.unwrap().id;
    // What `gatehouse user reset-mfa lou` runs (the CLI test covers the command).
    app.state.accounts.reset_mfa(&crate::helpers::test_ctx(), &id).await.unwrap();
    app.mail.wait_for("lou@example.com", "Two-step sign-in was turned off").await;
    let browser = app.browser();
    assert_eq!(location(&app.login(&browser, "lou", PASSWORD).await), "/account");
    let page = browser.get(app.url("/account/mfa")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<dt>Recovery codes left</dt><dd>0</dd>") && !codes.is_empty());
}

#[tokio::test]
async fn adding_a_factor_ends_other_sessions_mails_the_owner_and_not_me_undoes_it() {
    let app = spawn_app().await;
    let other = app.signed_in("nina", &[]).await;
    let browser = app.browser();
    assert_eq!(location(&app.login(&browser, "nina", PASSWORD).await), "/account");
    let res = post(&app, &browser, "/account/mfa", "/account/mfa/email", &[]).await;
    assert_eq!(res.status(), 200);
    assert!(is_signed_in(&app, &browser).await, "the session that made the change stays");
    assert!(!is_signed_in(&app, &other).await, "other sessions were signed in without the factor");
    let mail = app.mail.wait_for("nina@example.com", "Two-step sign-in was turned on").await;
    // "This wasn't me": the factor added since is removed with everything else.
    let res = app.follow_link(&app.browser(), &crate::smtp::link(&mail, &app.url("/account/not-me?"))).await;
    assert!(res.status().is_success() || res.status() == 303, "{}", res.status());
    let page = app.state.accounts.mfa_status(&app.state.accounts.find("nina").await.unwrap().id, &[]).await.unwrap();
    assert!(!page.enabled() && page.recovery_left == 0);
}

#[tokio::test]
async fn a_password_change_during_the_second_step_ends_it() {
    let app = spawn_app().await;
    let (_, secret, _) = enrolled(&app, "pia").await;
    app.clock.advance(30);
    let browser = app.browser();
    password_step(&app, &browser, "pia").await;
    let id = app.state.accounts.find("pia").await.unwrap().id;
    let new = secrecy::SecretString::from("an entirely different passphrase");
    app.state
        .accounts
        .change_password(&id, &secrecy::SecretString::from(PASSWORD), &new, None, None, &crate::helpers::test_ctx())
        .await
        .unwrap();
    // The page has nothing to show any more; a form still open in the
    // browser posts the right code and is sent back to the password.
    assert!(location(&browser.get(app.url("/login/mfa")).send().await.unwrap()).starts_with("/login?mfa="));
    let csrf = app.csrf_token(&browser, "/login").await;
    let code = code_now(&app, &secret);
    let form = [("method", "totp"), ("code", code.as_str()), ("csrf_token", csrf.as_str())];
    let res = browser.post(app.url("/login/mfa")).form(&form).send().await.unwrap();
    assert!(location(&res).starts_with("/login?mfa="), "{}", location(&res));
    assert!(!is_signed_in(&app, &browser).await);
}

#[tokio::test]
async fn wrong_codes_across_sign_ins_lock_the_second_step() {
    let app = spawn_app().await;
    let (_, secret, _) = enrolled(&app, "lena").await;
    app.clock.advance(30);
    let browser = app.browser();
    // Three wrong codes, start again, two more: five in the window lock it.
    password_step(&app, &browser, "lena").await;
    for _ in 0..3 {
        second_step(&app, &browser, &[("method", "totp"), ("code", "000000")]).await;
    }
    password_step(&app, &browser, "lena").await;
    second_step(&app, &browser, &[("method", "totp"), ("code", "000000")]).await;
    let res = second_step(&app, &browser, &[("method", "totp"), ("code", "000000")]).await;
    assert_eq!(location(&res), "/login?mfa=failed");
    let res = app.login(&browser, "lena", PASSWORD).await;
    assert_eq!(res.status(), 429, "no new challenge while the codes are locked");
    assert!(res.headers().get("retry-after").is_some());
    app.mail.wait_for("lena@example.com", "paused").await;
    // The wrong codes are in the activity log and the lock in the audit log.
    let id = app.state.accounts.find("lena").await.unwrap().id;
    let activity = app.state.accounts.recent_activity(&id).await.unwrap();
    assert_eq!(activity.iter().filter(|a| a.outcome == "mfa_failed" && a.method == "totp").count(), 5);
    let audit = gatehouse::security::audit::tail(&app.state.store, 50).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "account_locked" && e.target == id), "{audit:?}");
    // After the lock, the right code works again.
    app.clock.advance(61);
    password_step(&app, &browser, "lena").await;
    let res = second_step(&app, &browser, &[("method", "totp"), ("code", &code_now(&app, &secret))]).await;
    assert_eq!(location(&res), "/account");
}

#[tokio::test]
async fn a_session_without_2fa_ends_once_a_role_requires_it() {
    let app = spawn_app_with(|c| c.mfa.required_roles = vec!["admin".into()]).await;
    let browser = app.signed_in("moe", &[]).await;
    let id = app.state.accounts.find("moe").await.unwrap().id;
    app.state.accounts.set_roles(&crate::helpers::test_ctx(), &id, &["admin".to_owned()]).await.unwrap();
    let res = browser.get(app.url("/account")).send().await.unwrap();
    assert_eq!(res.status(), 303, "signed out: the session had no second factor");
}

#[tokio::test]
async fn an_expired_password_is_changed_only_after_the_second_step() {
    let app = spawn_app_with(|c| c.password.max_age_days = 90).await;
    let (_, secret, _) = enrolled(&app, "erin").await;
    app.clock.advance(91 * 86_400);
    let browser = app.browser();
    // The password alone leads to the second step, not to the expired form.
    password_step(&app, &browser, "erin").await;
    assert!(set_cookie(&app.login(&browser, "erin", PASSWORD).await, "gh_expired").is_none());
    let res = second_step(&app, &browser, &[("method", "totp"), ("code", &code_now(&app, &secret))]).await;
    assert_eq!(res.status(), 200);
    assert!(set_cookie(&res, "gh_expired").is_some() && set_cookie(&res, "gh_session").is_none());
    let html = res.text().await.unwrap();
    assert!(html.contains("Your password has expired"));
    let csrf = hidden_value(&html, "csrf_token").unwrap();
    let new = "a fresh and unusual passphrase";
    let form =
        [("current_password", PASSWORD), ("new_password", new), ("new_password_confirm", new), ("csrf_token", &csrf)];
    let res = browser.post(app.url("/password/expired")).form(&form).send().await.unwrap();
    assert_eq!(location(&res), "/login?reset=1");
    app.mail.wait_for("erin@example.com", "Your password was changed").await;
}

#[tokio::test]
async fn session_lifetime_is_configurable_per_role() {
    let app = spawn_app_with(|c| {
        c.session.role_lifetime_secs.insert("admin".into(), 3600);
    })
    .await;
    app.create_user("root", &["admin"]).await;
    app.create_user("pat", &[]).await;
    let res = app.login(&app.browser(), "root", PASSWORD).await;
    assert!(set_cookie(&res, "gh_session").unwrap().contains("Max-Age=3600"));
    let res = app.login(&app.browser(), "pat", PASSWORD).await;
    assert!(set_cookie(&res, "gh_session").unwrap().contains("Max-Age=28800"));
}
