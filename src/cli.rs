//! Command line: `serve`, `migrate`, `user …`, `client …` (INTERFACE.md), `audit …`, `health`.
//! Every failure is one line on stderr and a non-zero exit (see main.rs).
//! Owns: argument parsing and printing. Must not: write the audit log or
//! hold a rule; each command calls the same service function as the pages,
//! with `audit::Context::cli()`.
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};

use crate::app::{self, Services};
use crate::clock::SystemClock;
use crate::config::{self, Config, LogFormat};
use crate::oauth::clients::{self, Client, ClientChanges, ClientSpec};
use crate::store::Store;

mod audit;
mod health;
mod ip;
mod user;
pub use audit::AuditCommand;
pub use user::UserCommand;

/// gatehouse: an OAuth 2.0 / OpenID Connect authorization server.
#[derive(Debug, Parser)]
#[command(name = "gatehouse", version)]
pub struct Cli {
    /// Configuration file (default: ./gatehouse.toml if present, or $GATEHOUSE_CONFIG).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Log JSON lines instead of human-readable ones.
    #[arg(long, global = true)]
    pub log_json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply migrations and serve HTTP until SIGINT/SIGTERM.
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage relying parties (OAuth clients).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Outgoing mail: the outbox and its dead letters.
    #[command(subcommand)]
    Mail(MailCommand),
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// IP allow and deny rules (global, per client, per role).
    #[command(subcommand)]
    Ip(ip::IpCommand),
    /// Probe /health/ready on the configured address: exit 0 when ready, 1 otherwise.
    Health,
}

/// `gatehouse mail …`
#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// List waiting and dead messages (with --all, sent ones too).
    List {
        #[arg(long)]
        all: bool,
    },
    /// Send an unsent (waiting or dead) message again now, with fresh attempts.
    Retry { id: String },
    /// Delete sent messages and dead letters older than some days.
    Purge {
        #[arg(long, default_value_t = 7)]
        older_than_days: i64,
    },
}

/// `gatehouse keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys and their state (next, current, retiring, retired).
    List,
    /// Rotate now: the published next key starts signing, a new next key is made.
    Rotate,
}

/// `gatehouse client …`
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client.
    Create(ClientCreate),
    /// List clients.
    List,
    /// Show one client's registration.
    Show { client_id: String },
    /// Change a client: the flags given replace those settings.
    Update(ClientUpdate),
    /// Give a confidential client a new secret (printed once); the old one stops working.
    RotateSecret {
        client_id: String,
        /// Read the new secret (at least 32 characters) from stdin instead of generating one.
        #[arg(long)]
        secret_stdin: bool,
    },
    /// Delete a client with its codes, tokens and consents.
    Delete { client_id: String },
}

/// Arguments of `client update`: each one given replaces that setting.
#[derive(Debug, Args)]
pub struct ClientUpdate {
    client_id: String,
    #[arg(long)]
    name: Option<String>,
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    #[arg(long = "grant-type")]
    grant_types: Vec<String>,
    #[arg(long)]
    scope: Option<String>,
    /// A client's type cannot change; given for a confidential client, this is refused.
    #[arg(long)]
    public: bool,
    /// Also set a new secret, read from stdin (as `client rotate-secret --secret-stdin`).
    #[arg(long)]
    secret_stdin: bool,
    /// Browser origins allowed to call /token, /userinfo and /revoke (CORS; repeatable).
    #[arg(long = "web-origin")]
    web_origins: Vec<String>,
    /// Replace the audiences this client is a resource server for (repeatable;
    /// `--resource-server ""` clears them).
    #[arg(long = "resource-server", value_name = "AUDIENCE", conflicts_with = "no_resource_server")]
    resource_servers: Vec<String>,
    /// The client is a resource server for no audience any more.
    #[arg(long)]
    no_resource_server: bool,
    /// Replace the client's service roles (repeatable; `--service-role ""` clears them).
    #[arg(long = "service-role", value_name = "ROLE")]
    service_roles: Vec<String>,
    /// Skip the consent page (`--skip-consent false` asks for consent again).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    skip_consent: Option<bool>,
}

