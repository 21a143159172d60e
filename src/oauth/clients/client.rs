//! The domain client: a registered relying party as the protocol sees it,
//! built once from its store row inside `oauth` (lists parsed, grant types
//! as an enum set, scope as a [`Scope`], the web origins that count
//! computed). This is what `oauth` hands to http and the CLI; the row never
//! leaves `oauth::clients`.
//!
//! Must not import axum; knows the store only through `ClientRow` in
//! [`Client::from_row`].
use std::fmt;

use url::Url;

use crate::oauth::request::redirect_uri_matches;
use crate::oauth::scope::{self, Scope};
use crate::store::ClientRow;

/// A grant type a client may be registered for (RFC 6749 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    /// The resource-owner password grant (RFC 6749 §4.3): off unless an
    /// operator gives it to a confidential client. RFC 9700 §2.4: it MUST
    /// NOT be used; it exists for apps that cannot redirect yet.
    Password,
}

impl GrantType {
    /// Every grant type we implement, in registration order.
    pub const ALL: [GrantType; 4] =
        [Self::AuthorizationCode, Self::RefreshToken, Self::ClientCredentials, Self::Password];

    /// The registered name (RFC 6749 §4, `grant_type`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::Password => "password",
        }
    }

    /// The grant type named `name`, if we implement it.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == name)
    }
}

/// An ordered set of grant types.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantTypes(Vec<GrantType>);

impl GrantTypes {
    /// The stored space-delimited form; names we do not know are skipped.
    pub fn from_stored(raw: &str) -> Self {
        Self::of(scope::words(raw).filter_map(GrantType::parse))
    }

    /// The set of `grants`, repeats dropped.
    pub fn of(grants: impl IntoIterator<Item = GrantType>) -> Self {
        let mut out: Vec<GrantType> = Vec::new();
        for g in grants {
            if !out.contains(&g) {
                out.push(g);
            }
        }
        Self(out)
    }

    /// Whether the set holds `grant`.
    pub fn contains(&self, grant: GrantType) -> bool {
        self.0.contains(&grant)
    }

    /// The names, in order.
    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|g| g.as_str().to_owned()).collect()
    }
}

impl fmt::Display for GrantTypes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|g| g.as_str()).collect();
        f.write_str(&names.join(" "))
    }
}

/// A registered client.
#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    /// A public client (RFC 6749 §2.1) has no secret.
    pub public: bool,
    pub skip_consent: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: GrantTypes,
    /// The scopes the client may ask for.
    pub scope: Scope,
    /// The web origins that count for CORS (see [`effective_web_origins`]).
    pub web_origins: Vec<String>,
    /// Audiences this client is a resource server for (RFC 7662 §4).
    pub resource_audiences: Vec<String>,
    /// Roles its own `client_credentials` tokens carry (a service account;
    /// `admin` opens the JSON API's management routes).
    pub service_roles: Vec<String>,
    pub created_at: i64,
}

/// A stored list, or nothing (logged) when the column cannot be read: a
/// list that cannot be read allows nothing.
fn list(column: crate::store::Result<Vec<String>>, what: &str, client_id: &str) -> Option<Vec<String>> {
    match column {
        Ok(list) => Some(list),
        Err(e) => {
            tracing::warn!(error = %e, client_id, what, "a client's stored list cannot be read; it allows nothing");
            None
        }
    }
}

impl Client {
    /// The client of a stored row. A list column that cannot be read counts
    /// as empty, so it allows nothing (no redirect, no origin, no audience).
    pub fn from_row(row: &ClientRow) -> Self {
        let id = row.client_id.as_str();
        let redirect_uris = list(row.redirect_uri_list(), "redirect_uris", id);
        let listed = list(row.web_origin_list(), "web_origins", id);
        let web_origins = match (&listed, &redirect_uris) {
            (Some(listed), Some(redirects)) => effective_web_origins(listed, redirects, row.public),
            _ => Vec::new(),
        };
        Self {
            client_id: row.client_id.clone(),
            name: row.name.clone(),
            public: row.public,
            skip_consent: row.skip_consent,
            redirect_uris: redirect_uris.unwrap_or_default(),
            post_logout_redirect_uris: list(row.post_logout_uri_list(), "post_logout_redirect_uris", id)
                .unwrap_or_default(),
            grant_types: GrantTypes::from_stored(&row.grant_types),
            scope: Scope::words(&row.scope),
            web_origins,
            resource_audiences: list(row.resource_audience_list(), "resource_audiences", id).unwrap_or_default(),
            service_roles: list(row.service_role_list(), "service_roles", id).unwrap_or_default(),
            created_at: row.created_at,
        }
    }

    /// The entity tag of the registration as the JSON API shows it (RFC
    /// 9110 §8.8.3): every field an update may change.
    pub fn etag(&self) -> String {
        let lists = [
            &self.redirect_uris,
            &self.post_logout_redirect_uris,
            &self.web_origins,
            &self.resource_audiences,
            &self.service_roles,
        ]
        .map(|l| serde_json::to_string(l).unwrap_or_default());
        let grants = self.grant_types.to_string();
        let scope = self.scope.to_string();
        let consent = if self.skip_consent { "1" } else { "0" };
        let [a, b, c, d, e] = &lists;
        crate::wire::etag(&[&self.client_id, &self.name, self.kind(), consent, &grants, &scope, a, b, c, d, e])
    }

