//! The sign-in state machine against a real store (a SQLite file, and a
//! throwaway PostgreSQL database when `TEST_POSTGRES_URL` is set), with a
//! fixed clock: one test per transition of the diagram in `mod.rs`.
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use tempfile::TempDir;

use super::{Next, Proof, Refusal, SignInCtx, SignedIn, StepView, UpstreamProof};
use crate::accounts::linking::{LinkConfirm, LinkView};
use crate::accounts::mfa::Method;
use crate::accounts::{Accounts, CurrentUser, MfaPolicy, Registration};
use crate::clock::{Clock, FixedClock};
use crate::config::{MailConfig, PasswordConfig, SessionConfig};
use crate::keys::Kek;
use crate::mail::{Mailer, Outbox};
use crate::security::audit::Context;
use crate::security::ip_policy::IpPolicy;
use crate::security::ip_rules::{Action, Scope};
use crate::security::totp;
use crate::store::Store;
use crate::store::testing::{TempPostgres, TestStore, migrated_stores};
use crate::upstream::Identity;

const PASSWORD: &str = "correct horse battery staple";
const NEW_PASSWORD: &str = "purple elephant juggling quietly";
const START: i64 = 1_767_225_600;

/// The services over one database, and what keeps it alive.
struct World {
    accounts: Accounts,
    clock: FixedClock,
    store: Store,
    _dir: Option<TempDir>,
    _pg: Option<TempPostgres>,
}

/// Settings a test may change.
#[derive(Default)]
struct Settings {
    max_age_days: u32,
    required_roles: Vec<String>,
}

/// One world per backend available: SQLite always, PostgreSQL when configured.
async fn worlds(settings: Settings) -> Vec<World> {
    let mut worlds = Vec::new();
    for TestStore { store, dir, pg } in migrated_stores().await {
        let clock = FixedClock::at(START);
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        let kek = Arc::new(Kek::new([9; 32]));
        let mailer = Mailer::memory("gatehouse@example.com").expect("mailer");
        let outbox = Outbox::new(
            store.clone(),
            kek.clone(),
            mailer,
            shared.clone(),
            MailConfig::default(),
            "https://sso.example",
            Default::default(),
        );
        let password = PasswordConfig {
            argon2_memory_kib: 256,
            argon2_iterations: 1,
            max_age_days: settings.max_age_days,
            ..PasswordConfig::default()
        };
        let mfa = MfaPolicy { required_roles: settings.required_roles.clone(), issuer_label: "gatehouse".into() };
        let accounts = Accounts::new(store.clone(), shared, SessionConfig::default(), &password, outbox, kek, mfa)
            .expect("accounts");
        worlds.push(World { accounts, clock, store, _dir: dir, _pg: pg });
    }
    worlds
}

impl World {
    /// A confirmed account with `roles` besides `user`; its id.
    async fn user(&self, name: &str, roles: &[String]) -> String {
        let registration = Registration {
            username: name,
            email: &format!("{name}@example.com"),
            password: &SecretString::from(PASSWORD),
            password_confirm: None,
            email_verified: true,
            roles,
        };
        self.accounts.register(&Context::cli(), &registration).await.expect("register").expect("new account")
    }

    async fn sign_in(&self, proof: Proof, ctx: &SignInCtx) -> Next {
        self.accounts.sign_in(proof, ctx).await.expect("sign-in step")
    }

    /// The signed-in user behind a session.
    async fn viewer(&self, done: &SignedIn) -> CurrentUser {
        self.accounts.resolve_session(&done.session.token).await.expect("resolve").expect("live session")
    }
}

fn request() -> SignInCtx {
    let mut ctx = SignInCtx { addr: Some("203.0.113.7".parse().expect("address")), ..SignInCtx::default() };
    ctx.audit.ip = "203.0.113.7".into();
    ctx.audit.user_agent = "Firefox/128.0 (X11; Linux)".into();
    ctx.audit.request_id = "req-1".into();
    ctx
}

fn password(login: &str, password: &str) -> Proof {
    Proof::Password { login: login.into(), password: SecretString::from(password) }
}

fn session(next: Next) -> SignedIn {
    match next {
        Next::Session(done) => done,
        Next::Refused(r) => panic!("expected a session, refused: {r:?}"),
        _ => panic!("expected a session"),
    }
}

fn refusal(next: Next) -> Refusal {
    match next {
        Next::Refused(r) => r,
        _ => panic!("expected a refusal"),
    }
}

