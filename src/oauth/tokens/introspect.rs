//! Token introspection (RFC 7662), scoped to who asks.
//!
//! RFC 7662 §2.2 and §4: the server decides whether the calling resource
//! may learn about a token, and when it may not answers `{"active": false}`,
//! exactly as for an unknown token, so that nothing tells "not yours" from
//! "no such token" (which would confirm a stolen token; RFC 6749 §10.4 keeps
//! refresh tokens between the server and their client). Who may ask:
//!
//! ```text
//! refresh token  ── its own client only
//! access token   ── its own client (`client_id` claim), or a client that is
//!                   a resource server for one of the token's `aud` values
//! ```
//!
//! The time members (`iat`, `exp`, `nbf`) are JSON integers (RFC 7662 §2.2:
//! "integer timestamp, measured in the number of seconds since January 1
//! 1970 UTC"), for both kinds of token.
use serde_json::{Map, Value, json};

use super::Tokens;
use crate::oauth::clients::Client;
use crate::oauth::error::GrantError;
use crate::security::token;

/// The answer for anything the caller may not, or cannot, learn about.
fn inactive() -> Value {
    json!({ "active": false })
}

impl Tokens {
    /// RFC 7662 §2.2: what a token is, if it is active and `caller` may know;
    /// `{"active": false}` for anything revoked, expired, unknown, malformed,
    /// or not the caller's to see (§4).
    pub async fn introspect(&self, caller: &Client, presented: &str) -> Result<Value, GrantError> {
        let now = self.clock.unix();
        // Our refresh tokens are base64url without dots; a JWT has two.
        let looks_like_jwt = presented.bytes().filter(|b| *b == b'.').count() == 2;
        if !looks_like_jwt
            && let Some(row) = self.store.conn().await?.db().find_refresh(&token::hash_secret(presented)).await?
        {
            // Only the client a refresh token was issued to may ask about it.
            if row.client_id != caller.client_id {
                tracing::info!(caller = %caller.client_id, "introspection of another client's refresh token");
                return Ok(inactive());
            }
            let mut live = row.used_at.is_none()
                && row.revoked_at.is_none()
                && row.expires_at > now
                && row.family_expires_at > now;
            if live && !row.offline {
                let idle_after = now - self.settings.session_idle_secs;
                live = match row.session_id.as_deref() {
                    Some(sid) => self.store.conn().await?.db().session_is_live(sid, now, idle_after).await?,
                    None => false,
                };
            }
            if !live {
                return Ok(inactive());
            }
            return Ok(json!({
                "active": true,
                "token_type": "refresh_token",
                "client_id": row.client_id,
                "sub": row.user_id,
                "scope": row.scope,
                "iat": row.created_at,
                "nbf": row.created_at,
                "exp": row.expires_at,
                "iss": self.settings.issuer,
            }));
        }
        match self.check_access_token_at(presented, now).await {
            Ok(claims) if !may_see_access_token(caller, &claims) => {
                tracing::info!(caller = %caller.client_id, "introspection of another client's access token");
                Ok(inactive())
            }
            Ok(mut claims) => {
                integer_times(&mut claims);
                claims.insert("active".into(), json!(true));
                claims.insert("token_type".into(), json!("Bearer"));
                Ok(Value::Object(claims))
            }
            Err(GrantError::OAuth(_)) => Ok(inactive()),
            Err(other) => Err(other),
        }
    }
}

/// RFC 7662 §4: an access token is shown to the client it was issued to, and
/// to a resource server for one of its audiences. A client whose stored list
/// cannot be read is a resource server for nothing.
fn may_see_access_token(caller: &Client, claims: &Map<String, Value>) -> bool {
    if claims.get("client_id").and_then(Value::as_str) == Some(caller.client_id.as_str()) {
        return true;
    }
    // RFC 7519 §4.1.3: `aud` is one string or an array of them.
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    audiences.iter().any(|aud| caller.serves(aud))
}

/// Makes `iat`, `exp` and `nbf` integers (tokens signed before this release
/// carry float seconds), and gives `nbf` the issue time when the token has
/// none: an access token is valid from when it is issued.
fn integer_times(claims: &mut Map<String, Value>) {
    for name in ["iat", "exp", "nbf"] {
        let whole = claims.get(name).and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f.floor() as i64)));
        match whole {
            Some(secs) => {
                claims.insert(name.into(), json!(secs));
            }
            None => {
                claims.remove(name);
            }
        }
    }
    if !claims.contains_key("nbf")
        && let Some(iat) = claims.get("iat").cloned()
    {
        claims.insert("nbf".into(), iat);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::ClientRow;

    fn caller_row(client_id: &str, audiences: &[&str]) -> ClientRow {
        ClientRow {
            id: "1".into(),
            client_id: client_id.into(),
            name: "C".into(),
            secret_hash: None,
            public: false,
            redirect_uris: "[]".into(),
            post_logout_redirect_uris: "[]".into(),
            grant_types: "authorization_code".into(),
            scope: "openid".into(),
            skip_consent: false,
            created_at: 0,
            web_origins: "[]".into(),
            resource_audiences: serde_json::to_string(audiences).unwrap(),
            service_roles: "[]".into(),
        }
    }

    fn caller(client_id: &str, audiences: &[&str]) -> Client {
        Client::from_row(&caller_row(client_id, audiences))
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn an_access_token_is_seen_by_its_client_and_its_resource_servers_only_rfc_7662_4() {
        let token = claims(json!({ "client_id": "rp", "aud": ["https://issuer.example"] }));
        assert!(may_see_access_token(&caller("rp", &[]), &token));
        assert!(!may_see_access_token(&caller("other", &[]), &token));
        assert!(!may_see_access_token(&caller("other", &["https://api.example"]), &token));
        assert!(may_see_access_token(&caller("api", &["https://api.example", "https://issuer.example"]), &token));
        let single = claims(json!({ "client_id": "rp", "aud": "https://api.example" }));
        assert!(may_see_access_token(&caller("api", &["https://api.example"]), &single));
        let none = claims(json!({ "client_id": "rp" }));
        assert!(!may_see_access_token(&caller("api", &["https://api.example"]), &none));
        let mut corrupt = caller_row("api", &[]);
        corrupt.resource_audiences = "not json".into();
        assert!(!may_see_access_token(&Client::from_row(&corrupt), &single));
    }

    #[test]
    fn times_become_integers_and_nbf_defaults_to_iat_rfc_7662_2_2() {
        let mut c = claims(json!({ "iat": 1_767_225_600.0, "exp": 1_767_226_500.7 }));
        integer_times(&mut c);
        assert_eq!(Value::Object(c), json!({ "iat": 1_767_225_600, "exp": 1_767_226_500, "nbf": 1_767_225_600 }));
        let mut c = claims(json!({ "iat": 10, "exp": 20, "nbf": 15 }));
        integer_times(&mut c);
        assert_eq!(Value::Object(c), json!({ "iat": 10, "exp": 20, "nbf": 15 }));
    }
}
