//! CORS (the Fetch standard's CORS protocol) for the endpoints a browser app
//! calls from its own origin. One table ([`endpoint`]) says which paths take
//! part, who may read their answers and with which methods:
//!
//! ```text
//! /token, /revoke                          web origins of clients   POST
//! /userinfo                                web origins of clients   GET, POST
//! /.well-known/openid-configuration,
//! /.well-known/oauth-authorization-server,
//! /jwks.json                               anyone (`*`)             GET
//! ```
//!
//! A preflight (`OPTIONS` with `Access-Control-Request-Method`) carries no
//! client_id, so for the client endpoints it is allowed when the origin is a
//! web origin of some registered client and the method and request headers are
//! allowed; otherwise it gets 403 and no CORS headers. The actual request is
//! checked by its handler against THAT client's origins before anything is
//! spent ([`allowed_for`], answered with [`refused`]); this layer then adds
//! `Access-Control-Allow-Origin` unless the handler refused. Which origins a
//! client has is `oauth::clients`' rule. `Access-Control-Allow-Credentials`
//! is never sent: these endpoints take no cookies, and `*` is only used where
//! nothing is private.
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::http::error::OAuthJsonError;
use crate::oauth::clients::{Client, Clients};
use crate::oauth::{ErrorCode, OAuthError};

/// Who may read an endpoint's answers from a browser page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readers {
    /// Any page (`Access-Control-Allow-Origin: *`): public documents.
    Anyone,
    /// Pages on a registered client's web origin, the origin echoed back.
    ClientOrigins,
}

/// An endpoint that takes part in CORS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// Who may read its answers.
    pub readers: Readers,
    /// The methods a page may use on it.
    pub methods: &'static [&'static str],
}

/// Request headers (beyond the CORS-safelisted ones) a page may send to the
/// client endpoints: a bearer token or Basic credentials, and a content type.
pub const ALLOWED_HEADERS: [&str; 2] = ["Authorization", "Content-Type"];
/// How long a browser may reuse a preflight answer, in seconds.
pub const MAX_AGE_SECS: u32 = 600;

/// The CORS table (see the module doc); `None` for every other path.
pub fn endpoint(path: &str) -> Option<Endpoint> {
    let clients = |methods| Some(Endpoint { readers: Readers::ClientOrigins, methods });
    match path {
        "/token" | "/revoke" => clients(&["POST"]),
        "/userinfo" => clients(&["GET", "POST"]),
        "/.well-known/openid-configuration" | "/.well-known/oauth-authorization-server" | "/jwks.json" => {
            Some(Endpoint { readers: Readers::Anyone, methods: &["GET"] })
        }
        _ => None,
    }
}

/// How to answer a request that carries an `Origin`.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Let the page read the answer: `Access-Control-Allow-Origin` with this value.
    Allow(String),
    /// No CORS headers, so the browser withholds the answer (a preflight: 403).
    Refuse,
}

/// A preflight's verdict. `method` and `headers` are its
/// `Access-Control-Request-Method` and `-Headers`; `origin_known` says whether
/// `origin` is a web origin of some registered client.
pub fn preflight(ep: &Endpoint, origin: &str, method: &str, headers: Option<&str>, origin_known: bool) -> Decision {
    // Fetch: methods compare case-sensitively (browsers send GET and POST uppercased).
    if !ep.methods.contains(&method) {
        return Decision::Refuse;
    }
    match ep.readers {
        Readers::Anyone => Decision::Allow("*".into()),
        Readers::ClientOrigins => {
            let mut asked = headers.unwrap_or_default().split(',').map(str::trim).filter(|h| !h.is_empty());
            let headers_ok = asked.all(|h| ALLOWED_HEADERS.iter().any(|a| a.eq_ignore_ascii_case(h)));
            if headers_ok && origin_known { Decision::Allow(origin.to_owned()) } else { Decision::Refuse }
        }
    }
}

/// An actual request's verdict: `refused` when its handler found the origin
/// is not one of that client's.
pub fn actual(ep: &Endpoint, origin: &str, refused: bool, origin_known: bool) -> Decision {
    match ep.readers {
        Readers::Anyone => Decision::Allow("*".into()),
        Readers::ClientOrigins if !refused && origin_known => Decision::Allow(origin.to_owned()),
        Readers::ClientOrigins => Decision::Refuse,
    }
}

