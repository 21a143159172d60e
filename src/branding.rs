//! The operator's branding, loaded once at startup from `[branding]`: the
//! product name, the logo (its bytes and content type), the brand stylesheet
//! (the accent colour as a CSS variable, then the operator's extra CSS) and
//! the footer links. Pages (`http::pages`) and mail (`mail::messages`) both
//! read it; nothing is fetched from outside the server. Depends on `config` only.
use std::sync::Arc;

use anyhow::{Context, bail};

use crate::config::BrandingConfig;

/// A file we serve under a content-hashed URL.
#[derive(Debug, Clone)]
pub struct Asset {
    pub bytes: Arc<[u8]>,
    pub content_type: &'static str,
    /// FNV-1a of the bytes: the `?v=` cache buster.
    pub version: u64,
}

impl Asset {
    fn new(bytes: Vec<u8>, content_type: &'static str) -> Self {
        Self { version: fnv1a(&bytes), bytes: bytes.into(), content_type }
    }
}

/// What every page and mail shows of the operator.
#[derive(Debug, Clone)]
pub struct Branding {
    pub product_name: String,
    /// `#rrggbb`, validated by `config`.
    pub accent_color: Option<String>,
    pub logo: Option<Asset>,
    /// Served at `/static/brand.css` after app.css; `None` when there is
    /// neither an accent colour nor an extra stylesheet.
    pub stylesheet: Option<Asset>,
    /// (label, http(s) URL), validated by `config`.
    pub links: Vec<(String, String)>,
}

impl Default for Branding {
    fn default() -> Self {
        Self { product_name: "gatehouse".into(), accent_color: None, logo: None, stylesheet: None, links: Vec::new() }
    }
}

impl Branding {
    /// Reads the logo and stylesheet files named in `config`.
    pub fn load(config: &BrandingConfig) -> anyhow::Result<Self> {
        let logo = match &config.logo_file {
            Some(path) => {
                let content_type = match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase) {
                    Some(e) if e == "png" => "image/png",
                    Some(e) if e == "svg" => "image/svg+xml",
                    Some(e) if e == "jpg" || e == "jpeg" => "image/jpeg",
                    Some(e) if e == "webp" => "image/webp",
                    _ => bail!("branding.logo_file must be a .png, .svg, .jpg, .jpeg or .webp file"),
                };
                let bytes = std::fs::read(path)
                    .with_context(|| format!("branding.logo_file: cannot read {}", path.display()))?;
                Some(Asset::new(bytes, content_type))
            }
            None => None,
        };
        let mut css = String::new();
        if let Some(c) = &config.accent_color {
            css.push_str(&format!(":root {{ --accent: {c}; }}\n"));
        }
        if let Some(path) = &config.stylesheet_file {
            let extra = std::fs::read_to_string(path)
                .with_context(|| format!("branding.stylesheet_file: cannot read {}", path.display()))?;
            css.push_str(&extra);
        }
        let stylesheet = (!css.is_empty()).then(|| Asset::new(css.into_bytes(), "text/css; charset=utf-8"));
        Ok(Self {
            product_name: config.product_name.trim().to_owned(),
            accent_color: config.accent_color.clone(),
            logo,
            stylesheet,
            links: config.footer_links(),
        })
    }

    /// The accent colour for mail (inline styles are fine there).
    pub fn mail_accent(&self) -> &str {
        self.accent_color.as_deref().unwrap_or("#1f6feb")
    }
}

/// FNV-1a, 64 bits.
pub const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}
