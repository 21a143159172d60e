//! The account-linking protocol of upstream sign-in (issue 7): the flows in
//! progress and their typed payloads, the rule that only a sign-in made
//! after an offer proves the account, and the choice between asking for that
//! proof and confirming the link.
//!
//! ```text
//!  /login/{p} ──> PendingFlow (state, nonce, PKCE; bound to the browser) ──> provider
//!  callback ──> take PendingFlow ──> identity ──> sign_in(Upstream)
//!                     └─ address belongs to an account ──> WaitingLink (offer)
//!  /login/link ──> not proved since the offer ──> Prove (sign in with prompt=login)
//!              └─> proved ──> Confirm ──(POST)──> link, the WaitingLink spent
//! ```
//!
//! Payloads are serde structs owned here; http stores no JSON and never sees
//! a flow row. Must not import axum or anything under `http`.
use serde::{Deserialize, Serialize};

use super::sign_in::{LinkOffer, SignInCtx, UpstreamProof};
use super::upstream::{FlowKind, FlowStart};
use super::{Accounts, CurrentUser, Error, Result};
use crate::security::audit;
use crate::security::token;
use crate::store::{self, FlowRow};
use crate::upstream::{Identity, Pending};

/// A flow sent to the provider: its secrets, kept here until the callback.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
struct PendingFlow {
    pending: Pending,
}

/// An identity waiting for its link to be confirmed.
#[derive(Serialize, Deserialize)]
struct WaitingLink {
    identity: Identity,
    /// The session the browser had when the link was offered ("" if none):
    /// it does not count as proof.
    session: String,
}

/// A flow that came back from the provider.
pub struct ReturnedFlow {
    /// The secrets to finish it with.
    pub pending: Pending,
    /// Where the sign-in goes afterwards (as stored; check before use).
    pub next: String,
    /// Set when a signed-in user started it from `/account` to add a link.
    pub link_user_id: Option<String>,
}

/// What `/login/link` shows.
pub enum LinkView {
    /// No link waits in this browser.
    Missing,
    /// The viewer has not proved the account since the offer: sign in first.
    Prove { email: String },
    /// The viewer proved it: ask to confirm.
    Confirm { provider: String, email: String, next: String },
}

/// What confirming a waiting link did.
pub enum LinkConfirm {
    Missing,
    /// Not proved since the offer: sign in first.
    Prove,
    /// Linked; go to `next` (as stored; check before use).
    Linked {
        next: String,
    },
    /// The identity belongs to another account meanwhile.
    AlreadyLinked {
        provider: String,
    },
}

fn corrupt(e: serde_json::Error) -> Error {
    Error::Store(store::Error::Corrupt(format!("upstream flow payload: {e}")))
}

/// Only a sign-in made after the link was offered proves the account: an
/// older session might be someone else's at a shared computer. Every
/// sign-in starts a new session, so the session the browser had at the
/// offer never counts, even within the same second.
fn proved(user: &CurrentUser, flow: &FlowRow, waiting: &WaitingLink) -> bool {
    user.auth_time >= flow.created_at && user.session_id != waiting.session
}

impl Accounts {
    /// Keeps a flow's secrets before the browser goes to the provider.
    /// Returns the browser binding to keep in a cookie: `browser` when it is
    /// a plausible one (one per browser, so flows in two tabs both work),
    /// otherwise a new one.
    pub async fn start_upstream_flow(
        &self,
        provider: &str,
        pending: &Pending,
        browser: Option<&str>,
        next: &str,
        link_user_id: Option<&str>,
    ) -> Result<String> {
        let browser = browser.filter(|b| b.len() <= 64).map_or_else(token::new_secret, str::to_owned);
        let secret = serde_json::to_string(&PendingFlow { pending: pending.clone() }).map_err(corrupt)?;
        let flow = FlowStart {
            kind: FlowKind::Start,
            key: &pending.state,
            browser: &browser,
            provider,
            secret: &secret,
            next,
            link_user_id,
        };
        self.begin_upstream_flow(&flow).await?;
        Ok(browser)
    }

