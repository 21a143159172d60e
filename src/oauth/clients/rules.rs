//! Registration rules: what a client id, name, redirect URI (RFC 6749
//! §3.1.2, RFC 8252 §7, RFC 9700 §2.1 and §4.1.3), web origin (RFC 6454),
//! resource-server audience, grant type and scope may be. Pure checks, no
//! I/O; must not import the store or axum.
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::client::{GrantType, GrantTypes};
use super::{DEFAULT_GRANT_TYPES, Error, GRANT_TYPES, MIN_SECRET_LEN};
use crate::oauth::scope::Scope;
use crate::security::token;

/// The redirect URIs and grant types of a registration, checked together.
pub(super) struct Checked {
    pub(super) grants: GrantTypes,
}

impl Checked {
    pub(super) fn new(
        redirects: &[String],
        logouts: &[String],
        grants: &[String],
        public: bool,
    ) -> Result<Self, Error> {
        let grants = grant_types(grants, public)?;
        // A service client (client_credentials only) redirects nobody.
        if redirects.is_empty() && grants.contains(GrantType::AuthorizationCode) {
            return Err(Error::invalid("redirect_uris", "at least one --redirect-uri is required"));
        }
        for uri in redirects.iter().chain(logouts) {
            check_redirect_uri(uri)?;
        }
        Ok(Self { grants })
    }
}

pub(super) fn check_name(raw: &str) -> Result<&str, Error> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(Error::invalid("name", "--name must be 1 to 100 printable characters"));
    }
    Ok(name)
}

/// The hash to store for a confidential client's secret: `given` (at least
/// [`MIN_SECRET_LEN`] characters) or a generated one, returned to be shown once.
pub(super) fn new_secret(given: Option<SecretString>) -> Result<(String, Option<SecretString>), Error> {
    match given {
        Some(secret) => {
            if secret.expose_secret().chars().count() < MIN_SECRET_LEN {
                return Err(Error::invalid(
                    "secret",
                    format!("the secret must be at least {MIN_SECRET_LEN} characters"),
                ));
            }
            Ok((token::hash_secret(secret.expose_secret()), None))
        }
        None => {
            let secret = token::new_secret();
            Ok((token::hash_secret(&secret), Some(SecretString::from(secret))))
        }
    }
}

/// RFC 6749 §2.2: the identifier is a string; we keep it URL- and log-safe.
pub(super) fn check_client_id(id: &str) -> Result<(), Error> {
    let ok = (1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok { Ok(()) } else { Err(Error::invalid("client_id", "--client-id must be 1 to 64 of A-Z a-z 0-9 . _ -")) }
}

/// RFC 6749 §3.1.2: absolute URI, no fragment. We also require https, except
/// for loopback http (RFC 8252 §7.3) and private-use schemes (RFC 8252 §7.1).
/// Redirect URIs are matched exactly (RFC 9700 §2.1 and §4.1.3), so a
/// wildcard in the host or path can only be a mistake, and user information
/// only a trap (`https://app.example@evil.example/cb` reads like one host and
/// names another): both are refused here, for every way of registering.
pub(super) fn check_redirect_uri(raw: &str) -> Result<(), Error> {
    let bad = |why: &str| Error::invalid("redirect_uris", format!("redirect URI {raw:?} {why}"));
    // Before the query: the scheme, authority and path (a `*` in a query
    // value is data, matched exactly like the rest).
    let before_query = raw.split(['?', '#']).next().unwrap_or(raw);
    if before_query.contains('*') {
        return Err(bad("must not contain a wildcard; redirect URIs are matched exactly (RFC 9700 §2.1)"));
    }
    let url = Url::parse(raw).map_err(|_| bad("is not an absolute URI"))?;
    if url.fragment().is_some() {
        return Err(bad("must not contain a fragment (RFC 6749 §3.1.2)"));
    }
    // The parser drops an empty user info (`https://@host/`), so look at the
    // authority as written too.
    let authority = before_query.split_once("://").map(|(_, rest)| rest.split('/').next().unwrap_or(rest));
    if !url.username().is_empty() || url.password().is_some() || authority.is_some_and(|a| a.contains('@')) {
        return Err(bad("must not contain user information; redirect URIs are matched exactly (RFC 9700 §4.1.3)"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err(bad("must use https (http is allowed for loopback only)")),
        // Private-use schemes are reverse domain names (RFC 8252 §7.1).
        scheme if scheme.contains('.') => Ok(()),
        _ => Err(bad("must use https, loopback http, or a reverse-domain private-use scheme")),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(host)) => host == "localhost",
        None => false,
    }
}

/// Checks a web origin as an operator writes it: exactly `scheme://host[:port]`
/// (RFC 6454 §6.2, the form a browser sends in `Origin`), with no path (not
/// even `/`), query, fragment, user info or wildcard, over https, or http on
/// loopback as redirect URIs are. Returns it in the browser's serialization
/// (lowercase host, no default port), which is what requests are compared to.
pub fn check_web_origin(raw: &str) -> Result<String, Error> {
    let bad = |why: &str| Error::invalid("web_origins", format!("web origin {raw:?} {why}"));
    if raw.contains('*') {
        return Err(bad("must not contain a wildcard; list each origin"));
    }
    let url = Url::parse(raw).map_err(|_| bad("is not scheme://host[:port]"))?;
    let Some((_, authority)) = raw.split_once("://") else {
        return Err(bad("is not scheme://host[:port]"));
    };
    if !url.username().is_empty() || url.password().is_some() || authority.contains('@') {
        return Err(bad("must not contain user info"));
    }
    if url.query().is_some() || authority.contains('?') {
        return Err(bad("must not contain a query"));
    }
    if url.fragment().is_some() || authority.contains('#') {
        return Err(bad("must not contain a fragment"));
    }
    if authority.contains('/') {
        return Err(bad("must not contain a path (not even a trailing /)"));
    }
    match url.scheme() {
        "https" if url.host().is_some() => {}
        "http" if is_loopback(&url) => {}
        "http" => return Err(bad("must use https (http is allowed for loopback only)")),
        _ => return Err(bad("must use https, or http on loopback")),
    }
    Ok(url.origin().ascii_serialization())
}

/// Longest audience accepted.
const MAX_AUDIENCE_LEN: usize = 255;

/// Checks the audiences a client is a resource server for: each one a
/// non-empty string of visible ASCII without spaces (the form of our `aud`
/// values: the issuer, `tokens.audience`, resource URIs), repeats dropped.
pub fn check_resource_audiences(raw: &[String]) -> Result<Vec<String>, Error> {
    let mut out: Vec<String> = Vec::new();
    for aud in raw {
        if aud.is_empty() || aud.len() > MAX_AUDIENCE_LEN || !aud.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid(
                "resource_audiences",
                format!(
                    "resource server audience {aud:?} must be 1 to {MAX_AUDIENCE_LEN} visible ASCII characters without spaces"
                ),
            ));
        }
        if !out.contains(aud) {
            out.push(aud.clone());
        }
    }
    Ok(out)
}

