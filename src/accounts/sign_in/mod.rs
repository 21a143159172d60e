//! Sign-in as one state machine: every way in (password, second factor,
//! upstream identity, expired-password renewal) goes through
//! [`Accounts::sign_in`], which takes a [`Proof`] and the request's
//! [`SignInCtx`] and answers what happens [`Next`]. The service records the
//! login activity and the audit events (`sign_in`, `sign_in_failed`,
//! `ip_denied`), counts failures against the client address, applies the role
//! IP rules and runs the new-device check itself; the pages only render.
//!
//! ```text
//!  Password ──(account's role refused from here)────────────> Refused(Network)
//!     │ wrong / locked / blocked / unconfirmed ──────────────> Refused(..)
//!     ▼
//!  first factor ok ──(factor set up or required)──> SecondStep(challenge)
//!     ▲      │                                          │ SecondFactor / NewFactor
//!  Upstream  │                                          ├─ wrong ──> Refused(WrongCode | CodesOver)
//!     │      │                                          ▼
//!     │      └──────────────────────────────────────> finish
//!     │                                      ├─ role refused here ──> Refused(Network)
//!     │                                      ├─ password too old ──> PasswordExpired(ticket)
//!     │                                      │     └─ ExpiredPassword ──> PasswordRenewed ──> Password ..
//!     │                                      └─ session (previous one ended) ──> Session
//!     ├─ address belongs to an account ──> LinkOffer (see `linking`)
//!     └─ started from /account ──> Linked
//! ```
//!
//! Must not import axum or anything under `http`; no store row leaves this module.
use std::net::IpAddr;

use secrecy::SecretString;

use super::mfa::Method;
use super::{Accounts, CurrentUser, FieldError, Result, StartedSession};
use crate::security::audit;
use crate::security::ip_policy::IpPolicy;
use crate::upstream::Identity;

mod finish;
mod steps;
#[cfg(test)]
mod tests;
mod view;

pub use finish::method_of;
pub use view::{EmailCode, StepView};

/// What the browser offers as proof at this step. Holds secrets: no `Debug`.
pub enum Proof {
    /// The sign-in form: a login (username or email) and its password.
    Password { login: String, password: SecretString },
    /// A code typed at the second step of the challenge behind `challenge`.
    SecondFactor { challenge: String, method: Method, code: String },
    /// The first authenticator code, set up inside the challenge because a
    /// role requires a second factor.
    NewFactor { challenge: String, code: String },
    /// An identity an upstream provider just vouched for.
    Upstream(UpstreamProof),
    /// The expired-password form: the ticket, the current password and a new one.
    ExpiredPassword { ticket: String, current: SecretString, new: SecretString, confirm: Option<SecretString> },
}

/// An upstream identity and the flow that brought it.
pub struct UpstreamProof {
    pub identity: Identity,
    /// The provider's id.
    pub provider: String,
    /// The browser's binding cookie (flows are bound to it).
    pub browser: String,
    /// Set when a signed-in user started the flow from `/account` to add a link.
    pub link_user_id: Option<String>,
}

/// The request around a proof.
#[derive(Debug, Clone, Default)]
pub struct SignInCtx {
    /// Address, user agent and request id (the actor is filled in here).
    pub audit: audit::Context,
    /// The client address, for the IP rules.
    pub addr: Option<IpAddr>,
    /// The session the browser has now: it ends when a new one starts.
    pub previous: Option<CurrentUser>,
    /// The remembered-device cookie's value, if the browser sent one.
    pub device: Option<String>,
    /// Where to go once signed in (already checked to be local).
    pub next: Option<String>,
}

/// What happens after a proof.
pub enum Next {
    /// Signed in.
    Session(SignedIn),
    /// A second factor is asked for; the browser keeps `challenge` in a cookie.
    SecondStep { challenge: String },
    /// The password is right but too old: it must be changed first, with
    /// `ticket` (kept in a cookie).
    PasswordExpired { ticket: String, username: String, next: Option<String> },
    /// The expired password was replaced; sign in with the new one.
    PasswordRenewed,
    /// The identity's address belongs to an account: nothing is linked and no
    /// session starts; the identity waits for its owner (see `linking`).
    LinkOffer(LinkOffer),
    /// The identity was linked to the signed-in account that asked for it.
    Linked,
    /// Not signed in.
    Refused(Refusal),
}

/// A started session and how to go on.
pub struct SignedIn {
    pub session: StartedSession,
    /// How the user authenticated (RFC 8176 values, space separated).
    pub amr: &'static str,
    /// Where to go now.
    pub to: String,
    /// A new remembered-device value to set, when the browser had none.
    pub new_device: Option<String>,
    /// Recovery codes to show once (after a factor set up at sign-in).
    pub recovery_codes: Vec<String>,
}

/// An upstream identity waiting for the owner of a matching account.
pub struct LinkOffer {
    /// The cookie value naming the waiting link.
    pub key: String,
    /// The provider's id.
    pub provider: String,
    /// The upstream account's address ("" if none).
    pub email: String,
}

/// Why a proof did not sign in. The answers a visitor sees for unknown and
/// wrong alike are the same variant.
#[derive(Debug)]
pub enum Refusal {
    /// Unknown login or wrong password.
    WrongPassword,
    /// Too many failures: paused for `retry_after` seconds (`newly`: this
    /// attempt locked it).
    Locked {
        retry_after: i64,
        newly: bool,
    },
    Blocked,
    /// Right password, address not confirmed yet.
    Unconfirmed,
    /// A role of the account may not be used from this network.
    Network {
        role: String,
    },
    /// A wrong code; the challenge goes on with these methods.
    WrongCode {
        tries_left: i64,
        totp: bool,
        email: bool,
    },
    /// Too many wrong codes: this challenge is over.
    CodesOver,
    /// No live challenge or ticket (expired, spent, or none).
    Expired,
    /// Invalid form input (the expired-password form).
    Invalid(Vec<FieldError>),
    /// A wrong first authenticator code; the set-up page is shown again.
    SetupCode {
        message: Option<String>,
        enrolment: super::mfa::Enrolment,
    },
    /// The password changed or the account was blocked since it was proved.
    Changed,
    /// The link was asked for by an account that is no longer signed in here.
    NotSameAccount,
}

impl Accounts {
    /// The IP rules that decide which roles may sign in from where (the
    /// server always sets them; without them no role is refused).
    pub fn with_ip_policy(mut self, ip: IpPolicy) -> Self {
        self.ip = Some(ip);
        self
    }

    /// One step of a sign-in: checks `proof` and answers what happens next.
    /// `Err` is a failure (storage, hashing), never a refusal.
    pub async fn sign_in(&self, proof: Proof, ctx: &SignInCtx) -> Result<Next> {
        match proof {
            Proof::Password { login, password } => self.with_password(&login, &password, ctx).await,
            Proof::SecondFactor { challenge, method, code } => self.with_code(&challenge, method, &code, ctx).await,
            Proof::NewFactor { challenge, code } => self.with_new_factor(&challenge, &code, ctx).await,
            Proof::Upstream(proof) => self.with_upstream(proof, ctx).await,
            Proof::ExpiredPassword { ticket, current, new, confirm } => {
                self.with_renewal(&ticket, &current, &new, confirm.as_ref(), ctx).await
            }
        }
    }
}
