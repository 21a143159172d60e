//! `gatehouse audit verify`, `gatehouse audit tail` and `gatehouse audit
//! export` (the same `security::audit_log` export as `/api/v1/audit/export`). The other commands
//! never write the log: the services they call audit each change with the
//! `cli` context.
use clap::Subcommand;

use crate::accounts::devices::format_time;
use crate::app::Services;
use crate::security::audit::{self, AuditAction, Verdict};
use crate::security::audit_log::{Export, Filter, Format};

/// `gatehouse audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain of the whole audit log; exits 1 at the first bad row.
    Verify,
    /// Show the newest events, oldest first.
    Tail {
        /// How many events.
        #[arg(short = 'n', long = "lines", default_value_t = 20)]
        n: i64,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Write every matching event, oldest first, to stdout as JSON lines or CSV.
    Export {
        /// `jsonl` or `csv`.
        #[arg(long, default_value = "jsonl")]
        format: String,
        /// Only events by this actor.
        #[arg(long)]
        actor: Option<String>,
        /// Only events done to this target.
        #[arg(long)]
        target: Option<String>,
        /// Only this action (e.g. client_created).
        #[arg(long)]
        action: Option<String>,
    },
}

/// Writes the export to stdout, batch by batch.
async fn export(services: &Services, format: &str, filter: Filter) -> anyhow::Result<()> {
    use std::io::Write;
    let format = match format {
        "jsonl" => Format::JsonLines,
        "csv" => Format::Csv,
        other => anyhow::bail!("unknown --format {other:?}; use jsonl or csv"),
    };
    let mut export = Export::new(services.store.clone(), &filter, format);
    while let Some(chunk) = export.next_chunk().await? {
        std::io::stdout().write_all(chunk.as_bytes())?;
    }
    Ok(())
}

/// Runs an audit command.
pub(super) async fn run(services: &Services, cmd: AuditCommand) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::Export { format, actor, target, action } => {
            let action = match action {
                Some(a) => Some(AuditAction::parse(&a).ok_or_else(|| anyhow::anyhow!("unknown action {a:?}"))?),
                None => None,
            };
            export(services, &format, Filter { actor, target, action, since: None, until: None }).await?;
        }
        AuditCommand::Verify => match audit::verify(&services.store).await? {
            Verdict::Intact(n) => println!("audit log intact: {n} events"),
            Verdict::Broken { id, reason } => anyhow::bail!("audit log broken at event {id}: {reason}"),
        },
        AuditCommand::Tail { n, json } => {
            let rows = audit::tail(&services.store, n).await?;
            if !json {
                println!(
                    "{:>6}  {:<20}  {:<24}  {:<36}  {:<36}  {:<15}  DETAIL",
                    "ID", "TIME", "ACTION", "ACTOR", "TARGET", "IP"
                );
            }
            for r in rows {
                if json {
                    let detail: serde_json::Value = serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null);
                    let line = serde_json::json!({
                        "id": r.id,
                        "at": r.at,
                        "actor": r.actor,
                        "target": r.target,
                        "action": r.action,
                        "ip": r.ip,
                        "request_id": r.request_id,
                        "user_agent": r.user_agent,
                        "detail": detail,
                        "prev_hash": r.prev_hash,
                        "hash": r.hash,
                    });
                    println!("{line}");
                } else {
                    println!(
                        "{:>6}  {:<20}  {:<24}  {:<36}  {:<36}  {:<15}  {}",
                        r.id,
                        format_time(r.at),
                        r.action,
                        r.actor,
                        r.target,
                        r.ip,
                        r.detail
                    );
                }
            }
        }
    }
    Ok(())
}
