//! One function per kind of [`Proof`](super::Proof): what it checks and where
//! it leads. No axum here.
use secrecy::SecretString;

use super::finish::Proved;
use super::{Next, Refusal, SignInCtx, UpstreamProof};
use crate::accounts::mfa::{CodeCheck, Enrolment, FirstFactor, Method, NextStep, SetUp};
use crate::accounts::upstream::UpstreamUser;
use crate::accounts::{Accounts, Error, Result, SignInOutcome};
use crate::store::UserRow;

impl Accounts {
    /// The sign-in form.
    pub(super) async fn with_password(&self, login: &str, password: &SecretString, ctx: &SignInCtx) -> Result<Next> {
        if let Some(refused) = self.refused_before_password(login, password, ctx).await? {
            return Ok(Next::Refused(refused));
        }
        let (outcome, refusal) = match self.authenticate(&ctx.audit, login, password).await {
            Ok(user) => return self.after_first_factor(user, FirstFactor::Password, ctx).await,
            Err(Error::InvalidCredentials) => (SignInOutcome::WrongPassword, Refusal::WrongPassword),
            Err(Error::Locked { retry_after, newly }) => {
                (SignInOutcome::Locked, Refusal::Locked { retry_after, newly })
            }
            Err(Error::Blocked) => (SignInOutcome::Blocked, Refusal::Blocked),
            Err(Error::Unconfirmed) => (SignInOutcome::Unconfirmed, Refusal::Unconfirmed),
            Err(other) => return Err(other),
        };
        // A right password is not a sign-in yet (a second step may follow):
        // `finish` records it once the session exists.
        self.record_login(ctx, login, outcome).await;
        if matches!(refusal, Refusal::WrongPassword | Refusal::Locked { .. }) {
            self.hold_failure(ctx).await;
        }
        Ok(Next::Refused(refusal))
    }

    /// A right first factor: the second step, or the end.
    async fn after_first_factor(&self, user: UserRow, first: FirstFactor, ctx: &SignInCtx) -> Result<Next> {
        match self.begin_second_step(&user, first).await {
            // Too many wrong codes lately: whoever is here proved the first
            // factor, so saying the account is locked reveals nothing.
            Err(Error::Locked { retry_after, .. }) => Ok(Next::Refused(Refusal::Locked { retry_after, newly: false })),
            Err(other) => Err(other),
            Ok(NextStep::Challenge { token }) => Ok(Next::SecondStep { challenge: token }),
            Ok(NextStep::Done) => {
                let credential = match first {
                    FirstFactor::Password => user.password_hash.clone(),
                    FirstFactor::Upstream => None,
                };
                let proved = Proved { user, credential, amr: first.as_str() };
                self.finish(proved, ctx, ctx.next.clone()).await
            }
        }
    }

    /// A code typed at the second step.
    pub(super) async fn with_code(&self, challenge: &str, method: Method, code: &str, ctx: &SignInCtx) -> Result<Next> {
        let (user_id, over) = match self.check_code(&ctx.audit, challenge, method, code).await? {
            CodeCheck::Passed { user_id, credential, amr } => {
                let user = self.find(&user_id).await?;
                return self.finish(Proved { user, credential, amr }, ctx, ctx.next.clone()).await;
            }
            CodeCheck::Expired => return Ok(Next::Refused(Refusal::Expired)),
            CodeCheck::Wrong { user_id, tries_left } => (user_id, Some(tries_left)),
            CodeCheck::Over { user_id } => (user_id, None),
        };
        self.record_known(ctx, &user_id, SignInOutcome::MfaFailed, method.name()).await;
        // Wrong codes count toward the per-address delay like wrong passwords.
        self.hold_failure(ctx).await;
        let refusal = match over {
            Some(tries_left) => match self.challenge(challenge).await? {
                Some((_, status)) => Refusal::WrongCode { tries_left, totp: status.totp, email: status.email },
                None => Refusal::CodesOver,
            },
            None => Refusal::CodesOver,
        };
        Ok(Next::Refused(refusal))
    }

    /// The first authenticator code, when a role requires a second factor
    /// and none was set up. The code just proved the new factor: this
    /// sign-in is two-step; the recovery codes go with the session.
    pub(super) async fn with_new_factor(&self, challenge: &str, code: &str, ctx: &SignInCtx) -> Result<Next> {
        let SetUp { user_id, credential, codes, amr } = match self.setup_in_challenge(&ctx.audit, challenge, code).await
        {
            Ok(Some(done)) => done,
            Ok(None) => return Ok(Next::Refused(Refusal::Expired)),
            Err(Error::Invalid(errors)) => {
                let Some((ch, _)) = self.challenge(challenge).await? else {
                    return Ok(Next::Refused(Refusal::Expired));
                };
                let message = errors.into_iter().find(|e| e.field == "code").map(|e| e.message);
                let enrolment = self.challenge_enrolment(&ch.user_id).await?;
                return Ok(Next::Refused(Refusal::SetupCode { message, enrolment }));
            }
            Err(other) => return Err(other),
        };
        let user = self.find(&user_id).await?;
        match self.finish(Proved { user, credential, amr }, ctx, None).await? {
            Next::Session(mut signed_in) => {
                signed_in.recovery_codes = codes;
                Ok(Next::Session(signed_in))
            }
            other => Ok(other),
        }
    }

    /// The authenticator waiting to be set up inside a challenge (a new
    /// secret if none is pending).
    pub(crate) async fn challenge_enrolment(&self, user_id: &str) -> Result<Enrolment> {
        let user = self.find(user_id).await?;
        match self.pending_totp(user_id, &user.username).await? {
            Some(e) => Ok(e),
            None => self.begin_totp(user_id, &user.username).await,
        }
    }

    /// An identity from an upstream provider: a link asked for from
    /// `/account`, or a sign-in to the identity's account (created for a new
    /// identity); an address that belongs to an account leads to an offer.
    pub(super) async fn with_upstream(&self, proof: UpstreamProof, ctx: &SignInCtx) -> Result<Next> {
        if let Some(user_id) = &proof.link_user_id {
            if ctx.previous.as_ref().is_none_or(|u| &u.user_id != user_id) {
                return Ok(Next::Refused(Refusal::NotSameAccount));
            }
            self.link_upstream(&ctx.audit, user_id, &proof.identity).await?;
            return Ok(Next::Linked);
        }
        let user = match self.upstream_user(&ctx.audit, &proof.identity).await {
            Ok(UpstreamUser::Known(user)) => user,
            Ok(UpstreamUser::Taken) => return self.offer_link(&proof, ctx).await.map(Next::LinkOffer),
            Err(Error::Blocked) => return Ok(Next::Refused(Refusal::Blocked)),
            Err(other) => return Err(other),
        };
        self.after_first_factor(user, FirstFactor::Upstream, ctx).await
    }

    /// The expired-password form.
    pub(super) async fn with_renewal(
        &self,
        ticket: &str,
        current: &SecretString,
        new: &SecretString,
        confirm: Option<&SecretString>,
        ctx: &SignInCtx,
    ) -> Result<Next> {
        match self.renew_expired_password(ticket, current, new, confirm, &ctx.audit).await {
            Ok(()) => Ok(Next::PasswordRenewed),
            // No live ticket: the form outlived its sign-in (or never had one).
            Err(Error::BadLink) => Ok(Next::Refused(Refusal::Expired)),
            Err(Error::Invalid(errors)) => Ok(Next::Refused(Refusal::Invalid(errors))),
            Err(other) => Err(other),
        }
    }
}
