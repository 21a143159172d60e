//! Minting: JWT access tokens in the RFC 9068 profile and ID tokens (OIDC
//! Core §2, §3.1.3.6), signed by the key ring and recorded in the store.
//! The claims themselves are built by pure functions of `now`
//! ([`access_claims`], [`id_token_claims`], [`profile_claims`]).
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwt::JwtPayload;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{TokenResponse, TokenSettings, Tokens};
use crate::oauth::clients::Client;
use crate::oauth::error::GrantError;
use crate::oauth::scope::{self, Scope};
use crate::store::{self, Db, NewAccess, UserRow};

/// The `acr` (OIDC Core §2) for a sign-in's `amr`: `"2"` with a second
/// factor, `"1"` with a password alone, as Keycloak's default levels read.
pub fn acr_for(amr: &[&str]) -> &'static str {
    if amr.contains(&"mfa") { "2" } else { "1" }
}

/// OIDC Core §3.1.3.6: the left half of SHA-256 of the access token, base64url.
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// Where an access token came from, so it can be revoked with its origin.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Origin<'a> {
    pub(super) code_id: Option<&'a str>,
    pub(super) family_id: Option<&'a str>,
    pub(super) session_id: Option<&'a str>,
}

/// A user's grant, as the token endpoint turns it into tokens.
#[derive(Debug, Clone)]
pub(super) struct Grant<'a> {
    pub(super) user: &'a UserRow,
    pub(super) session_id: Option<&'a str>,
    pub(super) scope: Scope,
    pub(super) auth_time: i64,
    pub(super) amr: &'a str,
    pub(super) nonce: Option<&'a str>,
}

impl<'a> Grant<'a> {
    /// A grant of the stored `scope` (space-delimited), without a nonce.
    pub(super) fn new(
        user: &'a UserRow,
        session_id: Option<&'a str>,
        scope: &str,
        auth_time: i64,
        amr: &'a str,
    ) -> Self {
        Self { user, session_id, scope: Scope::words(scope), auth_time, amr, nonce: None }
    }

    /// The same grant carrying `nonce` into its ID token.
    pub(super) fn with_nonce(self, nonce: Option<&'a str>) -> Self {
        Self { nonce, ..self }
    }
}

/// The claims of an RFC 9068 access token issued at `now`.
pub(super) fn access_claims(
    settings: &TokenSettings,
    client_id: &str,
    user: Option<(&str, &[String])>,
    scope: &str,
    auth_time: Option<i64>,
    jti: &str,
    now: i64,
) -> JwtPayload {
    let mut p = JwtPayload::new();
    p.set_issuer(&settings.issuer);
    p.set_subject(user.map_or(client_id, |(id, _)| id));
    p.set_audience(vec![settings.audience.clone()]);
    // NumericDate as integers (RFC 7519 §2), not josekit's float seconds.
    set(&mut p, "iat", json!(now));
    set(&mut p, "exp", json!(now + settings.access_secs));
    p.set_jwt_id(jti);
    set(&mut p, "client_id", json!(client_id));
    set(&mut p, "scope", json!(scope));
    if let Some(at) = auth_time {
        set(&mut p, "auth_time", json!(at));
    }
    if let Some((_, roles)) = user {
        set(&mut p, "roles", json!(roles));
    }
    p
}

/// The claims of an ID token for `grant` (OIDC Core §2, §3.1.3.6), beside
/// the access token `access_token`, issued at `now`.
pub(super) fn id_token_claims(
    settings: &TokenSettings,
    client_id: &str,
    grant: &Grant<'_>,
    access_token: &str,
    now: i64,
) -> JwtPayload {
    let mut p = JwtPayload::new();
    p.set_issuer(&settings.issuer);
    p.set_subject(&grant.user.id);
    p.set_audience(vec![client_id.to_owned()]);
    set(&mut p, "iat", json!(now));
    set(&mut p, "exp", json!(now + settings.id_secs));
    set(&mut p, "azp", json!(client_id));
    let mut claims = profile_claims(grant.user, &grant.scope);
    claims.insert("at_hash".into(), json!(at_hash(access_token)));
    if let Some(nonce) = grant.nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    if let Some(sid) = grant.session_id {
        claims.insert("sid".into(), json!(sid));
    }
    let amr: Vec<&str> = scope::words(grant.amr).collect();
    claims.insert("acr".into(), json!(acr_for(&amr)));
    claims.insert("amr".into(), json!(amr));
    claims.insert("auth_time".into(), json!(grant.auth_time));
    for (k, v) in claims {
        set(&mut p, &k, v);
    }
    p
}

