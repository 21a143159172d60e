//! Token signing keys: RSA (RS256) keys generated on first start, stored in
//! the database (so every instance signs with the same key) with the private
//! part encrypted by the [`kek::Kek`], rotated on the [`schedule`], and
//! published as a JWKS document (RFC 7517) that holds public keys only.
//! Keys are parsed once per change, not per request.
//!
//! Owns: key generation, encryption at rest, rotation, JWKS.
//! Must not import: `accounts`, `oauth`, `http`, `cli`, axum.
use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jws::RS256;
use josekit::jws::alg::rsassa::{RsassaJwsSigner, RsassaJwsVerifier};
use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::security::audit::{self, AuditAction};
use crate::store::{self, KeyRow, Store};

pub mod kek;
pub mod schedule;

#[cfg(test)]
mod fuzz;

pub use kek::Kek;
pub use schedule::{Policy, State};

/// Key errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("key-encryption key {0}")]
    Kek(String),
    #[error("cryptography failed: {0}")]
    Crypto(String),
    #[error("no current signing key")]
    NoCurrentKey,
    /// The database's signing keys were sealed under another KEK: typically
    /// a second instance on a shared database with a KEK of its own.
    #[error(
        "cannot decrypt signing key {kid} from the database with this instance's key-encryption key (from {origin}): \
         it was encrypted with another one. Instances sharing a database must share keys.encryption_key: set \
         GATEHOUSE_KEYS__ENCRYPTION_KEY to the same value on every instance, or give them the same $DATA_DIR/kek file"
    )]
    ForeignKek { kid: String, origin: String },
    #[error("storage failed")]
    Store(#[from] store::Error),
}

impl From<josekit::JoseError> for Error {
    fn from(err: josekit::JoseError) -> Self {
        Error::Crypto(err.to_string())
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// RSA modulus size for new keys.
pub const RSA_BITS: u32 = 2048;
/// The JWS algorithm of every signing key.
pub const ALGORITHM: &str = "RS256";

/// What is parsed from the live keys.
struct Loaded {
    current_kid: String,
    signer: RsassaJwsSigner,
    jwks: Arc<str>,
    /// Verifiers for every published key, by kid.
    verifiers: std::collections::HashMap<String, RsassaJwsVerifier>,
}

/// The signing keys of this server. Cheap to clone.
#[derive(Clone)]
pub struct KeyRing {
    store: Store,
    kek: Arc<Kek>,
    policy: Policy,
    clock: Arc<dyn Clock>,
    loaded: Arc<RwLock<Arc<Loaded>>>,
}

/// A key as operators see it.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub kid: String,
    pub state: String,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retiring_at: Option<i64>,
}

impl KeyInfo {
    fn from_row(r: KeyRow) -> Self {
        Self {
            kid: r.id,
            state: r.state,
            created_at: r.created_at,
            activated_at: r.activated_at,
            retiring_at: r.retiring_at,
        }
    }

    /// The paging key: `(created_at, kid)`.
    pub fn key(&self) -> (i64, String) {
        (self.created_at, self.kid.clone())
    }
}

impl KeyRing {
    /// Brings the keys up to date with the schedule (creating them on first
    /// start) and loads them.
    pub async fn open(
        store: Store,
        kek: Arc<Kek>,
        policy: Policy,
        clock: Arc<dyn Clock>,
        import_dir: &std::path::Path,
    ) -> Result<Self> {
        import_pems(&store, &kek, import_dir, clock.unix()).await?;
        let rows = maintain(&store, &kek, policy, clock.unix(), None).await?;
        let loaded = load(&kek, &rows)?;
        Ok(Self { store, kek, policy, clock, loaded: Arc::new(RwLock::new(Arc::new(loaded))) })
    }

    /// Applies due schedule steps and reloads; run periodically by every instance.
    pub async fn refresh(&self) -> Result<()> {
        let rows = maintain(&self.store, &self.kek, self.policy, self.clock.unix(), None).await?;
        self.install(load(&self.kek, &rows)?);
        Ok(())
    }

    /// Rotates now: `next` becomes current and a new `next` is made
    /// (`gatehouse keys rotate`: audited with actor `cli`).
    pub async fn rotate_now(&self) -> Result<()> {
        self.rotate_now_by(&audit::Context::cli()).await
    }

    /// [`KeyRing::rotate_now`] on behalf of `ctx` (an operator's request),
    /// audited (`key_rotated`) from it in the rotation's transaction.
    pub async fn rotate_now_by(&self, ctx: &audit::Context) -> Result<()> {
        let rows = maintain(&self.store, &self.kek, self.policy, self.clock.unix(), Some(ctx)).await?;
        self.install(load(&self.kek, &rows)?);
        Ok(())
    }

