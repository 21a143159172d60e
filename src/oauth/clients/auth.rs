//! Client authentication at the token, revocation and introspection
//! endpoints (RFC 6749 §2.3.1): a secret compared in constant time, or a
//! public client's bare id. Every failure is the same `invalid_client`, and
//! is audited (`client_auth_failed`) with the request's address and user
//! agent; the throttle in http bounds how many a caller can cause.
//!
//! Must not import axum.
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use subtle::ConstantTimeEq;

use super::Clients;
use super::client::Client;
use crate::oauth::error::GrantError;
use crate::oauth::{ErrorCode, OAuthError};
use crate::security::audit::{self, AuditAction};
use crate::security::token;

/// How a client presented itself at the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug)]
pub enum Credentials {
    /// `client_secret_basic` or `client_secret_post`.
    Secret { client_id: String, secret: SecretString },
    /// A public client: just its id (`none`).
    Public { client_id: String },
}

impl Credentials {
    /// The `client_id` the request claims.
    pub fn client_id(&self) -> &str {
        match self {
            Credentials::Secret { client_id, .. } | Credentials::Public { client_id } => client_id,
        }
    }

    fn method(&self) -> &'static str {
        match self {
            Credentials::Secret { .. } => "client_secret",
            Credentials::Public { .. } => "none",
        }
    }
}

impl Clients {
    /// Authenticates a client. Every failure is the same `invalid_client`, so
    /// nothing tells an unknown id from a wrong secret; each one is written
    /// to the audit log (`client_auth_failed`, by `ctx`).
    pub async fn authenticate(&self, creds: &Credentials, ctx: &audit::Context) -> Result<Client, GrantError> {
        let id = creds.client_id();
        let found = self.row(id).await?;
        let ok = found.as_ref().is_some_and(|client| match (creds, &client.secret_hash, client.public) {
            (Credentials::Public { .. }, None, true) => true,
            (Credentials::Secret { secret, .. }, Some(stored), false) => {
                let given = token::hash_secret(secret.expose_secret());
                bool::from(given.as_bytes().ct_eq(stored.as_bytes()))
            }
            _ => false,
        });
        match found {
            Some(row) if ok => Ok(Client::from_row(&row)),
            _ => {
                // The detail says how it was tried, never what was sent.
                let detail = json!({ "method": creds.method(), "known_client": found.is_some() });
                let event = ctx.event(AuditAction::ClientAuthFailed, id).with_detail(detail);
                audit::record(&self.store, &event, self.clock.unix()).await?;
                Err(OAuthError::new(ErrorCode::InvalidClient, "client authentication failed").into())
            }
        }
    }
}
