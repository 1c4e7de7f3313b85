//! The IAM access-token [`Verifier`] and its [`VerifierBuilder`].

mod jwt;
mod token_cache;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::claims::Wire;
use crate::keys::{InvalidKeysUrl, KeyCache, KeySet};
use crate::{Environment, IamClaims, Policy, TokenRejection};
use token_cache::TokenCache;

/// Default clock-skew allowance, as in IBM's own IAM libraries.
const DEFAULT_LEEWAY: Duration = Duration::from_secs(5);
/// Default largest accepted token. IAM access tokens are 1–2 KiB.
const DEFAULT_MAX_TOKEN_SIZE: usize = 16 * 1024;
/// Default number of verified tokens remembered.
const DEFAULT_TOKEN_CACHE_CAPACITY: usize = 1024;

/// Verifies IBM Cloud IAM access tokens: RS256 signature by an IAM key named by `kid`, `iss`,
/// `exp` / `nbf` / `iat` with a small leeway, then the [`Policy`]. No `aud` is required: IAM
/// tokens carry none (osb-core rules.md §17.5).
///
/// Cheap to clone (an `Arc`). It implements `osb_tower::auth::Authenticate`, so it goes into
/// osb-tower's `RequireAuthLayer` ([`IamAuthLayer`](crate::IamAuthLayer) is that pairing),
/// alone or beside `Basic`.
///
/// # Example
///
/// ```
/// use osb_iam::{Policy, Verifier, TokenRejection};
/// use osb_iam::keys::{KeyCache, KeySet};
///
/// let verifier = Verifier::builder(KeyCache::fixed(KeySet::new()), Policy::iam_ids(["iam-ServiceId-1"]))
///     .build();
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let forged = "eyJhbGciOiJub25lIn0.eyJpYW1faWQiOiJpYW0tU2VydmljZUlkLTEifQ.";
/// assert!(matches!(
///     verifier.verify(forged).await,
///     Err(TokenRejection::DisallowedAlgorithm { .. })
/// ));
/// # });
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    keys: KeyCache,
    policy: Policy,
    issuer: String,
    leeway: u64,
    max_token_size: usize,
    token_cache: TokenCache,
}

impl Verifier {
    /// Starts a verifier over `keys` that lets in what `policy` allows.
    pub fn builder(keys: KeyCache, policy: Policy) -> VerifierBuilder {
        VerifierBuilder {
            keys,
            policy,
            issuer: Environment::PRODUCTION.issuer().to_owned(),
            leeway: DEFAULT_LEEWAY,
            max_token_size: DEFAULT_MAX_TOKEN_SIZE,
            token_cache_capacity: DEFAULT_TOKEN_CACHE_CAPACITY,
        }
    }

    /// Starts a verifier with `environment`'s keys (a [`KeyCache::for_environment`]) and
    /// issuer that lets in what `policy` allows.
    ///
    /// # Errors
    ///
    /// As [`KeyCache::for_environment`]: the keys URL is not `https` (never for the presets).
    ///
    /// # Example
    ///
    /// ```
    /// use osb_iam::{Environment, Policy, Verifier};
    ///
    /// let verifier = Verifier::for_environment(&Environment::STAGING, Policy::insecure_any_identity())?
    ///     .build();
    /// # let _ = verifier;
    /// # Ok::<(), osb_iam::keys::InvalidKeysUrl>(())
    /// ```
    pub fn for_environment(
        environment: &Environment,
        policy: Policy,
    ) -> Result<VerifierBuilder, InvalidKeysUrl> {
        let keys = KeyCache::for_environment(environment)?;
        Ok(Self::builder(keys, policy).issuer(environment.issuer()))
    }

    /// "Bearer CRN" against production IAM, from the broker's CRN alone: admits only tokens
    /// whose `iam_id` is `crn-<broker_crn>`, with the default leeway, size limit and token cache.
    ///
    /// Keys are fetched on the first request (and on every unknown `kid`, rate-limited). For a
    /// periodic refresh, which also drops keys IAM has withdrawn, keep the task of
    /// `verifier.keys().spawn_refresh(..)`.
    ///
    /// # Example
    ///
    /// ```
    /// use osb_iam::{IamAuthLayer, Verifier};
    ///
    /// let verifier = Verifier::bearer_crn(
    ///     "crn:v1:bluemix:public:resource-controller::a/0123::resource-broker:4f4e…",
    /// );
    /// assert!(verifier.policy().allows_iam_id(
    ///     "crn-crn:v1:bluemix:public:resource-controller::a/0123::resource-broker:4f4e…"
    /// ));
    /// let layer = IamAuthLayer::new(verifier);
    /// # let _ = layer;
    /// ```
    pub fn bearer_crn(broker_crn: &str) -> Self {
        let keys = KeyCache::for_environment(&Environment::PRODUCTION)
            // Never taken: the preset's keys URL is a constant `https` URL (the doctest builds
            // this verifier). Were it refused, no key would be trusted: every token refused.
            .unwrap_or_else(|_| KeyCache::fixed(KeySet::new()));
        Self::builder(keys, Policy::bearer_crn(broker_crn))
            .issuer(Environment::PRODUCTION.issuer())
            .build()
    }