fn challenge(next: Next) -> String {
    match next {
        Next::SecondStep { challenge } => challenge,
        Next::Refused(r) => panic!("expected a second step, refused: {r:?}"),
        _ => panic!("expected a second step"),
    }
}

fn identity(subject: &str, email: &str) -> Identity {
    Identity {
        provider: "corp".into(),
        subject: subject.into(),
        email: Some(email.into()),
        email_verified: true,
        name: None,
        username: None,
    }
}

fn upstream(identity: Identity, link_user_id: Option<&str>) -> Proof {
    Proof::Upstream(UpstreamProof {
        identity,
        provider: "corp".into(),
        browser: "browser-1".into(),
        link_user_id: link_user_id.map(str::to_owned),
    })
}

/// RFC 4648 base32 (as shown on the set-up page, grouped), for the test's authenticator.
fn base32_decode(text: &str) -> Vec<u8> {
    let (mut bits, mut value, mut out) = (0u32, 0u32, Vec::new());
    for c in text.chars().filter(|c| c.is_ascii_alphanumeric()) {
        let v = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".find(c.to_ascii_uppercase()).expect("base32 digit") as u32;
        value = (value << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((value >> bits) as u8);
            value &= (1 << bits) - 1;
        }
    }
    out
}

#[tokio::test]
async fn password_without_second_factor_starts_a_session_and_records_it() {
    for w in worlds(Settings::default()).await {
        let id = w.user("ann", &[]).await;
        let ctx = SignInCtx { next: Some("/account/apps".into()), ..request() };

        let done = session(w.sign_in(password("ann", PASSWORD), &ctx).await);

        assert_eq!((done.amr, done.to.as_str()), ("pwd", "/account/apps"));
        assert!(done.new_device.is_some(), "a browser without a device cookie gets one");
        assert!(done.recovery_codes.is_empty());
        assert_eq!(w.viewer(&done).await.user_id, id);
        let activity = w.accounts.recent_activity(&id).await.unwrap();
        assert_eq!((activity[0].outcome.as_str(), activity[0].method.as_str()), ("success", "password"));
        assert_eq!(activity[0].ip, "203.0.113.7");
    }
}

#[tokio::test]
async fn signing_in_again_ends_the_previous_session_and_keeps_the_device() {
    for w in worlds(Settings::default()).await {
        w.user("ann", &[]).await;
        let first = session(w.sign_in(password("ann", PASSWORD), &request()).await);
        let previous = w.viewer(&first).await;
        let ctx = SignInCtx { previous: Some(previous), device: first.new_device.clone(), ..request() };

        let second = session(w.sign_in(password("ann@example.com", PASSWORD), &ctx).await);

        assert!(second.new_device.is_none(), "the remembered device is kept");
        assert_eq!(second.to, "/account");
        assert!(w.accounts.resolve_session(&first.session.token).await.unwrap().is_none(), "no fixation");
    }
}

#[tokio::test]
async fn wrong_password_is_refused_and_recorded_then_locks() {
    for w in worlds(Settings::default()).await {
        let id = w.user("ann", &[]).await;

        let first = refusal(w.sign_in(password("ann", "not the password"), &request()).await);
        for _ in 0..4 {
            w.sign_in(password("ann", "not the password"), &request()).await;
        }
        w.clock.advance(1);
        let locked = refusal(w.sign_in(password("ann", PASSWORD), &request()).await);

        assert!(matches!(first, Refusal::WrongPassword), "{first:?}");
        assert!(matches!(locked, Refusal::Locked { retry_after, .. } if retry_after > 0), "{locked:?}");
        let activity = w.accounts.recent_activity(&id).await.unwrap();
        assert_eq!(activity.last().map(|a| a.outcome.as_str()), Some("wrong_password"));
        assert_eq!(activity[0].outcome, "locked");
    }
}

#[tokio::test]
async fn unknown_names_are_refused_like_wrong_passwords() {
    for w in worlds(Settings::default()).await {
        let refused = refusal(w.sign_in(password("nobody", PASSWORD), &request()).await);
        assert!(matches!(refused, Refusal::WrongPassword), "{refused:?}");
    }
}

