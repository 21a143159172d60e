//! Upstream sign-in (issue 7), black-box: a second gatehouse is the upstream
//! OpenID provider (real discovery, JWKS, signed ID tokens), a fake Graph API
//! stands in for Facebook, and one browser walks between them. Each check of
//! a MUST names its section: OIDC Core §3.1.3.7 (ID token validation),
//! RFC 6749 §10.12 (CSRF through `state`), RFC 7636 (PKCE).
//! Linking and unlinking are in `upstream_link.rs`.
use gatehouse::config::UpstreamKind;
use url::Url;

use crate::fake_graph::{self, FakeGraph, GraphUser};
use crate::helpers::{TestApp, free_port, location, set_cookie, spawn_app_on_localhost};
use crate::oidc;
use crate::token_proxy::Tamper;
use crate::upstream_env::{
    CLIENT_ID, Corp, Options, Rp, amr, check_binding_cookie, follow, form_to, links, param, register_client,
    rp_sign_in, signed_in_at, submit, upstream_config, with_param,
};

/// The callback refused the sign-in with `status`: no session anywhere.
async fn refused(corp: &Corp, browser: &reqwest::Client, res: reqwest::Response, status: u16) -> String {
    assert_eq!(res.status(), status, "refused");
    assert!(set_cookie(&res, "gh_session").is_none(), "no session cookie");
    assert!(res.headers().get("location").is_none(), "a page, not a redirect");
    let html = res.text().await.unwrap();
    assert!(!signed_in_at(&corp.down, browser).await, "not signed in at the downstream");
    html
}

/// Says the ID token failed its checks, without details.
fn says_unverified(html: &str) {
    assert!(html.to_lowercase().contains("could not be verified"), "{html}");
}