/// Arguments of `client create`.
#[derive(Debug, Args)]
pub struct ClientCreate {
    #[arg(long)]
    client_id: String,
    #[arg(long)]
    name: String,
    /// Required unless the client is registered for client_credentials only.
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    #[arg(long = "grant-type")]
    grant_types: Vec<String>,
    #[arg(long)]
    scope: Option<String>,
    /// A public client (no secret; PKCE required).
    #[arg(long)]
    public: bool,
    /// Read the secret (at least 32 characters) from stdin instead of generating one.
    #[arg(long)]
    secret_stdin: bool,
    /// Skip the consent page (first-party clients).
    #[arg(long)]
    skip_consent: bool,
    /// A web origin (`scheme://host[:port]`) a browser app calls /token,
    /// /userinfo and /revoke from (CORS); repeatable. A public client without
    /// one uses its redirect URIs' origins.
    #[arg(long = "web-origin", value_name = "ORIGIN")]
    web_origins: Vec<String>,
    /// An audience (an access token's `aud`, e.g. the issuer) this client is a
    /// resource server for: it may introspect other clients' access tokens
    /// issued for it (RFC 7662 §4); repeatable.
    #[arg(long = "resource-server", value_name = "AUDIENCE")]
    resource_servers: Vec<String>,
    /// A role the client's own client_credentials tokens carry (a service
    /// account; `admin` opens the JSON API's management routes); repeatable.
    #[arg(long = "service-role", value_name = "ROLE")]
    service_roles: Vec<String>,
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = config::load(cli.config.as_deref())?;
    if cli.log_json {
        config.log_format = LogFormat::Json;
    }
    // CLI commands print their results; keep their logs to warnings.
    let level = if matches!(cli.command, Command::Serve) { config.log_level.clone() } else { "warn".into() };
    crate::telemetry::init(config.log_format, &level);
    match cli.command {
        Command::Serve => app::run(config).await,
        Command::Migrate => migrate(&config).await,
        Command::User(cmd) => user::run(&config, cmd).await,
        Command::Client(cmd) => client(&config, cmd).await,
        Command::Keys(cmd) => keys(&config, cmd).await,
        Command::Mail(cmd) => mail(&config, cmd).await,
        Command::Audit(cmd) => {
            let services = open(&config).await?;
            let result = audit::run(&services, cmd).await;
            close(services.store).await;
            result
        }
        Command::Ip(cmd) => {
            let services = open(&config).await?;
            let result = ip::run(&services, cmd).await;
            close(services.store).await;
            result
        }
        Command::Health => health::run(&config).await,
    }
}

pub(super) async fn open(config: &Config) -> anyhow::Result<Services> {
    if config.database.url.is_none() {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    }
    // Only `serve` waits for a database that is not up yet; a command fails at once.
    let issuer = config.issuer_for(config.listen);
    Services::open(config, Arc::new(SystemClock), std::time::Duration::ZERO, issuer.as_str().trim_end_matches('/'))
        .await
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    let services = open(config).await?;
    println!("migrations applied ({:?})", services.store.backend());
    services.store.close().await;
    Ok(())
}

pub(super) fn read_stdin_line(what: &str) -> anyhow::Result<SecretString> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).with_context(|| format!("cannot read the {what} from stdin"))?;
    let line = line.trim_end_matches(['\r', '\n']).to_owned();
    if line.is_empty() {
        bail!("no {what} on stdin");
    }
    Ok(SecretString::from(line))
}

