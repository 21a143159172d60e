//! The configuration file (`gatehouse.toml` through figment): documents of
//! real sections and keys with values of random TOML types, and raw text.
//! Loading and `validate()` never panic; what validates keeps its rules.
use figment::Figment;
use figment::providers::{Format, Toml};
use proptest::prelude::*;

use super::Config;
use crate::fuzz::{check, text};

/// Keys of each section (`""` is the top level); a few unknown ones too.
const KEYS: &[(&str, &[&str])] = &[
    ("", &["listen", "issuer", "data_dir", "log_format", "log_level", "listen_port"]),
    ("database", &["url", "max_connections", "connect_retry_secs"]),
    ("mail", &["from", "smtp_url", "backend", "max_attempts", "retry_base_secs", "lease_secs", "send_timeout_secs"]),
    ("session", &["lifetime_secs", "idle_timeout_secs", "reauth_secs", "role_lifetime_secs"]),
    ("password", &["min_length", "min_score", "history", "max_age_days", "argon2_memory_kib"]),
    ("http", &["request_timeout_secs", "body_limit_bytes", "max_connections", "metrics_allow", "management_listen"]),
    ("keys", &["rotate_after_secs", "publish_ahead_secs", "retain_secs", "encryption_key"]),
    ("tokens", &["access_token_secs", "id_token_secs", "code_secs", "refresh_idle_secs", "refresh_absolute_secs"]),
    ("rate_limits", &["login", "token", "free_failures", "failure_delay_ms", "max_failure_delay_ms"]),
    ("lockout", &["max_failures", "window_secs", "base_delay_secs", "max_delay_secs", "forget_after_secs"]),
    ("network", &["trusted_proxies", "ip_rules_refresh_ms"]),
    ("retention", &["interval_secs", "batch_size", "token_grace_secs", "sessions_secs", "sent_mail_secs"]),
    ("registration", &["mode", "allowed_domains"]),
    ("branding", &["product_name", "accent_color", "privacy_url", "links"]),
    ("mfa", &["required_roles", "totp_issuer"]),
    ("upstream.corp", &["kind", "client_id", "client_secret", "issuer", "scopes", "trust_email"]),
    ("upstream.Bad Id", &["kind", "client_id"]),
];

/// A TOML basic string.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML value of a random type, often one a key could take.
fn value() -> BoxedStrategy<String> {
    let near = prop::sample::select(vec![
        "127.0.0.1:0",
        "[::1]:8080",
        "https://id.example",
        "http://localhost:8080/",
        "http://example.com",
        "sqlite::memory:",
        "postgres://u@h/db",
        "smtp://127.0.0.1:2525",
        "memory",
        "file",
        "json",
        "oidc",
        "google",
        "invite",
        "10.0.0.0/8",
        "::1",
        "not a network",
        "#0b6e4f",
        "id@example.com",
        "Name <id@example.com>",
        "",
    ]);
    let number = prop_oneof![any::<i64>().prop_map(|n| n.to_string()), (-5i64..100_000).prop_map(|n| n.to_string())];
    let scalar = prop_oneof![
        near.prop_map(quoted),
        text().prop_map(|t| quoted(&t)),
        number,
        any::<bool>().prop_map(|b| b.to_string()),
        any::<f64>().prop_map(|f| if f.is_finite() { format!("{f:?}") } else { "nan".to_owned() }),
    ];
    scalar
        .prop_recursive(2, 8, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
                prop::collection::vec((prop::sample::select(vec!["max", "per_secs", "label", "url"]), inner), 0..3)
                    .prop_map(|kv| {
                        let body: Vec<String> = kv.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                        format!("{{ {} }}", body.join(", "))
                    }),
            ]
        })
        .boxed()
}

/// A document: a few sections, each with a few of its keys set once
/// (repeated keys and tables are TOML errors, which the raw text covers).
fn document() -> BoxedStrategy<String> {
    let entry = (0..KEYS.len(), any::<prop::sample::Index>(), value());
    prop::collection::vec(entry, 0..10)
        .prop_map(|entries| {
            let mut tables: std::collections::BTreeMap<&str, std::collections::BTreeMap<&str, String>> =
                std::collections::BTreeMap::new();
            for (section, key, value) in entries {
                let (name, keys) = KEYS[section];
                tables.entry(name).or_default().insert(*key.get(keys), value);
            }
            // The top level ("") sorts first, before any table header.
            let mut doc = String::new();
            for (name, entries) in tables {
                if !name.is_empty() {
                    doc.push_str(&format!("[{}]\n", quoted_section(name)));
                }
                for (key, value) in entries {
                    doc.push_str(&format!("{key} = {value}\n"));
                }
            }
            doc
        })
        .boxed()
}

fn quoted_section(name: &str) -> String {
    name.split('.')
        .map(|part| if part.contains(' ') { quoted(part) } else { part.to_owned() })
        .collect::<Vec<_>>()
        .join(".")
}

#[test]
fn fuzz_config_toml() {
    check("config_toml", prop_oneof![4 => document(), 1 => text()], |doc| {
        let Ok(config) = Figment::new().merge(Toml::string(&doc)).extract::<Config>() else { return Ok(()) };
        if config.validate().is_ok() {
            // What validates is usable: networks parse, the issuer is http(s).
            prop_assert!(config.network.trusted_nets().is_ok() && config.http.metrics_nets().is_ok());
            prop_assert!(config.issuer.as_ref().is_none_or(|i| matches!(i.scheme(), "http" | "https")));
            prop_assert!(config.session.lifetime_secs > 0 && config.tokens.access_token_secs > 0);
        }
        Ok(())
    });
}