    /// `public` or `confidential`, as the CLI prints it.
    pub fn kind(&self) -> &'static str {
        if self.public { "public" } else { "confidential" }
    }

    /// Whether `given` matches one of the registered redirect URIs (exactly;
    /// see `oauth::request::redirect_uri_matches`).
    pub fn accepts_redirect_uri(&self, given: &str) -> bool {
        self.redirect_uris.iter().any(|r| redirect_uri_matches(r, given, self.public))
    }

    /// Whether `given` is a registered post-logout redirect URI (exactly).
    pub fn accepts_post_logout_uri(&self, given: &str) -> bool {
        self.post_logout_redirect_uris.iter().any(|r| r == given)
    }

    /// Whether a browser page on `origin` (compared exactly) may call the
    /// token, userinfo and revocation endpoints as this client.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.web_origins.iter().any(|o| o == origin)
    }

    /// Whether the client may use `grant` at the token endpoint; a public
    /// client never gets client credentials (RFC 6749 §4.4).
    pub fn may_use(&self, grant: GrantType) -> bool {
        let confidential_only = matches!(grant, GrantType::ClientCredentials | GrantType::Password);
        self.grant_types.contains(grant) && !(confidential_only && self.public)
    }

    /// Whether the client's own tokens carry `role`.
    pub fn has_service_role(&self, role: &str) -> bool {
        !self.public && self.service_roles.iter().any(|r| r == role)
    }

    /// Whether the client serves `aud` as a resource server.
    pub fn serves(&self, aud: &str) -> bool {
        self.resource_audiences.iter().any(|a| a == aud)
    }
}

/// The web origins that count: the ones listed; a public client that lists
/// none gets the origins of its http(s) redirect URIs (a browser app's
/// callback is on its own origin). A confidential client has only what it
/// lists.
pub fn effective_web_origins(listed: &[String], redirect_uris: &[String], public: bool) -> Vec<String> {
    if !listed.is_empty() || !public {
        return listed.to_vec();
    }
    let mut out: Vec<String> = Vec::new();
    for uri in redirect_uris {
        let Ok(url) = Url::parse(uri) else { continue };
        if matches!(url.scheme(), "http" | "https") {
            let origin = url.origin().ascii_serialization();
            if !out.contains(&origin) {
                out.push(origin);
            }
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A stored row for unit tests.
    pub(crate) fn row(public: bool, redirects: &[&str], origins: &[&str]) -> ClientRow {
        ClientRow {
            id: "1".into(),
            client_id: "c".into(),
            name: "C".into(),
            secret_hash: None,
            public,
            redirect_uris: serde_json::to_string(redirects).unwrap(),
            post_logout_redirect_uris: "[]".into(),
            grant_types: "authorization_code".into(),
            scope: "openid".into(),
            skip_consent: false,
            created_at: 0,
            web_origins: serde_json::to_string(origins).unwrap(),
            resource_audiences: "[]".into(),
            service_roles: "[]".into(),
        }
    }

    #[test]
    fn a_public_client_defaults_to_its_redirect_origins_a_confidential_one_to_none() {
        let redirects = ["http://127.0.0.1:5173/cb", "https://spa.example/cb", "https://spa.example/x", "com.app:/cb"];
        let public = Client::from_row(&row(true, &redirects, &[]));
        assert_eq!(public.web_origins, ["http://127.0.0.1:5173", "https://spa.example"]);
        assert!(public.allows_origin("https://spa.example"));
        assert!(!public.allows_origin("https://spa.example:8443"));
        assert!(!public.allows_origin("null"));
        let listed = Client::from_row(&row(true, &redirects, &["https://other.example"]));
        assert_eq!(listed.web_origins, ["https://other.example"], "a listed origin replaces the default");
        let confidential = Client::from_row(&row(false, &redirects, &[]));
        assert!(confidential.web_origins.is_empty());
        let confidential = Client::from_row(&row(false, &redirects, &["https://spa.example"]));
        assert!(confidential.allows_origin("https://spa.example"));
    }

    #[test]
    fn an_unreadable_list_allows_nothing() {
        let mut r = row(true, &["https://spa.example/cb"], &[]);
        r.web_origins = "not json".into();
        let c = Client::from_row(&r);
        assert!(!c.allows_origin("https://spa.example"));
        assert!(c.accepts_redirect_uri("https://spa.example/cb"));
    }

    #[test]
    fn grant_types_are_an_enum_set_and_public_clients_never_get_client_credentials_rfc_6749_4_4() {
        let g = GrantTypes::from_stored("authorization_code refresh_token authorization_code implicit");
        assert_eq!(g.to_string(), "authorization_code refresh_token");
        let mut r = row(true, &[], &[]);
        r.grant_types = "authorization_code client_credentials".into();
        assert!(!Client::from_row(&r).may_use(GrantType::ClientCredentials));
        r.public = false;
        assert!(Client::from_row(&r).may_use(GrantType::ClientCredentials));
        assert!(!Client::from_row(&r).may_use(GrantType::RefreshToken));
    }
}