async fn client(config: &Config, cmd: ClientCommand) -> anyhow::Result<()> {
    // Read a secret before touching the database, so bad input writes nothing.
    let secret = match &cmd {
        ClientCommand::Create(ClientCreate { secret_stdin: true, .. })
        | ClientCommand::Update(ClientUpdate { secret_stdin: true, .. })
        | ClientCommand::RotateSecret { secret_stdin: true, .. } => Some(read_stdin_line("secret")?),
        _ => None,
    };
    let services = open(config).await?;
    let clients = &services.clients;
    match cmd {
        ClientCommand::Create(c) => {
            let spec = ClientSpec {
                client_id: c.client_id,
                name: c.name,
                redirect_uris: c.redirect_uris,
                post_logout_redirect_uris: c.post_logout_redirect_uris,
                grant_types: c.grant_types,
                scope: c.scope,
                public: c.public,
                secret,
                skip_consent: c.skip_consent,
                web_origins: c.web_origins,
                resource_audiences: given_audiences(c.resource_servers),
                service_roles: given_audiences(c.service_roles),
            };
            let registered = clients.register_as(spec, &crate::security::audit::Context::cli()).await?;
            println!("created {} client {}", registered.client.kind(), registered.client.client_id);
            let origins = &registered.client.web_origins;
            if !origins.is_empty() {
                println!("web origins: {}", origins.join(" "));
            }
            let audiences = &registered.client.resource_audiences;
            if !audiences.is_empty() {
                println!("resource server for: {}", audiences.join(" "));
            }
            if !registered.client.service_roles.is_empty() {
                println!("service roles: {}", registered.client.service_roles.join(" "));
            }
            print_secret(registered.generated_secret);
        }
        ClientCommand::List => {
            println!("{:<24}  {:<12}  {:<32}  REDIRECT_URIS", "CLIENT_ID", "TYPE", "NAME");
            for c in clients.list().await? {
                let uris = c.redirect_uris.join(" ");
                println!("{:<24}  {:<12}  {:<32}  {}", c.client_id, c.kind(), c.name, uris);
            }
        }
        ClientCommand::Show { client_id } => {
            let c = clients.get(&client_id).await?.ok_or(clients::Error::Unknown(client_id))?;
            show_client(&c);
        }
        ClientCommand::Update(u) => {
            let Some(old) = clients.get(&u.client_id).await? else { bail!("no client with id {:?}", u.client_id) };
            if u.public && !old.public {
                bail!("client {:?} is confidential; a client's type cannot change (delete and create it)", u.client_id);
            }
            let non_empty = |v: Vec<String>| if v.is_empty() { None } else { Some(v) };
            let changes = ClientChanges {
                name: u.name,
                redirect_uris: non_empty(u.redirect_uris),
                post_logout_redirect_uris: non_empty(u.post_logout_redirect_uris),
                grant_types: non_empty(u.grant_types),
                scope: u.scope,
                skip_consent: u.skip_consent,
                web_origins: non_empty(u.web_origins),
                // Given at all (even as `""`), the list is replaced.
                resource_audiences: if u.no_resource_server || !u.resource_servers.is_empty() {
                    Some(given_audiences(u.resource_servers))
                } else {
                    None
                },
                service_roles: if u.service_roles.is_empty() { None } else { Some(given_audiences(u.service_roles)) },
            };
            let c = clients.update(&u.client_id, changes, &crate::security::audit::Context::cli()).await?;
            if secret.is_some() {
                clients.rotate_secret(&u.client_id, secret, &crate::security::audit::Context::cli()).await?;
            }
            println!("updated client {}", c.client_id);
            show_client(&c);
        }
        ClientCommand::RotateSecret { client_id, .. } => {
            let generated = clients.rotate_secret(&client_id, secret, &crate::security::audit::Context::cli()).await?;
            println!("new secret set for client {client_id}; the old one no longer works");
            print_secret(generated);
        }
        ClientCommand::Delete { client_id } => {
            clients.delete(&client_id, &crate::security::audit::Context::cli()).await?;
            println!("deleted client {client_id} with its codes, tokens and consents");
        }
    }
    close(services.store).await;
    Ok(())
}

