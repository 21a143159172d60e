//! The cookies gatehouse sets, read and written by hand (values are
//! base64url, so no escaping is needed).
use axum::http::{HeaderMap, HeaderValue, header};

/// With an https issuer every cookie takes the `__Host-` prefix (RFC 6265bis
/// §4.1.3.2): the browser then accepts it only with `Secure`, `Path=/` and no
/// `Domain`, which [`set`] always writes, so no subdomain can plant or shadow
/// it. On http (development, tests) names stay plain.
fn host(secure: bool, plain: &'static str, prefixed: &'static str) -> &'static str {
    if secure { prefixed } else { plain }
}

/// The session cookie (INTERFACE.md: HttpOnly, SameSite=Lax, Path=/, Secure on https).
pub fn session_name(secure: bool) -> &'static str {
    host(secure, "gh_session", "__Host-gh_session")
}
/// A random id per browser, so a sign-in from a new device can be noticed.
pub fn device_name(secure: bool) -> &'static str {
    host(secure, "gh_device", "__Host-gh_device")
}
/// The device cookie lasts a year.
pub const DEVICE_MAX_AGE: i64 = 365 * 86_400;
/// A sign-in waiting for its second factor (lives as long as the challenge).
pub fn mfa_name(secure: bool) -> &'static str {
    host(secure, "gh_mfa", "__Host-gh_mfa")
}
/// A complete sign-in whose password has expired: the ticket for the
/// change-password form (lives as long as a challenge).
pub fn expired_name(secure: bool) -> &'static str {
    host(secure, "gh_expired", "__Host-gh_expired")
}
/// Binds upstream sign-in flows to this browser (see `http/upstream.rs`).
/// Like the CSRF cookie it takes the `__Host-` prefix on https, so a
/// subdomain cannot plant a binding of its own in the browser.
pub fn upstream_name(secure: bool) -> &'static str {
    host(secure, "gh_upstream", "__Host-gh_upstream")
}

/// An upstream identity waiting for its link to be confirmed (`__Host-` on https).
pub fn link_name(secure: bool) -> &'static str {
    host(secure, "gh_link", "__Host-gh_link")
}
/// The CSRF cookie (STYLE.md §6: SameSite=Strict). On https it takes the
/// `__Host-` prefix, so no subdomain can set or shadow it.
pub fn csrf_name(secure: bool) -> &'static str {
    host(secure, "gh_csrf", "__Host-gh_csrf")
}

/// The value of cookie `name` in the request, if present and non-empty.
/// The header is split as bytes: a cookie of someone else's on this host
/// with a non-ASCII value (browsers send those as raw UTF-8) must not hide
/// ours, which are ASCII. Found by `fuzz_cookies`.
pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b';'))
        .filter_map(|pair| std::str::from_utf8(pair).ok())
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
        assert_eq!(get(&h, session_name(false)), Some("abc"));
        assert_eq!(get(&h, session_name(true)), None, "on https only the prefixed name counts");
        assert_eq!(get(&h, csrf_name(false)), None);
    }

    #[test]
    fn a_foreign_cookie_with_a_non_ascii_value_does_not_hide_ours() {
        // fuzz_cookies, minimal input: `gh_session=0; 🌀` read as no session.
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_bytes("gh_session=0; 🌀".as_bytes()).unwrap());
        assert_eq!(get(&h, session_name(false)), Some("0"));
        h.insert(header::COOKIE, HeaderValue::from_bytes(b"theme=\xe9t\xe9; gh_session=abc").unwrap());
        assert_eq!(get(&h, session_name(false)), Some("abc"), "Latin-1 bytes in another cookie");
    }

    #[test]
    fn set_cookie_has_the_interface_attributes() {
        let v = set(session_name(true), "x", "Lax", true, Some(60));
        assert_eq!(v, "__Host-gh_session=x; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=60");
    }
}
