//! `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §3),
//! the same document at `/.well-known/oauth-authorization-server` (RFC 8414
//! §3), and `/jwks.json` (RFC 7517). The document lists only what this server
//! actually does. Any page may read all three (`http::cors` adds
//! `Access-Control-Allow-Origin: *`).
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::app::AppState;
use crate::oauth::clients::GrantType;

/// Routes for this area. The metadata depends only on the issuer, so it is
/// serialised once here; each request sends the same bytes.
pub fn router(issuer: &str) -> Router<AppState> {
    let body = Bytes::from(discovery_document(issuer).to_string());
    let discovery = get(move || {
        let body = body.clone();
        async move {
            (
                [
                    (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
                    (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
                ],
                body,
            )
        }
    });
    Router::new()
        .route("/jwks.json", get(get_jwks))
        .route("/.well-known/openid-configuration", discovery.clone())
        // RFC 8414 §3: the well-known suffix for OAuth 2.0 metadata, same content.
        .route("/.well-known/oauth-authorization-server", discovery)
}

/// The key ring's JWKS text as a response body without a copy.
struct JwksText(Arc<str>);

impl AsRef<[u8]> for JwksText {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// Public keys only. The cache lifetime is a fraction of the time a new key is
/// published before it signs, so cached copies always know the next key.
async fn get_jwks(State(state): State<AppState>) -> impl IntoResponse {
    let cache = format!("public, max-age={}", state.keys.jwks_max_age());
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/jwk-set+json")),
            (header::CACHE_CONTROL, HeaderValue::from_str(&cache).unwrap_or(HeaderValue::from_static("no-cache"))),
        ],
        Bytes::from_owner(JwksText(state.keys.jwks())),
    )
}

/// The grant types discovery names. RFC 9700 §2.4: the password grant MUST
/// NOT be used, so it is not advertised, though a client an operator
/// allowed it may still use it.
fn advertised_grant_types() -> Vec<&'static str> {
    GrantType::ALL.into_iter().filter(|g| *g != GrantType::Password).map(GrantType::as_str).collect()
}

/// OIDC Discovery §4 and RFC 8414 §3: one metadata document, whose `issuer`
/// is exactly our issuer (RFC 8414 §3.2).
fn discovery_document(iss: &str) -> serde_json::Value {
    serde_json::json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/token"),
        "userinfo_endpoint": format!("{iss}/userinfo"),
        "revocation_endpoint": format!("{iss}/revoke"),
        "introspection_endpoint": format!("{iss}/introspect"),
        "end_session_endpoint": format!("{iss}/logout"),
        "jwks_uri": format!("{iss}/jwks.json"),
        "scopes_supported": ["openid", "profile", "email", "offline_access", "account", "admin"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": advertised_grant_types(),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "at_hash", "sid",
            "name", "preferred_username", "email", "email_verified"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "acr_values_supported": ["1", "2"],
        "authorization_response_iss_parameter_supported": true,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    })
}