/// Marks a response as refused for its origin, so the layer adds no CORS headers.
#[derive(Debug, Clone, Copy)]
pub struct Refused;

/// The answer to a browser request from an origin the client does not list:
/// 403 `access_denied` as JSON, without CORS headers, before anything (a code,
/// a refresh token) is spent.
pub fn refused() -> Response {
    let e = OAuthError::new(ErrorCode::AccessDenied, "this client does not allow requests from this web origin");
    let mut res = OAuthJsonError::new(e).into_response();
    res.extensions_mut().insert(Refused);
    res
}

/// The request's `Origin`, if a browser sent one.
pub fn origin(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
}

/// Whether this request may act as `client`: requests without `Origin` (not
/// from a page) always may; a page must be on one of the client's web origins.
pub fn allowed_for(headers: &HeaderMap, client: &Client) -> bool {
    origin(headers).is_none_or(|o| client.allows_origin(o))
}

/// As [`allowed_for`], for a client known only by id (from an access token).
pub async fn allowed_for_id(clients: &Clients, headers: &HeaderMap, client_id: &str) -> bool {
    let Some(origin) = origin(headers) else { return true };
    match clients.allows_origin_for(client_id, origin).await {
        Ok(allowed) => allowed,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the client's web origins; the request is refused");
            false
        }
    }
}

/// The layer: answers preflights for the table's paths and adds CORS headers
/// to their answers. Every other path passes untouched.
pub async fn layer(State(clients): State<Clients>, req: Request, next: Next) -> Response {
    let Some(ep) = endpoint(req.uri().path()) else { return next.run(req).await };
    let origin = origin(req.headers()).map(str::to_owned);
    let asked = header_str(req.headers(), header::ACCESS_CONTROL_REQUEST_METHOD);
    let Some(origin) = origin else {
        let mut res = next.run(req).await;
        decorate(&mut res, &ep, None);
        return res;
    };
    if req.method() == Method::OPTIONS
        && let Some(method) = asked
    {
        let headers = header_str(req.headers(), header::ACCESS_CONTROL_REQUEST_HEADERS);
        let known = ep.readers == Readers::ClientOrigins && is_known(&clients, &origin).await;
        return match preflight(&ep, &origin, &method, headers.as_deref(), known) {
            Decision::Allow(allow) => preflight_answer(&ep, &allow),
            Decision::Refuse => StatusCode::FORBIDDEN.into_response(),
        };
    }
    let mut res = next.run(req).await;
    let refused = res.extensions().get::<Refused>().is_some();
    let known = ep.readers == Readers::ClientOrigins && !refused && is_known(&clients, &origin).await;
    decorate(&mut res, &ep, Some(actual(&ep, &origin, refused, known)));
    res
}

fn header_str(headers: &HeaderMap, name: HeaderName) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

async fn is_known(clients: &Clients, origin: &str) -> bool {
    match clients.is_web_origin(origin).await {
        Ok(known) => known,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the clients' web origins; CORS refused");
            false
        }
    }
}

