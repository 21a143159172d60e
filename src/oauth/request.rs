//! Validation of authorization requests: RFC 6749 §4.1.1 and §3.1.2, OIDC
//! Core §3.1.2.1–§3.1.2.2, RFC 7636 §4.3, RFC 8252 §7.3, RFC 9207,
//! RFC 9700 §2.1 and §4.1.3 (exact redirect URI matching).
//!
//! Errors come in two kinds (RFC 6749 §4.1.2.1): while the client or the
//! redirect URI is not established, the user gets an error page and is never
//! redirected; after that, errors go back to the client's redirect URI.
use std::collections::HashMap;

use url::Url;

use super::clients::{Client, GrantType};
use super::error::{ErrorCode, OAuthError};
use super::pkce::Challenge;
use super::scope::{self, Scope};

/// `prompt` values we support (OIDC Core §3.1.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    None,
    Login,
    Consent,
    /// Accepted, and satisfied by the one account a browser session has.
    SelectAccount,
}

/// How the response travels back (OAuth 2.0 Multiple Response Types §2.1,
/// Form Post Response Mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponseMode {
    #[default]
    Query,
    FormPost,
}

/// A valid authorization request.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: Scope,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub challenge: Option<Challenge>,
    pub prompts: Vec<Prompt>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub response_mode: ResponseMode,
}

impl AuthorizeRequest {
    /// Whether this is an OpenID Connect request (scope contains `openid`).
    pub fn is_oidc(&self) -> bool {
        self.scope.contains("openid")
    }

    /// Whether `prompt` includes `p`.
    pub fn has_prompt(&self, p: Prompt) -> bool {
        self.prompts.contains(&p)
    }
}

/// Why a request was refused, and where the answer goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Show an error page; do not redirect (unknown client, bad redirect URI).
    Page(OAuthError),
    /// Send the error to the client's (verified) redirect URI.
    Redirect { error: OAuthError, redirect_uri: String, state: Option<String>, mode: ResponseMode },
}

/// Raw request parameters, each at most once (RFC 6749 §3.1).
#[derive(Debug, Default, Clone)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// Collects parameters; a repeated one is an error. Empty values count
    /// as absent (RFC 6749 §3.1).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, OAuthError> {
        let mut map = HashMap::new();
        for (k, v) in pairs {
            if v.is_empty() {
                continue;
            }
            if map.insert(k.to_owned(), v.to_owned()).is_some() {
                return Err(OAuthError::invalid_request(format!("parameter {k} is repeated")));
            }
        }
        Ok(Self(map))
    }

    /// A parameter's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// Whether `given` matches a registered redirect URI: byte for byte
/// (RFC 9700 §2.1, §4.1.3). The one exception is a public native client
/// (`native_loopback`): its loopback `http` redirect may use any port, since
/// the app listens on whatever port the OS gives it (RFC 8252 §7.3). A
/// confidential client is a server with a fixed address, so its loopback
/// URIs get no such leeway: any other local program could listen on the
/// other port and receive the code.
pub fn redirect_uri_matches(registered: &str, given: &str, native_loopback: bool) -> bool {
    if registered == given {
        return true;
    }
    if !native_loopback {
        return false;
    }
    let (Ok(mut r), Ok(mut g)) = (Url::parse(registered), Url::parse(given)) else { return false };
    let loopback = |u: &Url| {
        u.scheme() == "http"
            && match u.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                _ => false,
            }
    };
    if !loopback(&r) || !loopback(&g) {
        return false;
    }
    let _ = r.set_port(None);
    let _ = g.set_port(None);
    r.as_str() == g.as_str()
}