#[tokio::test]
async fn an_app_signs_a_user_in_through_an_upstream_provider_and_cannot_tell() {
    let corp = Corp::start().await;
    let rp = Rp::new(&corp.down).await;
    let browser = corp.upstream_user_browser("uma").await;

    // The app sends the browser to /authorize, which asks for a sign-in.
    let flow = rp.start();
    let (res, chain) = follow(&browser, flow.url.as_str(), |_| false).await;
    assert_eq!(res.status(), 200, "{chain:?}");
    let login = chain.last().unwrap().clone();
    assert_eq!(login.path(), "/login");
    let html = res.text().await.unwrap();
    let (href, _) = links(&html)
        .into_iter()
        .find(|(_, text)| text == "Sign in with Corp SSO")
        .unwrap_or_else(|| panic!("a link per provider: {html}"));
    let start = login.join(&href).unwrap();
    assert_eq!(start.path(), "/login/corp");
    let next = param(&start, "next").unwrap();
    assert!(next.starts_with("/authorize?"), "the app's request resumes afterwards: {next}");

    // /login/corp: to the upstream's authorization endpoint (from discovery).
    let res = browser.get(start).send().await.unwrap();
    assert_eq!(res.status(), 303);
    check_binding_cookie(&res);
    let authorize = Url::parse(location(&res)).unwrap();
    assert_eq!(authorize.origin().ascii_serialization(), corp.up.base);
    assert_eq!(authorize.path(), "/authorize");
    assert_eq!(param(&authorize, "response_type").as_deref(), Some("code"));
    assert_eq!(param(&authorize, "client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(param(&authorize, "redirect_uri").as_deref(), Some(corp.callback.as_str()));
    let scope = param(&authorize, "scope").unwrap();
    assert!(scope.split(' ').any(|s| s == "openid"), "{scope}");
    // RFC 6749 §10.12 state, OIDC Core §3.1.2.1 nonce, RFC 7636 §4.3 S256.
    assert!(param(&authorize, "state").is_some_and(|s| s.len() >= 16), "an unguessable state");
    assert!(param(&authorize, "nonce").is_some_and(|s| s.len() >= 16), "a nonce");
    assert_eq!(param(&authorize, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(param(&authorize, "code_challenge").map(|c| c.len()), Some(43), "base64url SHA-256");

    // The upstream (signed in, consent skipped) sends the browser back.
    let back = corp.at_upstream(&browser, &authorize).await;
    assert!(param(&back, "code").is_some());
    let res = browser.get(back).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), next, "back to the app's request");
    assert!(set_cookie(&res, "gh_session").is_some(), "signed in at the downstream");

    let abs_next = corp.down.url(&next);
    let (_, chain) = follow(&browser, &abs_next, |u| u.as_str().starts_with(oidc::REDIRECT)).await;
    let (claims, info) = rp.finish(flow, chain.last().unwrap()).await;
    assert!(amr(&claims).contains(&"fed".to_owned()), "amr says federated: {:?}", amr(&claims));
    assert_eq!(claims.auth_context_ref().map(|a| a.to_string()).as_deref(), Some("1"));
    assert_eq!(info.email().map(|e| e.as_str()), Some("uma@example.com"));
    assert_eq!(info.email_verified(), Some(true), "the upstream says the address is verified");

    // A second upstream sign-in, in another browser, is the same account.
    let other = corp.upstream_user_browser("uma").await;
    let (again, _) = rp_sign_in(&rp, &other, "Sign in with Corp SSO").await;
    assert_eq!(again.subject(), claims.subject(), "the same account");
    assert!(amr(&again).contains(&"fed".to_owned()));
}

#[tokio::test]
async fn a_tampered_or_missing_state_is_refused_rfc_6749_10_12() {
    let corp = Corp::start().await;
    let browser = corp.upstream_user_browser("sam").await;
    let authorize = corp.begin(&browser, "/account").await;
    let back = corp.at_upstream(&browser, &authorize).await;
    let state = param(&back, "state").unwrap();

    // One character changed (to one it is not already).
    let last = if state.ends_with('A') { 'B' } else { 'A' };
    let forged = with_param(&back, "state", &format!("{}{last}", &state[..state.len() - 1]));
    refused(&corp, &browser, browser.get(forged).send().await.unwrap(), 400).await;
    let pairs: Vec<(String, String)> =
        back.query_pairs().filter(|(k, _)| k != "state").map(|(k, v)| (k.into(), v.into())).collect();
    let mut no_state = back.clone();
    no_state.query_pairs_mut().clear().extend_pairs(pairs);
    refused(&corp, &browser, browser.get(no_state).send().await.unwrap(), 400).await;
}

#[tokio::test]
async fn next_is_kept_only_when_it_is_a_local_path() {
    let corp = Corp::start().await;
    let browser = corp.upstream_user_browser("nell").await;
    // An open redirect would send the fresh session's owner anywhere.
    let res = corp.sign_in(&browser, "https://evil.example/steal").await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/account", "an off-site next is dropped");
    let res = corp.sign_in(&browser, "//evil.example/x").await;
    assert_eq!(location(&res), "/account");
    let res = corp.sign_in(&browser, "/account/mfa").await;
    assert_eq!(location(&res), "/account/mfa");
}

#[tokio::test]
async fn a_blocked_account_does_not_sign_in_through_its_provider() {
    let corp = Corp::start().await;
    corp.signed_in_via_corp("bea").await;
    let id = corp.down.state.accounts.find("bea@example.com").await.unwrap().id;
    corp.down.state.accounts.set_blocked(&id, true, &crate::helpers::test_ctx()).await.unwrap();
    let browser = corp.upstream_user_browser("bea").await;
    let res = corp.sign_in(&browser, "/account").await;
    assert!(set_cookie(&res, "gh_session").is_none(), "no session for a blocked account: {}", res.status());
    assert!(!signed_in_at(&corp.down, &browser).await);
}

#[tokio::test]
async fn a_callback_naming_another_issuer_is_refused_rfc_9207_2_4() {
    let corp = Corp::start().await;
    let browser = corp.upstream_user_browser("iris").await;
    let authorize = corp.begin(&browser, "/account").await;
    let back = corp.at_upstream(&browser, &authorize).await;
    assert_eq!(param(&back, "iss").as_deref(), Some(corp.issuer.as_str()), "the upstream names itself");
    // A mix-up attack: the response claims to come from another provider.
    let mixed = with_param(&back, "iss", "https://evil.example");
    refused(&corp, &browser, browser.get(mixed).send().await.unwrap(), 400).await;
}

/// RFC 9207 §2.4: the upstream's discovery says it sends `iss`
/// (`authorization_response_iss_parameter_supported`), so a response
/// without it is refused too.
#[tokio::test]
async fn a_callback_without_iss_from_a_provider_that_sends_it_is_refused_rfc_9207_2_4() {
    let corp = Corp::start().await;
    let browser = corp.upstream_user_browser("ines").await;
    let authorize = corp.begin(&browser, "/account").await;
    let back = corp.at_upstream(&browser, &authorize).await;
    let mut stripped = back.clone();
    let kept: Vec<(String, String)> =
        back.query_pairs().filter(|(k, _)| k != "iss").map(|(k, v)| (k.into(), v.into())).collect();
    stripped.query_pairs_mut().clear().extend_pairs(&kept);
    assert!(param(&stripped, "iss").is_none() && param(&stripped, "code").is_some());
    refused(&corp, &browser, browser.get(stripped).send().await.unwrap(), 400).await;
}

#[tokio::test]
async fn a_state_older_than_ten_minutes_is_refused() {
    let corp = Corp::start().await;
    let browser = corp.upstream_user_browser("tim").await;
    let authorize = corp.begin(&browser, "/account").await;
    let back = corp.at_upstream(&browser, &authorize).await;
    // The cookie's Max-Age is the browser's business; the server checks too.
    corp.down.clock.advance(601);
    refused(&corp, &browser, browser.get(back).send().await.unwrap(), 400).await;
}

#[tokio::test]
async fn a_callback_opened_in_another_browser_is_refused_rfc_6749_10_12() {
    let corp = Corp::start().await;
    let victim = corp.upstream_user_browser("vera").await;
    let authorize = corp.begin(&victim, "/account").await;
    let back = corp.at_upstream(&victim, &authorize).await;

    // A browser with its own flow (and so its own gh_upstream cookie)…
    let attacker = corp.upstream_user_browser("mallory").await;
    corp.begin(&attacker, "/account").await;
    refused(&corp, &attacker, attacker.get(back.clone()).send().await.unwrap(), 400).await;
    // …and one with no cookie at all.
    let bare = corp.down.browser();
    refused(&corp, &bare, bare.get(back).send().await.unwrap(), 400).await;
}

#[tokio::test]
async fn a_used_callback_url_cannot_be_replayed() {
    let corp = Corp::start().await;
    let browser = corp.upstream_user_browser("rita").await;
    let authorize = corp.begin(&browser, "/account").await;
    let back = corp.at_upstream(&browser, &authorize).await;
    let first = browser.get(back.clone()).send().await.unwrap();
    assert_eq!(first.status(), 303);
    assert!(set_cookie(&first, "gh_session").is_some());

    let res = browser.get(back.clone()).send().await.unwrap();
    assert_eq!(res.status(), 400, "the state is spent");
    assert!(set_cookie(&res, "gh_session").is_none(), "no new session");
    let fresh = corp.down.browser();
    refused(&corp, &fresh, fresh.get(back).send().await.unwrap(), 400).await;
}

#[tokio::test]
async fn an_id_token_with_another_nonce_is_refused_oidc_core_3_1_3_7_step_11() {
    let corp = corp_behind_proxy().await;
    let browser = corp.upstream_user_browser("nico").await;
    let authorize = corp.begin(&browser, "/account").await;
    // The upstream puts whatever nonce it was asked for into the ID token.
    let forged = with_param(&authorize, "nonce", "a-nonce-this-browser-never-got");
    let back = corp.at_upstream(&browser, &forged).await;
    let html = refused(&corp, &browser, browser.get(back).send().await.unwrap(), 400).await;
    says_unverified(&html);
    assert_eq!(corp.proxy.as_ref().unwrap().last_token_status(), Some(200), "the code was redeemed");
}

/// A Corp whose upstream sits behind the tampering proxy; checks first that
/// an untampered sign-in through the proxy works, so a refusal later is the
/// tampering's doing.
async fn corp_behind_proxy() -> Corp {
    let corp = Corp::start_with(Options { proxy: true, ..Options::default() }).await;
    let control = corp.upstream_user_browser("control").await;
    let res = corp.sign_in(&control, "/account").await;
    assert_eq!(res.status(), 303, "through the proxy, untouched: {}", res.text().await.unwrap());
    corp
}

#[tokio::test]
async fn an_id_token_with_a_broken_signature_is_refused_oidc_core_3_1_3_7_step_6() {
    let corp = corp_behind_proxy().await;
    corp.proxy.as_ref().unwrap().tamper(Tamper::BreakSignature);
    let browser = corp.upstream_user_browser("sigrid").await;
    let res = corp.sign_in(&browser, "/account").await;
    let html = refused(&corp, &browser, res, 400).await;
    says_unverified(&html);
    assert_eq!(corp.proxy.as_ref().unwrap().last_token_status(), Some(200), "the code was redeemed");
}

#[tokio::test]
async fn an_id_token_for_another_client_is_refused_oidc_core_3_1_3_7_step_3() {
    let corp = corp_behind_proxy().await;
    // Another client of the upstream, with the same redirect URI: an ID token
    // issued to it has `aud` = "intruder".
    let secret = register_client(&corp.up, "intruder", &corp.callback, true).await;
    corp.proxy.as_ref().unwrap().tamper(Tamper::AsClient { id: "intruder".into(), secret });
    let browser = corp.upstream_user_browser("audrey").await;
    let authorize = corp.begin(&browser, "/account").await;
    let as_intruder = with_param(&authorize, "client_id", "intruder");
    let back = corp.at_upstream(&browser, &as_intruder).await;
    let html = refused(&corp, &browser, browser.get(back).send().await.unwrap(), 400).await;
    says_unverified(&html);
    assert_eq!(corp.proxy.as_ref().unwrap().last_token_status(), Some(200), "the code was redeemed by intruder");
}

#[tokio::test]
async fn an_expired_id_token_is_refused_oidc_core_3_1_3_7_step_9() {
    let corp = corp_behind_proxy().await;
    // The upstream's clock runs two hours slow: its ID tokens (15 minutes)
    // have expired when they arrive.
    corp.up.clock.advance(-7200);
    let browser = corp.upstream_user_browser("ezra").await;
    let res = corp.sign_in(&browser, "/account").await;
    let html = refused(&corp, &browser, res, 400).await;
    says_unverified(&html);
    assert_eq!(corp.proxy.as_ref().unwrap().last_token_status(), Some(200), "the code was redeemed");
}

#[tokio::test]
async fn an_error_from_the_provider_is_shown_as_a_page_rfc_6749_4_1_2_1() {
    let corp = Corp::start_with(Options { skip_consent: false, ..Options::default() }).await;
    let browser = corp.upstream_user_browser("dora").await;
    let authorize = corp.begin(&browser, "/account").await;
    let (res, chain) = follow(&browser, authorize.as_str(), |u| corp.is_callback(u)).await;
    assert_eq!(res.status(), 200, "the upstream asks for consent: {chain:?}");
    let html = res.text().await.unwrap();
    let consent = form_to(&html, "/authorize/consent").expect("a consent form");
    let res = submit(&corp.up, &browser, &consent, &[("decision", "deny")]).await;
    assert_eq!(res.status(), 303);
    let back = Url::parse(location(&res)).unwrap();
    assert!(corp.is_callback(&back), "{back}");
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    assert!(param(&back, "state").is_some());

    let html = refused(&corp, &browser, browser.get(back).send().await.unwrap(), 400).await;
    assert!(html.contains("access_denied"), "the page names the error: {html}");

    // An error code is text from outside: it is escaped on the page.
    let authorize = corp.begin(&browser, "/account").await;
    let state = param(&authorize, "state").unwrap();
    let mut forged = Url::parse(&corp.callback).unwrap();
    forged
        .query_pairs_mut()
        .append_pair("error", "<script>alert(1)</script>")
        .append_pair("error_description", "<b>bold</b>")
        .append_pair("state", &state);
    let html = refused(&corp, &browser, browser.get(forged).send().await.unwrap(), 400).await;
    assert!(!html.contains("<script>alert(1)") && !html.contains("<b>bold"), "escaped: {html}");
}

#[tokio::test]
async fn an_unknown_provider_is_404_and_an_unreachable_one_502() {
    let closed = free_port();
    let mut dead = upstream_config(UpstreamKind::Oidc, "Dead SSO", "x", "y");
    dead.issuer = Some(format!("http://127.0.0.1:{closed}").parse().unwrap());
    let down = spawn_app_on_localhost(free_port(), |c| {
        c.upstream.insert("dead".into(), dead);
    })
    .await;
    let browser = down.browser();
    let res = browser.get(down.url("/login/nobody?next=%2Faccount")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let res = browser.get(down.url("/login/nobody/callback?code=x&state=y")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let res = browser.get(down.url("/login/dead?next=%2Faccount")).send().await.unwrap();
    assert_eq!(res.status(), 502, "discovery failed");
    assert!(res.headers().get("location").is_none());
}

// ---- Facebook -----------------------------------------------------------

/// The gatehouse under test with `[upstream.facebook]` pointed at a fake
/// Graph API; the secret comes from a file (trailing newline and all).
async fn with_facebook(trust_email: bool) -> (TestApp, FakeGraph) {
    let user = GraphUser { id: "10001".into(), name: "Fiona Graph".into(), email: "fiona@example.com".into() };
    let graph = FakeGraph::start(user).await;
    let secret_dir = tempfile::tempdir().unwrap();
    let secret_file = secret_dir.path().join("facebook");
    std::fs::write(&secret_file, format!("{}\n", fake_graph::APP_SECRET)).unwrap();
    let mut fb = upstream_config(UpstreamKind::Facebook, "Facebook", fake_graph::APP_ID, "");
    fb.client_secret = None;
    fb.client_secret_file = Some(secret_file);
    fb.authorization_url = Some(graph.url("/dialog/oauth"));
    fb.token_url = Some(graph.url("/oauth/access_token"));
    // An override replaces the preset's whole URL, `fields` included (the
    // Graph API leaves the email out unless asked).
    fb.userinfo_url = Some(graph.url("/me?fields=id,name,email"));
    fb.trust_email = trust_email;
    let down = spawn_app_on_localhost(free_port(), |c| {
        c.upstream.insert("facebook".into(), fb);
    })
    .await;
    // The secret was read at startup; the file may go.
    drop(secret_dir);
    (down, graph)
}

#[tokio::test]
async fn a_facebook_sign_in_makes_an_account_whose_email_is_not_verified() {
    let (down, graph) = with_facebook(false).await;
    // Somebody already has the address Facebook gives without vouching for it.
    let owner = down.create_user("fiona", &[]).await;
    let rp = Rp::new(&down).await;
    let browser = down.browser();
    // Not the linking page: an unverified address neither reveals the
    // account nor leads to it. A separate new account signs in.
    let (claims, info) = rp_sign_in(&rp, &browser, "Sign in with Facebook").await;
    assert!(graph.refusals().is_empty(), "{:?}", graph.refusals());
    assert!(amr(&claims).contains(&"fed".to_owned()), "{:?}", amr(&claims));
    assert_ne!(claims.subject().as_str(), owner, "not the owner's account");
    // The address is not verified, so it is not the account's at all: no
    // `email` claim, nothing an app could take as proof of the address.
    assert_eq!(info.email(), None);
    assert_ne!(info.email_verified(), Some(true), "Facebook's word alone does not verify an address");
    let name = info.name().and_then(|n| n.get(None)).map(|n| n.as_str().to_owned());
    assert_eq!(name.as_deref(), Some("Fiona Graph"), "the name from the Graph API");
    let user = down.state.accounts.find(claims.subject().as_str()).await.unwrap();
    assert!(user.email.is_empty() && !user.email_verified, "{user:?}");
    assert!(user.password_hash.is_none(), "no password");
    let owner_row = down.state.accounts.find(&owner).await.unwrap();
    assert_eq!(owner_row.email, "fiona@example.com");
    assert!(down.state.accounts.upstream_identities(&owner).await.unwrap().is_empty(), "nothing linked to the owner");

    // What was asked of "Facebook": PKCE, our callback, and the email field.
    let dialog = &graph.dialogs()[0];
    let callback = format!("{}/login/facebook/callback", down.base);
    assert_eq!(dialog.get("redirect_uri"), Some(&callback));
    assert_eq!(dialog.get("code_challenge_method").map(String::as_str), Some("S256"));
    assert!(dialog.get("state").is_some_and(|s| s.len() >= 16));
    let me = graph.me_queries();
    assert!(me.iter().any(|q| q.contains("email")), "the Graph API gives the email only when asked: {me:?}");
}

/// An account made without an address (Facebook's was unverified) adds one
/// the usual way, by a link mailed there; with no password to ask for, a
/// recent sign-in through the provider stands in for it.
#[tokio::test]
async fn an_account_without_an_address_adds_one_confirmed_by_mail() {
    let (down, _graph) = with_facebook(false).await;
    let rp = Rp::new(&down).await;
    let browser = down.browser();
    let (claims, _) = rp_sign_in(&rp, &browser, "Sign in with Facebook").await;
    let html = browser.get(down.url("/account/email")).send().await.unwrap().text().await.unwrap();
    assert!(!html.contains("name=\"email_password\""), "no password to ask for: {html}");
    let form = form_to(&html, "/account/email").expect("the email form");
    let res = submit(&down, &browser, &form, &[("new_email", "fiona@example.com")]).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let mail = down.mail.wait_for("fiona@example.com", "Confirm your new email address").await;
    let link = crate::smtp::link(&mail, &down.url("/account/email/confirm?"));
    let res = down.follow_link(&browser, &link).await;
    assert!(res.status().is_success() || res.status().is_redirection(), "{}", res.status());
    let user = down.state.accounts.find(claims.subject().as_str()).await.unwrap();
    assert_eq!((user.email.as_str(), user.email_verified), ("fiona@example.com", true));

    // Later, without a recent sign-in, the address cannot be changed.
    down.clock.advance(down.config.session.reauth_secs + 1);
    let html = browser.get(down.url("/account/email")).send().await.unwrap().text().await.unwrap();
    let form = form_to(&html, "/account/email").expect("the email form");
    let res = submit(&down, &browser, &form, &[("new_email", "other@example.com")]).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("Sign in again first"));
}

#[tokio::test]
async fn facebook_emails_count_as_verified_with_trust_email() {
    let (down, _graph) = with_facebook(true).await;
    let rp = Rp::new(&down).await;
    let (_, info) = rp_sign_in(&rp, &down.browser(), "Sign in with Facebook").await;
    assert_eq!(info.email_verified(), Some(true));
    assert!(down.state.accounts.find("fiona@example.com").await.unwrap().email_verified);
}

// ---- Configuration ------------------------------------------------------

#[tokio::test]
async fn an_unknown_kind_or_a_reserved_id_fails_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let load = |toml: &str| {
        let path = dir.path().join("gatehouse.toml");
        std::fs::write(&path, toml).unwrap();
        gatehouse::config::load(Some(&path))
    };
    let table = |id: &str, kind: &str| {
        format!(
            "[upstream.{id}]\nkind = \"{kind}\"\nclient_id = \"x\"\nclient_secret = \"y\"\nissuer = \"https://sso.example\"\n"
        )
    };
    load(&table("corp", "oidc")).expect("a good table loads");
    let err = load(&table("corp", "saml")).unwrap_err().to_string();
    assert!(err.contains("saml") || err.contains("kind"), "{err}");
    for reserved in ["mfa", "link"] {
        assert!(load(&table(reserved, "oidc")).is_err(), "/login/{reserved} is taken");
    }
    assert!(load(&table("Corp SSO", "oidc")).is_err(), "an id is a path segment");

    // The same through app::build, for configs made in code.
    let mut config = crate::helpers::test_config(dir.path());
    config.upstream.insert("mfa".into(), upstream_config(UpstreamKind::Oidc, "MFA", "x", "y"));
    let clock = std::sync::Arc::new(gatehouse::clock::FixedClock::at(crate::helpers::T0));
    assert!(gatehouse::app::build(config, clock).await.is_err());
}

/// Behind a load balancer the callback may reach another instance than the
/// one that started the flow: the flow lives in the shared database
/// (PostgreSQL in CI's second run), and is still used once.
#[tokio::test]
async fn a_flow_started_on_one_instance_finishes_on_another() {
    let corp = Corp::start().await;
    let other = corp.down.second_instance().await;
    let port = Url::parse(&other.base).unwrap().port().unwrap();
    let browser = corp.upstream_user_browser("lou").await;
    let authorize = corp.begin(&browser, "/account").await;
    let back = corp.at_upstream(&browser, &authorize).await;
    // Same host name (so the browser sends its cookies), the other instance's port.
    let mut there = back.clone();
    there.set_port(Some(port)).unwrap();
    let res = browser.get(there).send().await.unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert_eq!(location(&res), "/account");
    assert!(set_cookie(&res, "gh_session").is_some(), "signed in by the other instance");
    let res = browser.get(back).send().await.unwrap();
    assert_eq!(res.status(), 400, "the first instance finds the flow spent");
}
