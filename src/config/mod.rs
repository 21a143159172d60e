//! Configuration: compiled defaults, then `gatehouse.toml`, then `GATEHOUSE_*`
//! environment variables (nested keys joined by `__`), as INTERFACE.md fixes.
//! Any key can also be given as `GATEHOUSE_<KEY>_FILE=/path` (Docker/K8s secrets).
//! Only this module reads the environment. It is a leaf: it imports nothing
//! from the rest of the crate (the modules that apply a section import it).
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

mod policies;
mod site;
mod sources;

#[cfg(test)]
mod fuzz;

pub use policies::{LockoutPolicy, RetentionConfig};
pub use site::{BrandLink, BrandingConfig, RegistrationConfig, RegistrationMode};
pub use sources::{REDACTED, Setting, Sources, redacted};

const ENV_PREFIX: &str = "GATEHOUSE_";

/// The whole configuration tree.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Socket address to bind; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Public base URL; `None` means `http://` + the bound address.
    pub issuer: Option<Url>,
    /// Where the embedded database, mail files and generated secrets live.
    pub data_dir: PathBuf,
    /// `text` (default) or `json` log lines.
    pub log_format: LogFormat,
    /// Log filter directive, e.g. `info` or `gatehouse=debug,sqlx=warn`.
    pub log_level: String,
    pub database: DatabaseConfig,
    pub mail: MailConfig,
    pub session: SessionConfig,
    pub password: PasswordConfig,
    pub http: HttpConfig,
    pub keys: KeysConfig,
    pub tokens: TokensConfig,
    pub mfa: MfaConfig,
    pub rate_limits: RateLimitsConfig,
    pub lockout: LockoutPolicy,
    pub network: NetworkConfig,
    /// How long ended rows are kept, and how the janitor runs.
    pub retention: RetentionConfig,
    /// Upstream identity providers, by id (`[upstream.<id>]`; the id is the
    /// path segment of `/login/{id}`).
    pub upstream: std::collections::BTreeMap<String, UpstreamConfig>,
    /// Who may sign up by themselves (`[registration]`).
    pub registration: RegistrationConfig,
    /// Product name, logo, colour and footer links (`[branding]`).
    pub branding: BrandingConfig,
    /// Where each key came from, recorded by [`load`] (see `Config::settings`).
    #[serde(skip)]
    pub sources: Sources,
}

/// Which protocol and defaults an upstream provider uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamKind {
    /// OpenID Connect discovery at `https://accounts.google.com`.
    Google,
    /// OAuth2 plus the Graph API `me` endpoint.
    Facebook,
    /// OAuth2 with PKCE plus `users/me`.
    Twitter,
    /// Any OpenID provider, by discovery from `issuer`.
    Oidc,
    /// Any OAuth2 provider: explicit URLs and claim mapping.
    Oauth2,
}

/// One `[upstream.<id>]` table (INTERFACE.md).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    pub kind: UpstreamKind,
    /// The button text's name ("Sign in with …"); the kind's name by default.
    pub display_name: Option<String>,
    pub client_id: String,
    #[serde(serialize_with = "redacted")]
    pub client_secret: Option<SecretString>,
    /// A file holding the secret (Docker/K8s secrets); trailing whitespace is trimmed.
    pub client_secret_file: Option<PathBuf>,
    /// `oidc`: where discovery starts. Presets fill their own.
    pub issuer: Option<Url>,
    pub authorization_url: Option<Url>,
    pub token_url: Option<Url>,
    pub userinfo_url: Option<Url>,
    /// Scopes to ask for; each kind has a default.
    pub scopes: Option<Vec<String>>,
    /// Claim mapping (`oauth2`, or overriding a preset): dotted paths into
    /// the userinfo JSON, such as `data.id`.
    pub subject_claim: Option<String>,
    pub email_claim: Option<String>,
    pub email_verified_claim: Option<String>,
    pub name_claim: Option<String>,
    pub username_claim: Option<String>,
    /// Count the provider's email as verified even without a verified claim
    /// (only for providers that hand out confirmed addresses only).
    #[serde(default)]
    pub trust_email: bool,
}

