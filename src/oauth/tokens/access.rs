//! Using and ending tokens: checking a bearer access token (RFC 6750,
//! RFC 9068 §4), userinfo (OIDC Core §5.3), an `id_token_hint` (OIDC
//! RP-Initiated Logout §2), and revocation (RFC 7009). The JWT checks
//! ([`jwt_access_claims`]) are pure functions of `now`.
use std::time::SystemTime;

use josekit::jws::JwsHeader;
use josekit::jwt::JwtPayload;
use serde_json::{Map, Value};

use super::Tokens;
use super::minting::profile_claims;
use crate::oauth::clients::Client;
use crate::oauth::error::{ErrorCode, GrantError, OAuthError};
use crate::oauth::scope::Scope;
use crate::security::audit::{self, AuditAction};
use crate::security::token;

/// What `/userinfo` answers, and for which client.
#[derive(Debug)]
pub struct UserInfo {
    /// The `client_id` claim of the access token.
    pub client_id: String,
    /// The claims to return.
    pub claims: Map<String, Value>,
}

/// What a verified JWT says of itself, checked as an access token of
/// `issuer` at `now`: `typ` `at+jwt`, the issuer, not expired, a `jti`.
/// Revocation is the caller's check.
pub fn jwt_access_claims(
    payload: &JwtPayload,
    header: &JwsHeader,
    issuer: &str,
    now: i64,
) -> Result<Map<String, Value>, GrantError> {
    if header.token_type() != Some("at+jwt") || payload.issuer() != Some(issuer) {
        return Err(GrantError::invalid_token("the access token is not valid"));
    }
    let exp = payload.expires_at().and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok());
    if exp.is_none_or(|e| i64::try_from(e.as_secs()).unwrap_or(0) <= now) {
        return Err(GrantError::invalid_token("the access token has expired"));
    }
    if payload.jwt_id().is_none() {
        return Err(GrantError::invalid_token("the access token is not valid"));
    }
    Ok(payload.claims_set().clone())
}

impl Tokens {
    /// The claims of a bearer JWT access token, as [`jwt_access_claims`].
    pub(super) fn access_token_claims(&self, bearer: &str, now: i64) -> Result<Map<String, Value>, GrantError> {
        let (payload, header) =
            self.keys.verify(bearer).map_err(|_| GrantError::invalid_token("the access token is not valid"))?;
        jwt_access_claims(&payload, &header, &self.settings.issuer, now)
    }

    /// Checks a bearer access token at `now`: as [`jwt_access_claims`], and
    /// that it is recorded and not revoked. Returns its claims.
    pub(super) async fn check_access_token_at(&self, bearer: &str, now: i64) -> Result<Map<String, Value>, GrantError> {
        let claims = self.access_token_claims(bearer, now)?;
        let jti = claims.get("jti").and_then(Value::as_str).unwrap_or_default();
        let row = self
            .live
            .access
            .get_or_load(jti, async { self.store.conn().await?.db().live_access(jti, now).await })
            .await?;
        // A cached row may have expired since it was read.
        if row.is_none_or(|row| row.expires_at <= now) {
            return Err(GrantError::invalid_token("the access token has been revoked"));
        }
        Ok(claims)
    }

    /// Checks a bearer access token now (see [`Self::check_access_token_at`]).
    pub async fn check_access_token(&self, bearer: &str) -> Result<Map<String, Value>, GrantError> {
        self.check_access_token_at(bearer, self.clock.unix()).await
    }

    /// OIDC RP-Initiated Logout §2: checks an `id_token_hint` we issued
    /// (signature and issuer; it may have expired) and returns (sub, aud).
    pub fn check_id_token_hint(&self, hint: &str) -> Result<(String, String), OAuthError> {
        let bad = || OAuthError::invalid_request("id_token_hint is not an ID token from this server");
        let (payload, header) = self.keys.verify(hint).map_err(|_| bad())?;
        if header.token_type() == Some("at+jwt") || payload.issuer() != Some(self.settings.issuer.as_str()) {
            return Err(bad());
        }
        let sub = payload.subject().ok_or_else(bad)?.to_owned();
        let aud = payload.audience().and_then(|a| a.first().map(|s| (*s).to_owned())).ok_or_else(bad)?;
        Ok((sub, aud))
    }