    fn install(&self, loaded: Loaded) {
        let mut slot = self.loaded.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        *slot = Arc::new(loaded);
    }

    fn snapshot(&self) -> Arc<Loaded> {
        self.loaded.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The JWKS document: public keys of every published key.
    pub fn jwks(&self) -> Arc<str> {
        self.snapshot().jwks.clone()
    }

    /// The kid of the key that signs now.
    pub fn current_kid(&self) -> String {
        self.snapshot().current_kid.clone()
    }

    /// Signs a JWT with the current key (`typ` goes into the header).
    pub fn sign(&self, payload: &josekit::jwt::JwtPayload, typ: &str) -> Result<String> {
        let loaded = self.snapshot();
        let mut header = josekit::jws::JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(&loaded.current_kid);
        Ok(josekit::jwt::encode_with_signer(payload, &header, &loaded.signer)?)
    }

    /// Checks a JWT's signature against the published key its `kid` names and
    /// returns its payload and header. Claims are the caller's to check.
    pub fn verify(&self, token: &str) -> Result<(josekit::jwt::JwtPayload, josekit::jws::JwsHeader)> {
        let loaded = self.snapshot();
        let header = josekit::jwt::decode_header(token)?;
        let kid = header.claim("kid").and_then(|v| v.as_str()).ok_or_else(|| Error::Crypto("no kid".into()))?;
        let verifier = loaded.verifiers.get(kid).ok_or_else(|| Error::Crypto("unknown kid".into()))?;
        Ok(josekit::jwt::decode_with_verifier(token, verifier)?)
    }

    /// Every key with its state, newest first.
    pub async fn list(&self) -> Result<Vec<KeyInfo>> {
        let rows = self.store.conn().await?.db().all_keys().await?;
        Ok(rows.into_iter().map(KeyInfo::from_row).collect())
    }

    /// Up to `limit` keys, newest first, after `after` (the
    /// [`KeyInfo::key`] of the previous page's last). Public facts only.
    pub async fn page(&self, after: Option<(i64, String)>, limit: i64) -> Result<Vec<KeyInfo>> {
        let after = after.as_ref().map(|(at, kid)| (*at, kid.as_str()));
        let rows = self.store.conn().await?.db().keys_page(after, limit).await?;
        Ok(rows.into_iter().map(KeyInfo::from_row).collect())
    }

    /// How long a replaced key stays published (and tokens it signed verify).
    pub fn retain_secs(&self) -> i64 {
        self.policy.retain
    }

    /// The key signing now and when it is due to be replaced
    /// (`activated_at + rotate_after`), if there is one.
    pub async fn rotation(&self) -> Result<Option<(KeyInfo, i64)>> {
        let keys = self.list().await?;
        Ok(keys.into_iter().find(|k| k.state == "current").map(|k| {
            let due = k.activated_at.unwrap_or(k.created_at) + self.policy.rotate_after;
            (k, due)
        }))
    }

    /// The seconds a JWKS response may be cached: well inside `publish_ahead`,
    /// so caches pick up a `next` key before it signs.
    pub fn jwks_max_age(&self) -> i64 {
        (self.policy.publish_ahead / 4).clamp(0, 3600)
    }
}

/// The RFC 7638 thumbprint of an RSA public key: the kid.
fn thumbprint(jwk: &Jwk) -> Result<String> {
    let field = |name: &str| {
        jwk.parameter(name)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| Error::Crypto(format!("RSA key without {name}")))
    };
    // Members in lexicographic order, no whitespace (RFC 7638 §3.2).
    let canonical = format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, field("e")?, field("n")?);
    Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}

/// Imports operator-supplied RSA keys (`<dir>/*.pem`, PKCS#8 or PKCS#1) not
/// seen before: each becomes the `next` key (a generated `next`, which has
/// never signed, is retired to make room). A key that cannot be read stops
/// start-up: an operator who put it there meant it to be used.
async fn import_pems(store: &Store, kek: &Kek, dir: &std::path::Path, now: i64) -> Result<()> {
    for path in pem_paths(dir) {
        let bad = |why: String| Error::Crypto(format!("cannot import {}: {why}", path.display()));
        let pem = std::fs::read(&path).map_err(|e| bad(e.to_string()))?;
        let pair = RS256.key_pair_from_pem(&pem).map_err(|e| bad(e.to_string()))?;
        // key_len() is the modulus size in bytes.
        if pair.key_len() * 8 < RSA_BITS {
            return Err(bad(format!("RSA keys must have at least {RSA_BITS} bits")));
        }
        let row = key_row(kek, &pair, State::Next, now)?;
        let mut tx = store.begin().await?;
        if tx.db().all_keys().await?.iter().any(|k| k.id == row.id) {
            continue;
        }
        if let Some(next) = tx.db().live_keys().await?.into_iter().find(|k| k.state == "next") {
            tx.db().move_key(&next.id, "next", "retired", now).await?;
        }
        tx.db().insert_key(&row).await?;
        tx.commit().await?;
        tracing::info!(kid = %row.id, path = %path.display(), "imported a signing key as the next key");
    }
    Ok(())
}

