//! The key-encryption key (KEK) that protects signing keys (and queued mail,
//! which may carry single-use links) at rest:
//! AES-256-GCM with a random 96-bit nonce per key and the kid as associated
//! data, so a ciphertext cannot be moved to another key's row. The KEK comes
//! from config (`keys.encryption_key`, 32 bytes in base64) or is generated once
//! into `<data_dir>/kek` with mode 0600. Instances sharing a PostgreSQL
//! database must share the KEK (configure it, or the file).
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};

use super::Error;
use crate::security::token::random_bytes;

/// The key-encryption key.
pub struct Kek {
    cipher: Aes256Gcm,
    /// Where it came from, for error messages (never the key itself).
    origin: String,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(<redacted>)")
    }
}

fn decode_key(text: &str) -> Result<[u8; 32], Error> {
    let text = text.trim();
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .or_else(|_| STANDARD.decode(text))
        .map_err(|_| Error::Kek("is not base64".into()))?;
    bytes.try_into().map_err(|_| Error::Kek("must be 32 bytes (256 bits)".into()))
}

impl Kek {
    /// A KEK from raw bytes.
    pub fn new(key: [u8; 32]) -> Self {
        Self::with_origin(key, "a key given in code".to_owned())
    }

    fn with_origin(key: [u8; 32], origin: String) -> Self {
        Self { cipher: Aes256Gcm::new(&key.into()), origin }
    }

    /// Where this KEK came from: `keys.encryption_key`, or the file's path.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The configured KEK, or the one in `<data_dir>/kek`, created if missing.
    pub fn load(configured: Option<&SecretString>, data_dir: &Path) -> Result<Self, Error> {
        if let Some(key) = configured {
            let origin = "keys.encryption_key (GATEHOUSE_KEYS__ENCRYPTION_KEY)".to_owned();
            return Ok(Self::with_origin(decode_key(key.expose_secret())?, origin));
        }
        let path = data_dir.join("kek");
        let origin = format!("the file {}", path.display());
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Self::with_origin(
                decode_key(&text).map_err(|e| Error::Kek(format!("{}: {e}", path.display())))?,
                origin,
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = random_bytes::<32>();
                match write_private(&path, &URL_SAFE_NO_PAD.encode(key)) {
                    Ok(()) => {
                        tracing::info!(path = %path.display(), "generated a key-encryption key");
                        Ok(Self::with_origin(key, format!("{origin} (generated now)")))
                    }
                    // Another process sharing the data directory wrote it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::load(None, data_dir),
                    Err(e) => Err(Error::Kek(format!("cannot write {}: {e}", path.display()))),
                }
            }
            Err(e) => Err(Error::Kek(format!("cannot read {}: {e}", path.display()))),
        }
    }

    /// Encrypts `plain` for the key `kid`: base64(nonce ‖ ciphertext).
    pub fn seal(&self, kid: &str, plain: &[u8]) -> Result<String, Error> {
        let nonce = random_bytes::<12>();
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad: kid.as_bytes() })
            .map_err(|_| Error::Crypto("encryption failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    /// Decrypts what [`Kek::seal`] made for `kid`.
    pub fn open(&self, kid: &str, sealed: &str) -> Result<Vec<u8>, Error> {
        let wrong = || Error::Kek(format!("cannot decrypt {kid}: wrong key-encryption key?"));
        let bytes = STANDARD.decode(sealed).map_err(|_| wrong())?;
        if bytes.len() < 12 {
            return Err(wrong());
        }
        let (nonce, body) = bytes.split_at(12);
        self.cipher.decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad: kid.as_bytes() }).map_err(|_| wrong())
    }
}

/// Writes a new file readable by its owner only.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_open_only_with_the_same_kek_and_kid() {
        let kek = Kek::new([1; 32]);
        let sealed = kek.seal("kid-1", b"private").unwrap();
        assert_eq!(kek.open("kid-1", &sealed).unwrap(), b"private");
        assert!(kek.open("kid-2", &sealed).is_err(), "bound to its kid");
        assert!(Kek::new([2; 32]).open("kid-1", &sealed).is_err());
    }

    #[test]
    fn a_generated_kek_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = Kek::load(None, dir.path()).unwrap();
        let sealed = first.seal("k", b"x").unwrap();
        let again = Kek::load(None, dir.path()).unwrap();
        assert_eq!(again.open("k", &sealed).unwrap(), b"x");
        assert!(
            first.origin().ends_with("kek (generated now)") && again.origin().ends_with("kek"),
            "{}",
            again.origin()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("kek")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_configured_kek_must_be_32_bytes() {
        let short = SecretString::from(STANDARD.encode([0u8; 16]));
        assert!(Kek::load(Some(&short), Path::new("/nonexistent")).is_err());
        let good = SecretString::from(STANDARD.encode([0u8; 32]));
        Kek::load(Some(&good), Path::new("/nonexistent")).unwrap();
    }
}