    /// OIDC Core §5.3: claims about the user, as the token's scopes allow,
    /// and the client the token was issued to (whose web origins CORS checks).
    /// A live token without `openid` is `insufficient_scope` (RFC 6750 §3.1:
    /// the token is good, it just does not reach this resource); a dead one
    /// is `invalid_token` whatever its scope.
    pub async fn userinfo(&self, bearer: &str) -> Result<UserInfo, GrantError> {
        let now = self.clock.unix();
        let claims = self.access_token_claims(bearer, now)?;
        let scope = Scope::words(claims.get("scope").and_then(Value::as_str).unwrap_or_default());
        if !scope.contains("openid") {
            self.check_access_token_at(bearer, now).await?;
            let why = "the access token was not issued for the openid scope";
            return Err(OAuthError::new(ErrorCode::InsufficientScope, why).into());
        }
        // One query checks revocation, expiry and the user together (the hot path).
        let jti = claims.get("jti").and_then(Value::as_str).unwrap_or_default();
        // The JWT's `exp` (checked above) is the row's; a cached pair needs no time check.
        let user = self
            .live
            .users
            .get_or_load(jti, async { self.store.conn().await?.db().live_access_user(jti, now).await })
            .await?;
        let Some(user) = user else {
            return Err(GrantError::invalid_token("the access token is revoked, or its user can no longer sign in"));
        };
        let client_id = claims.get("client_id").and_then(Value::as_str).unwrap_or_default().to_owned();
        Ok(UserInfo { client_id, claims: profile_claims(&user, &scope) })
    }

    /// RFC 7009: revokes a refresh token (and its family) or an access token
    /// issued to `client`, audited (`token_revoked`, with the caller's
    /// `hint`) in the same transaction. Unknown tokens are not an error (§2.2).
    pub async fn revoke(
        &self,
        ctx: &audit::Context,
        client: &Client,
        presented: &str,
        hint: Option<&str>,
    ) -> Result<(), GrantError> {
        let event = ctx
            .event(AuditAction::TokenRevoked, &client.client_id)
            .with_detail(serde_json::json!({ "token_type_hint": hint }));
        let now = self.clock.unix();
        let mut tx = self.store.begin().await?;
        if let Some(row) = tx.db().find_refresh(&token::hash_secret(presented)).await? {
            if row.client_id == client.client_id {
                tx.db().lock_user(&row.user_id).await?;
                tx.db().revoke_family(&row.family_id, now).await?;
            }
        } else if let Ok((payload, _)) = self.keys.verify(presented)
            && payload.claim("client_id").and_then(Value::as_str) == Some(client.client_id.as_str())
            && let Some(jti) = payload.jwt_id()
        {
            tx.db().revoke_access(jti, now).await?;
        }
        audit::append(&mut tx.db(), &event, now).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_767_225_600;

    fn token(typ: &str, exp: i64) -> (JwtPayload, JwsHeader) {
        let mut p = JwtPayload::new();
        p.set_issuer("https://id.example");
        p.set_jwt_id("j1");
        p.set_claim("exp", Some(json!(exp))).unwrap();
        let mut h = JwsHeader::new();
        h.set_token_type(typ);
        (p, h)
    }

    #[test]
    fn an_access_token_is_at_jwt_from_us_and_unexpired_rfc_9068_4() {
        let (p, h) = token("at+jwt", NOW + 1);
        assert!(jwt_access_claims(&p, &h, "https://id.example", NOW).is_ok());
        assert!(jwt_access_claims(&p, &h, "https://id.example", NOW + 1).is_err(), "expired at exp");
        assert!(jwt_access_claims(&p, &h, "https://other.example", NOW).is_err(), "another issuer");
        let (p, h) = token("JWT", NOW + 1);
        assert!(jwt_access_claims(&p, &h, "https://id.example", NOW).is_err(), "an ID token is not an access token");
    }
}
