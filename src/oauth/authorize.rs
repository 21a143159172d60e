//! The `/authorize` decision (OIDC Core §3.1.2), in the spirit of kanidm's
//! `AuthoriseResponse`: given a validated request, its client, what is known
//! of the browser's session and whether consent already covers the request,
//! [`decide`] says what happens next. Pure: it takes `now` and reads nothing.
//!
//! ```text
//!            ┌─ session, but its roles may not be used from here ─▶ Refuse(access_denied)
//!  request ──┤
//!            ├─ no usable session ──┬─ prompt=none ──────────────▶ Refuse(login_required)
//!            │  (none, prompt=login │                              (OIDC Core §3.1.2.6)
//!            │   not yet met, or    └─ otherwise ─────────────────▶ SignIn{fresh, login_hint}
//!            │   older than max_age)
//!            └─ usable session ─────┬─ skip-consent client, or consent covers
//!                                   │  the scopes and no prompt=consent ──▶ Issue
//!                                   ├─ prompt=none ───────────────▶ Refuse(consent_required)
//!                                   └─ otherwise ─────────────────▶ Consent
//! ```
//!
//! `prompt=select_account` asks for nothing more: a browser session has one
//! account. [`Clients::check_authorize`] is the service step before it: the
//! client lookup and validation, auditing a refused redirect URI.
//!
//! Must not import axum or the store's row types.
use serde_json::json;

use super::clients::{self, Client, Clients};
use super::error::ErrorCode;
use super::request::{self, AuthorizeRequest, Params, Prompt, Rejection};
use crate::security::audit::{self, AuditAction};

/// What is known of the browser at `/authorize`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionFacts {
    /// The signed-in session's `auth_time`; `None` when nobody is signed in.
    pub auth_time: Option<i64>,
    /// Whether the signed-in user's roles may be used from this address.
    pub roles_allowed_here: bool,
    /// When the request was parked for a sign-in, if it was resumed.
    pub parked_at: Option<i64>,
}

/// What happens next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send the browser to sign in, then back to the request. `fresh`
    /// (`prompt=login`, `max_age`) shows the form even to a signed-in user.
    SignIn { fresh: bool, login_hint: Option<String> },
    /// Ask the user to allow the request.
    Consent,
    /// Issue a code for the session's user.
    Issue,
    /// Send this error back to the client (OIDC Core §3.1.2.6).
    Refuse(ErrorCode, &'static str),
}

/// The decision for `req` from `client`, given the `session` and whether the
/// user's consent already covers the requested scopes, at `now`.
pub fn decide(
    req: &AuthorizeRequest,
    client: &Client,
    session: &SessionFacts,
    consent_covers: bool,
    now: i64,
) -> Decision {
    // A session whose user's role may not be used from here gets no code.
    if session.auth_time.is_some() && !session.roles_allowed_here {
        return Decision::Refuse(ErrorCode::AccessDenied, "access from this network is not allowed");
    }
    // OIDC Core §3.1.2.1 `max_age`: the sign-in must be at most that old.
    let too_old = |auth_time: i64| req.max_age.is_some_and(|max| now - auth_time > max);
    // OIDC Core §3.1.2.1 `prompt=login`: a sign-in after the request was
    // parked is the fresh one it asked for.
    let login_due =
        |auth_time: i64| req.has_prompt(Prompt::Login) && session.parked_at.is_none_or(|parked| auth_time < parked);
    let usable = session.auth_time.is_some_and(|t| !login_due(t) && !too_old(t));
    if !usable {
        if req.has_prompt(Prompt::None) {
            return Decision::Refuse(ErrorCode::LoginRequired, "the user is not signed in");
        }
        let fresh = req.has_prompt(Prompt::Login) || req.max_age.is_some();
        return Decision::SignIn { fresh, login_hint: req.login_hint.clone() };
    }
    if client.skip_consent || (consent_covers && !req.has_prompt(Prompt::Consent)) {
        return Decision::Issue;
    }
    if req.has_prompt(Prompt::None) {
        return Decision::Refuse(ErrorCode::ConsentRequired, "the user has not allowed this application");
    }
    Decision::Consent
}

/// A request checked against its client.
#[derive(Debug)]
pub struct Checked {
    /// The client the request names, if registered.
    pub client: Option<Client>,
    /// The validated request, or why it is refused and where the answer goes.
    pub request: Result<AuthorizeRequest, Rejection>,
}