/// The `*.pem` files in `dir`, sorted (none if it cannot be read).
fn pem_paths(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pem"))
        .collect();
    paths.sort();
    paths
}

/// The kids of the RSA keys in `dir`: those a start would import if their
/// rows were gone. The janitor never deletes these, or a PEM left in the
/// directory would come back as the next key. Unreadable files are skipped
/// (a start refuses them anyway).
pub fn import_dir_kids(dir: &std::path::Path) -> Vec<String> {
    pem_paths(dir)
        .iter()
        .filter_map(|path| {
            let pem = std::fs::read(path).ok()?;
            let pair = RS256.key_pair_from_pem(&pem).ok()?;
            thumbprint(&pair.to_jwk_public_key()).ok()
        })
        .collect()
}

/// Makes a new key row in `state`: generated, thumbprinted, sealed.
fn new_key(kek: &Kek, state: State, now: i64) -> Result<KeyRow> {
    key_row(kek, &RS256.generate_key_pair(RSA_BITS)?, state, now)
}

/// A key row for `pair`: thumbprinted, sealed.
fn key_row(kek: &Kek, pair: &RsaKeyPair, state: State, now: i64) -> Result<KeyRow> {
    let mut public = pair.to_jwk_public_key();
    let kid = thumbprint(&public)?;
    public.set_key_id(&kid);
    public.set_algorithm("RS256");
    public.set_key_use("sig");
    let public_jwk = serde_json::to_string(public.as_ref()).map_err(|e| Error::Crypto(e.to_string()))?;
    let private_key = kek.seal(&kid, &pair.to_pem_private_key())?;
    let activated_at = (state == State::Current).then_some(now);
    Ok(KeyRow {
        id: kid,
        alg: "RS256".into(),
        state: state.as_str().into(),
        public_jwk,
        private_key,
        created_at: now,
        activated_at,
        retiring_at: None,
    })
}

/// Applies the steps due at `now` in one transaction and returns the live keys.
/// If another instance wins a race (unique index, or a state that moved), this
/// instance rolls back and takes the keys as the winner left them.
/// `forced_by`: who asked for a rotation now; `None` is the schedule (actor
/// `system`).
async fn maintain(
    store: &Store,
    kek: &Kek,
    policy: Policy,
    now: i64,
    forced_by: Option<&audit::Context>,
) -> Result<Vec<KeyRow>> {
    let force = forced_by.is_some();
    let system = audit::Context::system();
    let by = forced_by.unwrap_or(&system);
    let rows = store.conn().await?.db().live_keys().await?;
    let times: Vec<schedule::KeyTimes> = rows
        .iter()
        .filter_map(|r| {
            Some(schedule::KeyTimes {
                id: r.id.clone(),
                state: State::parse(&r.state)?,
                created_at: r.created_at,
                activated_at: r.activated_at,
                retiring_at: r.retiring_at,
            })
        })
        .collect();
    let steps = schedule::plan(&times, now, policy, force);
    if steps.is_empty() {
        return Ok(rows);
    }
    let mut tx = store.begin().await?;
    let mut applied = true;
    for step in &steps {
        let ok = match step {
            schedule::Step::Create(state) => {
                let row = new_key(kek, *state, now)?;
                let inserted = match tx.db().insert_key(&row).await {
                    Err(store::Error::Conflict(_)) => false,
                    other => other.map(|()| true)?,
                };
                // A key made current at once (the first start) is a rotation too.
                if inserted && *state == State::Current {
                    let event = by
                        .event(AuditAction::KeyRotated, row.id.as_str())
                        .with_detail(serde_json::json!({ "retiring": null }));
                    audit::append(&mut tx.db(), &event, now).await?;
                }
                inserted
            }
            schedule::Step::Promote { next, current } => {
                let retired = match current {
                    Some(c) => tx.db().move_key(c, "current", "retiring", now).await?,
                    None => true,
                };
                let promoted = retired && tx.db().move_key(next, "next", "current", now).await?;
                if promoted {
                    let event = by
                        .event(AuditAction::KeyRotated, next.as_str())
                        .with_detail(serde_json::json!({ "retiring": current }));
                    audit::append(&mut tx.db(), &event, now).await?;
                }
                promoted
            }
            schedule::Step::Retire(id) => tx.db().move_key(id, "retiring", "retired", now).await?,
        };
        if !ok {
            applied = false;
            break;
        }
    }
    if applied {
        tx.commit().await?;
        tracing::info!(steps = ?steps, "signing keys updated");
    } else {
        drop(tx);
        tracing::debug!("another instance updated the signing keys first");
    }
    Ok(store.conn().await?.db().live_keys().await?)
}

