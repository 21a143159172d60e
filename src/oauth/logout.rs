//! RP-Initiated Logout 1.0 §2–§3: where the browser goes after sign-out.
//! A `post_logout_redirect_uri` is followed only when it is registered, exactly,
//! for the client that the `id_token_hint` or `client_id` names (the two
//! must agree); `state` is appended with the URL encoder. Anything else is
//! refused, never followed. [`target`] is the pure rule; the service step
//! [`Clients::logout_target`] looks the client up.
//!
//! Must not import axum.
use super::clients::{self, Client, Clients};

/// The RP's logout parameters (RP-Initiated Logout §2) that decide the target.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogoutRequest<'a> {
    pub post_logout_redirect_uri: Option<&'a str>,
    pub state: Option<&'a str>,
    pub client_id: Option<&'a str>,
    /// The `aud` of a verified `id_token_hint`.
    pub hinted_client: Option<&'a str>,
}

/// Why a logout target is refused; `Display` is the sentence for the page.
#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    #[error("client_id does not match the id_token_hint.")]
    ClientMismatch,
    #[error("A post_logout_redirect_uri needs an id_token_hint or a client_id.")]
    NoClient,
    #[error("That post_logout_redirect_uri is not registered for the application.")]
    NotRegistered,
    #[error("Invalid post_logout_redirect_uri.")]
    Invalid,
    #[error("storage failed")]
    Clients(#[from] clients::Error),
}

/// Which client the request is about, if it asks to be sent back at all
/// (`Ok(None)`: no `post_logout_redirect_uri`, our own page).
pub fn which_client<'a>(req: &LogoutRequest<'a>) -> Result<Option<&'a str>, LogoutError> {
    if req.post_logout_redirect_uri.is_none_or(str::is_empty) {
        return Ok(None);
    }
    if let (Some(a), Some(b)) = (req.hinted_client, req.client_id)
        && a != b
    {
        return Err(LogoutError::ClientMismatch);
    }
    req.hinted_client.or(req.client_id).map(Some).ok_or(LogoutError::NoClient)
}

/// The URL to send the browser to: `uri` if `client` registered it, with
/// `state` appended (RP-Initiated Logout §3).
pub fn target(client: Option<&Client>, uri: &str, state: Option<&str>) -> Result<String, LogoutError> {
    if !client.is_some_and(|c| c.accepts_post_logout_uri(uri)) {
        return Err(LogoutError::NotRegistered);
    }
    let mut url = url::Url::parse(uri).map_err(|_| LogoutError::Invalid)?;
    if let Some(st) = state {
        url.query_pairs_mut().append_pair("state", st);
    }
    Ok(url.into())
}

impl Clients {
    /// Where to send the browser after sign-out: `Some(url)` for the
    /// client's registered post-logout URI, `None` for our own page.
    pub async fn logout_target(&self, req: &LogoutRequest<'_>) -> Result<Option<String>, LogoutError> {
        let Some(client_id) = which_client(req)? else { return Ok(None) };
        let uri = req.post_logout_redirect_uri.unwrap_or_default();
        let client = self.get(client_id).await?;
        target(client.as_ref(), uri, req.state).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::request::tests::client;

    const BYE: &str = "https://app.example/bye";

    #[test]
    fn without_a_uri_the_browser_stays_with_us() {
        assert_eq!(which_client(&LogoutRequest::default()).unwrap(), None);
        let empty = LogoutRequest { post_logout_redirect_uri: Some(""), client_id: Some("app"), ..Default::default() };
        assert_eq!(which_client(&empty).unwrap(), None);
    }

    #[test]
    fn the_hint_and_client_id_must_agree_rp_initiated_logout_2() {
        let req = LogoutRequest { post_logout_redirect_uri: Some(BYE), ..Default::default() };
        assert!(matches!(which_client(&req), Err(LogoutError::NoClient)));
        let both = LogoutRequest { client_id: Some("a"), hinted_client: Some("b"), ..req };
        assert!(matches!(which_client(&both), Err(LogoutError::ClientMismatch)));
        let hinted = LogoutRequest { hinted_client: Some("app"), ..req };
        assert_eq!(which_client(&hinted).unwrap(), Some("app"));
    }

    #[test]
    fn only_a_registered_uri_is_followed_with_state_encoded_rp_initiated_logout_3() {
        let c = client(false);
        assert_eq!(target(Some(&c), BYE, Some("a b&c")).unwrap(), "https://app.example/bye?state=a+b%26c");
        assert_eq!(target(Some(&c), BYE, None).unwrap(), BYE);
        assert!(matches!(target(Some(&c), "https://app.example/bye2", None), Err(LogoutError::NotRegistered)));
        assert!(matches!(target(None, BYE, None), Err(LogoutError::NotRegistered)), "unknown client");
    }
}