#[tokio::test]
async fn second_factor_is_asked_for_then_a_right_code_starts_the_session() {
    for w in worlds(Settings::default()).await {
        let id = w.user("ann", &[]).await;
        let codes = w
            .accounts
            .enable_email_mfa(&Context::cli(), &id, None)
            .await
            .unwrap()
            .codes
            .expect("first factor: recovery codes");
        let ctx = SignInCtx { next: Some("/account".into()), ..request() };

        let token = challenge(w.sign_in(password("ann", PASSWORD), &ctx).await);
        let code = |code: &str| Proof::SecondFactor {
            challenge: token.clone(),
            method: Method::Recovery,
            code: code.to_owned(),
        };
        let wrong = refusal(w.sign_in(code("aaaa-bbbb-cccc-dddd"), &ctx).await);
        w.clock.advance(1);
        let done = session(w.sign_in(code(&codes[0]), &ctx).await);

        assert!(matches!(wrong, Refusal::WrongCode { tries_left: 4, totp: false, email: true }), "{wrong:?}");
        assert_eq!(done.amr, "pwd rec mfa");
        let activity = w.accounts.recent_activity(&id).await.unwrap();
        assert_eq!((activity[0].outcome.as_str(), activity[0].method.as_str()), ("success", "recovery_code"));
        assert_eq!(activity[1].outcome, "mfa_failed");
        let spent = refusal(w.sign_in(code(&codes[1]), &ctx).await);
        assert!(matches!(spent, Refusal::Expired), "a challenge is spent once: {spent:?}");
    }
}

#[tokio::test]
async fn too_many_wrong_codes_end_the_challenge() {
    for w in worlds(Settings::default()).await {
        let id = w.user("ann", &[]).await;
        w.accounts.enable_email_mfa(&Context::cli(), &id, None).await.unwrap();
        let token = challenge(w.sign_in(password("ann", PASSWORD), &request()).await);
        let wrong = || Proof::SecondFactor { challenge: token.clone(), method: Method::Email, code: "000000".into() };

        for _ in 0..4 {
            w.sign_in(wrong(), &request()).await;
        }
        let over = refusal(w.sign_in(wrong(), &request()).await);

        assert!(matches!(over, Refusal::CodesOver), "{over:?}");
    }
}

#[tokio::test]
async fn a_required_factor_is_set_up_inside_the_challenge() {
    let settings = Settings { required_roles: vec!["admin".into()], ..Settings::default() };
    for w in worlds(settings).await {
        w.user("root", &["admin".into()]).await;
        let token = challenge(w.sign_in(password("root", PASSWORD), &request()).await);
        let StepView::SetUp(enrolment) = w.accounts.second_step(&token).await.unwrap() else {
            panic!("expected the set-up step")
        };
        let secret = base32_decode(&enrolment.secret_text);
        let right = totp::code_at_step(&secret, totp::step_at(w.clock.unix()));
        let wrong: String = right.chars().map(|c| if c == '9' { '0' } else { '9' }).collect();
        let setup = |code: &str| Proof::NewFactor { challenge: token.clone(), code: code.to_owned() };

        let refused = refusal(w.sign_in(setup(&wrong), &request()).await);
        let done = session(w.sign_in(setup(&right), &request()).await);

        assert!(matches!(refused, Refusal::SetupCode { message: Some(_), .. }), "{refused:?}");
        assert_eq!(done.amr, "pwd otp mfa");
        assert_eq!(done.recovery_codes.len(), 10);
    }
}

#[tokio::test]
async fn an_expired_password_gets_a_ticket_then_a_new_password_then_a_session() {
    for w in worlds(Settings { max_age_days: 30, ..Settings::default() }).await {
        w.user("ann", &[]).await;
        w.clock.advance(31 * 86_400);

        let (ticket, username) = match w.sign_in(password("ann", PASSWORD), &request()).await {
            Next::PasswordExpired { ticket, username, .. } => (ticket, username),
            _ => panic!("expected the expired-password step"),
        };
        let renew = |current: &str| Proof::ExpiredPassword {
            ticket: ticket.clone(),
            current: SecretString::from(current),
            new: SecretString::from(NEW_PASSWORD),
            confirm: Some(SecretString::from(NEW_PASSWORD)),
        };
        let invalid = refusal(w.sign_in(renew("not the password"), &request()).await);
        let renewed = w.sign_in(renew(PASSWORD), &request()).await;
        let done = session(w.sign_in(password("ann", NEW_PASSWORD), &request()).await);

        assert_eq!(username, "ann");
        assert!(matches!(invalid, Refusal::Invalid(ref e) if e[0].field == "current_password"), "{invalid:?}");
        assert!(matches!(renewed, Next::PasswordRenewed));
        assert_eq!(done.amr, "pwd");
        let gone = refusal(w.sign_in(renew(NEW_PASSWORD), &request()).await);
        assert!(matches!(gone, Refusal::Expired), "the ticket works once: {gone:?}");
    }
}

