//! The request and response bodies of `/api/v1/clients…`.
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::api::types::timestamp;
use crate::oauth::clients::{Client, ClientChanges, ClientSpec};

/// A registered client. Its secret is never shown again after creation or
/// rotation (only its hash is stored).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientBody {
    pub client_id: String,
    pub name: String,
    /// A public client (RFC 6749 §2.1) has no secret.
    pub public: bool,
    pub skip_consent: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    /// Space-delimited scopes the client may ask for.
    pub scope: String,
    /// The origins that count for CORS.
    pub web_origins: Vec<String>,
    pub resource_audiences: Vec<String>,
    pub service_roles: Vec<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Only in the answer to a create: the generated secret, shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl From<Client> for ClientBody {
    fn from(c: Client) -> Self {
        Self {
            client_id: c.client_id,
            name: c.name,
            public: c.public,
            skip_consent: c.skip_consent,
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            grant_types: c.grant_types.names(),
            scope: c.scope.to_string(),
            web_origins: c.web_origins,
            resource_audiences: c.resource_audiences,
            service_roles: c.service_roles,
            created_at: timestamp(c.created_at),
            client_secret: None,
        }
    }
}

impl ClientBody {
    /// The body with the secret shown once.
    pub fn with_secret(mut self, secret: Option<&SecretString>) -> Self {
        self.client_secret = secret.map(|s| s.expose_secret().to_owned());
        self
    }
}

/// A new client (the same rules as `gatehouse client create`). A
/// confidential client's secret is generated and answered once.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClient {
    /// 1 to 64 of `A-Z a-z 0-9 . _ -`.
    pub client_id: String,
    pub name: String,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Default: `authorization_code`, `refresh_token`.
    #[serde(default)]
    pub grant_types: Vec<String>,
    /// Space-delimited; default `openid profile email offline_access`.
    pub scope: Option<String>,
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub skip_consent: bool,
    #[serde(default)]
    pub web_origins: Vec<String>,
    #[serde(default)]
    pub resource_audiences: Vec<String>,
    #[serde(default)]
    pub service_roles: Vec<String>,
}

impl From<CreateClient> for ClientSpec {
    fn from(c: CreateClient) -> Self {
        Self {
            client_id: c.client_id,
            name: c.name,
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            grant_types: c.grant_types,
            scope: c.scope,
            public: c.public,
            secret: None,
            skip_consent: c.skip_consent,
            web_origins: c.web_origins,
            resource_audiences: c.resource_audiences,
            service_roles: c.service_roles,
        }
    }
}

/// Changes to a client; each field given replaces that setting (a client's
/// type, public or confidential, does not change).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateClient {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub scope: Option<String>,
    pub skip_consent: Option<bool>,
    pub web_origins: Option<Vec<String>>,
    pub resource_audiences: Option<Vec<String>>,
    pub service_roles: Option<Vec<String>>,
}

impl From<UpdateClient> for ClientChanges {
    fn from(u: UpdateClient) -> Self {
        Self {
            name: u.name,
            redirect_uris: u.redirect_uris,
            post_logout_redirect_uris: u.post_logout_redirect_uris,
            grant_types: u.grant_types,
            scope: u.scope,
            skip_consent: u.skip_consent,
            web_origins: u.web_origins,
            resource_audiences: u.resource_audiences,
            service_roles: u.service_roles,
        }
    }
}

/// A new secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretBody {
    pub client_id: String,
    pub client_secret: String,
}
