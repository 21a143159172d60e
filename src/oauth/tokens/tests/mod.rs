//! The token grants as a service: a real [`Tokens`] over a migrated store (a
//! SQLite file, and a throwaway PostgreSQL database when `TEST_POSTGRES_URL`
//! is set), real signing keys and a fixed clock, driven only through the one
//! entry point [`Tokens::grant`]. Each test body runs on every backend.
//!
//! ```text
//! code.rs                authorization code (RFC 6749 §4.1, RFC 7636) and token lifetimes
//! refresh.rs             rotation, replay, scope narrowing (RFC 6749 §6, RFC 9700 §4.14.2)
//! client_credentials.rs  tokens for the client itself (RFC 6749 §4.4, §5.2)
//! ```
use std::sync::Arc;

use tempfile::TempDir;

use super::{Authorized, TokenRequest, TokenResponse, TokenSettings, Tokens};
use crate::clock::{Clock, FixedClock};
use crate::keys::{Kek, KeyRing, Policy};
use crate::oauth::clients::{Client, ClientSpec, Clients};
use crate::oauth::error::{ErrorCode, GrantError};
use crate::oauth::pkce::Challenge;
use crate::oauth::request::{AuthorizeRequest, ResponseMode};
use crate::oauth::scope::Scope;
use crate::security::audit::{self, Context};
use crate::store::testing::{TempPostgres, TestStore, migrated_stores};
use crate::store::{self, AuditRow, NewUser, Store};

mod client_credentials;
mod code;
mod refresh;

const START: i64 = 1_767_225_600;
const ACCESS_SECS: i64 = 900;
const CODE_SECS: i64 = 60;
const ISSUER: &str = "https://sso.example";
const CB: &str = "https://rp.example/cb";
/// What the relying party asks for: a refresh token that outlives the session.
const SCOPE: &str = "openid email offline_access";
// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// The services over one database, and what keeps it alive.
struct World {
    tokens: Tokens,
    clients: Clients,
    clock: FixedClock,
    store: Store,
    _dir: Option<TempDir>,
    _pg: Option<TempPostgres>,
}

/// One world per backend available: SQLite always, PostgreSQL when configured.
async fn worlds() -> Vec<World> {
    let mut worlds = Vec::new();
    for TestStore { store, dir, pg } in migrated_stores().await {
        let clock = FixedClock::at(START);
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        let policy = Policy { rotate_after: 86_400, publish_ahead: 3_600, retain: 86_400 };
        let kek = Arc::new(Kek::new([9; 32]));
        let keys = KeyRing::open(store.clone(), kek, policy, shared.clone(), std::path::Path::new("/nonexistent"))
            .await
            .expect("signing keys");
        let settings = TokenSettings {
            issuer: ISSUER.into(),
            audience: ISSUER.into(),
            access_secs: ACCESS_SECS,
            id_secs: 300,
            code_secs: CODE_SECS,
            refresh_idle_secs: 86_400,
            refresh_absolute_secs: 30 * 86_400,
            session_idle_secs: 3_600,
        };
        let tokens = Tokens::new(store.clone(), keys, shared.clone(), settings);
        let clients = Clients::new(store.clone(), shared);
        worlds.push(World { tokens, clients, clock, store, _dir: dir, _pg: pg });
    }
    worlds
}

impl World {
    /// A client registered for `grants` (confidential unless `public`).
    async fn client(&self, client_id: &str, grants: &[&str], public: bool) -> Client {
        let spec = ClientSpec {
            client_id: client_id.into(),
            name: client_id.into(),
            redirect_uris: vec![CB.into()],
            grant_types: grants.iter().map(|g| (*g).to_owned()).collect(),
            scope: Some("openid profile email offline_access api:read".into()),
            public,
            ..ClientSpec::default()
        };
        self.clients.register(spec).await.expect("register client").client
    }