/// Parses the live keys: the current signer and the JWKS document.
fn load(kek: &Kek, rows: &[KeyRow]) -> Result<Loaded> {
    let current = rows.iter().find(|r| r.state == "current").ok_or(Error::NoCurrentKey)?;
    let pem = kek
        .open(&current.id, &current.private_key)
        .map_err(|_| Error::ForeignKek { kid: current.id.clone(), origin: kek.origin().to_owned() })?;
    let pair = RsaKeyPair::from_pem(&pem)?;
    let mut signer = RS256.signer_from_pem(pair.to_pem_private_key())?;
    signer.set_key_id(&current.id);
    let mut keys: Vec<serde_json::Value> = Vec::new();
    let mut verifiers = std::collections::HashMap::new();
    for row in rows.iter().filter(|r| r.state != "retired") {
        let jwk = Jwk::from_bytes(row.public_jwk.as_bytes())?;
        verifiers.insert(row.id.clone(), RS256.verifier_from_jwk(&jwk)?);
        keys.push(serde_json::Value::Object(jwk.as_ref().clone()));
    }
    let jwks = serde_json::json!({ "keys": keys }).to_string();
    Ok(Loaded { current_kid: current.id.clone(), signer, jwks: jwks.into(), verifiers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kid_is_the_rfc_7638_thumbprint() {
        // RFC 7638 §3.1 example key and its thumbprint.
        let jwk = Jwk::from_bytes(
            br#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#,
        )
        .unwrap();
        assert_eq!(thumbprint(&jwk).unwrap(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn a_new_key_publishes_only_public_parts_and_signs() {
        let kek = Kek::new([3; 32]);
        let row = new_key(&kek, State::Current, 100).unwrap();
        let jwk: serde_json::Value = serde_json::from_str(&row.public_jwk).unwrap();
        assert_eq!(jwk["kid"], row.id.as_str());
        assert_eq!(
            (jwk["alg"].as_str(), jwk["use"].as_str(), jwk["kty"].as_str()),
            (Some("RS256"), Some("sig"), Some("RSA"))
        );
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(jwk.get(private).is_none(), "JWKS must not carry {private}");
        }
        assert!(!row.private_key.contains("PRIVATE KEY"), "stored encrypted");
        let loaded = load(&kek, &[row]).unwrap();
        assert!(loaded.jwks.contains(&loaded.current_kid));
    }

    #[test]
    fn a_key_sealed_under_another_kek_names_the_shared_setting() {
        let row = new_key(&Kek::new([4; 32]), State::Current, 100).unwrap();
        let err = load(&Kek::new([5; 32]), &[row]).err().unwrap().to_string();
        assert!(err.contains("must share keys.encryption_key"), "{err}");
        assert!(err.contains("GATEHOUSE_KEYS__ENCRYPTION_KEY") && err.contains("$DATA_DIR/kek"), "{err}");
    }

    #[test]
    fn tokens_signed_by_the_current_key_verify_with_its_published_jwk() {
        let kek = Kek::new([4; 32]);
        let row = new_key(&kek, State::Current, 100).unwrap();
        let loaded = load(&kek, std::slice::from_ref(&row)).unwrap();
        let mut payload = josekit::jwt::JwtPayload::new();
        payload.set_subject("alice");
        let mut header = josekit::jws::JwsHeader::new();
        header.set_key_id(&loaded.current_kid);
        let token = josekit::jwt::encode_with_signer(&payload, &header, &loaded.signer).unwrap();
        let jwk = Jwk::from_bytes(row.public_jwk.as_bytes()).unwrap();
        let verifier = RS256.verifier_from_jwk(&jwk).unwrap();
        let (decoded, header) = josekit::jwt::decode_with_verifier(&token, &verifier).unwrap();
        assert_eq!(decoded.subject(), Some("alice"));
        assert_eq!(header.key_id(), Some(row.id.as_str()));
    }
}