/// Longest service role name.
const MAX_ROLE_LEN: usize = 64;

/// Checks a client's service roles: role names (lowercase letters, digits,
/// `-`, `_`, `.`, `:`), repeats dropped, and only for a confidential client
/// registered for `client_credentials` (the only tokens that carry them).
pub fn check_service_roles(raw: &[String], public: bool, grants: &GrantTypes) -> Result<Vec<String>, Error> {
    let mut out: Vec<String> = Vec::new();
    for role in raw {
        let plain = role.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.:".contains(&b));
        if role.is_empty() || role.len() > MAX_ROLE_LEN || !plain {
            return Err(Error::invalid(
                "service_roles",
                format!(
                    "service role {role:?} must be 1 to {MAX_ROLE_LEN} lowercase letters, digits, '-', '_', '.' or ':'"
                ),
            ));
        }
        if !out.contains(role) {
            out.push(role.clone());
        }
    }
    if !out.is_empty() && (public || !grants.contains(GrantType::ClientCredentials)) {
        return Err(Error::invalid(
            "service_roles",
            "a service role needs a confidential client with --grant-type client_credentials",
        ));
    }
    Ok(out)
}

/// Checks each listed origin and drops repeats.
pub fn check_web_origins(raw: &[String]) -> Result<Vec<String>, Error> {
    let mut out: Vec<String> = Vec::new();
    for origin in raw {
        let origin = check_web_origin(origin)?;
        if !out.contains(&origin) {
            out.push(origin);
        }
    }
    Ok(out)
}

/// The grant types of a registration: `asked`, or the defaults; each one we
/// implement, repeats dropped, and never client credentials for a public
/// client (RFC 6749 §4.4).
pub(super) fn grant_types(asked: &[String], public: bool) -> Result<GrantTypes, Error> {
    let asked: Vec<&str> =
        if asked.is_empty() { DEFAULT_GRANT_TYPES.to_vec() } else { asked.iter().map(String::as_str).collect() };
    let mut out = Vec::new();
    for name in asked {
        let Some(grant) = GrantType::parse(name) else {
            return Err(Error::invalid(
                "grant_types",
                format!("unknown grant type {name:?}; use one of {}", GRANT_TYPES.join(", ")),
            ));
        };
        if public && grant == GrantType::ClientCredentials {
            return Err(Error::invalid("grant_types", "a public client cannot use client_credentials (RFC 6749 §4.4)"));
        }
        // RFC 6749 §4.3.2 authenticates the client; a public one would make
        // the password grant an open password oracle.
        if public && grant == GrantType::Password {
            return Err(Error::invalid("grant_types", "a public client cannot use the password grant (RFC 6749 §4.3)"));
        }
        out.push(grant);
    }
    Ok(GrantTypes::of(out))
}

