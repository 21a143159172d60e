//! OpenID Connect specifics: the discovery document and JWKS, cached per
//! provider, and the ID-token checks of OIDC Core §3.1.3.7 through the
//! openidconnect crate's verifier, with time taken from our [`Clock`].
//!
//! Cache: filled at first use, kept [`CACHE_SECS`]; a failed fetch leaves it
//! as it was. When an ID token names a key the cached JWKS lacks (the
//! provider rotated, OIDC Core §10.1.1), the JWKS alone is fetched again,
//! once per sign-in.
use std::sync::Arc;

use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType, CoreIdToken,
    CoreIdTokenVerifier, CoreJsonWebKey, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType,
    CoreSubjectIdentifierType,
};
use openidconnect::{
    AccessToken, AccessTokenHash, ClaimsVerificationError, ClientId, IssuerUrl, Nonce, SignatureVerificationError,
};
use openidconnect::{AdditionalProviderMetadata, ProviderMetadata};
use serde_json::Value;
use tokio::sync::Mutex;

use super::Error;
use super::settings::TokenAuth;
use crate::clock::Clock;

/// Discovery fields beyond OIDC Discovery that we act on.
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
pub(crate) struct Extra {
    /// RFC 9207 §3: the provider puts `iss` on every authorization response.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

impl AdditionalProviderMetadata for Extra {}

/// The discovery document as we read it (the crate's core types plus [`Extra`]).
pub(crate) type Metadata = ProviderMetadata<
    Extra,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// How long discovery and keys are trusted before they are fetched again.
pub(crate) const CACHE_SECS: i64 = 3600;
/// Clock difference tolerated between the provider and us, on `exp` and `iat`.
pub(crate) const LEEWAY_SECS: i64 = 60;

struct Cached {
    metadata: Metadata,
    fetched_at: i64,
}

/// One provider's discovery cache.
#[derive(Default)]
pub(crate) struct Discovery {
    cached: Mutex<Option<Cached>>,
}

impl Discovery {
    /// The provider metadata (with its JWKS), from the cache when fresh.
    /// The lock is held over the fetch so concurrent sign-ins wait for one
    /// fetch instead of each starting their own.
    pub(crate) async fn metadata(&self, http: &reqwest::Client, issuer: &str, now: i64) -> Result<Metadata, Error> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && (c.fetched_at..c.fetched_at + CACHE_SECS).contains(&now)
        {
            return Ok(c.metadata.clone());
        }
        let issuer = IssuerUrl::new(issuer.to_owned()).map_err(|e| Error::Config(format!("issuer: {e}")))?;
        // Checks that the document names this exact issuer, then loads the JWKS.
        let metadata =
            Metadata::discover_async(issuer, http).await.map_err(|e| Error::Unavailable(format!("discovery: {e}")))?;
        *cached = Some(Cached { metadata: metadata.clone(), fetched_at: now });
        Ok(metadata)
    }

    /// Fetches the JWKS again (key rotation) and stores it with the metadata.
    pub(crate) async fn refresh_keys(
        &self,
        http: &reqwest::Client,
        metadata: Metadata,
        now: i64,
    ) -> Result<Metadata, Error> {
        let jwks = CoreJsonWebKeySet::fetch_async(metadata.jwks_uri(), http)
            .await
            .map_err(|e| Error::Unavailable(format!("JWKS: {e}")))?;
        let metadata = metadata.set_jwks(jwks);
        *self.cached.lock().await = Some(Cached { metadata: metadata.clone(), fetched_at: now });
        Ok(metadata)
    }
}

/// `client_secret_basic` unless the provider lists only `client_secret_post`
/// (OIDC Discovery: basic is the default when nothing is listed).
pub(crate) fn token_auth(metadata: &Metadata, has_secret: bool) -> TokenAuth {
    if !has_secret {
        return TokenAuth::None;
    }
    match metadata.token_endpoint_auth_methods_supported() {
        Some(list)
            if !list.contains(&CoreClientAuthMethod::ClientSecretBasic)
                && list.contains(&CoreClientAuthMethod::ClientSecretPost) =>
        {
            TokenAuth::Post
        }
        _ => TokenAuth::Basic,
    }
}