/// Two-step sign-in.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MfaConfig {
    /// Members of these roles must use a second factor; at their next
    /// sign-in they set up an authenticator app before they get in.
    pub required_roles: Vec<String>,
    /// The name authenticator apps show next to the account.
    pub totp_issuer: String,
}

impl Default for MfaConfig {
    fn default() -> Self {
        Self { required_roles: Vec::new(), totp_issuer: "gatehouse".into() }
    }
}

/// Client addresses behind proxies, and how fast IP rule edits are seen.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// Addresses or CIDR ranges of reverse proxies whose `Forwarded` /
    /// `X-Forwarded-For` headers are believed (default: none).
    pub trusted_proxies: Vec<String>,
    /// How often, at most, an instance checks the database for changed IP
    /// rules, in milliseconds (2000).
    pub ip_rules_refresh_ms: u64,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self { trusted_proxies: Vec::new(), ip_rules_refresh_ms: 2000 }
    }
}

impl NetworkConfig {
    /// The trusted proxy ranges, parsed.
    pub fn trusted_nets(&self) -> anyhow::Result<Vec<ipnet::IpNet>> {
        self.trusted_proxies
            .iter()
            .map(|p| parse_net(p).map_err(|e| anyhow::anyhow!("network.trusted_proxies: {e}")))
            .collect()
    }
}

/// Parses an address or network (`192.0.2.1`, `10.0.0.0/8`, `::1`): an
/// address is its own one-host network (IPv4-mapped IPv6 as IPv4); host bits
/// of a network are cleared. The IP rules use the same parser.
pub fn parse_net(s: &str) -> Result<ipnet::IpNet, BadNet> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<std::net::IpAddr>() {
        return Ok(ipnet::IpNet::from(ip.to_canonical()));
    }
    let net: ipnet::IpNet = s.parse().map_err(|_| BadNet(s.chars().take(64).collect()))?;
    Ok(net.trunc())
}

/// Not an address or network (the input, cut to 64 characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IP address or network")]
pub struct BadNet(pub String);

/// Upstream ids that would collide with fixed `/login/...` paths.
const RESERVED_UPSTREAM_IDS: &[&str] = &["mfa", "link"];

/// Checks a provider id: 1–32 of `a-z`, `0-9`, `-`, `_`, not a reserved word.
pub fn check_upstream_id(id: &str) -> anyhow::Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 32
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !RESERVED_UPSTREAM_IDS.contains(&id);
    if !ok {
        bail!("upstream id {id:?}: use 1-32 of a-z 0-9 - _, not mfa or link");
    }
    Ok(())
}

/// Token and code lifetimes.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokensConfig {
    /// Access token lifetime (15 minutes).
    pub access_token_secs: i64,
    /// ID token lifetime (15 minutes).
    pub id_token_secs: i64,
    /// Authorization code lifetime (60 seconds).
    pub code_secs: i64,
    /// A refresh token unused this long expires (14 days).
    pub refresh_idle_secs: i64,
    /// No refresh token outlives the sign-in it descends from by more than this (90 days).
    pub refresh_absolute_secs: i64,
    /// `aud` of access tokens when no resource is named; default: the issuer.
    pub audience: Option<String>,
}

impl Default for TokensConfig {
    fn default() -> Self {
        Self {
            access_token_secs: 900,
            id_token_secs: 900,
            code_secs: 60,
            refresh_idle_secs: 14 * 86_400,
            refresh_absolute_secs: 90 * 86_400,
            audience: None,
        }
    }
}

