//! IAM's signing keys: the JWK set, where it comes from ([`KeySource`]) and the in-memory
//! [`KeyCache`] every request is served from.
//!
//! IAM publishes its RSA public keys at `GET /identity/keys` as a JWK set of
//! `{kty, kid, alg, n, e}` objects (no `use` field). Tokens name their key in the header's `kid`.

mod cache;
mod http;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::backend::Rs256Key;
use serde::Deserialize;

pub use cache::{KeyCache, RefreshTask};
pub use http::{HttpKeySource, InvalidKeysUrl};

/// Smallest RSA modulus accepted, in bits (NIST SP 800-57: 2048 bits until 2030).
const MIN_MODULUS_BITS: usize = 2048;

/// One RSA public key from IAM's JWK set, prepared for RS256 verification.
pub struct PublicKey {
    kid: Arc<str>,
    modulus_bits: usize,
    key: Rs256Key,
}

impl PublicKey {
    /// Builds a key from the JWK `n` and `e` members (unpadded base64url, big-endian).
    ///
    /// # Errors
    ///
    /// [`KeySetError`] when `n` or `e` is not base64url or the modulus is shorter than 2048 bits.
    ///
    /// # Example
    ///
    /// ```
    /// use osb_iam::keys::PublicKey;
    ///
    /// // A 512-bit modulus is refused: IAM's keys are 2048-bit RSA.
    /// let short = "AQAB".repeat(16);
    /// assert!(PublicKey::from_rsa_components("k1", &short, "AQAB").is_err());
    /// assert!(PublicKey::from_rsa_components("k1", "not base64!", "AQAB").is_err());
    /// ```
    pub fn from_rsa_components(kid: &str, n: &str, e: &str) -> Result<Self, KeySetError> {
        let invalid = |reason| KeySetError::InvalidKey {
            kid: kid.to_owned(),
            reason,
        };
        let modulus = URL_SAFE_NO_PAD
            .decode(n)
            .map_err(|_| invalid("`n` is not base64url"))?;
        let exponent = URL_SAFE_NO_PAD
            .decode(e)
            .map_err(|_| invalid("`e` is not base64url"))?;
        let modulus_bits = modulus_bits(&modulus);
        if modulus_bits < MIN_MODULUS_BITS {
            return Err(invalid("modulus shorter than 2048 bits"));
        }
        let key = Rs256Key::new(&modulus, &exponent)
            .ok_or_else(|| invalid("the crypto backend refused the key"))?;
        Ok(Self {
            kid: Arc::from(kid),
            modulus_bits,
            key,
        })
    }

    /// The key id (`kid`) tokens name this key by.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The size of the RSA modulus in bits.
    pub fn modulus_bits(&self) -> usize {
        self.modulus_bits
    }

    /// Checks an RS256 signature over `message` (`base64(header) "." base64(payload)`).
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.key.verify(message, signature)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("kid", &self.kid)
            .field("modulus_bits", &self.modulus_bits)
            .finish_non_exhaustive()
    }
}

fn modulus_bits(big_endian: &[u8]) -> usize {
    match big_endian.iter().position(|&byte| byte != 0) {
        Some(first) => (big_endian.len() - first) * 8 - big_endian[first].leading_zeros() as usize,
        None => 0,
    }
}

/// A set of IAM public keys by `kid`, as published at `/identity/keys`.
///
/// Cheap to share: the [`KeyCache`] swaps whole sets behind an `Arc`.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: HashMap<Arc<str>, Arc<PublicKey>>,
}

impl KeySet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a JWK set document (`{"keys": [...]}`).
    ///
    /// Keys this crate cannot use are skipped with a `tracing` warning: a `kty` other than `RSA`,
    /// an `alg` other than `RS256`, a `use` other than `sig`, no `kid`, or an invalid or short key.
    ///
    /// # Errors
    ///
    /// [`KeySetError::Json`] when the document is not a JWK set, [`KeySetError::NoUsableKeys`]
    /// when no key survives (a broker must not swap its working keys for an empty set).
    ///
    /// # Example
    ///
    /// ```
    /// use osb_iam::keys::{KeySet, KeySetError};
    ///
    /// let only_ec = r#"{"keys":[{"kty":"EC","kid":"e1","crv":"P-256","x":"AA","y":"AA"}]}"#;
    /// assert!(matches!(KeySet::from_jwks_json(only_ec.as_bytes()), Err(KeySetError::NoUsableKeys)));
    /// assert!(matches!(KeySet::from_jwks_json(b"[]"), Err(KeySetError::Json(_))));
    /// ```
    pub fn from_jwks_json(document: &[u8]) -> Result<Self, KeySetError> {
        let document: JwkSetDocument = serde_json::from_slice(document)
            .map_err(|err| KeySetError::Json(JsonError(err.to_string())))?;
        let mut set = Self::new();
        for jwk in document.keys {
            match jwk.usable() {
                Ok((kid, n, e)) => match PublicKey::from_rsa_components(kid, n, e) {
                    Ok(key) => set.insert(key),
                    Err(err) => tracing::warn!(error = %err, "skipping IAM key"),
                },
                Err(reason) => tracing::debug!(reason, kid = jwk.kid.as_deref(), "skipping JWK"),
            }
        }
        if set.is_empty() {
            return Err(KeySetError::NoUsableKeys);
        }
        Ok(set)
    }

    /// Adds (or replaces) a key.
    pub fn insert(&mut self, key: PublicKey) {
        self.keys.insert(key.kid.clone(), Arc::new(key));
    }

    /// Adds a key, builder style.
    #[must_use]
    pub fn with_key(mut self, key: PublicKey) -> Self {
        self.insert(key);
        self
    }

    /// The key named `kid`, if present.
    pub fn get(&self, kid: &str) -> Option<&Arc<PublicKey>> {
        self.keys.get(kid)
    }

    /// Whether a key named `kid` is present.
    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// The key ids, in no particular order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(|kid| &**kid)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[derive(Deserialize)]
