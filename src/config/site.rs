//! The `[registration]` (sign-up policy) and `[branding]` sections. The
//! sign-up rules live in `accounts::signup`, the loaded branding (files read,
//! the brand stylesheet built) in `crate::branding`; the data and its
//! validation live here so that `config` depends on nothing else in the crate.
use std::path::PathBuf;

use anyhow::bail;
use serde::{Deserialize, Serialize};
use url::Url;

/// Who may create an account by themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistrationMode {
    /// Anyone (within `allowed_domains`) may sign up.
    #[default]
    Open,
    /// Only administrators make accounts, by invitation mail.
    Invite,
    /// Only administrators make accounts (console, API, CLI).
    Closed,
}

/// The `[registration]` section.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistrationConfig {
    /// `open` (default), `invite` or `closed`.
    pub mode: RegistrationMode,
    /// Email domains self-registration and one's own email change accept
    /// (exact, case-insensitive; empty means any).
    pub allowed_domains: Vec<String>,
}

impl RegistrationConfig {
    pub(super) fn validate(&self) -> anyhow::Result<()> {
        for d in &self.allowed_domains {
            let d = d.trim();
            if d.is_empty() || d.contains('@') || d.contains(char::is_whitespace) {
                bail!("registration.allowed_domains: {d:?} is not a domain name");
            }
        }
        Ok(())
    }
}

/// One footer link (`[[branding.links]]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BrandLink {
    pub label: String,
    pub url: String,
}

/// The `[branding]` section: what every page and mail shows of the operator.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrandingConfig {
    /// The product's name in titles, the header, subjects and signatures.
    pub product_name: String,
    /// A PNG, SVG, JPEG or WebP file, read at startup and served by us.
    pub logo_file: Option<PathBuf>,
    /// `#rrggbb`: links and buttons.
    pub accent_color: Option<String>,
    /// Extra CSS, read at startup and served after app.css.
    pub stylesheet_file: Option<PathBuf>,
    pub privacy_url: Option<String>,
    pub terms_url: Option<String>,
    pub links: Vec<BrandLink>,
}

impl Default for BrandingConfig {
    fn default() -> Self {
        Self {
            product_name: "gatehouse".into(),
            logo_file: None,
            accent_color: None,
            stylesheet_file: None,
            privacy_url: None,
            terms_url: None,
            links: Vec::new(),
        }
    }
}

impl BrandingConfig {
    /// The footer links in order: privacy, terms, then the list.
    pub fn footer_links(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(u) = &self.privacy_url {
            out.push(("Privacy".to_owned(), u.clone()));
        }
        if let Some(u) = &self.terms_url {
            out.push(("Terms".to_owned(), u.clone()));
        }
        out.extend(self.links.iter().map(|l| (l.label.clone(), l.url.clone())));
        out
    }

    pub(super) fn validate(&self) -> anyhow::Result<()> {
        let name = self.product_name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.contains(['\r', '\n']) {
            bail!("branding.product_name must be 1-64 characters on one line");
        }
        if let Some(c) = &self.accent_color
            && !is_hex_colour(c)
        {
            bail!("branding.accent_color must be a colour like #1f6feb, got {c:?}");
        }
        let named =
            [("branding.privacy_url", self.privacy_url.as_deref()), ("branding.terms_url", self.terms_url.as_deref())];
        for (key, url) in named.into_iter().filter_map(|(k, u)| u.map(|u| (k, u))) {
            check_url(key, url)?;
        }
        for l in &self.links {
            if l.label.trim().is_empty() {
                bail!("branding.links: every link needs a label");
            }
            check_url("branding.links.url", &l.url)?;
        }
        Ok(())
    }
}

fn check_url(key: &str, url: &str) -> anyhow::Result<()> {
    match Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        _ => bail!("{key} must be an absolute http(s) URL, got {url:?}"),
    }
}

/// `#rrggbb`.
fn is_hex_colour(s: &str) -> bool {
    s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_and_links_are_checked_naming_the_key() {
        let mut b = BrandingConfig { accent_color: Some("#12ab3F".into()), ..BrandingConfig::default() };
        b.validate().unwrap();
        b.accent_color = Some("red".into());
        assert!(b.validate().unwrap_err().to_string().contains("branding.accent_color"));
        b.accent_color = None;
        b.terms_url = Some("javascript:alert(1)".into());
        assert!(b.validate().unwrap_err().to_string().contains("branding.terms_url"));
    }
}