    /// The key cache (to refresh it or start its periodic refresh).
    pub fn keys(&self) -> &KeyCache {
        &self.inner.keys
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// Verifies `token` (the part after `Bearer `) and returns its claims.
    ///
    /// Order: size (before any parsing), header (`alg` must be `RS256`, before any key lookup),
    /// key by `kid` (from memory; one rate-limited refresh for an unknown `kid`), signature,
    /// `iss`, `exp` / `nbf` / `iat`, then the policy. A token already verified is answered from
    /// the verified-token cache (still subject to `exp` and the policy).
    ///
    /// # Errors
    ///
    /// The [`TokenRejection`] saying why.
    pub async fn verify(&self, token: &str) -> Result<IamClaims, TokenRejection> {
        let inner = &*self.inner;
        if token.len() > inner.max_token_size {
            return Err(TokenRejection::TooLarge {
                limit: inner.max_token_size,
            });
        }
        let now = now();
        let use_cache = inner.token_cache.capacity() > 0;
        let hash = use_cache.then(|| TokenCache::hash(token));
        if let Some(hash) = &hash
            && let Some(claims) = inner.token_cache.get(hash, now, &inner.keys.keys())
        {
            return self.admit(claims);
        }
        let parts = jwt::split(token)?;
        let Some(key) = inner.keys.key(&parts.kid).await else {
            let mut kid = parts.kid;
            kid.truncate(64);
            return Err(TokenRejection::UnknownKey { kid });
        };
        let signature = jwt::decode(parts.signature)?;
        if !key.verify(parts.signing_input.as_bytes(), &signature) {
            return Err(TokenRejection::BadSignature);
        }
        let json = jwt::decode(parts.payload)?;
        let wire = Wire::parse(&json).ok_or(TokenRejection::Malformed {
            reason: "the claims are not a JSON object of the expected types",
        })?;
        self.check_claims(&wire, now)?;
        let claims = wire
            .into_claims(json)
            .ok_or(TokenRejection::MissingClaim { claim: "iam_id" })?;
        if let Some(hash) = hash {
            inner
                .token_cache
                .insert(hash, claims.clone(), key.clone(), now);
        }
        self.admit(claims)
    }

    fn admit(&self, claims: IamClaims) -> Result<IamClaims, TokenRejection> {
        match self.inner.policy.check(&claims) {
            Ok(()) => Ok(claims),
            Err(violation) => Err(TokenRejection::PolicyDenied { violation }),
        }
    }

    fn check_claims(&self, wire: &Wire, now: u64) -> Result<(), TokenRejection> {
        let inner = &*self.inner;
        if wire.iss.0.as_deref() != Some(inner.issuer.as_str()) {
            return Err(TokenRejection::WrongIssuer);
        }
        let exp = wire.exp.as_ref().and_then(|date| date.0);
        let exp = exp.ok_or(TokenRejection::MissingClaim { claim: "exp" })?;
        if exp.saturating_add(inner.leeway) < now {
            return Err(TokenRejection::Expired);
        }
        for (claim, date) in [("nbf", &wire.nbf), ("iat", &wire.iat)] {
            match date.as_ref().map(|date| date.0) {
                None => {}
                Some(None) => return Err(TokenRejection::MissingClaim { claim }),
                Some(Some(at)) if at > now.saturating_add(inner.leeway) => {
                    return Err(TokenRejection::NotYetValid);
                }
                Some(Some(_)) => {}
            }
        }
        Ok(())
    }
}

fn now() -> u64 {
    // A clock before 1970 reads as 1970: every token then looks not yet valid, never expired-but-fine.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("Verifier")
            .field("issuer", &inner.issuer)
            .field("leeway_secs", &inner.leeway)
            .field("max_token_size", &inner.max_token_size)
            .field("token_cache_capacity", &inner.token_cache.capacity())
            .field("policy", &inner.policy)
            .field("keys", &inner.keys)
            .finish()
    }
}

/// Configures a [`Verifier`]; see [`Verifier::builder`].
#[derive(Debug)]
#[must_use = "call .build() to get a Verifier"]
pub struct VerifierBuilder {
    keys: KeyCache,
    policy: Policy,
    issuer: String,
    leeway: Duration,
    max_token_size: usize,
    token_cache_capacity: usize,
}

impl VerifierBuilder {
    /// The required `iss` claim.
    ///
    /// Default: `https://iam.cloud.ibm.com/identity` (production IAM).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = issuer.into();
        self
    }

    /// Clock-skew allowance for `exp`, `nbf` and `iat`, in whole seconds.
    ///
    /// Default: 5 s, like IBM's IAM libraries. Risk of raising it: an expired token (a leaked
    /// one, say) stays usable that much longer; IAM tokens live about 30–60 minutes.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Largest accepted token in bytes; a longer one is refused before it is parsed.
    ///
    /// Default: 16 KiB (IAM tokens are 1–2 KiB). Raising it makes each forged token cost more
    /// to parse.
    pub fn max_token_size(mut self, bytes: usize) -> Self {
        self.max_token_size = bytes;
        self
    }

    /// How many verified tokens to remember (by SHA-256 of the whole token), so a repeated token
    /// skips the RSA check. Entries are never served at or after `exp`, nor after the key set
    /// was refreshed (the token is then checked again); the policy is checked on every request.
    /// 0 disables the cache.
    ///
    /// Default: 1024.
    pub fn token_cache_capacity(mut self, entries: usize) -> Self {
        self.token_cache_capacity = entries;
        self
    }

    /// Builds the verifier.
    pub fn build(self) -> Verifier {
        Verifier {
            inner: Arc::new(Inner {
                keys: self.keys,
                policy: self.policy,
                issuer: self.issuer,
                leeway: self.leeway.as_secs(),
                max_token_size: self.max_token_size,
                token_cache: TokenCache::new(self.token_cache_capacity),
            }),
        }
    }
}
