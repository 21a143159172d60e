//! Upstream identities and local accounts (issue 7 §3): no silent takeover of
//! an account with the same address, linking with proof (password, and the
//! second step when it is on), linking and unlinking from `/account`, the
//! last way to sign in kept, and the activity and audit trail.
use gatehouse::security::audit;
use gatehouse::store::AuditRow;
use url::Url;

use crate::helpers::{PASSWORD, location, set_cookie};
use crate::mfa;
use crate::upstream_env::{
    Corp, Options, Rp, account_page, amr, follow, form_to, links, param, signed_in_at, submit, submit_on,
};

async fn events(corp: &Corp) -> Vec<AuditRow> {
    audit::tail(&corp.down.state.store, 1_000).await.unwrap()
}

async fn user_id(corp: &Corp, name: &str) -> String {
    corp.down.state.accounts.find(name).await.unwrap().id
}

const UNLINK: &str = "/account/upstream/corp/unlink";
const LINK: &str = "/account/upstream/corp/link";

/// An upstream sign-in whose address belongs to a local account: a 200 page
/// about linking, no session. Returns the page's link to sign in locally.
async fn refused_takeover(corp: &Corp, browser: &reqwest::Client, email: &str) -> Url {
    let res = corp.sign_in(browser, "/account").await;
    assert_eq!(res.status(), 200, "a page, not a sign-in");
    assert!(set_cookie(&res, "gh_session").is_none(), "no session");
    let html = res.text().await.unwrap();
    assert!(html.contains(email) || html.contains("account"), "{html}");
    assert!(!signed_in_at(&corp.down, browser).await);
    let href = links(&html)
        .into_iter()
        .map(|(href, _)| href)
        .find(|href| href.starts_with("/login?"))
        .unwrap_or_else(|| panic!("a link to sign in to the existing account: {html}"));
    let to = Url::parse(&corp.down.url(&href)).unwrap();
    assert_eq!(param(&to, "prompt").as_deref(), Some("login"));
    assert_eq!(param(&to, "next").as_deref(), Some("/login/link"));
    assert_eq!(param(&to, "login_hint").as_deref(), Some(email));
    to
}

