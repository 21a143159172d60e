//! Authorization requests parked while the user signs in (issue 13).
//!
//! An authorization request may be as large as a browser carries (a 2 KB
//! `state` of non-ASCII text is 6 KB encoded), too large to travel through
//! the sign-in pages in `next`. So when `/authorize` must send the user to
//! sign in, it parks the validated parameters here under a random id, and
//! `next` becomes `/authorize?pending=<id>`: short enough for every step in
//! between (the second step, an upstream sign-in, the expired-password
//! page). The request comes back byte for byte, so `state` reaches the
//! client exactly as it was sent (RFC 6749 §4.1.2).
//!
//! ```text
//! /authorize?…  ──(not signed in)──▶ park ──▶ /login?next=/authorize?pending=ID
//!                                                 │ sign-in, 2nd step, upstream …
//!  code ◀── consent ◀── /authorize?pending=ID ◀───┘   (found until it expires)
//! ```
//!
//! The id is not bound to the browser that parked it. It holds nothing that
//! the authorization URL did not: whoever has the id could as well have sent
//! that URL (and an attacker can build such URLs for any client anyway).
//! Resuming it still needs a signed-in user in the resuming browser, the
//! parameters are validated again against the client, and the code goes to
//! the client's registered redirect URI only. Binding would only break a
//! sign-in that moves between browsers (a mail link opened elsewhere) and
//! would protect nothing.
use super::Tokens;
use crate::oauth::error::GrantError;
use crate::security::token;
use crate::store::{self, NewPending};

/// How long a parked request waits for its sign-in, in seconds.
pub const PENDING_SECS: i64 = 30 * 60;

/// A parked request, found again.
#[derive(Debug, Clone)]
pub struct Parked {
    /// The request's parameters, in their original order.
    pub pairs: Vec<(String, String)>,
    /// When it was parked: a sign-in after this satisfies `prompt=login`.
    pub created_at: i64,
}

impl Tokens {
    /// Parks a validated request for `client_id`; returns its id.
    pub async fn park_request(&self, client_id: &str, pairs: &[(String, String)]) -> Result<String, GrantError> {
        let params = serde_json::to_string(pairs).map_err(|e| store::Error::Corrupt(e.to_string()))?;
        let id = token::new_secret();
        let now = self.clock.unix();
        let row = NewPending { id: &id, client_id, params: &params, now, expires_at: now + PENDING_SECS };
        self.store.conn().await?.db().insert_pending_authorize(&row).await?;
        Ok(id)
    }

    /// The parked request `id`, unless it is unknown or expired.
    pub async fn parked_request(&self, id: &str) -> Result<Option<Parked>, GrantError> {
        // Ours are 43 URL-safe characters; anything else is unknown without a query.
        if id.len() != 43 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Ok(None);
        }
        let row = self.store.conn().await?.db().find_pending_authorize(id, self.clock.unix()).await?;
        let Some(row) = row else { return Ok(None) };
        let pairs = serde_json::from_str(&row.params).map_err(|e| store::Error::Corrupt(e.to_string()))?;
        Ok(Some(Parked { pairs, created_at: row.created_at }))
    }
}