/// Validates a request for `client` (None: unknown `client_id`).
pub fn validate(params: &Params, client: Option<&Client>) -> Result<AuthorizeRequest, Rejection> {
    let page = |code, why: &'static str| Rejection::Page(OAuthError::new(code, why));
    if params.get("client_id").is_none() {
        return Err(page(ErrorCode::InvalidRequest, "client_id is missing"));
    }
    let Some(client) = client else {
        return Err(page(ErrorCode::InvalidClient, "client_id is not registered"));
    };
    // OIDC Core §3.1.2.1: redirect_uri is required, and must match exactly.
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return Err(page(ErrorCode::InvalidRequest, "redirect_uri is missing"));
    };
    if !client.accepts_redirect_uri(redirect_uri) {
        return Err(page(ErrorCode::InvalidRequest, "redirect_uri is not registered for this client"));
    }
    // From here on, errors go back to the client.
    let state = params.get("state").map(str::to_owned);
    let mode = match params.get("response_mode") {
        None | Some("query") => ResponseMode::Query,
        Some("form_post") => ResponseMode::FormPost,
        Some(_) => ResponseMode::Query,
    };
    let back = |error: OAuthError| Rejection::Redirect {
        error,
        redirect_uri: redirect_uri.to_owned(),
        state: state.clone(),
        mode,
    };
    let bad = |why: &'static str| back(OAuthError::invalid_request(why));
    if !matches!(params.get("response_mode"), None | Some("query") | Some("form_post")) {
        return Err(bad("response_mode must be query or form_post"));
    }
    // OIDC Core §6: request objects are not supported.
    if params.get("request").is_some() {
        return Err(back(OAuthError::new(ErrorCode::RequestNotSupported, "request objects are not supported")));
    }
    if params.get("request_uri").is_some() {
        return Err(back(OAuthError::new(ErrorCode::RequestUriNotSupported, "request_uri is not supported")));
    }
    match params.get("response_type") {
        Some("code") => {}
        None => return Err(bad("response_type is missing")),
        Some(_) => {
            return Err(back(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            )));
        }
    }
    if !client.grant_types.contains(GrantType::AuthorizationCode) {
        return Err(back(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "client may not use the authorization code grant",
        )));
    }
    let scope = parse_scope(params.get("scope")).map_err(&back)?;
    if let Some(extra) = scope.first_missing_from(&client.scope) {
        return Err(back(OAuthError::new(
            ErrorCode::InvalidScope,
            format!("scope {extra} is not allowed for this client"),
        )));
    }
    let challenge = match params.get("code_challenge") {
        Some(c) => Some(Challenge::parse(c, params.get("code_challenge_method")).map_err(&back)?),
        None if params.get("code_challenge_method").is_some() => return Err(bad("code_challenge is missing")),
        // RFC 9700 §2.1.1 / issue: public clients must use PKCE.
        None if client.public => return Err(bad("public clients must send a PKCE code_challenge (S256)")),
        None => None,
    };
    let prompts = parse_prompt(params.get("prompt")).map_err(&back)?;
    let max_age = match params.get("max_age") {
        None => None,
        Some(v) => Some(
            v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| bad("max_age must be a non-negative integer"))?,
        ),
    };
    let nonce = params.get("nonce").map(str::to_owned);
    if nonce.as_ref().is_some_and(|n| n.len() > 512) || state.as_ref().is_some_and(|s| s.len() > 2048) {
        return Err(bad("state or nonce is too long"));
    }
    Ok(AuthorizeRequest {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scope,
        state,
        nonce,
        challenge,
        prompts,
        max_age,
        login_hint: params.get("login_hint").map(|h| h.chars().take(256).collect()),
        response_mode: mode,
    })
}

/// RFC 6749 §3.3: space-delimited tokens; order kept, duplicates dropped.
fn parse_scope(raw: Option<&str>) -> Result<Scope, OAuthError> {
    let raw = raw.ok_or_else(|| OAuthError::invalid_request("scope is missing"))?;
    let scope = Scope::parse(raw)
        .map_err(|_| OAuthError::new(ErrorCode::InvalidScope, "scope has characters RFC 6749 §3.3 forbids"))?;
    if scope.is_empty() {
        return Err(OAuthError::invalid_request("scope is empty"));
    }
    Ok(scope)
}