/// Confirms the pending link on `/login/link`: 303 to `/account` (the
/// sign-in's `next`).
async fn confirm_link(corp: &Corp, browser: &reqwest::Client) {
    let page = browser.get(corp.down.url("/login/link")).send().await.unwrap();
    assert_eq!(page.status(), 200, "the confirmation page");
    let html = page.text().await.unwrap();
    assert!(html.contains("Corp SSO"), "names the provider: {html}");
    let form = form_to(&html, "/login/link").unwrap_or_else(|| panic!("a form posting to /login/link: {html}"));
    let res = submit(&corp.down, browser, &form, &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/account");
}

/// A new browser's upstream sign-in lands in the account named `username`.
async fn lands_in(corp: &Corp, upstream_name: &str, username: &str) {
    let browser = corp.signed_in_via_corp(upstream_name).await;
    let html = account_page(&corp.down, &browser).await;
    assert!(html.contains(username), "signed in as {username}: {html}");
}

#[tokio::test]
async fn an_upstream_identity_never_takes_over_an_account_with_the_same_address() {
    let corp = Corp::start().await;
    corp.down.create_user("ivy", &[]).await;
    let browser = corp.upstream_user_browser("ivy").await;
    refused_takeover(&corp, &browser, "ivy@example.com").await;
    // Nothing was linked: a second attempt is refused the same way.
    let again = corp.upstream_user_browser("ivy").await;
    refused_takeover(&corp, &again, "ivy@example.com").await;
    assert!(events(&corp).await.iter().all(|r| r.action != "upstream_linked"), "no link");
}

#[tokio::test]
async fn signing_in_to_the_local_account_then_confirming_links_the_identity() {
    let corp = Corp::start().await;
    corp.down.create_user("ivy", &[]).await;
    let browser = corp.upstream_user_browser("ivy").await;
    let to_login = refused_takeover(&corp, &browser, "ivy@example.com").await;

    // Without a fresh sign-in, /login/link asks for one.
    let res = browser.get(corp.down.url("/login/link")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/login?"), "{}", location(&res));

    // A person needs a moment to type a password.
    corp.down.clock.advance(5);
    let page = browser.get(to_login.clone()).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("value=\"ivy@example.com\""), "login_hint prefills the username: {html}");
    let form = form_to(&html, "/login").unwrap();
    let res = submit(&corp.down, &browser, &form, &[("username", "ivy"), ("password", PASSWORD)]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login/link");
    confirm_link(&corp, &browser).await;

    let id = user_id(&corp, "ivy").await;
    let rows = events(&corp).await;
    assert!(rows.iter().any(|r| r.action == "upstream_linked" && r.target == id), "audited: {rows:?}");
    // From now on the upstream sign-in is ivy's.
    lands_in(&corp, "ivy", "ivy").await;
    // The pending link is spent.
    let res = browser.get(corp.down.url("/login/link")).send().await.unwrap();
    assert_eq!(res.status(), 400, "no pending link");
}

#[tokio::test]
async fn a_session_from_before_the_pending_link_is_not_proof() {
    let corp = Corp::start().await;
    // Signed in locally first; then, in the same browser, an upstream
    // sign-in with the account's address (a shared computer, say).
    // The clock stands still: the offer comes in the same second as the
    // session, which still must not count.
    let browser = corp.down.signed_in("ivy", &[]).await;
    let browser = corp.sign_in_upstream(browser, "ivy").await;
    let res = corp.sign_in(&browser, "/account").await;
    assert_eq!(res.status(), 200, "the linking page");
    let res = browser.get(corp.down.url("/login/link")).send().await.unwrap();
    assert_eq!(res.status(), 303, "a sign-in after the link was asked for is needed");
    let to = Url::parse(&corp.down.url(location(&res))).unwrap();
    assert_eq!(to.path(), "/login");
    assert_eq!(param(&to, "prompt").as_deref(), Some("login"));
    // Nor can the form be posted straight away.
    let csrf = crate::helpers::hidden_value(&account_page(&corp.down, &browser).await, "csrf_token").unwrap();
    let res = browser.post(corp.down.url("/login/link")).form(&[("csrf_token", csrf.as_str())]).send().await.unwrap();
    assert_ne!(res.status(), 200);
    assert!(!location(&res).starts_with("/account"), "{}", location(&res));
    assert!(events(&corp).await.iter().all(|r| r.action != "upstream_linked"), "not linked");
}

#[tokio::test]
async fn link_and_unlink_forms_need_their_csrf_token() {
    let corp = Corp::start().await;
    let browser = linked_from_account(&corp).await;
    let res = browser.post(corp.down.url(UNLINK)).form(&[("x", "y")]).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let res = browser.post(corp.down.url(LINK)).form(&[("x", "y")]).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert!(form_to(&account_page(&corp.down, &browser).await, UNLINK).is_some(), "still linked");
}

#[tokio::test]
async fn a_pending_link_lasts_ten_minutes() {
    let corp = Corp::start().await;
    corp.down.create_user("ivy", &[]).await;
    let browser = corp.upstream_user_browser("ivy").await;
    let to_login = refused_takeover(&corp, &browser, "ivy@example.com").await;
    corp.down.clock.advance(601);
    let html = browser.get(to_login).send().await.unwrap().text().await.unwrap();
    let form = form_to(&html, "/login").unwrap();
    let res = submit(&corp.down, &browser, &form, &[("username", "ivy"), ("password", PASSWORD)]).await;
    assert_eq!(location(&res), "/login/link");
    let res = browser.get(corp.down.url("/login/link")).send().await.unwrap();
    assert_eq!(res.status(), 400, "the pending link expired");
    assert!(events(&corp).await.iter().all(|r| r.action != "upstream_linked"));
    // A signed-in user who never had one gets the same.
    let other = corp.down.signed_in("jon", &[]).await;
    assert_eq!(other.get(corp.down.url("/login/link")).send().await.unwrap().status(), 400);
}

#[tokio::test]
async fn linking_an_account_with_two_step_sign_in_needs_the_second_step_too() {
    let corp = Corp::start().await;
    let (_, secret, _) = mfa::enrolled(&corp.down, "tara").await;
    let browser = corp.upstream_user_browser("tara").await;
    let to_login = refused_takeover(&corp, &browser, "tara@example.com").await;

    // The enrolment spent this 30 s step's code.
    corp.down.clock.advance(30);
    let html = browser.get(to_login).send().await.unwrap().text().await.unwrap();
    let form = form_to(&html, "/login").unwrap();
    let res = submit(&corp.down, &browser, &form, &[("username", "tara"), ("password", PASSWORD)]).await;
    assert_eq!(res.status(), 303);
    let mfa_page = location(&res).to_owned();
    assert!(mfa_page.starts_with("/login/mfa"), "{mfa_page}");
    // The password alone is not enough to link.
    let res = browser.get(corp.down.url("/login/link")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/login?"), "{}", location(&res));

    let code = mfa::code_now(&corp.down, &secret);
    let res = submit_on(&corp.down, &browser, &mfa_page, "/login/mfa", &[("method", "totp"), ("code", &code)]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login/link");
    confirm_link(&corp, &browser).await;

    // The next upstream sign-in to tara's account asks for the second step too.
    corp.down.clock.advance(30);
    let fresh = corp.upstream_user_browser("tara").await;
    let res = corp.sign_in(&fresh, "/account").await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/login/mfa"), "{}", location(&res));
    assert!(set_cookie(&res, "gh_session").is_none(), "no session before the second step");
    let mfa_page = location(&res).to_owned();
    let code = mfa::code_now(&corp.down, &secret);
    let res = submit_on(&corp.down, &fresh, &mfa_page, "/login/mfa", &[("method", "totp"), ("code", &code)]).await;
    assert_eq!(res.status(), 303);
    assert!(account_page(&corp.down, &fresh).await.contains("tara"));

    // An app sees both steps: amr `fed otp mfa`, acr 2.
    corp.down.clock.advance(30);
    let rp = Rp::new(&corp.down).await;
    let browser = corp.upstream_user_browser("tara").await;
    let flow = rp.start();
    let (res, chain) = follow(&browser, flow.url.as_str(), |_| false).await;
    let page = chain.last().unwrap().clone();
    let html = res.text().await.unwrap();
    let (href, _) = links(&html).into_iter().find(|(_, t)| t == "Sign in with Corp SSO").unwrap();
    let (res, chain) = follow(&browser, page.join(&href).unwrap().as_str(), |_| false).await;
    assert_eq!(res.status(), 200);
    let mfa_page = chain.last().unwrap().clone();
    assert_eq!(mfa_page.path(), "/login/mfa", "{chain:?}");
    let form = form_to(&res.text().await.unwrap(), "/login/mfa").unwrap();
    let code = mfa::code_now(&corp.down, &secret);
    let res = submit(&corp.down, &browser, &form, &[("method", "totp"), ("code", &code)]).await;
    assert_eq!(res.status(), 303);
    let next = corp.down.url(location(&res));
    let (_, chain) = follow(&browser, &next, |u| u.as_str().starts_with(crate::oidc::REDIRECT)).await;
    let (claims, _) = rp.finish(flow, chain.last().unwrap()).await;
    assert_eq!(amr(&claims), ["fed", "otp", "mfa"]);
    assert_eq!(claims.auth_context_ref().map(|a| a.to_string()).as_deref(), Some("2"));
}

/// `lena` (local, password) links `marco` (upstream) from `/account`.
async fn linked_from_account(corp: &Corp) -> reqwest::Client {
    let browser = corp.down.signed_in("lena", &[]).await;
    // The same browser is signed in at the upstream as someone else.
    corp.up.create_user("marco", &[]).await;
    assert_eq!(corp.up.login(&browser, "marco", PASSWORD).await.status(), 303);

    let html = account_page(&corp.down, &browser).await;
    assert!(form_to(&html, UNLINK).is_none(), "nothing linked yet");
    let form = form_to(&html, LINK).unwrap_or_else(|| panic!("a form to link Corp SSO: {html}"));
    let res = submit(&corp.down, &browser, &form, &[]).await;
    assert_eq!(res.status(), 303);
    let start = Url::parse(&corp.down.url("/")).unwrap().join(location(&res)).unwrap();
    let (res, chain) = follow(&browser, start.as_str(), |u| corp.is_callback(u)).await;
    let back = chain.last().filter(|u| corp.is_callback(u)).cloned();
    let back = back.unwrap_or_else(|| panic!("back at the callback: {} {chain:?}", res.status()));
    let res = browser.get(back).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/account"), "{}", location(&res));
    let html = account_page(&corp.down, &browser).await;
    assert!(html.contains("Corp SSO"), "{html}");
    assert!(form_to(&html, UNLINK).is_some(), "linked, with a way to unlink: {html}");
    browser
}

#[tokio::test]
async fn a_signed_in_user_links_a_provider_from_the_account_page() {
    let corp = Corp::start().await;
    linked_from_account(&corp).await;
    let id = user_id(&corp, "lena").await;
    let rows = events(&corp).await;
    assert!(rows.iter().any(|r| r.action == "upstream_linked" && r.target == id), "audited: {rows:?}");
    lands_in(&corp, "marco", "lena").await;

    // The identity is lena's now: another user cannot link it too.
    let nina = corp.down.signed_in("nina", &[]).await;
    assert_eq!(corp.up.login(&nina, "marco", PASSWORD).await.status(), 303);
    let res = submit_on(&corp.down, &nina, "/account/providers", LINK, &[]).await;
    let start = Url::parse(&corp.down.url("/")).unwrap().join(location(&res)).unwrap();
    let (_, chain) = follow(&nina, start.as_str(), |u| corp.is_callback(u)).await;
    let res = nina.get(chain.last().unwrap().clone()).send().await.unwrap();
    assert_eq!(res.status(), 409, "linked to another user");
    assert!(form_to(&account_page(&corp.down, &nina).await, UNLINK).is_none());
}

/// An upstream sign-in proves no password, so an expired one does not stand
/// in its way (the expired-password form would ask for a password the user
/// never typed). A password sign-in still meets the form.
#[tokio::test]
async fn an_expired_password_does_not_stop_an_upstream_sign_in() {
    let corp = Corp::start_with(Options { password_max_age_days: 1, ..Options::default() }).await;
    linked_from_account(&corp).await;
    corp.down.clock.advance(2 * 86_400);
    corp.up.clock.advance(2 * 86_400);
    let browser = corp.signed_in_via_corp("marco").await;
    assert!(account_page(&corp.down, &browser).await.contains("lena"), "lena's account");
    let res = corp.down.login(&corp.down.browser(), "lena", PASSWORD).await;
    assert_eq!(res.status(), 200, "the password sign-in gets the expired-password form");
    assert!(res.text().await.unwrap().contains("/password/expired"));
}

#[tokio::test]
async fn linking_from_the_account_page_needs_a_recent_sign_in() {
    let corp = Corp::start().await;
    let browser = corp.down.signed_in("lena", &[]).await;
    corp.down.clock.advance(corp.down.config.session.reauth_secs + 1);
    let res = submit_on(&corp.down, &browser, "/account/providers", LINK, &[]).await;
    assert_eq!(res.status(), 303);
    let to = Url::parse(&corp.down.url(location(&res))).unwrap();
    assert_eq!(to.path(), "/login");
    assert_eq!(param(&to, "prompt").as_deref(), Some("login"));
    assert!(param(&to, "reauth").is_some());
    assert_eq!(param(&to, "next").as_deref(), Some("/account"));
}

#[tokio::test]
async fn unlinking_stops_the_provider_signing_in_to_the_account() {
    let corp = Corp::start().await;
    let browser = linked_from_account(&corp).await;
    let res = submit_on(&corp.down, &browser, "/account/providers", UNLINK, &[]).await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/account"), "{}", location(&res));
    let html = account_page(&corp.down, &browser).await;
    assert!(form_to(&html, UNLINK).is_none(), "no longer linked: {html}");
    let id = user_id(&corp, "lena").await;
    let rows = events(&corp).await;
    assert!(rows.iter().any(|r| r.action == "upstream_unlinked" && r.target == id), "audited: {rows:?}");

    // marco's upstream sign-in is a stranger to lena's account now.
    let other = corp.signed_in_via_corp("marco").await;
    let html = account_page(&corp.down, &other).await;
    assert!(!html.contains("lena"), "not lena's account: {html}");
}

#[tokio::test]
async fn the_last_way_to_sign_in_cannot_be_unlinked() {
    let corp = Corp::start().await;
    // An account made by an upstream sign-in: no password, one link.
    let browser = corp.signed_in_via_corp("otto").await;
    let id = user_id(&corp, "otto@example.com").await;
    let roles = corp.down.state.accounts.roles(&id).await.unwrap();
    assert_eq!(roles, ["user"], "a new account has the user role");
    let res = submit_on(&corp.down, &browser, "/account/providers", UNLINK, &[]).await;
    assert_eq!(res.status(), 409);
    assert!(form_to(&account_page(&corp.down, &browser).await, UNLINK).is_some(), "still linked");
    assert!(events(&corp).await.iter().all(|r| r.action != "upstream_unlinked"));
    // And it still signs in (a removed link would have met the address
    // already in use instead).
    let again = corp.signed_in_via_corp("otto").await;
    assert!(signed_in_at(&corp.down, &again).await);
    assert_eq!(user_id(&corp, "otto@example.com").await, id);
}

#[tokio::test]
async fn an_upstream_sign_in_shows_in_the_activity_log_as_federated() {
    let corp = Corp::start().await;
    let browser = corp.signed_in_via_corp("faye").await;
    let html = browser.get(corp.down.url("/account/activity")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Recent sign-in activity"), "{html}");
    assert!(html.contains("federated"), "the method is shown: {html}");
    let id = user_id(&corp, "faye@example.com").await;
    let rows = events(&corp).await;
    assert!(rows.iter().any(|r| r.action == "sign_in" && r.target == id), "audited: {rows:?}");
    assert!(matches!(audit::verify(&corp.down.state.store).await.unwrap(), audit::Verdict::Intact(_)));
}

#[tokio::test]
async fn an_upstream_sign_in_from_a_new_network_mails_the_new_device_notice() {
    let corp = Corp::start().await;
    corp.signed_in_via_corp("gus").await; // the first sign-in: nothing to compare with
    // A new device on another network (127.0.1.0/24), as for passwords.
    let away = crate::helpers::away_browser();
    let away = corp.sign_in_upstream(away, "gus").await;
    let res = corp.sign_in(&away, "/account").await;
    assert_eq!(res.status(), 303);
    let mail = corp.down.mail.wait_for("gus@example.com", "New sign-in").await;
    assert!(mail.text.contains("127.0.1.1"), "{}", mail.text);
}

/// Two unlinks at once (two tabs) must not both pass the "not the last way
/// to sign in" check and leave a passwordless account with none.
#[tokio::test]
async fn two_unlinks_at_once_leave_a_way_to_sign_in() {
    use gatehouse::security::audit::Context;
    let corp = Corp::start().await;
    corp.signed_in_via_corp("remy").await;
    let id = user_id(&corp, "remy@example.com").await;
    let mut conn = corp.down.state.store.conn().await.unwrap();
    conn.db().insert_upstream_identity("other", "s-2", &id, "", 0).await.unwrap();
    drop(conn);
    let accounts = &corp.down.state.accounts;
    let ctx = Context::cli().acting_as(id.as_str());
    let (a, b) =
        tokio::join!(accounts.unlink_upstream(&ctx, &id, "corp"), accounts.unlink_upstream(&ctx, &id, "other"));
    assert!(!(a.is_ok() && b.is_ok()), "both unlinks passed");
    assert_eq!(accounts.upstream_identities(&id).await.unwrap().len(), 1, "{a:?} {b:?}");
}