/// Public-key algorithms the provider announces. HMAC (keyed with the client
/// secret) and `none` are never accepted.
fn allowed_algs(metadata: &Metadata) -> Vec<CoreJwsSigningAlgorithm> {
    use CoreJwsSigningAlgorithm as A;
    let algs: Vec<_> = metadata
        .id_token_signing_alg_values_supported()
        .iter()
        .filter(|a| {
            matches!(
                a,
                A::RsaSsaPkcs1V15Sha256
                    | A::RsaSsaPkcs1V15Sha384
                    | A::RsaSsaPkcs1V15Sha512
                    | A::RsaSsaPssSha256
                    | A::RsaSsaPssSha384
                    | A::RsaSsaPssSha512
                    | A::EcdsaP256Sha256
                    | A::EcdsaP384Sha384
                    | A::EdDsa
            )
        })
        .cloned()
        .collect();
    // OIDC Discovery §3: RS256 must be supported.
    if algs.is_empty() { vec![A::RsaSsaPkcs1V15Sha256] } else { algs }
}

/// The outcome of checking an ID token against one JWKS.
pub(crate) enum Checked {
    /// Every check passed: the claims as JSON, for the claim mapping.
    Claims(Value),
    /// The token names a key this JWKS lacks: fetch the keys, try again.
    UnknownKey,
}

/// What an ID token is checked against.
pub(crate) struct Expect<'a> {
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub access_token: &'a str,
}

fn unix_to_chrono(secs: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

/// OIDC Core §3.1.3.7: signature (JWKS, allowed algorithms), `iss`, `aud`
/// (and `azp` when several audiences), `exp` and `iat` against our clock,
/// `nonce`; §3.1.3.8: `at_hash` when present.
pub(crate) fn check(
    metadata: &Metadata,
    id_token: &str,
    expect: &Expect<'_>,
    clock: &Arc<dyn Clock>,
) -> Result<Checked, Error> {
    let token: CoreIdToken = id_token.parse().map_err(|_| Error::Rejected("ID token: malformed".into()))?;
    let now = clock.unix();
    let verifier = CoreIdTokenVerifier::new_public_client(
        ClientId::new(expect.client_id.to_owned()),
        metadata.issuer().clone(),
        metadata.jwks().clone(),
    )
    .set_allowed_algs(allowed_algs(metadata))
    // The library compares `exp` with this; moving "now" back is the leeway.
    .set_time_fn(move || unix_to_chrono(now - LEEWAY_SECS))
    .set_issue_time_verifier_fn(move |iat| {
        if iat.timestamp() > now + LEEWAY_SECS { Err("issued in the future".into()) } else { Ok(()) }
    });
    let nonce = Nonce::new(expect.nonce.to_owned());
    let claims = match token.claims(&verifier, &nonce) {
        Ok(c) => c,
        Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) => {
            return Ok(Checked::UnknownKey);
        }
        Err(e) => return Err(Error::Rejected(reason(&e).into())),
    };
    if let Some(expected) = claims.access_token_hash() {
        let alg = token.signing_alg().map_err(|_| Error::Rejected("ID token: signature".into()))?;
        let key = token.signing_key(&verifier).map_err(|_| Error::Rejected("ID token: signature".into()))?;
        let actual = AccessTokenHash::from_token(&AccessToken::new(expect.access_token.to_owned()), alg, key)
            .map_err(|_| Error::Rejected("ID token: at_hash algorithm".into()))?;
        if actual != *expected {
            return Err(Error::Rejected("ID token: at_hash does not match the access token".into()));
        }
    }
    let json = serde_json::to_value(claims).map_err(|_| Error::Rejected("ID token: claims".into()))?;
    Ok(Checked::Claims(json))
}

/// A short reason for the log; the verifier's own text can be long.
fn reason(e: &ClaimsVerificationError) -> &'static str {
    match e {
        ClaimsVerificationError::Expired(_) => "ID token: expired or not yet valid",
        ClaimsVerificationError::InvalidAudience(_) => "ID token: audience",
        ClaimsVerificationError::InvalidIssuer(_) => "ID token: issuer",
        ClaimsVerificationError::InvalidNonce(_) => "ID token: nonce",
        ClaimsVerificationError::InvalidSubject(_) => "ID token: subject",
        ClaimsVerificationError::SignatureVerification(_) => "ID token: signature",
        ClaimsVerificationError::Unsupported(_) => "ID token: unsupported",
        _ => "ID token: invalid",
    }
}