/// The `--resource-server` or `--service-role` values, with `""` (which
/// means "none") left out.
fn given_audiences(given: Vec<String>) -> Vec<String> {
    given.into_iter().filter(|a| !a.is_empty()).collect()
}

fn print_secret(secret: Option<SecretString>) {
    if let Some(secret) = secret {
        println!("client_secret: {}", secret.expose_secret());
        println!("(shown once; only its hash is stored)");
    }
}

fn show_client(c: &Client) {
    println!("client_id:                 {}", c.client_id);
    println!("name:                      {}", c.name);
    println!("type:                      {}", c.kind());
    println!("redirect_uris:             {}", c.redirect_uris.join(" "));
    println!("post_logout_redirect_uris: {}", c.post_logout_redirect_uris.join(" "));
    println!("grant_types:               {}", c.grant_types);
    println!("scope:                     {}", c.scope);
    println!("skip_consent:              {}", c.skip_consent);
    println!("web_origins:               {}", c.web_origins.join(" "));
    println!("resource_server_for:       {}", c.resource_audiences.join(" "));
    println!("service_roles:             {}", c.service_roles.join(" "));
    println!("created:                   {}", crate::accounts::devices::format_time(c.created_at));
}

async fn keys(config: &Config, cmd: KeysCommand) -> anyhow::Result<()> {
    let services = open(config).await?;
    if matches!(cmd, KeysCommand::Rotate) {
        services.keys.rotate_now().await?;
        println!("rotated: {} signs from now on", services.keys.current_kid());
    }
    println!("{:<44}  {:<9}  {:<20}  ACTIVATED", "KID", "STATE", "CREATED");
    for k in services.keys.list().await? {
        let activated = k.activated_at.map(crate::accounts::devices::format_time).unwrap_or_else(|| "-".into());
        println!(
            "{:<44}  {:<9}  {:<20}  {activated}",
            k.kid,
            k.state,
            crate::accounts::devices::format_time(k.created_at)
        );
    }
    close(services.store).await;
    Ok(())
}

pub(super) async fn close(store: Store) {
    store.close().await;
}

async fn mail(config: &Config, cmd: MailCommand) -> anyhow::Result<()> {
    use crate::accounts::devices::format_time;
    let services = open(config).await?;
    let outbox = &services.outbox;
    match cmd {
        MailCommand::List { all } => {
            println!(
                "{:<36}  {:<7}  {:>8}  {:<18}  {:<32}  {:<20}  LAST ERROR",
                "ID", "STATE", "ATTEMPTS", "KIND", "TO", "CREATED"
            );
            for m in outbox.list(all).await? {
                let now = crate::clock::Clock::unix(&SystemClock);
                let state = match (m.sent_at, m.dead_at) {
                    (Some(_), _) => "sent",
                    (None, Some(_)) => "dead",
                    (None, None) if m.locked_until > now => "sending",
                    (None, None) => "waiting",
                };
                let error = m.last_error.as_deref().unwrap_or("-");
                let created = format_time(m.created_at);
                println!(
                    "{:<36}  {state:<7}  {:>8}  {:<18}  {:<32}  {created:<20}  {error}",
                    m.id, m.attempts, m.kind, m.recipient
                );
            }
        }
        MailCommand::Retry { id } => {
            if !outbox.retry(&id).await? {
                bail!("no unsent message with id {id:?} that is not being sent right now (see `gatehouse mail list`)");
            }
            println!("queued again: {id}; a running server sends it within seconds");
        }
        MailCommand::Purge { older_than_days } => {
            // The console's purge: the same range, audited (`mail_purged`) as `cli`.
            let Some(n) = outbox.purge_by(&crate::security::audit::Context::cli(), older_than_days).await? else {
                let range = crate::mail::outbox::PURGE_DAYS;
                bail!("--older-than-days must be from {} to {}", range.start(), range.end());
            };
            println!("deleted {n} sent or dead messages");
        }
    }
    close(services.store).await;
    Ok(())
}
