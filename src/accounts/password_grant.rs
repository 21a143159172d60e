//! The account side of the resource-owner password grant (RFC 6749 §4.3):
//! may this user get tokens by typing their password into an app? The
//! answer counts exactly like the sign-in form: the role IP rules first,
//! then `Accounts::authenticate` (lockout, the dummy hash for unknown
//! names), the activity row and the audit event (`sign_in` /
//! `sign_in_failed` with `method: "password_grant"`), and the per-address
//! delay after a wrong password. An account with two-step sign-in, an
//! unconfirmed address or an expired password is refused: only the browser
//! (authorization code) flow can ask for the rest. The client side (which
//! clients may use the grant, the scope) and the tokens are `oauth`'s; the
//! token endpoint composes the two (RFC 9700 §2.4 says the grant MUST NOT
//! be used at all, so it is off unless an operator allows it per client).
use secrecy::SecretString;

use super::sign_in::{Refusal as SignInRefusal, SignInCtx};
use super::{Accounts, Error, SignInOutcome};

/// The activity and audit method of the grant.
pub const METHOD: &str = "password_grant";

/// Why the password grant gives no tokens for this login.
#[derive(Debug)]
pub enum GrantRefusal {
    /// Unknown login or wrong password (alike, as at `/login`).
    WrongPassword,
    /// Too many failures: locked for `retry_after` seconds.
    Locked {
        retry_after: i64,
    },
    Blocked,
    /// The address is not confirmed yet: the browser flow shows how.
    Unconfirmed,
    /// Two-step sign-in is on (or a role requires it): the browser flow asks for it.
    SecondFactor,
    /// The password is too old and must be changed in the browser first.
    PasswordExpired,
    /// A role of the account may not be used from this network.
    Network,
    /// Not a refusal: storage or hashing failed.
    Failed(Error),
}

impl From<Error> for GrantRefusal {
    fn from(e: Error) -> Self {
        Self::Failed(e)
    }
}

impl Accounts {
    /// The user id for `login` and `password` if they may get tokens by the
    /// password grant (see the module docs); every attempt is recorded.
    pub async fn password_grant_user(
        &self,
        ctx: &SignInCtx,
        login: &str,
        password: &SecretString,
    ) -> Result<String, GrantRefusal> {
        if let Some(SignInRefusal::Network { .. }) = self.refused_before_password(login, password, ctx).await? {
            return Err(GrantRefusal::Network);
        }
        let (outcome, refusal) = match self.authenticate(&ctx.audit, login, password).await {
            Ok(user) => return self.password_grant_checked(ctx, user).await,
            Err(Error::InvalidCredentials) => (SignInOutcome::WrongPassword, GrantRefusal::WrongPassword),
            Err(Error::Locked { retry_after, .. }) => (SignInOutcome::Locked, GrantRefusal::Locked { retry_after }),
            Err(Error::Blocked) => (SignInOutcome::Blocked, GrantRefusal::Blocked),
            Err(Error::Unconfirmed) => (SignInOutcome::Unconfirmed, GrantRefusal::Unconfirmed),
            Err(other) => return Err(other.into()),
        };
        self.record(ctx, login, None, outcome, METHOD).await;
        if matches!(refusal, GrantRefusal::WrongPassword | GrantRefusal::Locked { .. }) {
            self.hold_failure(ctx).await;
        }
        Err(refusal)
    }

    /// After a right password: what only the browser can do refuses.
    async fn password_grant_checked(
        &self,
        ctx: &SignInCtx,
        user: crate::store::UserRow,
    ) -> Result<String, GrantRefusal> {
        let roles = self.roles(&user.id).await?;
        if let Some(_role) = self.refused_role(&roles, ctx.addr).await {
            self.record_known(ctx, &user.id, SignInOutcome::Denied, METHOD).await;
            return Err(GrantRefusal::Network);
        }
        let status = self.mfa_status(&user.id, &roles).await?;
        if status.enabled() || status.required {
            self.record_known(ctx, &user.id, SignInOutcome::BrowserOnly, METHOD).await;
            return Err(GrantRefusal::SecondFactor);
        }
        if self.password_expired(&user).await? {
            self.record_known(ctx, &user.id, SignInOutcome::BrowserOnly, METHOD).await;
            return Err(GrantRefusal::PasswordExpired);
        }
        self.record_known(ctx, &user.id, SignInOutcome::Success, METHOD).await;
        tracing::info!(user_id = %user.id, "password grant: credentials accepted");
        Ok(user.id)
    }
}