impl Clients {
    /// Looks up the client `params` name and validates the request against
    /// it (`oauth::request::validate`). A redirect URI the client did not
    /// register is audited (`redirect_uri_refused`, by `ctx`): it is what a
    /// phishing attempt with a real client id looks like.
    pub async fn check_authorize(&self, params: &Params, ctx: &audit::Context) -> Result<Checked, clients::Error> {
        let client = match params.get("client_id") {
            Some(id) => self.get(id).await?,
            None => None,
        };
        let request = request::validate(params, client.as_ref());
        if let (Some(c), Some(uri), Err(Rejection::Page(_))) = (&client, params.get("redirect_uri"), &request)
            && !c.accepts_redirect_uri(uri)
        {
            let shown: String = uri.chars().take(256).collect();
            let event =
                ctx.event(AuditAction::RedirectUriRefused, &c.client_id).with_detail(json!({ "redirect_uri": shown }));
            self.audit(&event).await?;
        }
        Ok(Checked { client, request })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::request::tests::{client, params};

    const NOW: i64 = 1_767_225_600;

    fn req(extra: &[(&str, &str)]) -> AuthorizeRequest {
        request::validate(&params(extra), Some(&client(false))).unwrap()
    }

    fn signed_in(auth_time: i64) -> SessionFacts {
        SessionFacts { auth_time: Some(auth_time), roles_allowed_here: true, parked_at: None }
    }

    const NOBODY: SessionFacts = SessionFacts { auth_time: None, roles_allowed_here: true, parked_at: None };

    #[test]
    fn nobody_signed_in_signs_in_first_with_the_login_hint_oidc_core_3_1_2_1() {
        let r = req(&[("login_hint", "alice")]);
        assert_eq!(
            decide(&r, &client(false), &NOBODY, true, NOW),
            Decision::SignIn { fresh: false, login_hint: Some("alice".into()) }
        );
    }

    #[test]
    fn prompt_none_without_a_session_is_login_required_oidc_core_3_1_2_6() {
        let r = req(&[("prompt", "none")]);
        assert_eq!(
            decide(&r, &client(false), &NOBODY, true, NOW),
            Decision::Refuse(ErrorCode::LoginRequired, "the user is not signed in")
        );
    }

    #[test]
    fn prompt_login_needs_a_sign_in_after_the_request_was_parked_oidc_core_3_1_2_1() {
        let r = req(&[("prompt", "login")]);
        let fresh = Decision::SignIn { fresh: true, login_hint: None };
        assert_eq!(decide(&r, &client(false), &signed_in(NOW - 5), true, NOW), fresh, "not resumed yet");
        let resumed = SessionFacts { parked_at: Some(NOW - 10), ..signed_in(NOW - 5) };
        assert_eq!(decide(&r, &client(false), &resumed, true, NOW), Decision::Issue);
        let stale = SessionFacts { parked_at: Some(NOW - 10), ..signed_in(NOW - 60) };
        assert_eq!(decide(&r, &client(false), &stale, true, NOW), fresh, "signed in before it was parked");
    }

    #[test]
    fn max_age_counts_from_the_last_sign_in_oidc_core_3_1_2_1() {
        let r = req(&[("max_age", "60")]);
        assert_eq!(decide(&r, &client(false), &signed_in(NOW - 60), true, NOW), Decision::Issue);
        assert_eq!(
            decide(&r, &client(false), &signed_in(NOW - 61), true, NOW),
            Decision::SignIn { fresh: true, login_hint: None }
        );
        let zero = req(&[("max_age", "0")]);
        assert_eq!(decide(&zero, &client(false), &signed_in(NOW), true, NOW), Decision::Issue, "a sign-in this second");
    }

    #[test]
    fn consent_is_asked_unless_covered_or_skipped_oidc_core_3_1_2_4() {
        let r = req(&[]);
        let c = client(false);
        assert_eq!(decide(&r, &c, &signed_in(NOW), false, NOW), Decision::Consent);
        assert_eq!(decide(&r, &c, &signed_in(NOW), true, NOW), Decision::Issue);
        let again = req(&[("prompt", "consent")]);
        assert_eq!(decide(&again, &c, &signed_in(NOW), true, NOW), Decision::Consent, "prompt=consent asks again");
        let trusted = Client { skip_consent: true, ..client(false) };
        assert_eq!(decide(&again, &trusted, &signed_in(NOW), false, NOW), Decision::Issue);
    }

    #[test]
    fn prompt_none_without_consent_is_consent_required_oidc_core_3_1_2_6() {
        let r = req(&[("prompt", "none")]);
        assert_eq!(
            decide(&r, &client(false), &signed_in(NOW), false, NOW),
            Decision::Refuse(ErrorCode::ConsentRequired, "the user has not allowed this application")
        );
        assert_eq!(decide(&r, &client(false), &signed_in(NOW), true, NOW), Decision::Issue);
    }

    #[test]
    fn select_account_asks_for_nothing_more() {
        let r = req(&[("prompt", "select_account")]);
        assert_eq!(decide(&r, &client(false), &signed_in(NOW), true, NOW), Decision::Issue);
        assert_eq!(decide(&r, &client(false), &NOBODY, true, NOW), Decision::SignIn { fresh: false, login_hint: None });
    }

    #[test]
    fn a_session_whose_roles_are_refused_here_gets_access_denied() {
        let refused = SessionFacts { roles_allowed_here: false, ..signed_in(NOW) };
        let r = req(&[("prompt", "login")]);
        assert_eq!(
            decide(&r, &client(false), &refused, true, NOW),
            Decision::Refuse(ErrorCode::AccessDenied, "access from this network is not allowed")
        );
    }
}