impl Tokens {
    /// The access token, and the ID token for `openid`, of a user grant.
    pub(super) async fn user_tokens(
        &self,
        db: &mut Db<'_>,
        client: &Client,
        grant: &Grant<'_>,
        origin: Origin<'_>,
        refresh_token: Option<String>,
        now: i64,
    ) -> Result<TokenResponse, GrantError> {
        let user = grant.user;
        let roles = db.user_roles(&user.id).await?;
        // RFC 6749 §3.3: the issued scope may be narrower than asked; it is
        // always in the response (`TokenResponse::scope`).
        let scope = super::api::scope_for_roles(&grant.scope, &roles).to_string();
        let origin = Origin { session_id: grant.session_id, ..origin };
        let user_part = Some((user.id.as_str(), roles.as_slice()));
        let access_token =
            self.access_token(db, &client.client_id, user_part, &scope, Some(grant.auth_time), origin, now).await?;
        let id_token = if grant.scope.contains("openid") {
            let claims = id_token_claims(&self.settings, &client.client_id, grant, &access_token, now);
            Some(self.keys.sign(&claims, "JWT")?)
        } else {
            None
        };
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.settings.access_secs,
            scope,
            id_token,
            refresh_token,
        })
    }

    /// Signs and records an RFC 9068 access token issued at `now`.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn access_token(
        &self,
        db: &mut Db<'_>,
        client_id: &str,
        user: Option<(&str, &[String])>,
        scope: &str,
        auth_time: Option<i64>,
        origin: Origin<'_>,
        now: i64,
    ) -> Result<String, GrantError> {
        let jti = store::new_id();
        let claims = access_claims(&self.settings, client_id, user, scope, auth_time, &jti, now);
        // RFC 9068 §2.1: typ "at+jwt", so an access token is never mistaken for an ID token.
        let jwt = self.keys.sign(&claims, "at+jwt")?;
        db.insert_access(&NewAccess {
            jti: &jti,
            client_id,
            user_id: user.map(|(id, _)| id),
            session_id: origin.session_id,
            code_id: origin.code_id,
            family_id: origin.family_id,
            scope,
            expires_at: now + self.settings.access_secs,
        })
        .await?;
        Ok(jwt)
    }
}

fn set(p: &mut JwtPayload, name: &str, value: Value) {
    // Only fails for registered claims given the wrong type, which we never do.
    let _ = p.set_claim(name, Some(value));
}

/// `sub` plus the standard claims the scopes allow (OIDC Core §5.4).
pub(super) fn profile_claims(user: &UserRow, scope: &Scope) -> Map<String, Value> {
    let mut c = Map::new();
    c.insert("sub".into(), json!(user.id));
    if scope.contains("profile") {
        let name = if user.display_name.is_empty() { &user.username } else { &user.display_name };
        c.insert("name".into(), json!(name));
        c.insert("preferred_username".into(), json!(user.username));
    }
    // An account made by an upstream sign-in may have no address at all.
    if scope.contains("email") && !user.email.is_empty() {
        c.insert("email".into(), json!(user.email));
        c.insert("email_verified".into(), json!(user.email_verified));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_767_225_600;

    fn settings() -> TokenSettings {
        TokenSettings {
            issuer: "https://id.example".into(),
            audience: "https://id.example".into(),
            access_secs: 900,
            id_secs: 300,
            code_secs: 60,
            refresh_idle_secs: 3600,
            refresh_absolute_secs: 86_400,
            session_idle_secs: 1800,
        }
    }

    fn user() -> UserRow {
        UserRow {
            id: "u1".into(),
            username: "alice".into(),
            email: "alice@example.com".into(),
            email_verified: true,
            display_name: String::new(),
            password_hash: None,
            blocked: false,
            created_at: 0,
        }
    }

    #[test]
    fn at_hash_is_the_left_half_of_sha256_base64url_oidc_core_3_1_3_6() {
        // Expected value computed independently with Python's hashlib:
        // urlsafe_b64encode(sha256(token).digest()[:16]) without padding.
        assert_eq!(at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNb3mkd2j"), "HodzvkRPyhsIroeciqUoPQ");
    }

    #[test]
    fn access_tokens_carry_integer_times_and_roles_only_for_users_rfc_9068_2_2() {
        let roles = vec!["user".to_owned()];
        let p = access_claims(&settings(), "rp", Some(("u1", &roles)), "openid", Some(NOW - 5), "j1", NOW);
        assert_eq!(p.claim("iat"), Some(&json!(NOW)));
        assert_eq!(p.claim("exp"), Some(&json!(NOW + 900)));
        assert_eq!((p.subject(), p.claim("roles")), (Some("u1"), Some(&json!(["user"]))));
        let p = access_claims(&settings(), "rp", None, "api", None, "j2", NOW);
        assert_eq!((p.subject(), p.claim("roles"), p.claim("auth_time")), (Some("rp"), None, None));
    }

    #[test]
    fn id_tokens_carry_nonce_sid_acr_and_the_scoped_claims_oidc_core_2() {
        let u = user();
        let grant = Grant::new(&u, Some("s1"), "openid email", NOW - 30, "pwd otp mfa").with_nonce(Some("n1"));
        let p = id_token_claims(&settings(), "rp", &grant, "at", NOW);
        assert_eq!(p.audience(), Some(vec!["rp"]));
        assert_eq!(p.claim("exp"), Some(&json!(NOW + 300)));
        assert_eq!(p.claim("nonce"), Some(&json!("n1")));
        assert_eq!(p.claim("sid"), Some(&json!("s1")));
        assert_eq!(p.claim("acr"), Some(&json!("2")));
        assert_eq!(p.claim("amr"), Some(&json!(["pwd", "otp", "mfa"])));
        assert_eq!(p.claim("email"), Some(&json!("alice@example.com")));
        assert_eq!(p.claim("name"), None, "no profile scope");
        let refreshed = Grant::new(&u, None, "openid", NOW - 30, "pwd");
        let p = id_token_claims(&settings(), "rp", &refreshed, "at", NOW);
        assert_eq!((p.claim("nonce"), p.claim("sid"), p.claim("acr")), (None, None, Some(&json!("1"))));
    }
}
