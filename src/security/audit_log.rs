//! Reading the audit log for operators: a filtered, keyset-paged query
//! (newest first) and an export as JSON lines or CSV in batches, so a log of
//! any size is never held in memory at once. The JSON API
//! (`/api/v1/audit…`) and `gatehouse audit export` both read it here; the
//! chain itself (append, verify) is `security::audit`.
//!
//! An [`Event`] shows every stored column but the chain hashes; `via` is
//! lifted out of `detail` (where the context put it) for convenience.
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::audit::{AuditAction, Verdict};
use crate::store::{self, AuditQuery, AuditRow, Store};

/// Rows read per batch of an export.
pub const EXPORT_BATCH: i64 = 1_000;

/// Which events to read; `None` leaves a field unfiltered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub actor: Option<String>,
    pub target: Option<String>,
    pub action: Option<AuditAction>,
    /// Unix seconds, inclusive.
    pub since: Option<i64>,
    /// Unix seconds, inclusive.
    pub until: Option<i64>,
}

impl Filter {
    fn query(&self) -> AuditQuery {
        AuditQuery {
            actor: self.actor.clone(),
            target: self.target.clone(),
            action: self.action.map(|a| a.as_str().to_owned()),
            since: self.since,
            until: self.until,
        }
    }
}

/// One stored event, as operators see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The sequence number in the chain.
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub target: String,
    pub action: String,
    pub ip: String,
    pub request_id: String,
    /// As stored; `None` on rows from before migration 0017.
    pub user_agent: Option<String>,
    /// `detail.via` (`api` for the JSON API), if any.
    pub via: Option<String>,
    pub detail: serde_json::Value,
}

impl Event {
    fn from_row(row: AuditRow) -> Self {
        // Every detail is written as an object; an unreadable one shows as empty.
        let detail = serde_json::from_str::<serde_json::Value>(&row.detail)
            .ok()
            .filter(serde_json::Value::is_object)
            .unwrap_or_else(|| serde_json::json!({}));
        let via = detail.get("via").and_then(|v| v.as_str()).map(str::to_owned);
        Self {
            seq: row.id,
            at: row.at,
            actor: row.actor,
            target: row.target,
            action: row.action,
            ip: row.ip,
            request_id: row.request_id,
            user_agent: row.user_agent,
            via,
            detail,
        }
    }

    /// The event as one JSON object (an export line).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "seq": self.seq,
            "at": rfc3339(self.at),
            "actor": self.actor,
            "target": self.target,
            "action": self.action,
            "ip": self.ip,
            "request_id": self.request_id,
            "user_agent": self.user_agent,
            "via": self.via,
            "detail": self.detail,
        })
    }

    /// The event as one CSV record (RFC 4180), without the line break.
    pub fn to_csv(&self) -> String {
        let fields = [
            self.seq.to_string(),
            rfc3339(self.at),
            self.actor.clone(),
            self.target.clone(),
            self.action.clone(),
            self.ip.clone(),
            self.request_id.clone(),
            self.user_agent.clone().unwrap_or_default(),
            self.via.clone().unwrap_or_default(),
            self.detail.to_string(),
        ];
        fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",")
    }
}

/// The header record of a CSV export.
pub const CSV_HEADER: &str = "seq,at,actor,target,action,ip,request_id,user_agent,via,detail";

/// A time as RFC 3339 (UTC).
fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix).ok().and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
}

/// RFC 4180 §2: a field with a comma, a quote or a line break is quoted,
/// and quotes inside it doubled.
pub fn csv_field(raw: &str) -> String {
    if raw.contains([',', '"', '\r', '\n']) { format!("\"{}\"", raw.replace('"', "\"\"")) } else { raw.to_owned() }
}

/// Up to `limit` events matching `filter`, newest first, below the
/// sequence number `before` (the last one of the previous page).
pub async fn page(store: &Store, filter: &Filter, before: Option<i64>, limit: i64) -> store::Result<Vec<Event>> {
    let rows = store.conn().await?.db().audit_query(&filter.query(), before, true, limit).await?;
    Ok(rows.into_iter().map(Event::from_row).collect())
}

/// The format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line (`application/x-ndjson`).
    JsonLines,
    /// RFC 4180 CSV with a header record (`text/csv`).
    Csv,
}

/// An export in progress: the matching events, oldest first, handed out
/// as text in batches of [`EXPORT_BATCH`] rows.
#[derive(Debug, Clone)]
pub struct Export {
    store: Store,
    query: AuditQuery,
    format: Format,
    after: Option<i64>,
    started: bool,
    done: bool,
}

impl Export {
    /// An export of the events matching `filter`.
    pub fn new(store: Store, filter: &Filter, format: Format) -> Self {
        Self { store, query: filter.query(), format, after: None, started: false, done: false }
    }

    /// The next batch of text (the CSV header comes first), or `None` at the end.
    pub async fn next_chunk(&mut self) -> store::Result<Option<String>> {
        if self.done {
            return Ok(None);
        }
        let rows = self.store.conn().await?.db().audit_query(&self.query, self.after, false, EXPORT_BATCH).await?;
        self.done = (rows.len() as i64) < EXPORT_BATCH;
        self.after = rows.last().map(|r| r.id).or(self.after);
        let mut out = String::new();
        if !self.started && self.format == Format::Csv {
            out.push_str(CSV_HEADER);
            out.push_str("\r\n");
        }
        self.started = true;
        for row in rows {
            let event = Event::from_row(row);
            match self.format {
                Format::JsonLines => {
                    out.push_str(&event.to_json().to_string());
                    out.push('\n');
                }
                Format::Csv => {
                    out.push_str(&event.to_csv());
                    out.push_str("\r\n");
                }
            }
        }
        Ok(Some(out))
    }
}

/// The chain's state, as operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainState {
    /// Rows that were found in order before the first bad one (all of them when intact).
    pub rows_checked: u64,
    /// The first row that does not fit, and why.
    pub first_bad: Option<(i64, &'static str)>,
}

/// Verifies the whole chain (see `security::audit::verify`).
pub async fn chain_state(store: &Store) -> store::Result<ChainState> {
    Ok(match super::audit::verify(store).await? {
        Verdict::Intact(n) => ChainState { rows_checked: n, first_bad: None },
        Verdict::Broken { id, reason } => {
            ChainState { rows_checked: u64::try_from(id - 1).unwrap_or(0), first_bad: Some((id, reason)) }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_as_rfc_4180_2_says() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn an_event_lifts_via_out_of_its_detail() {
        let row = AuditRow {
            id: 3,
            at: 1_767_225_600,
            actor: "a".into(),
            target: "t".into(),
            action: "api_call".into(),
            ip: "192.0.2.1".into(),
            request_id: "r".into(),
            user_agent: Some("curl, 8".into()),
            detail: r#"{"via":"api","status":200}"#.into(),
            prev_hash: String::new(),
            hash: String::new(),
        };
        let e = Event::from_row(row);
        assert_eq!(e.via.as_deref(), Some("api"));
        assert_eq!(e.to_json()["at"], "2026-01-01T00:00:00Z");
        assert!(e.to_csv().starts_with("3,2026-01-01T00:00:00Z,a,t,api_call,192.0.2.1,r,\"curl, 8\",api,"));
    }
}