/// OIDC Core §3.1.2.1: `none` must stand alone; `select_account` is kept
/// and asks for nothing more (there is one account per browser session).
fn parse_prompt(raw: Option<&str>) -> Result<Vec<Prompt>, OAuthError> {
    let mut prompts = Vec::new();
    let tokens: Vec<&str> = scope::words(raw.unwrap_or("")).collect();
    for tok in &tokens {
        match *tok {
            "none" => prompts.push(Prompt::None),
            "login" => prompts.push(Prompt::Login),
            "consent" => prompts.push(Prompt::Consent),
            "select_account" => prompts.push(Prompt::SelectAccount),
            _ => return Err(OAuthError::invalid_request("prompt has an unsupported value")),
        }
    }
    if prompts.contains(&Prompt::None) && tokens.len() > 1 {
        return Err(OAuthError::invalid_request("prompt=none cannot be combined with other values"));
    }
    Ok(prompts)
}

/// The parameters of a response to the client: `code` or `error` (+
/// `error_description`), then `state` and `iss` (RFC 9207 §2).
pub fn response_params(
    outcome: Result<&str, &OAuthError>,
    state: Option<&str>,
    issuer: &str,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    match outcome {
        Ok(code) => out.push(("code", code.to_owned())),
        Err(e) => {
            out.push(("error", e.code.as_str().to_owned()));
            if let Some(d) = e.wire_description() {
                out.push(("error_description", d));
            }
        }
    }
    if let Some(s) = state {
        out.push(("state", s.to_owned()));
    }
    out.push(("iss", issuer.to_owned()));
    out
}