/// Token signing keys.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeysConfig {
    /// Key-encryption key, 32 bytes in base64; unset: generated into `<data_dir>/kek`.
    /// Instances sharing a database must share it.
    #[serde(serialize_with = "redacted")]
    pub encryption_key: Option<SecretString>,
    /// How long a key signs before the next one takes over (30 days).
    pub rotate_after_secs: i64,
    /// How long a new key is in JWKS before it signs (1 day).
    pub publish_ahead_secs: i64,
    /// How long a replaced key stays in JWKS; at least the longest token lifetime (1 day).
    pub retain_secs: i64,
    /// RSA private keys (`*.pem`) found here at start are imported as the next key.
    pub import_dir: PathBuf,
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            encryption_key: None,
            rotate_after_secs: 30 * 86_400,
            publish_ahead_secs: 86_400,
            retain_secs: 86_400,
            import_dir: PathBuf::from("keys"),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Storage settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://…`; defaults to `sqlite://$DATA_DIR/gatehouse.db`.
    #[serde(serialize_with = "redacted")]
    pub url: Option<SecretString>,
    /// Pool size.
    pub max_connections: u32,
    /// How long `serve` keeps retrying an unreachable database at start.
    pub connect_retry_secs: u64,
}

/// Outgoing mail.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// `smtp://host:port` (plain), `smtp://host:port?tls=required` (STARTTLS),
    /// `smtps://user:pass@host:465` (TLS); unset means the file backend.
    #[serde(serialize_with = "redacted")]
    pub smtp_url: Option<SecretString>,
    /// Sender address.
    pub from: String,
    /// `file` or `memory` instead of SMTP. With an https issuer, mail needs
    /// `smtp_url` unless `file` is chosen here explicitly.
    pub backend: Option<MailBackend>,
    /// Attempts before a message becomes a dead letter.
    pub max_attempts: u32,
    /// Wait before the first retry; it doubles each time, up to an hour.
    pub retry_base_secs: i64,
    /// How long a worker holds a message it is sending; it renews the lease
    /// every third of this while the send is in flight, so a crashed
    /// worker's message is sent again at most this long after the crash.
    pub lease_secs: i64,
    /// Give up on one SMTP attempt after this long. May exceed `lease_secs`:
    /// the lease is renewed while the attempt runs.
    pub send_timeout_secs: u64,
}

/// The shortest `mail.lease_secs`: renewals every second.
pub const MIN_LEASE_SECS: i64 = 3;

/// A mail transport other than SMTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MailBackend {
    /// One `.eml` file per message under `<data_dir>/mail/`.
    File,
    /// Kept in memory (tests only; refused with an https issuer).
    Memory,
}

/// Browser session policy.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionConfig {
    /// Absolute lifetime of a session, in seconds (8 hours by default).
    pub lifetime_secs: i64,
    /// A session unused for this long ends, in seconds.
    pub idle_timeout_secs: i64,
    /// Shorter absolute lifetimes for members of some roles, e.g.
    /// `role_lifetime_secs = { admin = 3600 }`. The shortest that applies wins.
    pub role_lifetime_secs: std::collections::BTreeMap<String, i64>,
    /// Sensitive changes (two-step settings) need a sign-in at most this old.
    pub reauth_secs: i64,
}

impl SessionConfig {
    /// The absolute lifetime for a user with `roles`.
    pub fn lifetime_for(&self, roles: &[String]) -> i64 {
        roles.iter().filter_map(|r| self.role_lifetime_secs.get(r)).copied().fold(self.lifetime_secs, i64::min)
    }
}

/// Argon2id parameters and the password policy (see `security::policy`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordConfig {
    /// Memory cost in KiB (OWASP: 19 MiB).
    pub argon2_memory_kib: u32,
    /// Iterations (OWASP: 2).
    pub argon2_iterations: u32,
    /// Lanes (OWASP: 1).
    pub argon2_parallelism: u32,
    /// Shortest accepted password, in characters.
    pub min_length: usize,
    /// Lowest accepted zxcvbn score (0 to 4).
    pub min_score: u8,
    /// Refuse passwords found in the bundled list of common breached passwords.
    pub check_breached: bool,
    /// How many of the latest passwords (the current one included) may not be reused; 0 turns it off.
    pub history: u32,
    /// Days after which a password must be changed at the next sign-in; 0 turns it off.
    pub max_age_days: u32,
}

