//! From a provider's JSON (ID-token claims or a userinfo answer) to an
//! [`Identity`]: dotted paths (`data.id`), numbers turned into strings (GitHub
//! and Facebook ids), lengths bounded, a subject required.
use serde_json::Value;

use super::settings::Mapping;
use super::{Error, Identity};

/// Longest subject, name or username kept.
pub(crate) const MAX_LEN: usize = 256;
/// RFC 5321 §4.5.3.1: a path is at most 256 octets with the brackets, so an
/// address at most 254.
pub(crate) const MAX_EMAIL: usize = 254;

/// The value at a dotted path (`data.id`); an empty path matches nothing.
pub(crate) fn lookup<'a>(json: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return None;
    }
    path.split('.').try_fold(json, |v, key| v.get(key))
}

/// A scalar as text: strings as they are, numbers in decimal. Empty → None.
fn text(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

/// The first path that holds a usable value.
fn first(json: &Value, paths: &[String]) -> Option<String> {
    paths.iter().find_map(|p| lookup(json, p).and_then(text))
}

/// `true` or `"true"` (some providers send booleans as strings).
fn truthy(json: &Value, paths: &[String]) -> bool {
    paths.iter().filter_map(|p| lookup(json, p)).any(|v| match v {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    })
}

/// Display text: no control characters, at most [`MAX_LEN`] characters.
fn bounded(s: String) -> Option<String> {
    let s: String = s.chars().filter(|c| !c.is_control()).take(MAX_LEN).collect();
    let s = s.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

/// An address that can be one: one `@` with text on both sides, no spaces
/// or controls, not too long. Anything else is dropped, not trusted.
fn email(s: String) -> Option<String> {
    let plausible = s.len() <= MAX_EMAIL
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && s.split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
    plausible.then_some(s)
}

/// Maps the provider's JSON to an identity. `trust_email` marks any address
/// as verified (for providers that only hand out confirmed ones).
pub(crate) fn identity(provider: &str, json: &Value, mapping: &Mapping, trust_email: bool) -> Result<Identity, Error> {
    let subject = first(json, &mapping.subject).ok_or_else(|| Error::Rejected("no subject in the answer".into()))?;
    // A subject is an id: cut, it would name someone else.
    if subject.len() > MAX_LEN || subject.chars().any(char::is_control) {
        return Err(Error::Rejected("subject too long or not text".into()));
    }
    let email = first(json, &mapping.email).and_then(email);
    let email_verified = email.is_some() && (trust_email || truthy(json, &mapping.email_verified));
    Ok(Identity {
        provider: provider.to_owned(),
        subject,
        email,
        email_verified,
        name: first(json, &mapping.name).and_then(bounded),
        username: first(json, &mapping.username).and_then(bounded),
    })
}
