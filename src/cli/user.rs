//! `gatehouse user …`: create, list, show, block, unblock, reset-mfa,
//! unlock, set-roles, sign-out, delete. Each change is one call of the
//! account services with the `cli` audit context (the service writes the
//! event in the change's transaction; the console calls the same functions).
//! No SQL and no audit writes here.
use std::io::BufRead;

use anyhow::{Context, bail};
use clap::Subcommand;

use super::{close, open, read_stdin_line};
use crate::accounts::{self, NewAccount};
use crate::config::Config;

/// `gatehouse user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (email counted as verified); the password is read from stdin.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// Extra role (repeatable); `user` is always given.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Read the password from one line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Show one user (by username, email or id).
    Show { user: String },
    /// Block a user and end their sessions.
    Block { user: String },
    /// Unblock a user.
    Unblock { user: String },
    /// Remove a user's second factors and recovery codes (a lost phone):
    /// their next sign-in needs only the password (or sets 2FA up again if
    /// their role requires it).
    ResetMfa { user: String },
    /// End a user's sign-in lock (after too many failed passwords) now.
    Unlock { user: String },
    /// Replace a user's roles (`user` is always kept).
    SetRoles {
        user: String,
        #[arg(required = true)]
        roles: Vec<String>,
    },
    /// End every session of a user and revoke all their tokens.
    SignOut { user: String },
    /// Delete a user and everything they own (the audit log keeps its events).
    Delete {
        user: String,
        /// Do not ask for confirmation (needed without a terminal).
        #[arg(long)]
        yes: bool,
    },
}

fn describe(err: accounts::Error) -> anyhow::Error {
    match err {
        accounts::Error::Invalid(errors) => {
            let text: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
            anyhow::anyhow!("{}", text.join("; "))
        }
        accounts::Error::UnknownUser => anyhow::anyhow!("no such user"),
        accounts::Error::Taken(what) => anyhow::anyhow!("{what}: that {what} is taken"),
        accounts::Error::OwnAccount => anyhow::anyhow!("you cannot block your own account"),
        accounts::Error::LastAdmin => {
            anyhow::anyhow!("that is the last administrator; give another user the admin role first")
        }
        other => anyhow::Error::new(other),
    }
}

/// Runs a `user` command.
pub(super) async fn run(config: &Config, cmd: UserCommand) -> anyhow::Result<()> {
    // Read the password before touching the database, so bad input writes nothing.
    let password = match &cmd {
        UserCommand::Create { .. } => Some(read_stdin_line("password")?),
        _ => None,
    };
    let services = open(config).await?;
    let accounts = &services.accounts;
    // Every change below is audited by its service, with actor `cli`.
    let cli_ctx = crate::security::audit::Context::cli();
    match cmd {
        UserCommand::Create { username, email, roles, .. } => {
            let password = password.context("no password")?;
            let new = NewAccount {
                username: &username,
                email: &email,
                password: Some(&password),
                roles: &roles,
                display_name: "",
            };
            let id = accounts.create_account(&cli_ctx, &new).await.map_err(describe)?.user.id;
            println!("created user {username} ({id})");
        }
        UserCommand::List => {
            let (users, _) = accounts.search("", 1, i64::MAX).await.map_err(describe)?;
            println!("{:<36}  {:<24}  {:<32}  STATE", "ID", "USERNAME", "EMAIL");
            for u in users {
                let state = if u.blocked { "blocked" } else { "active" };
                println!("{:<36}  {:<24}  {:<32}  {}", u.id, u.username, u.email, state);
            }
        }
        UserCommand::Show { user } => {
            let u = accounts.find(&user).await.map_err(describe)?;
            let roles = accounts.roles(&u.id).await.map_err(describe)?;
            println!("id:             {}", u.id);
            println!("username:       {}", u.username);
            println!("email:          {} ({})", u.email, if u.email_verified { "verified" } else { "unverified" });
            println!("display name:   {}", u.display_name);
            println!("roles:          {}", roles.join(" "));
            println!("state:          {}", if u.blocked { "blocked" } else { "active" });
            let locked = accounts.locked_for(&u.id).await.map_err(describe)?;
            if locked > 0 {
                println!("sign-in locked: {locked} more seconds (`gatehouse user unlock` ends it)");
            }
            println!("created:        {}", crate::accounts::devices::format_time(u.created_at));
        }
        UserCommand::Block { user } => {
            let u = accounts.find(&user).await.map_err(describe)?;
            accounts.block(&cli_ctx, &u.id).await.map_err(describe)?;
            println!("blocked {}; their sessions have ended", u.username);
        }
        UserCommand::Unblock { user } => {
            let u = accounts.find(&user).await.map_err(describe)?;
            accounts.unblock(&cli_ctx, &u.id).await.map_err(describe)?;
            println!("unblocked {}", u.username);
        }
        UserCommand::ResetMfa { user } => {
            let u = accounts.find(&user).await.map_err(describe)?;
            accounts.reset_mfa(&cli_ctx, &u.id).await.map_err(describe)?;
            println!("two-step sign-in removed for {}", u.username);
        }
        UserCommand::Unlock { user } => {
            let u = accounts.find(&user).await.map_err(describe)?;
            let was_locked = accounts.unlock(&cli_ctx, &u.id).await.map_err(describe)?;
            println!("unlocked {}{}", u.username, if was_locked { "" } else { " (it was not locked)" });
        }
        UserCommand::SignOut { user } => {
            let u = accounts.find(&user).await.map_err(describe)?;
            let ended = accounts.sign_out_user(&cli_ctx, &u.id).await.map_err(describe)?;
            println!("signed out {} everywhere: {ended} sessions ended, every token revoked", u.username);
        }
        UserCommand::Delete { user, yes } => {
            let u = accounts.find(&user).await.map_err(describe)?;
            if !yes {
                confirm(&format!("Delete user {} ({}) and everything they own?", u.username, u.email))?;
            }
            accounts.delete_user(&u.id, &cli_ctx).await.map_err(describe)?;
            println!("deleted user {} ({})", u.username, u.id);
        }
        UserCommand::SetRoles { user, roles } => {
            let u = accounts.find(&user).await.map_err(describe)?;
            let roles = accounts.set_roles(&cli_ctx, &u.id, &roles).await.map_err(describe)?;
            println!("{} now has roles: {}", u.username, roles.join(" "));
        }
    }
    close(services.store).await;
    Ok(())
}

/// Asks on the terminal; refuses without one (a script must say `--yes`).
fn confirm(question: &str) -> anyhow::Result<()> {
    use std::io::{IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        bail!("not confirmed: no terminal to ask on; add --yes");
    }
    print!("{question} Type yes to confirm: ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() != "yes" {
        bail!("not confirmed; nothing was deleted");
    }
    Ok(())
}