fn preflight_answer(ep: &Endpoint, allow: &str) -> Response {
    let mut res = StatusCode::NO_CONTENT.into_response();
    let h = res.headers_mut();
    set(h, header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
    set(h, header::ACCESS_CONTROL_ALLOW_METHODS, &ep.methods.join(", "));
    set(h, header::ACCESS_CONTROL_MAX_AGE, &MAX_AGE_SECS.to_string());
    match ep.readers {
        // Public documents: any request header (a wildcard here never covers
        // Authorization, and nothing private is behind it anyway).
        Readers::Anyone => set(h, header::ACCESS_CONTROL_ALLOW_HEADERS, "*"),
        Readers::ClientOrigins => {
            set(h, header::ACCESS_CONTROL_ALLOW_HEADERS, &ALLOWED_HEADERS.join(", "));
            h.append(
                header::VARY,
                HeaderValue::from_static("Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
            );
        }
    }
    res
}

/// Adds what `decision` allows; answers of the client endpoints always say
/// they vary by `Origin`, since another origin may get another answer.
fn decorate(res: &mut Response, ep: &Endpoint, decision: Option<Decision>) {
    let h = res.headers_mut();
    h.remove(header::ACCESS_CONTROL_ALLOW_ORIGIN);
    match ep.readers {
        Readers::Anyone => set(h, header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        Readers::ClientOrigins => {
            h.append(header::VARY, HeaderValue::from_static("Origin"));
            if let Some(Decision::Allow(origin)) = decision {
                set(h, header::ACCESS_CONTROL_ALLOW_ORIGIN, &origin);
                // A page can then read a 401's Bearer or Basic challenge.
                set(h, header::ACCESS_CONTROL_EXPOSE_HEADERS, "WWW-Authenticate");
            }
        }
    }
}

fn set(h: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPA: &str = "https://spa.example";

    #[test]
    fn the_table_names_the_browser_endpoints_only() {
        assert_eq!(endpoint("/token").unwrap().methods, ["POST"]);
        assert_eq!(endpoint("/revoke").unwrap().methods, ["POST"]);
        assert_eq!(endpoint("/userinfo").unwrap().methods, ["GET", "POST"]);
        for public in ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/jwks.json"] {
            assert_eq!(endpoint(public).unwrap().readers, Readers::Anyone, "{public}");
        }
        for other in ["/introspect", "/authorize", "/login", "/token/"] {
            assert!(endpoint(other).is_none(), "{other}");
        }
    }

    #[test]
    fn a_preflight_needs_a_known_origin_an_allowed_method_and_allowed_headers() {
        let token = endpoint("/token").unwrap();
        let userinfo = endpoint("/userinfo").unwrap();
        assert_eq!(preflight(&token, SPA, "POST", Some("content-type"), true), Decision::Allow(SPA.into()));
        assert_eq!(preflight(&userinfo, SPA, "GET", Some("Authorization"), true), Decision::Allow(SPA.into()));
        assert_eq!(
            preflight(&userinfo, SPA, "POST", Some("authorization, Content-Type"), true),
            Decision::Allow(SPA.into())
        );
        assert_eq!(preflight(&token, SPA, "POST", None, false), Decision::Refuse, "unlisted origin");
        assert_eq!(preflight(&token, SPA, "GET", None, true), Decision::Refuse, "unlisted method");
        assert_eq!(preflight(&token, SPA, "DELETE", None, true), Decision::Refuse, "unlisted method");
        assert_eq!(preflight(&token, SPA, "post", None, true), Decision::Refuse, "methods are case-sensitive");
        assert_eq!(preflight(&token, SPA, "POST", Some("authorization, x-api-key"), true), Decision::Refuse);
    }

    #[test]
    fn public_documents_are_readable_from_anywhere_but_only_by_get() {
        let discovery = endpoint("/.well-known/openid-configuration").unwrap();
        assert_eq!(preflight(&discovery, SPA, "GET", Some("x-anything"), false), Decision::Allow("*".into()));
        assert_eq!(preflight(&discovery, SPA, "POST", None, false), Decision::Refuse);
        assert_eq!(actual(&discovery, SPA, false, false), Decision::Allow("*".into()));
    }

    #[test]
    fn an_actual_request_is_readable_only_when_its_client_lists_the_origin() {
        let token = endpoint("/token").unwrap();
        assert_eq!(actual(&token, SPA, false, true), Decision::Allow(SPA.into()));
        assert_eq!(actual(&token, SPA, true, true), Decision::Refuse, "the handler refused it for this client");
        assert_eq!(actual(&token, SPA, false, false), Decision::Refuse, "no client lists it");
    }

    #[test]
    fn answers_never_allow_credentials() {
        let mut res = preflight_answer(&endpoint("/token").unwrap(), SPA);
        assert!(res.headers().get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
        assert_eq!(res.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], SPA);
        decorate(&mut res, &endpoint("/token").unwrap(), Some(Decision::Refuse));
        assert!(res.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        assert!(res.headers().get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
    }
}
