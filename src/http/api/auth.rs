//! Bearer authentication of the JSON API (RFC 6750 §2.1: the
//! `Authorization` header only; a token in the query or body is not read).
//!
//! [`authenticate`] runs on every protected route: it asks
//! `Tokens::api_principal` who the token acts for (401 `invalid_token` when
//! it is not live), puts the [`Caller`] in the request, runs the handler,
//! and then has the call audited (`api_call`, with the route and status) so
//! that refused calls are on record too. The handler states the scope it
//! needs by extracting [`AccountCaller`] or [`AdminCaller`] (403
//! `insufficient_scope` otherwise; the rule is `oauth::tokens::api_access`).
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::problem::Problem;
use crate::app::AppState;
use crate::http::audit::AuditCtx;
use crate::http::ip_gate;
use crate::oauth::tokens::{ApiScope, Principal, api_access};
use crate::oauth::{ErrorCode, OAuthError};
use crate::security::audit::{self, VIA_API};

/// The authenticated caller of an API request, and the audit context its
/// service calls take (actor: the user, or the client for its own token;
/// `via: "api"`).
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub ctx: audit::Context,
}

/// The `Bearer` token of the `Authorization` header; `Ok(None)` when absent.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().map_err(|_| OAuthError::new(ErrorCode::InvalidToken, "the token is not valid"))?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        // Another scheme is no bearer token: answered like a missing one.
        return Ok(None);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(OAuthError::new(ErrorCode::InvalidToken, "the bearer token is empty"));
    }
    Ok(Some(token))
}

/// Middleware of the protected API routes (see the module docs).
pub async fn authenticate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let token = match bearer(&parts.headers) {
        Ok(Some(t)) => t.to_owned(),
        Ok(None) => return Problem::unauthorized(None).into_response(),
        Err(e) => return Problem::unauthorized(Some(&e)).into_response(),
    };
    let principal = match state.tokens.api_principal(&token).await {
        Ok(p) => p,
        Err(e) => return Problem::from(e).into_response(),
    };
    let Ok(info) = AuditCtx::from_request_parts(&mut parts, &state).await;
    let ctx = info.context(principal.actor()).via(VIA_API);
    let method = parts.method.as_str().to_owned();
    let route = parts.extensions.get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let refused = address_refused(&state, &mut parts, &principal).await;
    parts.extensions.insert(Caller { principal, ctx: ctx.clone() });
    let res = if refused {
        Problem::forbidden("this address may not use this account's roles (IP rules)").into_response()
    } else {
        next.run(Request::from_parts(parts, body)).await
    };
    if let Err(e) = state.tokens.note_api_call(&ctx, &method, &route, res.status().as_u16()).await {
        // The call's own change (if any) is audited by its service; a lost
        // api_call row is logged rather than turning a done change into a 500.
        tracing::error!(error = %e, "recording an API call in the audit log failed");
    }
    res
}

/// Whether the IP rules refuse the caller here: role rules (a user's roles,
/// or a client's service roles) hold for every API call as for every page
/// of a signed-in user, and a client's own token also obeys the client's
/// rules (as at `/token`).
async fn address_refused(state: &AppState, parts: &mut Parts, p: &Principal) -> bool {
    let ip = ip_gate::client_ip_of(parts, &state.ip);
    if !ip_gate::roles_allowed(state, &p.roles, ip).await {
        return true;
    }
    p.user_id.is_none() && !ip_gate::client_allowed(state, &p.client.client_id, ip).await
}

/// The caller, checked for `need`.
fn caller_for(parts: &Parts, need: ApiScope) -> Result<Caller, Problem> {
    let Some(caller) = parts.extensions.get::<Caller>() else {
        // Only reachable if a route was mounted without `authenticate`.
        tracing::error!("BUG: an API route without the authenticate layer");
        return Err(Problem::unauthorized(None));
    };
    api_access(&caller.principal, need).map_err(|e| Problem::insufficient_scope(need.as_str(), &e))?;
    Ok(caller.clone())
}

/// A caller whose token has the `account` scope and a user.
#[derive(Debug, Clone)]
pub struct AccountCaller {
    /// The token's user.
    pub user_id: String,
    pub caller: Caller,
}

impl<S: Send + Sync> FromRequestParts<S> for AccountCaller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let caller = caller_for(parts, ApiScope::Account)?;
        let user_id = caller.principal.user_id.clone().unwrap_or_default();
        Ok(Self { user_id, caller })
    }
}

impl AccountCaller {
    /// The audit context of the call.
    pub fn ctx(&self) -> &audit::Context {
        &self.caller.ctx
    }
}

/// A caller allowed the management routes (`admin` scope and role).
#[derive(Debug, Clone)]
pub struct AdminCaller(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for AdminCaller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        caller_for(parts, ApiScope::Admin).map(Self)
    }
}

impl AdminCaller {
    /// The audit context of the call.
    pub fn ctx(&self) -> &audit::Context {
        &self.0.ctx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_bearer_scheme_is_read_rfc_6750_2_1() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h).unwrap(), None);
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h).unwrap(), None);
        h.insert(header::AUTHORIZATION, "bearer tok".parse().unwrap());
        assert_eq!(bearer(&h).unwrap(), Some("tok"));
        h.insert(header::AUTHORIZATION, "Bearer ".parse().unwrap());
        assert!(bearer(&h).is_err());
    }

    #[test]
    fn fuzz_bearer_header() {
        use proptest::prelude::*;
        let scheme = prop::sample::select(vec!["Bearer", "bearer", "BEARER", "Basic", "Bearer:", ""]);
        let token = prop_oneof!["[A-Za-z0-9._~+/-]{1,60}=*", crate::fuzz::text()];
        let sep = prop::sample::select(vec![" ", "  ", "\t", "", " \t "]);
        crate::fuzz::check("bearer_header", (scheme, sep, token), |(scheme, sep, token)| {
            let mut h = HeaderMap::new();
            let value = format!("{scheme}{sep}{token}");
            let Ok(v) = value.parse::<axum::http::HeaderValue>() else { return Ok(()) };
            h.insert(header::AUTHORIZATION, v);
            if let Ok(Some(t)) = bearer(&h) {
                // RFC 6750 §2.1: the scheme, one space, the token (trimmed).
                prop_assert!(value.split_once(' ').is_some_and(|(s, _)| s.eq_ignore_ascii_case("bearer")));
                prop_assert!(!t.is_empty() && t == t.trim());
            }
            let well_formed = !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic());
            if scheme == "Bearer" && sep == " " && well_formed {
                prop_assert_eq!(bearer(&h).ok().flatten(), Some(token.as_str()));
            }
            Ok(())
        });
    }
}