/// HTTP server limits.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Whole-request timeout in seconds.
    pub request_timeout_secs: u64,
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: usize,
    /// Largest accepted total size of the request headers, in bytes.
    pub header_limit_bytes: usize,
    /// Seconds in-flight requests get to finish after SIGTERM.
    pub shutdown_grace_secs: u64,
    /// `Strict-Transport-Security: max-age` sent on every response when the
    /// issuer is https (RFC 6797 §6.1); 0 sends none.
    pub hsts_max_age_secs: u64,
    /// Seconds a client has to send a request's whole header block (CWE-400:
    /// slow or half-sent requests are closed instead of holding a socket).
    /// It also bounds an idle keep-alive wait, since hyper starts it as soon
    /// as it waits for the next request head.
    pub header_read_timeout_secs: u64,
    /// Seconds a keep-alive connection may sit with no request in flight.
    pub keep_alive_idle_secs: u64,
    /// Open connections one client address (the TCP peer) may hold; a new
    /// one closes the address's oldest idle connection, or is closed at once
    /// when none is idle (see `server.rs`).
    pub max_connections_per_address: usize,
    /// Open connections in all (lowered to fit the open-file limit); a new one
    /// closes the busiest address's oldest idle connection, or is closed at once.
    pub max_connections: usize,
    /// A second listener for `/metrics` and the health endpoints (like
    /// Keycloak's management interface); unset: none.
    pub management_listen: Option<SocketAddr>,
    /// Networks whose clients may read `/metrics` on the public listener;
    /// others get 404. The client is the TCP peer, or the forwarded address
    /// when the peer is a trusted proxy.
    pub metrics_allow: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            issuer: None,
            data_dir: PathBuf::from("./data"),
            log_format: LogFormat::Text,
            log_level: "info,sqlx=warn".into(),
            database: DatabaseConfig::default(),
            mail: MailConfig::default(),
            session: SessionConfig::default(),
            password: PasswordConfig::default(),
            http: HttpConfig::default(),
            keys: KeysConfig::default(),
            tokens: TokensConfig::default(),
            mfa: MfaConfig::default(),
            rate_limits: RateLimitsConfig::default(),
            lockout: LockoutPolicy::default(),
            network: NetworkConfig::default(),
            retention: RetentionConfig::default(),
            upstream: Default::default(),
            registration: RegistrationConfig::default(),
            branding: BrandingConfig::default(),
            sources: Sources::default(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { url: None, max_connections: 10, connect_retry_secs: 60 }
    }
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: "gatehouse@localhost".into(),
            backend: None,
            max_attempts: 15,
            retry_base_secs: 30,
            lease_secs: 20,
            send_timeout_secs: 30,
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            lifetime_secs: 8 * 3600,
            idle_timeout_secs: 2 * 3600,
            role_lifetime_secs: Default::default(),
            reauth_secs: 600,
        }
    }
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self {
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            min_length: 12,
            min_score: 3,
            check_breached: true,
            history: 5,
            max_age_days: 0,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            request_timeout_secs: 30,
            body_limit_bytes: 64 * 1024,
            header_limit_bytes: 16 * 1024,
            shutdown_grace_secs: 20,
            hsts_max_age_secs: 31_536_000,
            header_read_timeout_secs: 10,
            keep_alive_idle_secs: 60,
            max_connections_per_address: 256,
            max_connections: 10_000,
            management_listen: None,
            metrics_allow: vec!["127.0.0.0/8".into(), "::1/128".into()],
        }
    }
}

impl HttpConfig {
    /// Limits that would switch a defence off, or refuse every client.
    fn validate(&self) -> anyhow::Result<()> {
        if self.header_read_timeout_secs == 0 || self.keep_alive_idle_secs == 0 {
            bail!("http.header_read_timeout_secs and http.keep_alive_idle_secs must be positive");
        }
        if self.max_connections_per_address == 0 || self.max_connections == 0 {
            bail!("http.max_connections_per_address and http.max_connections must be positive");
        }
        if self.max_connections_per_address > self.max_connections {
            bail!("http.max_connections_per_address must be at most http.max_connections");
        }
        self.metrics_nets()?;
        Ok(())
    }