    /// A public client for the code and refresh grants (PKCE is its proof).
    async fn rp(&self) -> Client {
        self.client("rp", &["authorization_code", "refresh_token"], true).await
    }

    /// A user who may sign in; its id.
    async fn user(&self, name: &str) -> String {
        let id = store::new_id();
        let email = format!("{name}@example.com");
        let row = NewUser {
            id: &id,
            username: name,
            username_key: name,
            email: &email,
            email_key: &email,
            email_verified: true,
            display_name: "",
            password_hash: None,
            now: self.clock.unix(),
        };
        self.store.conn().await.expect("conn").db().insert_user(&row).await.expect("insert user");
        id
    }

    /// A code for `client` approved by `user_id` for `scope`, with the S256
    /// challenge of [`VERIFIER`] (what `/authorize` issues after consent).
    async fn code(&self, client: &Client, user_id: &str, scope: &str) -> String {
        let req = AuthorizeRequest {
            client_id: client.client_id.clone(),
            redirect_uri: CB.into(),
            scope: Scope::words(scope),
            state: Some("st".into()),
            nonce: Some("n-0S6_WzA2Mj".into()),
            challenge: Some(Challenge::parse(CHALLENGE, Some("S256")).expect("challenge")),
            prompts: Vec::new(),
            max_age: None,
            login_hint: None,
            response_mode: ResponseMode::Query,
        };
        let who = Authorized { user_id, session_id: None, auth_time: self.clock.unix(), amr: &["pwd"] };
        self.tokens.issue_code(&req, &who).await.expect("issue code")
    }

    async fn grant(&self, client: &Client, request: TokenRequest) -> Result<TokenResponse, GrantError> {
        self.tokens.grant(client, request, &request_ctx()).await
    }

    /// Redeems `code` with the right verifier and redirect URI.
    async fn redeem(&self, client: &Client, code: &str) -> Result<TokenResponse, GrantError> {
        self.grant(client, code_request(code, Some(CB), Some(VERIFIER))).await
    }

    /// A fresh code, redeemed: the tokens a sign-in gives `client`.
    async fn signed_in(&self, client: &Client, user_id: &str) -> TokenResponse {
        let code = self.code(client, user_id, SCOPE).await;
        self.redeem(client, &code).await.expect("redeem code")
    }

    /// Whether introspection (RFC 7662, asked by `client`) says `token` is active.
    async fn active(&self, client: &Client, token: &str) -> bool {
        let answer = self.tokens.introspect(client, token).await.expect("introspect");
        answer["active"].as_bool().expect("active member")
    }

    /// The audit rows of `action`, oldest first.
    async fn audited(&self, action: &str) -> Vec<AuditRow> {
        let rows = audit::tail(&self.store, 100).await.expect("audit tail");
        rows.into_iter().filter(|r| r.action == action).collect()
    }
}

/// The request the token endpoint serves, as audit events see it.
fn request_ctx() -> Context {
    Context { ip: "203.0.113.7".into(), request_id: "req-1".into(), ..Context::default() }
}

fn code_request(code: &str, redirect_uri: Option<&str>, verifier: Option<&str>) -> TokenRequest {
    TokenRequest::AuthorizationCode {
        code: code.into(),
        redirect_uri: redirect_uri.map(str::to_owned),
        verifier: verifier.map(str::to_owned),
    }
}

fn refresh_request(token: &str, scope: Option<&str>) -> TokenRequest {
    TokenRequest::RefreshToken { token: token.into(), scope: scope.map(Scope::words) }
}

/// The wire code of a refused grant (an internal failure fails the test).
fn refused(result: Result<TokenResponse, GrantError>) -> ErrorCode {
    match result {
        Err(GrantError::OAuth(e)) => e.code,
        Err(other) => panic!("expected a protocol error, got {other:?}"),
        Ok(tokens) => panic!("expected a refusal, got tokens for {:?}", tokens.scope),
    }
}
