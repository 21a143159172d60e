//! Where each configuration key's value came from (a compiled default, the
//! config file, an environment variable or a `…_FILE` variable), recorded
//! from figment's metadata at load time, and the effective configuration as
//! a key/value/source list with every secret (`SecretString`) redacted, for
//! the console's settings page.
use std::collections::BTreeMap;
use std::sync::Arc;

use figment::Figment;
use figment::Source;
use secrecy::SecretString;
use serde::Serializer;

use super::{Config, ENV_PREFIX};

/// What a secret shows as.
pub const REDACTED: &str = "[redacted]";

/// Serializes a secret as [`REDACTED`] (or nothing when unset): secrets
/// never leave the config module in clear.
pub fn redacted<S: Serializer>(value: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => s.serialize_some(REDACTED),
        None => s.serialize_none(),
    }
}

/// The source of each key set by the file or the environment (others are
/// compiled defaults), by dotted key.
#[derive(Debug, Clone, Default)]
pub struct Sources(Arc<BTreeMap<String, String>>);

/// One effective setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// Dotted, e.g. `database.url`.
    pub key: String,
    /// As text; secrets are [`REDACTED`], unset values empty.
    pub value: String,
    /// `compiled default`, the config file's path, or the variable's name.
    pub source: String,
}

/// The leaves of `value` as dotted keys.
fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, v, out);
            }
        }
        serde_json::Value::Null => out.push((prefix.to_owned(), String::new())),
        serde_json::Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

fn leaves(config: &Config) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Ok(value) = serde_json::to_value(config) {
        flatten("", &value, &mut out);
    }
    out
}

/// The environment variable that sets `key` (`GATEHOUSE_SECTION__KEY`).
fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.replace('.', "__").to_ascii_uppercase())
}

/// Records where each key of `config` came from. `file_vars` maps a dotted
/// key to the `…_FILE` variable that set it (merged last, so it wins).
pub(super) fn record(figment: &Figment, config: &Config, file_vars: &BTreeMap<String, String>) -> Sources {
    let mut out = BTreeMap::new();
    for (key, _) in leaves(config) {
        let source = if let Some(var) = file_vars.get(&key) {
            var.clone()
        } else {
            match figment.find_metadata(&key) {
                Some(md) => match &md.source {
                    Some(Source::File(path)) => path.display().to_string(),
                    _ if md.name.contains("environment") => env_name(&key),
                    _ => md.name.to_string(),
                },
                None => continue,
            }
        };
        out.insert(key, source);
    }
    Sources(Arc::new(out))
}

impl Config {
    /// Every key of the effective configuration with its value (secrets
    /// redacted) and where it came from, in key order.
    pub fn settings(&self) -> Vec<Setting> {
        leaves(self)
            .into_iter()
            .map(|(key, value)| {
                let source = self.sources.0.get(&key).cloned().unwrap_or_else(|| "compiled default".to_owned());
                Setting { key, value, source }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_defaults_named() {
        let mut c = Config::default();
        c.database.url = Some(SecretString::from("postgres://u:hunter2@h/db"));
        let settings = c.settings();
        let url = settings.iter().find(|s| s.key == "database.url").unwrap();
        assert_eq!(url.value, REDACTED);
        assert_eq!(url.source, "compiled default");
        assert!(settings.iter().all(|s| !s.value.contains("hunter2")));
        assert!(settings.iter().any(|s| s.key == "session.reauth_secs" && s.value == "600"));
        assert_eq!(env_name("database.url"), "GATEHOUSE_DATABASE__URL");
    }

    #[test]
    fn sources_name_the_file_and_the_file_variable() {
        use figment::providers::{Format, Serialized, Toml};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gatehouse.toml");
        std::fs::write(&path, "log_level = \"debug\"\n[mail]\nsmtp_url = \"smtp://u:file-secret@h:25\"\n").unwrap();
        let figment = Figment::new()
            .merge(Toml::file_exact(&path))
            .merge(Serialized::global("database.url", "postgres://u:env-secret@h/db"));
        let mut config: Config = figment.extract().unwrap();
        let vars = BTreeMap::from([("database.url".to_owned(), "GATEHOUSE_DATABASE__URL_FILE".to_owned())]);
        config.sources = record(&figment, &config, &vars);
        let settings = config.settings();
        let find = |k: &str| settings.iter().find(|s| s.key == k).unwrap().clone();
        assert_eq!(find("log_level").source, path.display().to_string());
        assert_eq!(find("log_level").value, "debug");
        assert_eq!(find("mail.smtp_url").value, REDACTED);
        assert_eq!(find("database.url").source, "GATEHOUSE_DATABASE__URL_FILE");
        assert_eq!(find("session.lifetime_secs").source, "compiled default");
        assert!(settings.iter().all(|s| !s.value.contains("secret")));
    }
}