    /// `metrics_allow` parsed.
    pub fn metrics_nets(&self) -> anyhow::Result<Vec<ipnet::IpNet>> {
        self.metrics_allow
            .iter()
            .map(|p| parse_net(p).map_err(|e| anyhow::anyhow!("http.metrics_allow: {e}")))
            .collect()
    }
}

impl Config {
    /// The database URL, explicit or derived from `data_dir`.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.expose_secret().to_owned(),
            None => format!("sqlite://{}", self.data_dir.join("gatehouse.db").display()),
        }
    }

    /// The issuer for a server bound to `bound` (the configured one, if any).
    #[allow(clippy::expect_used, reason = "a SocketAddr always renders as a valid URL authority")]
    pub fn issuer_for(&self, bound: SocketAddr) -> Url {
        match &self.issuer {
            Some(url) => url.clone(),
            None => Url::parse(&format!("http://{bound}")).expect("BUG: http://<socket addr> is a valid URL"),
        }
    }

    /// Cross-field rules that serde cannot express.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(issuer) = &self.issuer {
            if !matches!(issuer.scheme(), "https" | "http") || issuer.host_str().is_none() {
                bail!("issuer must be an absolute http(s) URL, got {issuer}");
            }
            if issuer.query().is_some() || issuer.fragment().is_some() {
                bail!("issuer must not have a query or fragment (OpenID Connect Discovery §3)");
            }
            if issuer.scheme() == "http" && !is_loopback_host(issuer) {
                bail!("issuer must use https unless it is a loopback address, got {issuer}");
            }
        }
        let url = self.database_url();
        if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            bail!("database.url must start with sqlite:// or postgres://");
        }
        if self.session.lifetime_secs <= 0 || self.session.idle_timeout_secs <= 0 {
            bail!("session.lifetime_secs and session.idle_timeout_secs must be positive");
        }
        if self.password.min_length < 8 {
            bail!("password.min_length must be at least 8");
        }
        if self.password.min_score > 4 || self.password.history > 100 || self.password.max_age_days > 36_500 {
            bail!(
                "password.min_score must be 0 to 4, password.history at most 100, password.max_age_days at most 36500"
            );
        }
        self.http.validate()?;
        self.registration.validate()?;
        self.branding.validate()?;
        let k = &self.keys;
        if k.rotate_after_secs <= 0 || k.publish_ahead_secs <= 0 || k.retain_secs <= 0 {
            bail!("keys.rotate_after_secs, keys.publish_ahead_secs and keys.retain_secs must be positive");
        }
        let t = &self.tokens;
        if [t.access_token_secs, t.id_token_secs, t.code_secs, t.refresh_idle_secs, t.refresh_absolute_secs]
            .iter()
            .any(|v| *v <= 0)
        {
            bail!("tokens.* lifetimes must be positive");
        }
        if k.retain_secs < t.access_token_secs.max(t.id_token_secs) {
            bail!("keys.retain_secs must be at least the longest token lifetime, or tokens outlive their key");
        }
        self.validate_mail()?;
        let sess = &self.session;
        if sess.reauth_secs <= 0 || sess.role_lifetime_secs.values().any(|v| *v <= 0) {
            bail!("session.reauth_secs and session.role_lifetime_secs must be positive");
        }
        if self.mfa.totp_issuer.trim().is_empty() || self.mfa.totp_issuer.contains(':') {
            bail!("mfa.totp_issuer must be a non-empty name without ':'");
        }
        self.rate_limits.validate(&self.lockout)?;
        // A failed sign-in's delay must leave the request time to answer.
        if self.rate_limits.max_failure_delay_ms.saturating_mul(2) > self.http.request_timeout_secs.saturating_mul(1000)
        {
            bail!("rate_limits.max_failure_delay_ms must be at most half of http.request_timeout_secs");
        }
        self.network.trusted_nets()?;
        self.retention.validate(&self.tokens)?;
        for id in self.upstream.keys() {
            check_upstream_id(id)?;
        }
        if self.database.max_connections == 0 {
            bail!("database.max_connections must be at least 1");
        }
        Ok(())
    }
}

