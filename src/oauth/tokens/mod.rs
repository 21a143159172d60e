//! Codes and tokens, split by sub-flow:
//!
//! ```text
//! mod.rs           the Tokens service, its settings, the one grant entry
//!                  point (Tokens::grant) and how a grant's transaction ends
//! request.rs       the token request, parsed once (RFC 6749 §4.1.3, §6, §4.4)
//! code.rs          authorization codes: issue, redeem, check (§4.1, RFC 7636)
//! refresh.rs       refresh rotation and families (§6, OIDC Core §11)
//! client_credentials.rs  tokens for the client itself (§4.4)
//! password.rs      the resource-owner password grant, client side (§4.3)
//! minting.rs       JWT access tokens (RFC 9068) and ID tokens (OIDC Core §2)
//! api.rs           who a JSON API call acts for, and the scope rule
//! apps.rs          connected apps: consents and live tokens per client, revoke one
//! access.rs        checking access tokens, userinfo (OIDC Core §5.3),
//!                  id_token_hint, revocation (RFC 7009)
//! consent.rs       what a user allowed a client
//! introspect.rs    RFC 7662
//! pending.rs       authorization requests parked during sign-in
//! ```
//!
//! Only the public entry points read the clock (once each); everything
//! below them takes `now`. Must not import axum; store rows stay inside.
use std::sync::Arc;

use serde::Serialize;

use super::clients::Client;
use super::error::{ErrorCode, GrantError, OAuthError};
use crate::clock::Clock;
use crate::keys::KeyRing;
use crate::security::audit;
use crate::store::{self, Store};

mod access;
mod api;
mod apps;
mod client_credentials;
mod code;
mod consent;
mod introspect;
mod minting;
mod password;
mod pending;
mod refresh;
mod request;
#[cfg(test)]
mod tests;

pub use access::UserInfo;
pub use api::{ADMIN_ROLE, ApiScope, Principal, api_access, may_delete_client, scope_for_roles};
pub use apps::ConnectedApp;
pub use code::{Authorized, CODE_REFUSED};
pub use minting::{acr_for, at_hash};
pub use password::password_scope;
pub use pending::{PENDING_SECS, Parked};
pub use request::{PasswordRequest, TokenRequest};

/// Lifetimes and names the tokens carry.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// The issuer, without a trailing slash.
    pub issuer: String,
    /// Default `aud` of access tokens.
    pub audience: String,
    pub access_secs: i64,
    pub id_secs: i64,
    pub code_secs: i64,
    pub refresh_idle_secs: i64,
    pub refresh_absolute_secs: i64,
    /// The browser session idle timeout: a session-bound refresh token works
    /// while its session is live, and refreshing counts as activity.
    pub session_idle_secs: i64,
}

/// A token endpoint success response (RFC 6749 §5.1).
#[derive(Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse").field("scope", &self.scope).finish_non_exhaustive()
    }
}

/// Issues and checks codes and tokens.
#[derive(Clone)]
pub struct Tokens {
    store: Store,
    keys: KeyRing,
    clock: Arc<dyn Clock>,
    settings: Arc<TokenSettings>,
    /// Live access tokens by `jti`, and their users for userinfo: the reads
    /// introspection and userinfo would otherwise make on every call
    /// (`store::changes` says when they may be stale).
    live: Arc<LiveTokens>,
}

/// The hot-path caches of [`Tokens`].
struct LiveTokens {
    access: store::changes::HotCache<store::AccessRow>,
    users: store::changes::HotCache<store::UserRow>,
}

/// Entries per cache: a few MB at most; past it a cache starts again.
const LIVE_CACHE_ROWS: usize = 20_000;

impl Tokens {
    /// Builds the service.
    pub fn new(store: Store, keys: KeyRing, clock: Arc<dyn Clock>, settings: TokenSettings) -> Self {
        let live = Arc::new(LiveTokens {
            access: store::changes::HotCache::new(&store, LIVE_CACHE_ROWS),
            users: store::changes::HotCache::new(&store, LIVE_CACHE_ROWS),
        });
        Self { store, keys, clock, settings: Arc::new(settings), live }
    }

    /// The token endpoint (RFC 6749 §3.2): one entry for every grant. The
    /// client must be registered for the grant (§5.2 `unauthorized_client`;
    /// a public client never gets client credentials, §4.4). `ctx` is the
    /// request, for the audit events a replay writes.
    pub async fn grant(
        &self,
        client: &Client,
        request: TokenRequest,
        ctx: &audit::Context,
    ) -> Result<TokenResponse, GrantError> {
        if !client.may_use(request.grant_type()) {
            return Err(
                OAuthError::new(ErrorCode::UnauthorizedClient, "this client may not use that grant type").into()
            );
        }
        let now = self.clock.unix();
        match request {
            TokenRequest::AuthorizationCode { code, redirect_uri, verifier } => {
                self.exchange_code(client, &code, redirect_uri.as_deref(), verifier.as_deref(), ctx, now).await
            }
            TokenRequest::RefreshToken { token, scope } => self.refresh(client, &token, scope.as_ref(), ctx, now).await,
            TokenRequest::ClientCredentials { scope } => self.client_credentials(client, scope.as_ref(), now).await,
            // The user comes from `accounts` first: the token endpoint calls
            // `password_client`, then accounts, then `password_tokens`.
            TokenRequest::Password(_) => Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "the password grant is answered by the token endpoint",
            )
            .into()),
        }
    }
}

/// Ends a grant's transaction: commits on success and on a protocol refusal
/// (a spent code or token stays spent, a replay's revocations hold), rolls
/// back on an internal failure (nothing was issued; the code or token may be
/// tried again).
async fn settle(tx: store::Tx, outcome: Result<TokenResponse, GrantError>) -> Result<TokenResponse, GrantError> {
    match outcome {
        Ok(tokens) => {
            tx.commit().await?;
            Ok(tokens)
        }
        Err(GrantError::OAuth(e)) => {
            tx.commit().await?;
            Err(e.into())
        }
        Err(other) => Err(other),
    }
}
