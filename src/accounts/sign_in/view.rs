//! What the second-step pages show between proofs: the methods of a live
//! challenge, the authenticator to set up, and sending an emailed code. No
//! axum here.
use crate::accounts::mfa::Enrolment;
use crate::accounts::{Accounts, Result};

/// The second step behind a challenge cookie.
pub enum StepView {
    /// No live challenge, or its factors were removed meanwhile (the first
    /// step alone now suffices): sign in again.
    Gone,
    /// Choose a method and type a code.
    Choose { totp: bool, email: bool },
    /// A role requires a second factor and none is set up: set one up now.
    SetUp(Enrolment),
}

/// What asking for an emailed code did.
pub enum EmailCode {
    Sent,
    /// Codes by email are not turned on for the account.
    NotOn,
    /// The challenge already had its three codes.
    TooMany,
    /// No live challenge.
    Gone,
}

impl Accounts {
    /// The second step behind `challenge`.
    pub async fn second_step(&self, challenge: &str) -> Result<StepView> {
        let Some((ch, status)) = self.challenge(challenge).await? else { return Ok(StepView::Gone) };
        if status.enabled() {
            return Ok(StepView::Choose { totp: status.totp, email: status.email });
        }
        if !status.required {
            // The factors were removed (by an operator) meanwhile.
            return Ok(StepView::Gone);
        }
        Ok(StepView::SetUp(self.challenge_enrolment(&ch.user_id).await?))
    }

    /// Mails a sign-in code for the challenge, if one may be sent.
    pub async fn email_sign_in_code(&self, challenge: &str) -> Result<EmailCode> {
        if self.send_email_code(challenge).await? {
            return Ok(EmailCode::Sent);
        }
        Ok(match self.challenge(challenge).await? {
            Some((_, status)) if !status.email => EmailCode::NotOn,
            Some(_) => EmailCode::TooMany,
            None => EmailCode::Gone,
        })
    }
}