/// RFC 6749 §3.3: space-delimited scope tokens of %x21 / %x23-5B / %x5D-7E;
/// at least one.
pub(super) fn scope(raw: &str) -> Result<Scope, Error> {
    let scope = Scope::parse(raw).map_err(|e| Error::invalid("scope", e.to_string()))?;
    if scope.is_empty() {
        return Err(Error::invalid("scope", "--scope must name at least one scope"));
    }
    Ok(scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_follow_rfc_6749_3_1_2_and_rfc_8252() {
        for ok in [
            "https://app.example/cb",
            "http://127.0.0.1:9000/cb",
            "http://[::1]/cb",
            "http://localhost/cb",
            "com.example.app:/oauth",
        ] {
            check_redirect_uri(ok).unwrap();
        }
        for bad in
            ["/relative", "https://app.example/cb#frag", "http://app.example/cb", "javascript:alert(1)", "not a uri"]
        {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redirect_uris_that_can_never_match_exactly_are_refused_rfc_9700_2_1_and_4_1_3() {
        // A `*` in a query value is data, compared exactly like the rest.
        check_redirect_uri("https://app.example/cb?x=*").unwrap();
        for (bad, why) in [
            ("https://*.example/cb", "wildcard"),
            ("https://app.example/*", "wildcard"),
            ("https://app.example/c*b", "wildcard"),
            ("https://app.*/cb", "wildcard"),
            ("http://127.0.0.1:*/cb", "wildcard"),
            ("com.example.app:/*", "wildcard"),
            ("https://user:pw@app.example/cb", "user information"),
            ("https://user@app.example/cb", "user information"),
            ("https://@app.example/cb", "user information"),
            ("https://app.example@evil.example/cb", "user information"),
            ("http://me@127.0.0.1/cb", "user information"),
            ("https://app.example/cb#", "fragment"),
            ("https://app.example/cb#x", "fragment"),
        ] {
            let err = check_redirect_uri(bad).unwrap_err().to_string();
            assert!(err.contains(why) && err.contains(&format!("{bad:?}")), "{bad}: {err}");
        }
    }

    #[test]
    fn resource_audiences_are_visible_ascii_and_deduplicated() {
        let list = check_resource_audiences(&["https://api.example".into(), "https://api.example".into()]).unwrap();
        assert_eq!(list, ["https://api.example"]);
        for bad in ["", "has space", "tab\t", "é", &"a".repeat(256)] {
            assert!(check_resource_audiences(&[bad.to_owned()]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn grants_default_and_refuse_unknown_or_public_client_credentials() {
        assert_eq!(grant_types(&[], false).unwrap().to_string(), "authorization_code refresh_token");
        assert!(grant_types(&["implicit".into()], false).is_err());
        assert!(grant_types(&["client_credentials".into()], true).is_err());
        // RFC 6749 §4.3: the password grant only for a confidential client, never by default.
        assert!(grant_types(&["password".into()], true).is_err());
        assert!(grant_types(&["password".into()], false).unwrap().contains(GrantType::Password));
        assert!(!grant_types(&[], false).unwrap().contains(GrantType::Password));
    }

    #[test]
    fn scope_tokens_follow_rfc_6749_3_3() {
        assert_eq!(scope("openid  email openid").unwrap().to_string(), "openid email");
        assert!(scope("bad\"quote").is_err());
        assert!(scope("   ").is_err());
    }

    #[test]
    fn web_origins_are_scheme_host_and_port_only() {
        assert_eq!(check_web_origin("https://App.Example").unwrap(), "https://app.example");
        assert_eq!(check_web_origin("https://app.example:443").unwrap(), "https://app.example");
        assert_eq!(check_web_origin("https://app.example:8443").unwrap(), "https://app.example:8443");
        assert_eq!(check_web_origin("http://127.0.0.1:5173").unwrap(), "http://127.0.0.1:5173");
        assert_eq!(check_web_origin("http://localhost:3000").unwrap(), "http://localhost:3000");
        assert_eq!(check_web_origin("http://[::1]:3000").unwrap(), "http://[::1]:3000");
        for (bad, why) in [
            ("https://app.example/", "path"),
            ("https://app.example/app", "path"),
            ("https://app.example?x=1", "query"),
            ("https://app.example#top", "fragment"),
            ("https://user:pw@app.example", "user info"),
            ("https://user@app.example", "user info"),
            ("https://*.app.example", "wildcard"),
            ("*", "wildcard"),
            ("http://app.example", "https"),
            ("app.example", "scheme://host"),
            ("null", "scheme://host"),
            ("ftp://app.example", "https"),
            ("com.example.app:/cb", "scheme://host"),
        ] {
            let err = check_web_origin(bad).unwrap_err().to_string();
            assert!(err.contains(why) && err.contains(&format!("{bad:?}")), "{bad}: {err}");
        }
        let list = check_web_origins(&["https://a.example".into(), "https://A.example:443".into()]).unwrap();
        assert_eq!(list, ["https://a.example"]);
    }

    #[test]
    fn client_ids_are_restricted() {
        check_client_id("my-app_1.0").unwrap();
        assert!(check_client_id("").is_err());
        assert!(check_client_id("has space").is_err());
    }
}