    /// Takes (once) the flow this browser started with `provider` under `state`.
    pub async fn returned_upstream_flow(
        &self,
        state: &str,
        browser: &str,
        provider: &str,
    ) -> Result<Option<ReturnedFlow>> {
        let Some(flow) = self.take_upstream_flow(FlowKind::Start, state, browser, Some(provider)).await? else {
            return Ok(None);
        };
        let PendingFlow { pending } = serde_json::from_str(&flow.secret).map_err(corrupt)?;
        Ok(Some(ReturnedFlow { pending, next: flow.next, link_user_id: flow.link_user_id }))
    }

    /// The identity's address belongs to an account: the identity waits,
    /// bound to this browser, for the owner to sign in and confirm.
    pub(super) async fn offer_link(&self, proof: &UpstreamProof, ctx: &SignInCtx) -> Result<LinkOffer> {
        let key = token::new_secret();
        let waiting = WaitingLink {
            identity: proof.identity.clone(),
            session: ctx.previous.as_ref().map(|u| u.session_id.clone()).unwrap_or_default(),
        };
        let secret = serde_json::to_string(&waiting).map_err(corrupt)?;
        let next = ctx.next.as_deref().unwrap_or_default();
        let flow = FlowStart {
            kind: FlowKind::Link,
            key: &key,
            browser: &proof.browser,
            provider: &proof.provider,
            secret: &secret,
            next,
            link_user_id: None,
        };
        self.begin_upstream_flow(&flow).await?;
        let email = proof.identity.email.clone().unwrap_or_default();
        Ok(LinkOffer { key, provider: proof.provider.clone(), email })
    }

    /// The link waiting behind `key` in this browser.
    async fn waiting(&self, key: &str, browser: &str, take: bool) -> Result<Option<(FlowRow, WaitingLink)>> {
        let flow = if take {
            self.take_upstream_flow(FlowKind::Link, key, browser, None).await?
        } else {
            self.peek_upstream_flow(FlowKind::Link, key, browser).await?
        };
        let Some(flow) = flow else { return Ok(None) };
        let waiting = serde_json::from_str(&flow.secret).map_err(corrupt)?;
        Ok(Some((flow, waiting)))
    }

    /// What `/login/link` shows to `viewer`.
    pub async fn waiting_link(&self, key: &str, browser: &str, viewer: Option<&CurrentUser>) -> Result<LinkView> {
        let Some((flow, waiting)) = self.waiting(key, browser, false).await? else { return Ok(LinkView::Missing) };
        let email = waiting.identity.email.clone().unwrap_or_default();
        if !viewer.is_some_and(|u| proved(u, &flow, &waiting)) {
            return Ok(LinkView::Prove { email });
        }
        Ok(LinkView::Confirm { provider: flow.provider, email, next: flow.next })
    }

    /// Links the waiting identity to `viewer`'s account, if the viewer
    /// proved it since the offer. The link is spent: a second confirmation
    /// finds nothing.
    pub async fn confirm_link(
        &self,
        key: &str,
        browser: &str,
        viewer: Option<&CurrentUser>,
        ctx: &audit::Context,
    ) -> Result<LinkConfirm> {
        let Some((flow, waiting)) = self.waiting(key, browser, false).await? else { return Ok(LinkConfirm::Missing) };
        let Some(user) = viewer.filter(|u| proved(u, &flow, &waiting)) else { return Ok(LinkConfirm::Prove) };
        let Some((flow, WaitingLink { identity, .. })) = self.waiting(key, browser, true).await? else {
            return Ok(LinkConfirm::Missing);
        };
        match self.link_upstream(ctx, &user.user_id, &identity).await {
            Ok(()) => Ok(LinkConfirm::Linked { next: flow.next }),
            Err(Error::AlreadyLinked) => Ok(LinkConfirm::AlreadyLinked { provider: flow.provider }),
            Err(other) => Err(other),
        }
    }
}
