//! The client form of the console (create and edit): the fields as typed,
//! their conversion to the client service's [`ClientSpec`] and
//! [`ClientChanges`], and the service's refusals as field errors.
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::oauth::clients::{self, Client, ClientChanges, ClientSpec, GrantType};

/// The form, as typed. Grants are one checkbox each (`grant_<name>`), since
/// a urlencoded form repeats keys that serde cannot gather.
#[derive(Debug, Deserialize, Default, Clone)]
pub struct ClientForm {
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub redirect_uris: String,
    #[serde(default)]
    pub post_logout_redirect_uris: String,
    pub grant_authorization_code: Option<String>,
    pub grant_refresh_token: Option<String>,
    pub grant_client_credentials: Option<String>,
    pub grant_password: Option<String>,
    #[serde(default)]
    pub scope: String,
    /// `public` or `confidential` (create only).
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub web_origins: String,
    #[serde(default)]
    pub resource_audiences: String,
    pub skip_consent: Option<String>,
    /// Space- or line-separated roles.
    #[serde(default)]
    pub service_roles: String,
    /// The version the edit started from (edit only).
    #[serde(default)]
    pub etag: String,
}

/// One line per entry; blank lines dropped.
fn lines(raw: &str) -> Vec<String> {
    raw.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

impl ClientForm {
    /// The form filled from a registered client.
    pub fn of(c: &Client) -> Self {
        let has = |g: GrantType| c.grant_types.contains(g).then(|| "on".to_owned());
        Self {
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            redirect_uris: c.redirect_uris.join("\n"),
            post_logout_redirect_uris: c.post_logout_redirect_uris.join("\n"),
            grant_authorization_code: has(GrantType::AuthorizationCode),
            grant_refresh_token: has(GrantType::RefreshToken),
            grant_client_credentials: has(GrantType::ClientCredentials),
            grant_password: has(GrantType::Password),
            scope: c.scope.to_string(),
            kind: c.kind().to_owned(),
            web_origins: c.web_origins.join("\n"),
            resource_audiences: c.resource_audiences.join("\n"),
            skip_consent: c.skip_consent.then(|| "on".to_owned()),
            service_roles: c.service_roles.join(" "),
            etag: c.etag(),
        }
    }

    /// A blank form for a new client (the CLI's defaults).
    pub fn blank() -> Self {
        Self {
            grant_authorization_code: Some("on".into()),
            grant_refresh_token: Some("on".into()),
            kind: "confidential".into(),
            ..Self::default()
        }
    }

    fn grants(&self) -> Vec<String> {
        [
            (&self.grant_authorization_code, GrantType::AuthorizationCode),
            (&self.grant_refresh_token, GrantType::RefreshToken),
            (&self.grant_client_credentials, GrantType::ClientCredentials),
            (&self.grant_password, GrantType::Password),
        ]
        .into_iter()
        .filter(|(on, _)| on.is_some())
        .map(|(_, g)| g.as_str().to_owned())
        .collect()
    }

    fn scope(&self) -> Option<String> {
        Some(self.scope.trim().to_owned()).filter(|s| !s.is_empty())
    }

    fn roles(&self) -> Vec<String> {
        self.service_roles.split_whitespace().map(str::to_owned).collect()
    }

    /// What registration is asked for (the secret is generated).
    pub fn spec(&self) -> ClientSpec {
        ClientSpec {
            client_id: self.client_id.trim().to_owned(),
            name: self.name.clone(),
            redirect_uris: lines(&self.redirect_uris),
            post_logout_redirect_uris: lines(&self.post_logout_redirect_uris),
            grant_types: self.grants(),
            scope: self.scope(),
            public: self.kind == "public",
            secret: None,
            skip_consent: self.skip_consent.is_some(),
            web_origins: lines(&self.web_origins),
            resource_audiences: lines(&self.resource_audiences),
            service_roles: self.roles(),
        }
    }

    /// Every field as the edit form has it (the type does not change).
    pub fn changes(&self) -> ClientChanges {
        ClientChanges {
            name: Some(self.name.clone()),
            redirect_uris: Some(lines(&self.redirect_uris)),
            post_logout_redirect_uris: Some(lines(&self.post_logout_redirect_uris)),
            grant_types: Some(self.grants()),
            scope: self.scope(),
            skip_consent: Some(self.skip_consent.is_some()),
            web_origins: Some(lines(&self.web_origins)),
            resource_audiences: Some(lines(&self.resource_audiences)),
            service_roles: Some(self.roles()),
        }
    }
}

/// A refusal of the form: which field and why.
#[derive(Debug, Default)]
pub struct FormErrors {
    pub fields: Vec<(&'static str, String)>,
}

impl FormErrors {
    /// The message for `field`, if it was refused.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.iter().find(|(f, _)| *f == field).map(|(_, m)| m.as_str())
    }

    /// The service's refusal as a field error; `None` for an error that is
    /// not about the input (storage, an unknown or changed client).
    pub fn of(err: &clients::Error) -> Option<Self> {
        let (field, message) = match err {
            clients::Error::Invalid { field, message } => {
                let field = match *field {
                    "public" => "kind",
                    "grant_types" => "grants",
                    other => other,
                };
                (field, message.clone())
            }
            clients::Error::Exists(_) => ("client_id", err.to_string()),
            _ => return None,
        };
        Some(Self { fields: vec![(field, message)] })
    }
}

/// A secret to show this once on the page (then gone).
pub fn reveal(secret: Option<&secrecy::SecretString>) -> Option<String> {
    secret.map(|s| s.expose_secret().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_one_per_line_and_grants_one_box_each() {
        let form = ClientForm {
            client_id: " web ".into(),
            redirect_uris: "https://a.example/cb\r\n\r\n https://b.example/cb \n".into(),
            grant_client_credentials: Some("on".into()),
            kind: "public".into(),
            service_roles: "admin  user".into(),
            ..ClientForm::default()
        };
        let spec = form.spec();
        assert_eq!(spec.client_id, "web");
        assert_eq!(spec.redirect_uris, ["https://a.example/cb", "https://b.example/cb"]);
        assert_eq!(spec.grant_types, ["client_credentials"]);
        assert!(spec.public);
        assert_eq!(spec.scope, None);
        assert_eq!(spec.service_roles, ["admin", "user"]);
    }
}