#[tokio::test]
async fn a_new_upstream_identity_signs_in_to_a_new_account() {
    for w in worlds(Settings::default()).await {
        let ctx = SignInCtx { next: Some("/account".into()), ..request() };

        let done = session(w.sign_in(upstream(identity("u-1", "zoe@corp.example"), None), &ctx).await);
        let again = session(w.sign_in(upstream(identity("u-1", "zoe@corp.example"), None), &ctx).await);

        assert_eq!(done.amr, "fed");
        assert_eq!(w.viewer(&done).await.user_id, w.viewer(&again).await.user_id, "the same account");
    }
}

#[tokio::test]
async fn an_identity_with_a_taken_address_waits_for_a_proved_sign_in_then_links() {
    for w in worlds(Settings::default()).await {
        let id = w.user("ann", &[]).await;
        let before = session(w.sign_in(password("ann", PASSWORD), &request()).await);
        let old_viewer = w.viewer(&before).await;
        let ctx = SignInCtx { previous: Some(old_viewer.clone()), next: Some("/account".into()), ..request() };

        let offer = match w.sign_in(upstream(identity("u-2", "ann@example.com"), None), &ctx).await {
            Next::LinkOffer(offer) => offer,
            _ => panic!("expected a link offer"),
        };
        let seen_before = w.accounts.waiting_link(&offer.key, "browser-1", Some(&old_viewer)).await.unwrap();
        let ctx = SignInCtx { previous: Some(old_viewer), ..request() };
        let proved = w.viewer(&session(w.sign_in(password("ann", PASSWORD), &ctx).await)).await;
        let seen_after = w.accounts.waiting_link(&offer.key, "browser-1", Some(&proved)).await.unwrap();
        let confirmed = w.accounts.confirm_link(&offer.key, "browser-1", Some(&proved), &ctx.audit).await.unwrap();
        let linked = session(w.sign_in(upstream(identity("u-2", "ann@example.com"), None), &ctx).await);

        assert_eq!((offer.provider.as_str(), offer.email.as_str()), ("corp", "ann@example.com"));
        assert!(matches!(seen_before, LinkView::Prove { .. }), "the session from before the offer is no proof");
        assert!(matches!(seen_after, LinkView::Confirm { ref provider, .. } if provider == "corp"));
        assert!(matches!(confirmed, LinkConfirm::Linked { ref next } if next == "/account"));
        assert_eq!(w.viewer(&linked).await.user_id, id);
        let again = w.accounts.confirm_link(&offer.key, "browser-1", Some(&proved), &ctx.audit).await.unwrap();
        assert!(matches!(again, LinkConfirm::Missing), "a link is confirmed once");
    }
}

#[tokio::test]
async fn a_link_asked_for_from_the_account_page_needs_that_account_signed_in() {
    for w in worlds(Settings::default()).await {
        let id = w.user("ann", &[]).await;
        let viewer = w.viewer(&session(w.sign_in(password("ann", PASSWORD), &request()).await)).await;

        let stranger = refusal(w.sign_in(upstream(identity("u-3", "x@corp.example"), Some(&id)), &request()).await);
        let ctx = SignInCtx { previous: Some(viewer), ..request() };
        let linked = w.sign_in(upstream(identity("u-3", "x@corp.example"), Some(&id)), &ctx).await;

        assert!(matches!(stranger, Refusal::NotSameAccount), "{stranger:?}");
        assert!(matches!(linked, Next::Linked));
    }
}

#[tokio::test]
async fn a_role_refused_from_the_network_is_refused_before_the_password() {
    for w in worlds(Settings::default()).await {
        let id = w.user("root", &["admin".into()]).await;
        let ip = IpPolicy::new(w.store.clone(), Vec::new(), Duration::ZERO);
        ip.add(&Context::cli(), Action::Deny, "203.0.113.0/24", &Scope::Role("admin".into()), "", START).await.unwrap();
        let accounts = w.accounts.clone().with_ip_policy(ip);

        let right = refusal(accounts.sign_in(password("root", PASSWORD), &request()).await.unwrap());
        let wrong = refusal(accounts.sign_in(password("root", "not the password"), &request()).await.unwrap());
        let upstream_too = accounts.sign_in(upstream(identity("u-4", "r@corp.example"), None), &request()).await;

        for refused in [&right, &wrong] {
            assert!(matches!(refused, Refusal::Network { role } if role == "admin"), "{refused:?}");
        }
        assert!(matches!(upstream_too.unwrap(), Next::Session(_)), "a plain user is not refused");
        let activity = w.accounts.recent_activity(&id).await.unwrap();
        assert!(activity.iter().all(|a| a.outcome == "denied"), "no password failure is counted");
    }
}
