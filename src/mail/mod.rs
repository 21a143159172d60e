//! Outgoing mail. Flows never send directly: they queue a typed message in the
//! outbox (`outbox.rs`) inside their own transaction, and a worker hands it to
//! the [`Mailer`], whose transport is one of:
//! - SMTP through lettre (`smtp://` plain, `smtp://…?tls=required` STARTTLS,
//!   `smtps://` TLS; `user:pass@` for AUTH), from `mail.smtp_url`;
//! - files: one `.eml` per message under `<data_dir>/mail/` (the dev default);
//! - memory: kept in a list (tests of the mail code itself).
//!
//! Like the rust-lang registry app, an https (production) issuer refuses to
//! start without SMTP unless the file backend is chosen explicitly
//! (`config::validate`).
//!
//! Owns: the outbox rows' life (queue, lease, send, retry), mail texts,
//! transports. Must not import: `accounts`, `oauth`, `http`, `cli`, axum.
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::config::{Config, MailBackend};

pub mod messages;
pub mod outbox;
mod summary;

pub use messages::Mail;
pub use outbox::{Outbox, QueuedMail};

/// Mail errors. The outbox retries every one of them except a malformed
/// address and an SMTP refusal of the mailbox itself.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("mail settings: {0}")]
    Config(String),
    #[error("invalid address {0:?}")]
    Address(String),
    #[error("cannot build the message: {0}")]
    Build(String),
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("the transport timed out")]
    Timeout,
    #[error("writing the mail file failed: {0}")]
    File(#[from] std::io::Error),
    #[error("rendering the mail failed: {0}")]
    Render(#[from] askama::Error),
    #[error("storage failed")]
    Store(#[from] crate::store::Error),
    #[error("sealing the mail body failed")]
    Seal(#[from] crate::keys::Error),
}

/// A message ready for a transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub message_id: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(PathBuf),
    Memory(Arc<Mutex<Vec<Outgoing>>>),
}

/// Hands messages to the configured transport.
#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    transport: Transport,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.transport {
            Transport::Smtp(_) => "smtp",
            Transport::File(_) => "file",
            Transport::Memory(_) => "memory",
        };
        f.debug_struct("Mailer").field("from", &self.from.to_string()).field("transport", &kind).finish()
    }
}

impl Mailer {
    /// The transport the configuration names (SMTP when `smtp_url` is set).
    pub fn from_config(config: &Config) -> Result<Self, Error> {
        let mail = &config.mail;
        let from: Mailbox = mail.from.parse().map_err(|_| Error::Config(format!("mail.from {:?}", mail.from)))?;
        let transport = match (&mail.smtp_url, mail.backend) {
            (Some(url), _) => {
                let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                    // The URL may hold a password: never echo it.
                    .map_err(|_| Error::Config("mail.smtp_url is not a valid smtp:// or smtps:// URL".into()))?;
                Transport::Smtp(builder.timeout(Some(Duration::from_secs(mail.send_timeout_secs))).build())
            }
            (None, Some(MailBackend::Memory)) => Transport::Memory(Arc::default()),
            (None, _) => Transport::File(config.data_dir.join("mail")),
        };
        Ok(Self { from, transport })
    }

    /// A memory transport; `sent()` lists what it got.
    pub fn memory(from: &str) -> Result<Self, Error> {
        let from = from.parse().map_err(|_| Error::Address(from.to_owned()))?;
        Ok(Self { from, transport: Transport::Memory(Arc::default()) })
    }

    /// What the memory transport holds (empty for the others).
    pub fn sent(&self) -> Vec<Outgoing> {
        match &self.transport {
            Transport::Memory(list) => list.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone(),
            _ => Vec::new(),
        }
    }

    /// Where the file transport writes, if that is the transport.
    pub fn file_dir(&self) -> Option<&std::path::Path> {
        match &self.transport {
            Transport::File(dir) => Some(dir),
            _ => None,
        }
    }

    /// Delivers one message.
    pub async fn send(&self, m: &Outgoing) -> Result<(), Error> {
        let to: Mailbox = m.to.parse().map_err(|_| Error::Address(m.to.clone()))?;
        let message = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(m.subject.as_str())
            .message_id(Some(m.message_id.clone()))
            .multipart(MultiPart::alternative_plain_html(m.text.clone(), m.html.clone()))
            .map_err(|e| Error::Build(e.to_string()))?;
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(message).await?;
            }
            Transport::File(dir) => {
                tokio::fs::create_dir_all(dir).await?;
                // `<id@host>` becomes `id@host.eml`; anything odd becomes `_`.
                let name: String = m
                    .message_id
                    .trim_matches(['<', '>'])
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() || "-.@".contains(c) { c } else { '_' })
                    .take(100)
                    .collect();
                let path = dir.join(format!("{name}.eml"));
                tokio::fs::write(&path, message.formatted()).await?;
                tracing::info!(path = %path.display(), "mail written to a file");
            }
            Transport::Memory(list) => {
                drop(message);
                list.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(m.clone());
            }
        }
        Ok(())
    }
}