impl Config {
    fn validate_mail(&self) -> anyhow::Result<()> {
        let m = &self.mail;
        let production = self.issuer.as_ref().is_some_and(|i| i.scheme() == "https");
        match (&m.smtp_url, m.backend) {
            (Some(_), Some(_)) => bail!("mail: set either mail.smtp_url or mail.backend, not both"),
            (None, None) if production => bail!(
                "mail: an https issuer needs SMTP; set GATEHOUSE_MAIL__SMTP_URL, or GATEHOUSE_MAIL__BACKEND=file to write mail to files"
            ),
            (None, Some(MailBackend::Memory)) if production => {
                bail!("mail.backend = \"memory\" loses mail; it is for tests and refused with an https issuer")
            }
            _ => {}
        }
        if m.from.parse::<lettre::message::Mailbox>().is_err() {
            bail!("mail.from {:?} is not an email address", m.from);
        }
        if m.max_attempts == 0 || m.retry_base_secs <= 0 || m.send_timeout_secs == 0 {
            bail!("mail.max_attempts, mail.retry_base_secs and mail.send_timeout_secs must be positive");
        }
        // The lease is renewed every third of it while a send runs, so it
        // need not outlast `send_timeout_secs`; it must only leave room for
        // renewals a second apart (a renewal that misses the lease lets
        // another instance send the message too).
        if m.lease_secs < MIN_LEASE_SECS {
            bail!("mail.lease_secs must be at least {MIN_LEASE_SECS} (it is renewed every third of it)");
        }
        Ok(())
    }
}

/// Per-client-address request limits (issue 6). Each bucket is
/// `{ max, per_secs }`: at most `max` requests per `per_secs` window from one
/// address (an IPv6 /64); `max = 0` turns the bucket off.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitsConfig {
    /// `POST /login`.
    pub login: Limit,
    /// `POST /login/mfa` (the second-factor step).
    pub mfa: Limit,
    /// `POST /register`.
    pub register: Limit,
    /// `POST /password/forgot`.
    pub forgot: Limit,
    /// Every `POST /token` from one address, successful or not. Off by
    /// default (`max = 0`): a backend may fetch many tokens; failed client
    /// authentication has its own buckets below.
    pub token: Limit,
    /// Failed client authentications at `/token`, `/revoke` and
    /// `/introspect` per `client_id` (RFC 6749 §10.10). Past `max`, requests
    /// for that client_id answer 429 before any secret is compared, until
    /// the window ends.
    pub failed_client_auth_per_client: Limit,
    /// The same, per client address (across client_ids).
    pub failed_client_auth_per_address: Limit,
    /// Failed sign-ins from one address; past `max`, sign-in answers 429
    /// until the window ends. `per_secs` is also the window for the delays.
    pub failed_logins: Limit,
    /// Failed sign-ins from one address answered at once; each further one
    /// waits `failure_delay_ms`, doubled each time. 0 turns the delay off.
    pub free_failures: i64,
    /// The first delay after the free failures, in milliseconds.
    pub failure_delay_ms: u64,
    /// No failed sign-in waits longer, in milliseconds.
    pub max_failure_delay_ms: u64,
}

/// One rate-limit bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limit {
    /// Requests allowed per window; 0 = no limit.
    pub max: i64,
    /// The window, in seconds, from the first request.
    pub per_secs: i64,
}

impl Limit {
    const fn new(max: i64, per_secs: i64) -> Self {
        Self { max, per_secs }
    }

    /// Whether the bucket limits anything.
    pub fn enabled(&self) -> bool {
        self.max > 0
    }
}

impl Default for Limit {
    fn default() -> Self {
        Self::new(0, 60)
    }
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        // Generous enough for many people behind one NAT, tight enough that
        // guessing passwords or codes from one address goes nowhere.
        Self {
            login: Limit::new(30, 60),
            mfa: Limit::new(30, 60),
            register: Limit::new(20, 3600),
            forgot: Limit::new(20, 3600),
            token: Limit::new(0, 60),
            failed_client_auth_per_client: Limit::new(20, 60),
            failed_client_auth_per_address: Limit::new(20, 60),
            failed_logins: Limit::new(100, 900),
            free_failures: 10,
            failure_delay_ms: 250,
            max_failure_delay_ms: 3000,
        }
    }
}

