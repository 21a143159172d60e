//! The authorization code grant (RFC 6749 §4.1, RFC 7636): issuing a code
//! for an approved request, redeeming it once, and the pure checks on a
//! spent code ([`check_code`]). A replayed code revokes what the first
//! redemption issued and is audited (`code_replayed`).
use serde_json::json;

use super::minting::{Grant, Origin};
use super::{TokenResponse, Tokens, settle};
use crate::oauth::clients::Client;
use crate::oauth::error::GrantError;
use crate::oauth::pkce::Challenge;
use crate::oauth::request::AuthorizeRequest;
use crate::security::audit::{self, AuditAction};
use crate::security::token;
use crate::store::{self, CodeRow, Db, NewCode};

/// The one description of every refused code redemption (RFC 6749 §5.2
/// `invalid_grant`). Which check failed stays in the log: telling a caller
/// "issued to another client" or "verifier does not match" would confirm a
/// stolen code, or say how close a guess came.
pub const CODE_REFUSED: &str = "the authorization code is invalid, expired, or was issued for another request";

/// A refused code redemption: logged with its `reason` (never in the body).
fn code_refused(reason: &'static str, client_id: &str) -> GrantError {
    tracing::info!(reason, client_id, "authorization code refused");
    GrantError::invalid_grant(CODE_REFUSED)
}

/// Who authorized a request, and how.
#[derive(Debug, Clone)]
pub struct Authorized<'a> {
    pub user_id: &'a str,
    pub session_id: Option<&'a str>,
    pub auth_time: i64,
    pub amr: &'a [&'a str],
}

impl Tokens {
    /// Stores a single-use code for an approved request and returns it.
    pub async fn issue_code(&self, req: &AuthorizeRequest, who: &Authorized<'_>) -> Result<String, GrantError> {
        let code = token::new_secret();
        let now = self.clock.unix();
        let scope = req.scope.to_string();
        let amr = who.amr.join(" ");
        self.store
            .conn()
            .await?
            .db()
            .insert_code(&NewCode {
                id: &store::new_id(),
                code_hash: &token::hash_secret(&code),
                client_id: &req.client_id,
                user_id: who.user_id,
                session_id: who.session_id,
                redirect_uri: &req.redirect_uri,
                scope: &scope,
                nonce: req.nonce.as_deref(),
                code_challenge: req.challenge.as_ref().map(Challenge::as_str),
                auth_time: who.auth_time,
                amr: &amr,
                now,
                expires_at: now + self.settings.code_secs,
            })
            .await?;
        Ok(code)
    }

    /// Redeems a code (RFC 6749 §4.1.3). A code works once: a second
    /// redemption is refused and revokes what the first one issued (§4.1.2),
    /// with a `code_replayed` audit event in the same transaction.
    /// Spending the code, recording the tokens and creating the refresh token
    /// are one transaction, so a failure in between leaves no refresh token
    /// that no client received. A refused redemption still commits: the code
    /// stays spent (no second guess at the verifier), and a replay's
    /// revocations hold.
    pub(super) async fn exchange_code(
        &self,
        client: &Client,
        code: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
        ctx: &audit::Context,
        now: i64,
    ) -> Result<TokenResponse, GrantError> {
        let hash = token::hash_secret(code);
        let mut tx = self.store.begin().await?;
        let Some(found) = tx.db().find_code(&hash).await? else {
            return Err(code_refused("unknown code", &client.client_id));
        };
        // The user's row lock before the code's, in the order revocations take them.
        tx.db().lock_user(&found.user_id).await?;
        let Some(row) = tx.db().consume_code(&hash, now).await? else {
            let revoked = tx.db().revoke_access_by_code(&found.id, now).await?
                + tx.db().revoke_families_of_code(&found.id, now).await?;
            let detail = json!({ "client_id": found.client_id, "revoked": revoked });
            audit::append(&mut tx.db(), &ctx.event(AuditAction::CodeReplayed, &found.user_id).with_detail(detail), now)
                .await?;
            tx.commit().await?;
            tracing::warn!(client_id = %found.client_id, revoked, "authorization code replayed; its tokens are revoked");
            return Err(code_refused("code already used", &client.client_id));
        };
        let issued = match check_code(&row, &client.client_id, redirect_uri, verifier, now) {
            Ok(()) => self.code_tokens(&mut tx.db(), client, &row, now).await,
            Err(reason) => Err(code_refused(reason, &client.client_id)),
        };
        settle(tx, issued).await
    }

