//! What an operator (the CLI, later the admin console and the JSON API)
//! asks of the client service: a new client, or changes to one; and what a
//! registration hands back. Plain data; no I/O.
use secrecy::SecretString;

use super::Client;

/// What an operator asks for.
#[derive(Debug, Default)]
pub struct ClientSpec {
    pub client_id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scope: Option<String>,
    pub public: bool,
    pub secret: Option<SecretString>,
    pub skip_consent: bool,
    /// Origins (`scheme://host[:port]`) a browser app calls the token,
    /// userinfo and revocation endpoints from; see [`super::check_web_origin`].
    pub web_origins: Vec<String>,
    /// Audiences (`aud`) this client is a resource server for: it may
    /// introspect access tokens issued for them (RFC 7662 §4).
    pub resource_audiences: Vec<String>,
    /// Roles of the client's own `client_credentials` tokens (confidential
    /// clients with that grant only); see [`super::check_service_roles`].
    pub service_roles: Vec<String>,
}

/// A registered client, and the generated secret when one was made (shown once).
pub struct Registered {
    pub client: Client,
    pub generated_secret: Option<SecretString>,
}

/// What `client update` may change; `None` keeps the registered value.
#[derive(Debug, Default)]
pub struct ClientChanges {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub scope: Option<String>,
    pub skip_consent: Option<bool>,
    pub web_origins: Option<Vec<String>>,
    /// `Some(vec![])` clears the list.
    pub resource_audiences: Option<Vec<String>>,
    /// `Some(vec![])` clears the list.
    pub service_roles: Option<Vec<String>>,
}