impl RateLimitsConfig {
    fn validate(&self, lockout: &LockoutPolicy) -> anyhow::Result<()> {
        let buckets = [
            self.login,
            self.mfa,
            self.register,
            self.forgot,
            self.token,
            self.failed_logins,
            self.failed_client_auth_per_client,
            self.failed_client_auth_per_address,
        ];
        if buckets.iter().any(|b| b.max < 0 || (b.enabled() && b.per_secs <= 0)) {
            bail!("rate_limits: max must not be negative, and per_secs must be positive where max > 0");
        }
        if self.free_failures < 0 {
            bail!("rate_limits.free_failures must not be negative");
        }
        let l = lockout;
        if l.max_failures < 0
            || (l.enabled()
                && [l.window_secs, l.base_delay_secs, l.max_delay_secs, l.forget_after_secs].iter().any(|v| *v <= 0))
        {
            bail!("lockout: max_failures must not be negative, and the windows and delays must be positive");
        }
        Ok(())
    }
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Loads the layered configuration. `path` is `--config`; `GATEHOUSE_CONFIG` is
/// the fallback. A missing default file is fine; a missing named file is not.
pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
    let named = path.map(Path::to_path_buf).or_else(|| std::env::var_os("GATEHOUSE_CONFIG").map(PathBuf::from));
    let mut figment = Figment::new();
    match named {
        Some(p) => {
            if !p.is_file() {
                bail!("config file {} does not exist", p.display());
            }
            figment = figment.merge(Toml::file_exact(p));
        }
        None if Path::new("gatehouse.toml").is_file() => figment = figment.merge(Toml::file_exact("gatehouse.toml")),
        None => {}
    }
    figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__").filter(|k| {
        // Keys keep the variable's case: compare in lowercase.
        let k = k.as_str().to_ascii_lowercase();
        k != "config" && !k.ends_with("_file")
    }));
    let mut file_vars = std::collections::BTreeMap::new();
    for (key, value) in std::env::vars_os() {
        let (Some(key), Some(value)) = (key.to_str(), value.to_str()) else { continue };
        let Some(rest) = key.strip_prefix(ENV_PREFIX) else { continue };
        let Some(name) = rest.strip_suffix("_FILE") else { continue };
        let secret = std::fs::read_to_string(value).with_context(|| format!("reading {key}={value}"))?;
        let dotted = name.to_ascii_lowercase().replace("__", ".");
        file_vars.insert(dotted.clone(), key.to_owned());
        figment = figment.merge(Serialized::global(&dotted, secret.trim_end_matches(['\r', '\n'])));
    }
    let mut config: Config = figment.extract().map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    config.validate()?;
    config.sources = sources::record(&figment, &config, &file_vars);
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_interface() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.issuer_for(c.listen).as_str(), "http://127.0.0.1:8080/");
        assert_eq!(c.database_url(), "sqlite://./data/gatehouse.db");
        assert_eq!(c.session.lifetime_secs, 8 * 3600);
    }

    #[test]
    fn unknown_key_is_an_error_naming_the_key() {
        let err = Figment::new()
            .merge(Toml::string("listen = \"127.0.0.1:1\"\nlisten_port = 3"))
            .extract::<Config>()
            .unwrap_err();
        assert!(err.to_string().contains("listen_port"), "{err}");
    }

    #[test]
    fn http_issuer_outside_loopback_is_refused() {
        let mut c = Config { issuer: Some(Url::parse("http://example.com").unwrap()), ..Config::default() };
        assert!(c.validate().is_err());
        c.issuer = Some(Url::parse("https://example.com").unwrap());
        c.mail.backend = Some(MailBackend::File);
        c.validate().unwrap();
    }

    #[test]
    fn an_https_issuer_needs_smtp_unless_files_are_chosen_explicitly() {
        let mut c = Config { issuer: Some(Url::parse("https://sso.example").unwrap()), ..Config::default() };
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("GATEHOUSE_MAIL__SMTP_URL"), "{err}");
        c.mail.backend = Some(MailBackend::Memory);
        assert!(c.validate().is_err(), "memory loses mail");
        c.mail.backend = None;
        c.mail.smtp_url = Some(SecretString::from("smtp://127.0.0.1:2525"));
        c.validate().unwrap();
        // A lease shorter than the send timeout is fine (it is renewed), one
        // too short to renew is not.
        c.mail.lease_secs = 10;
        c.validate().unwrap();
        c.mail.lease_secs = 2;
        assert!(c.validate().unwrap_err().to_string().contains("mail.lease_secs"));
        // Without an https issuer (development) the file backend is the default.
        Config::default().validate().unwrap();
    }

    #[test]
    fn rate_limits_and_lockout_parse_per_bucket_and_refuse_nonsense() {
        let toml =
            "[rate_limits]\nlogin = { max = 0 }\ntoken = { max = 5, per_secs = 10 }\n[lockout]\nmax_failures = 3";
        let c: Config = Figment::new().merge(Toml::string(toml)).extract().unwrap();
        c.validate().unwrap();
        assert!(!c.rate_limits.login.enabled(), "max = 0 turns the bucket off");
        assert_eq!(c.rate_limits.token, Limit { max: 5, per_secs: 10 });
        assert_eq!(c.rate_limits.register, RateLimitsConfig::default().register, "absent buckets keep their default");
        // Successful token requests are not limited by default; failed client
        // authentication is, at 20 a minute (RFC 6749 §10.10).
        let d = RateLimitsConfig::default();
        assert!(!d.token.enabled());
        assert_eq!(d.failed_client_auth_per_client, Limit { max: 20, per_secs: 60 });
        assert_eq!(d.failed_client_auth_per_address, Limit { max: 20, per_secs: 60 });
        assert_eq!((c.lockout.max_failures, c.lockout.window_secs), (3, 900));
        let err = Figment::new().merge(Toml::string("[lockout]\nmax_failure = 3")).extract::<Config>().unwrap_err();
        assert!(err.to_string().contains("max_failure"), "{err}");
        let mut bad = Config::default();
        bad.rate_limits.forgot = Limit { max: 3, per_secs: 0 };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn http_connection_limits_parse_and_refuse_settings_that_switch_them_off() {
        let toml = "[http]\nheader_read_timeout_secs = 5\nmanagement_listen = \"127.0.0.1:9090\"\nmetrics_allow = [\"10.0.0.0/8\"]";
        let c: Config = Figment::new().merge(Toml::string(toml)).extract().unwrap();
        c.validate().unwrap();
        assert_eq!(c.http.header_read_timeout_secs, 5);
        assert_eq!(c.http.management_listen, Some("127.0.0.1:9090".parse().unwrap()));
        assert_eq!(c.http.metrics_nets().unwrap().len(), 1);
        let d = HttpConfig::default();
        assert_eq!((d.header_read_timeout_secs, d.keep_alive_idle_secs, d.max_connections_per_address), (10, 60, 256));
        assert_eq!(d.metrics_allow, ["127.0.0.0/8", "::1/128"], "loopback only by default");
        for tweak in [
            (|h: &mut HttpConfig| h.header_read_timeout_secs = 0) as fn(&mut HttpConfig),
            |h| h.keep_alive_idle_secs = 0,
            |h| h.max_connections_per_address = 0,
            |h| h.max_connections = 10,
            |h| h.metrics_allow = vec!["not a network".into()],
        ] {
            let mut bad = Config::default();
            tweak(&mut bad.http);
            assert!(bad.validate().is_err(), "{:?}", bad.http);
        }
    }

    #[test]
    fn database_secret_is_redacted_in_debug() {
        let c = Config {
            database: DatabaseConfig {
                url: Some(SecretString::from("postgres://u:hunter2@h/db")),
                ..Default::default()
            },
            ..Config::default()
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