    /// The tokens for a spent, checked code, inside its transaction.
    async fn code_tokens(
        &self,
        db: &mut Db<'_>,
        client: &Client,
        row: &CodeRow,
        now: i64,
    ) -> Result<TokenResponse, GrantError> {
        let user = db.find_user(&row.user_id).await?;
        let Some(user) = user.filter(|u| !u.blocked) else {
            return Err(code_refused("the user can no longer sign in", &client.client_id));
        };
        let grant = Grant::new(&user, row.session_id.as_deref(), &row.scope, row.auth_time, &row.amr)
            .with_nonce(row.nonce.as_deref());
        let (family_id, refresh) = self.refresh_family_for(db, client, &grant, Some(&row.id), None, now).await?.unzip();
        let origin = Origin { code_id: Some(&row.id), family_id: family_id.as_deref(), session_id: None };
        self.user_tokens(db, client, &grant, origin, refresh, now).await
    }
}

/// The checks on a spent code (RFC 6749 §4.1.3, RFC 7636 §4.6), for
/// `client_id` at `now`. Every failure answers [`CODE_REFUSED`]; the reason
/// returned goes to the log only.
pub fn check_code(
    row: &CodeRow,
    client_id: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
    now: i64,
) -> Result<(), &'static str> {
    if row.client_id != client_id {
        return Err("code was issued to another client");
    }
    // RFC 6749 §4.1.2: codes are short-lived.
    if row.expires_at <= now {
        return Err("code expired");
    }
    // RFC 6749 §4.1.3: redirect_uri must be identical to the one authorized.
    if redirect_uri != Some(row.redirect_uri.as_str()) {
        return Err("redirect_uri does not match the authorization request");
    }
    match (&row.code_challenge, verifier) {
        (Some(challenge), Some(v)) if Challenge::from_stored(challenge.clone()).verify(v) => Ok(()),
        (Some(_), Some(_)) => Err("code_verifier does not match the code_challenge"),
        (Some(_), None) => Err("code_verifier is missing"),
        (None, Some(_)) => Err("code_verifier sent but no code_challenge was"),
        (None, None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_767_225_600;
    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn code(challenge: Option<&str>) -> CodeRow {
        CodeRow {
            id: "code1".into(),
            client_id: "rp".into(),
            user_id: "u1".into(),
            session_id: Some("s1".into()),
            redirect_uri: "https://rp.example/cb".into(),
            scope: "openid".into(),
            nonce: None,
            code_challenge: challenge.map(str::to_owned),
            auth_time: NOW - 10,
            amr: "pwd".into(),
            expires_at: NOW + 60,
            used_at: Some(NOW),
        }
    }

    const CB: Option<&str> = Some("https://rp.example/cb");

    #[test]
    fn a_good_code_passes_until_it_expires_rfc_6749_4_1_2() {
        assert_eq!(check_code(&code(None), "rp", CB, None, NOW), Ok(()));
        assert_eq!(check_code(&code(None), "rp", CB, None, NOW + 59), Ok(()));
        assert_eq!(check_code(&code(None), "rp", CB, None, NOW + 60), Err("code expired"));
    }

    #[test]
    fn another_client_or_redirect_uri_is_refused_rfc_6749_4_1_3() {
        assert_eq!(check_code(&code(None), "other", CB, None, NOW), Err("code was issued to another client"));
        let wrong = Some("https://rp.example/cb2");
        assert!(check_code(&code(None), "rp", wrong, None, NOW).is_err());
        assert!(check_code(&code(None), "rp", None, None, NOW).is_err(), "redirect_uri is required");
    }

    #[test]
    fn the_verifier_must_match_the_challenge_rfc_7636_4_6() {
        let pkce = code(Some(CHALLENGE));
        assert_eq!(check_code(&pkce, "rp", CB, Some(VERIFIER), NOW), Ok(()));
        assert_eq!(
            check_code(&pkce, "rp", CB, Some("wrong"), NOW),
            Err("code_verifier does not match the code_challenge")
        );
        assert_eq!(check_code(&pkce, "rp", CB, None, NOW), Err("code_verifier is missing"));
        assert!(check_code(&code(None), "rp", CB, Some(VERIFIER), NOW).is_err(), "a verifier without a challenge");
    }
}