struct JwkSetDocument {
    keys: Vec<JwkDocument>,
}

#[derive(Deserialize)]
struct JwkDocument {
    kty: Option<String>,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

impl JwkDocument {
    fn usable(&self) -> Result<(&str, &str, &str), &'static str> {
        if self.kty.as_deref() != Some("RSA") {
            return Err("kty is not RSA");
        }
        if self.alg.as_deref().is_some_and(|alg| alg != "RS256") {
            return Err("alg is not RS256");
        }
        if self.use_.as_deref().is_some_and(|use_| use_ != "sig") {
            return Err("use is not sig");
        }
        match (self.kid.as_deref(), self.n.as_deref(), self.e.as_deref()) {
            (Some(kid), Some(n), Some(e)) => Ok((kid, n, e)),
            (None, _, _) => Err("no kid"),
            _ => Err("no n or e"),
        }
    }
}

/// Why a JWK set or one of its keys was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeySetError {
    /// The document is not a JWK set.
    #[error("the JWK set is not valid JSON of the expected shape")]
    Json(#[source] JsonError),
    /// No key of the set is an RS256 RSA signing key this crate can use.
    #[error("the JWK set holds no usable RS256 key")]
    NoUsableKeys,
    /// One key is unusable.
    #[error("IAM key `{kid}` is invalid: {reason}")]
    InvalidKey {
        /// The key's `kid`.
        kid: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// A JSON parse failure (wraps serde_json's message, so no dependency's type is public).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JsonError(String);

/// Where the [`KeyCache`] gets IAM's keys from: [`HttpKeySource`] for IAM's endpoint,
/// [`StaticKeys`] for tests and air-gapped installations.
///
/// One method, object-safe, returning a boxed future (like `osb_tower::auth::Authenticate`).
pub trait KeySource: Send + Sync + 'static {
    /// Fetches the current key set.
    ///
    /// # Errors
    ///
    /// [`KeySourceError`] when the keys cannot be fetched or parsed; the cache then keeps its
    /// last good keys.
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<KeySet, KeySourceError>> + Send + '_>>;
}

impl<K: KeySource + ?Sized> KeySource for Arc<K> {
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<KeySet, KeySourceError>> + Send + '_>> {
        (**self).fetch()
    }
}

/// A fixed key set: for tests, and for air-gapped installations that distribute IAM's keys
/// themselves.
///
/// # Example
///
/// ```
/// use osb_iam::keys::{KeySet, KeySource, StaticKeys};
///
/// let source = StaticKeys::new(KeySet::new());
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// assert!(source.fetch().await?.is_empty());
/// # Ok::<(), osb_iam::keys::KeySourceError>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct StaticKeys {
    jwks: Arc<KeySet>,
}

impl StaticKeys {
    /// A source that always answers `keys`.
    pub fn new(keys: KeySet) -> Self {
        Self {
            jwks: Arc::new(keys),
        }
    }
}

impl KeySource for StaticKeys {
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<KeySet, KeySourceError>> + Send + '_>> {
        let keys = KeySet {
            keys: self.jwks.keys.clone(),
        };
        Box::pin(std::future::ready(Ok(keys)))
    }
}

/// Why fetching the key set failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeySourceError {
    /// The endpoint could not be reached, timed out, or the connection failed.
    #[error("cannot reach the JWK set endpoint {url}")]
    Unreachable {
        /// The endpoint.
        url: String,
        /// The transport error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The endpoint answered with a non-success status.
    #[error("the JWK set endpoint {url} answered {status}")]
    Status {
        /// The endpoint.
        url: String,
        /// The HTTP status.
        status: ::http::StatusCode,
    },
    /// The answer exceeded the size limit.
    #[error("the JWK set from {url} exceeds {limit} bytes")]
    TooLarge {
        /// The endpoint.
        url: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// The answer is not a usable JWK set.
    #[error("the JWK set from {url} is unusable")]
    Invalid {
        /// The endpoint.
        url: String,
        /// What is wrong with it.
        #[source]
        source: KeySetError,
    },
}