/// The redirect URI with `params` appended to its query (never by string
/// concatenation, so `state` and the existing query survive intact).
pub fn redirect_url(redirect_uri: &str, params: &[(&'static str, String)]) -> Result<Url, OAuthError> {
    let mut url = Url::parse(redirect_uri).map_err(|_| OAuthError::new(ErrorCode::ServerError, "bad redirect URI"))?;
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    Ok(url)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    pub(crate) fn client(public: bool) -> Client {
        Client {
            client_id: "app".into(),
            name: "App".into(),
            public,
            skip_consent: false,
            redirect_uris: vec!["https://app.example/cb".into(), "http://127.0.0.1/loop".into()],
            post_logout_redirect_uris: vec!["https://app.example/bye".into()],
            grant_types: crate::oauth::clients::GrantTypes::of([GrantType::AuthorizationCode, GrantType::RefreshToken]),
            scope: Scope::words("openid profile email offline_access"),
            web_origins: vec![],
            resource_audiences: vec![],
            service_roles: vec![],
            created_at: 0,
        }
    }

    pub(crate) fn params(extra: &[(&str, &str)]) -> Params {
        let mut pairs = vec![
            ("response_type", "code"),
            ("client_id", "app"),
            ("redirect_uri", "https://app.example/cb"),
            ("scope", "openid email"),
            ("state", "s 1&x=y"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ];
        for (k, v) in extra {
            pairs.retain(|(pk, _)| pk != k);
            pairs.push((k, v));
        }
        Params::from_pairs(pairs).unwrap()
    }

    fn code_of(r: Result<AuthorizeRequest, Rejection>) -> (ErrorCode, bool) {
        match r.unwrap_err() {
            Rejection::Page(e) => (e.code, false),
            Rejection::Redirect { error, .. } => (error.code, true),
        }
    }

    #[test]
    fn a_good_request_validates() {
        let r =
            validate(&params(&[("nonce", "n"), ("prompt", "login consent"), ("max_age", "60")]), Some(&client(true)))
                .unwrap();
        assert_eq!(r.scope.to_string(), "openid email");
        assert_eq!(r.state.as_deref(), Some("s 1&x=y"));
        assert!(r.is_oidc() && r.has_prompt(Prompt::Login) && r.max_age == Some(60));
    }

    #[test]
    fn unknown_client_or_bad_redirect_uri_never_redirect_rfc_6749_4_1_2_1() {
        assert_eq!(code_of(validate(&params(&[]), None)), (ErrorCode::InvalidClient, false));
        let bad = params(&[("redirect_uri", "https://evil.example/cb")]);
        assert_eq!(code_of(validate(&bad, Some(&client(false)))), (ErrorCode::InvalidRequest, false));
        let prefix = params(&[("redirect_uri", "https://app.example/cb/extra")]);
        assert!(!code_of(validate(&prefix, Some(&client(false)))).1, "exact match only");
        let missing = Params::from_pairs([("client_id", "app"), ("response_type", "code")]).unwrap();
        assert!(!code_of(validate(&missing, Some(&client(false)))).1);
    }

    #[test]
    fn repeated_parameters_are_refused_rfc_6749_3_1() {
        assert!(Params::from_pairs([("state", "a"), ("state", "b")]).is_err());
    }

    #[test]
    fn public_native_loopback_redirects_may_vary_the_port_rfc_8252_7_3() {
        assert!(redirect_uri_matches("http://127.0.0.1/loop", "http://127.0.0.1:51234/loop", true));
        assert!(redirect_uri_matches("http://[::1]:80/loop", "http://[::1]:51234/loop", true));
        assert!(!redirect_uri_matches("http://127.0.0.1/loop", "http://127.0.0.1:51234/other", true));
        assert!(!redirect_uri_matches("https://app.example/cb", "https://app.example:8443/cb", true));
        assert!(
            !redirect_uri_matches("http://localhost/loop", "http://localhost:51234/loop", true),
            "IP literals only"
        );
    }

    #[test]
    fn confidential_clients_match_exactly_even_on_loopback_rfc_9700_2_1_and_4_1_3() {
        assert!(redirect_uri_matches("http://127.0.0.1:8080/cb", "http://127.0.0.1:8080/cb", false));
        assert!(!redirect_uri_matches("http://127.0.0.1:8080/cb", "http://127.0.0.1:9090/cb", false));
        assert!(!redirect_uri_matches("http://127.0.0.1/cb", "http://127.0.0.1:9090/cb", false));
        let mut c = client(false);
        c.redirect_uris = vec!["http://127.0.0.1:8080/cb".into()];
        let other_port = params(&[("redirect_uri", "http://127.0.0.1:9090/cb")]);
        // RFC 6749 §4.1.2.1: a mismatching redirect URI is an error page, never a redirect.
        assert_eq!(code_of(validate(&other_port, Some(&c))), (ErrorCode::InvalidRequest, false));
        c.public = true;
        assert!(validate(&other_port, Some(&c)).is_ok(), "a public native client may vary the port");
    }

    #[test]
    fn later_errors_redirect_with_the_right_codes() {
        let c = client(false);
        let cases = [
            (params(&[("response_type", "token")]), ErrorCode::UnsupportedResponseType),
            (params(&[("scope", "openid admin")]), ErrorCode::InvalidScope),
            (params(&[("code_challenge_method", "plain")]), ErrorCode::InvalidRequest),
            (params(&[("prompt", "none login")]), ErrorCode::InvalidRequest),
            (params(&[("max_age", "-1")]), ErrorCode::InvalidRequest),
            (params(&[("request", "eyJ...")]), ErrorCode::RequestNotSupported),
            (params(&[("response_mode", "fragment")]), ErrorCode::InvalidRequest),
        ];
        for (p, code) in cases {
            assert_eq!(code_of(validate(&p, Some(&c))), (code, true));
        }
    }

    #[test]
    fn public_clients_must_use_pkce() {
        let p = Params::from_pairs([
            ("response_type", "code"),
            ("client_id", "app"),
            ("redirect_uri", "https://app.example/cb"),
            ("scope", "openid"),
        ])
        .unwrap();
        assert_eq!(code_of(validate(&p, Some(&client(true)))), (ErrorCode::InvalidRequest, true));
        assert!(validate(&p, Some(&client(false))).is_ok(), "confidential clients may omit it");
    }

    #[test]
    fn responses_keep_state_exactly_and_name_the_issuer_rfc_9207() {
        let state = "a b&c=d%/é";
        let params = response_params(Ok("xyz"), Some(state), "https://id.example");
        let url = redirect_url("https://app.example/cb?keep=1", &params).unwrap();
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(pairs[0], ("keep".into(), "1".into()));
        assert!(pairs.contains(&("state".into(), state.into())));
        assert!(pairs.contains(&("iss".into(), "https://id.example".into())));
        assert!(pairs.contains(&("code".into(), "xyz".into())));
    }
}
