//! `gatehouse ip …`: list, add and remove IP allow/deny rules. A running
//! server picks changes up within `network.ip_rules_refresh_ms` (2 s).
use anyhow::bail;
use clap::{Args, Subcommand};

use crate::app::Services;
use crate::clock::{Clock, SystemClock};
use crate::security::audit::Context;
use crate::security::ip_policy::{self, IpPolicy};
use crate::security::ip_rules::{Action, Scope};

/// `gatehouse ip …`
#[derive(Debug, Subcommand)]
pub enum IpCommand {
    /// List the rules.
    List,
    /// Allow an address or CIDR range (once a scope has allow rules, other addresses are refused there).
    Allow(RuleArgs),
    /// Deny an address or CIDR range.
    Deny(RuleArgs),
    /// Remove a rule by its id (see `ip list`).
    Remove { id: i64 },
}

/// The address and scope of a new rule.
#[derive(Debug, Args)]
pub struct RuleArgs {
    /// An address or CIDR range, IPv4 or IPv6 (192.0.2.0/24, 2001:db8::/32).
    cidr: String,
    /// Only for this client (client_id), at /authorize and /token.
    #[arg(long, conflicts_with = "role")]
    client: Option<String>,
    /// Only for users with this role, at sign-in and on every signed-in request.
    #[arg(long)]
    role: Option<String>,
    /// A note for the operators.
    #[arg(long, default_value = "")]
    note: String,
}

/// Runs an `ip` command against `store`.
pub async fn run(services: &Services, cmd: IpCommand) -> anyhow::Result<()> {
    let policy = IpPolicy::new(services.store.clone(), Vec::new(), std::time::Duration::ZERO);
    match cmd {
        IpCommand::List => {
            println!("{:>5}  {:<6}  {:<43}  {:<24}  NOTE", "ID", "ACTION", "CIDR", "SCOPE");
            for r in policy.list().await? {
                println!(
                    "{:>5}  {:<6}  {:<43}  {:<24}  {}",
                    r.id,
                    r.action.as_str(),
                    r.net.to_string(),
                    r.scope.to_string(),
                    r.note
                );
            }
        }
        IpCommand::Allow(args) => add(&policy, Action::Allow, args).await?,
        IpCommand::Deny(args) => add(&policy, Action::Deny, args).await?,
        IpCommand::Remove { id } => {
            if !policy.remove(&Context::cli(), id, SystemClock.unix()).await? {
                bail!("no ip rule with id {id} (see `gatehouse ip list`)");
            }
            println!("removed ip rule {id}");
        }
    }
    Ok(())
}

/// Adds a rule (the service audits it).
async fn add(policy: &IpPolicy, action: Action, args: RuleArgs) -> anyhow::Result<()> {
    let scope = match Scope::from_input(args.client.as_deref(), args.role.as_deref(), &crate::accounts::ROLES) {
        Ok(scope) => scope,
        Err(e) => bail!("{e}"),
    };
    let rule = match policy.add(&Context::cli(), action, &args.cidr, &scope, args.note.trim(), SystemClock.unix()).await
    {
        Ok(rule) => rule,
        Err(ip_policy::Error::Rule(e)) => bail!("{e}"),
        Err(e) => return Err(e.into()),
    };
    println!("added ip rule {}: {} {} ({})", rule.id, rule.action.as_str(), rule.net, rule.scope);
    println!("running servers apply it within a few seconds");
    Ok(())
}
