//! The cookies gatehouse sets, read and written by hand (values are
//! base64url, so no escaping is needed).
use axum::http::{HeaderMap, HeaderValue, header};

/// The session cookie (INTERFACE.md: HttpOnly, SameSite=Lax, Path=/, Secure on https).
pub const SESSION: &str = "gh_session";
/// A random id per browser, so a sign-in from a new device can be noticed.
pub const DEVICE: &str = "gh_device";
/// The device cookie lasts a year.
pub const DEVICE_MAX_AGE: i64 = 365 * 86_400;
/// A sign-in waiting for its second factor (lives as long as the challenge).
pub const MFA: &str = "gh_mfa";
/// A complete sign-in whose password has expired: the ticket for the
/// change-password form (lives as long as a challenge).
pub const EXPIRED: &str = "gh_expired";
/// Binds upstream sign-in flows to this browser (see `http/upstream.rs`).
/// Like the CSRF cookie it takes the `__Host-` prefix on https, so a
/// subdomain cannot plant a binding of its own in the browser.
pub fn upstream_name(secure: bool) -> &'static str {
    if secure { "__Host-gh_upstream" } else { "gh_upstream" }
}

/// An upstream identity waiting for its link to be confirmed (`__Host-` on https).
pub fn link_name(secure: bool) -> &'static str {
    if secure { "__Host-gh_link" } else { "gh_link" }
}
/// The CSRF cookie (STYLE.md §6: SameSite=Strict). On https it takes the
/// `__Host-` prefix, so no subdomain can set or shadow it.
pub fn csrf_name(secure: bool) -> &'static str {
    if secure { "__Host-gh_csrf" } else { "gh_csrf" }
}

/// The value of cookie `name` in the request, if present and non-empty.
pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value. `max_age` of `None` makes a browser-session cookie;
/// `Some(0)` deletes it.
pub fn set(name: &str, value: &str, same_site: &str, secure: bool, max_age: Option<i64>) -> HeaderValue {
    let mut out = format!("{name}={value}; Path=/; HttpOnly; SameSite={same_site}");
    if secure {
        out.push_str("; Secure");
    }
    if let Some(age) = max_age {
        out.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&out).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// A `Set-Cookie` value that deletes cookie `name`.
pub fn clear(name: &str, secure: bool) -> HeaderValue {
    set(name, "", "Lax", secure, Some(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_cookie_among_many() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; gh_session=abc; b=2"));
        assert_eq!(get(&h, SESSION), Some("abc"));
        assert_eq!(get(&h, csrf_name(false)), None);
    }

    #[test]
    fn set_cookie_has_the_interface_attributes() {
        let v = set(SESSION, "x", "Lax", true, Some(60));
        assert_eq!(v, "gh_session=x; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=60");
    }
}
