//! What operators see of the outbox (the JSON API's `/api/v1/mail`): a
//! message's metadata and state, never its body (a pending body carries
//! single-use links), and the retry of an unsent message, audited.
use serde_json::json;

use super::Error;
use super::outbox::Outbox;
use crate::security::audit;
use crate::store::OutboxRow;

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailState {
    /// Waiting for its (next) attempt, or being sent.
    Pending,
    Sent,
    /// Attempts used up, or refused for good: a dead letter.
    Dead,
}

impl MailState {
    /// The name in lists and filters.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Dead => "dead",
        }
    }

    /// The state named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Pending, Self::Sent, Self::Dead].into_iter().find(|s| s.as_str() == name)
    }
}

/// A message's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSummary {
    pub id: String,
    pub to: String,
    pub kind: String,
    pub subject: String,
    pub state: MailState,
    pub attempts: i64,
    /// The last failure, with anything link-like cut out.
    pub last_error: Option<String>,
    pub created_at: i64,
    pub next_attempt_at: i64,
    pub sent_at: Option<i64>,
    pub dead_at: Option<i64>,
    /// A worker holds the message until then (being sent while in the future).
    pub locked_until: i64,
}

impl MailSummary {
    pub(super) fn from_row(row: OutboxRow) -> Self {
        let state = match (row.sent_at, row.dead_at) {
            (Some(_), _) => MailState::Sent,
            (None, Some(_)) => MailState::Dead,
            (None, None) => MailState::Pending,
        };
        Self {
            id: row.id,
            to: row.recipient,
            kind: row.kind,
            subject: row.subject,
            state,
            attempts: row.attempts,
            last_error: row.last_error.as_deref().map(without_links),
            created_at: row.created_at,
            next_attempt_at: row.next_attempt_at,
            sent_at: row.sent_at,
            dead_at: row.dead_at,
            locked_until: row.locked_until,
        }
    }

    /// The paging key: `(created_at, id)`.
    pub fn key(&self) -> (i64, String) {
        (self.created_at, self.id.clone())
    }
}

/// `error` with every word that looks like a URL or carries a token cut
/// out: a transport error may echo part of the message, and links in it are
/// secrets (password reset, confirmation).
fn without_links(error: &str) -> String {
    error
        .split_whitespace()
        .map(|w| if w.contains("://") || w.contains("token=") { "[link removed]" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where a message is, as the console tells it: a pending message is
/// `Sending` while a worker holds it, `Waiting` otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailPhase {
    Waiting,
    Sending,
    Sent,
    Dead,
}

impl MailPhase {
    pub const ALL: [MailPhase; 4] = [Self::Waiting, Self::Sending, Self::Sent, Self::Dead];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Dead => "dead",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// The phase of `m` at `now`.
    pub fn of(m: &MailSummary, now: i64) -> Self {
        match m.state {
            MailState::Sent => Self::Sent,
            MailState::Dead => Self::Dead,
            MailState::Pending if m.locked_until > now => Self::Sending,
            MailState::Pending => Self::Waiting,
        }
    }

    fn state(self) -> MailState {
        match self {
            Self::Waiting | Self::Sending => MailState::Pending,
            Self::Sent => MailState::Sent,
            Self::Dead => MailState::Dead,
        }
    }
}

/// The ages a purge accepts, in days.
/// 0 deletes every sent message and dead letter.
pub const PURGE_DAYS: std::ops::RangeInclusive<i64> = 0..=36_500;

/// What [`Outbox::retry_by`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retry {
    /// Due again now, attempts reset; the message as it is now.
    Queued(MailSummary),
    /// No message with that id.
    Unknown,
    /// It was sent already.
    AlreadySent,
    /// A worker is sending it right now.
    Sending,
}

impl Outbox {
    /// Up to `limit` messages in `state` (any when `None`), newest first,
    /// after `after` (the [`MailSummary::key`] of the previous page's last).
    /// Metadata only: a body holds single-use links and never leaves here.
    pub async fn page(
        &self,
        state: Option<MailState>,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<MailSummary>, Error> {
        let after = after.as_ref().map(|(at, id)| (*at, id.as_str()));
        let rows = self.store.conn().await?.db().outbox_page(state.map(MailState::as_str), after, limit).await?;
        Ok(rows.into_iter().map(MailSummary::from_row).collect())
    }

    /// Like [`Outbox::page`], by phase; each message with its phase now. A
    /// page of waiting or sending messages may hold fewer than `limit` (the
    /// worker's hold is not part of the query); `next` is the key to go on from.
    pub async fn page_by_phase(
        &self,
        phase: Option<MailPhase>,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> Result<(Vec<(MailSummary, MailPhase)>, Option<(i64, String)>), Error> {
        let mut mails = self.page(phase.map(MailPhase::state), after, limit + 1).await?;
        let more = mails.len() > usize::try_from(limit).unwrap_or(0);
        mails.truncate(usize::try_from(limit).unwrap_or(0));
        let next = if more { mails.last().map(MailSummary::key) } else { None };
        let now = self.clock.unix();
        let shown = mails
            .into_iter()
            .map(|m| {
                let p = MailPhase::of(&m, now);
                (m, p)
            })
            .filter(|(_, p)| phase.is_none_or(|want| want == *p))
            .collect();
        Ok((shown, next))
    }

    /// Deletes sent messages and dead letters older than `days` days on
    /// behalf of `ctx`, audited (`mail_purged`, with the count) in the same
    /// transaction. `None` when `days` is outside [`PURGE_DAYS`].
    pub async fn purge_by(&self, ctx: &audit::Context, days: i64) -> Result<Option<u64>, Error> {
        if !PURGE_DAYS.contains(&days) {
            return Ok(None);
        }
        let now = self.clock.unix();
        let mut tx = self.store.begin().await?;
        let purged = tx.db().purge_outbox(now - days * 86_400, true).await?;
        let event = ctx
            .event(audit::AuditAction::MailPurged, "outbox")
            .with_detail(json!({ "older_than_days": days, "purged": purged }));
        audit::append(&mut tx.db(), &event, now).await?;
        tx.commit().await?;
        tracing::info!(actor = %ctx.actor, days, purged, "sent and dead mail purged");
        Ok(Some(purged))
    }

    /// [`Outbox::retry`] on behalf of `ctx`, audited (`mail_retried`) in
    /// the same transaction; says why when nothing was done.
    pub async fn retry_by(&self, id: &str, ctx: &audit::Context) -> Result<Retry, Error> {
        let now = self.clock.unix();
        let mut tx = self.store.begin().await?;
        let Some(row) = tx.db().find_outbox(id).await? else { return Ok(Retry::Unknown) };
        if !tx.db().retry_outbox(id, now).await? {
            return Ok(if row.sent_at.is_some() { Retry::AlreadySent } else { Retry::Sending });
        }
        let was = MailSummary::from_row(row).state.as_str();
        let event = ctx.event(audit::AuditAction::MailRetried, id).with_detail(json!({ "was": was }));
        audit::append(&mut tx.db(), &event, now).await?;
        let row = tx.db().find_outbox(id).await?;
        tx.commit().await?;
        self.kick();
        Ok(row.map(MailSummary::from_row).map_or(Retry::Unknown, Retry::Queued))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn links_are_cut_out_of_errors() {
        let e = super::without_links("550 no such user; see https://sso.example/reset?token=abc or token=xyz");
        assert_eq!(e, "550 no such user; see [link removed] or [link removed]");
    }
}
