//! IBM Cloud IAM environments: where the keys and the token endpoint are, and who the issuer is.

use crate::keys::{HttpKeySource, KeyCache};
use crate::{Policy, VerifierBuilder};

/// An IAM environment (NOTES.md §5): production, staging, or your own.
///
/// # Example
///
/// ```
/// use osb_iam::Environment;
///
/// assert_eq!(Environment::PRODUCTION.keys_url(), "https://iam.cloud.ibm.com/identity/keys");
/// assert_eq!(Environment::STAGING.issuer(), "https://iam.test.cloud.ibm.com/identity");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    keys_url: &'static str,
    issuer: &'static str,
    token_url: &'static str,
}

impl Environment {
    /// Production IAM, `https://iam.cloud.ibm.com`.
    pub const PRODUCTION: Self = Self {
        keys_url: "https://iam.cloud.ibm.com/identity/keys",
        issuer: "https://iam.cloud.ibm.com/identity",
        token_url: "https://iam.cloud.ibm.com/identity/token",
    };

    /// Staging IAM, `https://iam.test.cloud.ibm.com` (the issuer follows production's pattern;
    /// IBM does not document it).
    pub const STAGING: Self = Self {
        keys_url: "https://iam.test.cloud.ibm.com/identity/keys",
        issuer: "https://iam.test.cloud.ibm.com/identity",
        token_url: "https://iam.test.cloud.ibm.com/identity/token",
    };

    /// Another IAM deployment (all three must be `https` URLs for production use).
    pub const fn new(
        keys_url: &'static str,
        issuer: &'static str,
        token_url: &'static str,
    ) -> Self {
        Self {
            keys_url,
            issuer,
            token_url,
        }
    }

    /// The JWK set endpoint, `…/identity/keys`.
    pub const fn keys_url(&self) -> &'static str {
        self.keys_url
    }

    /// The `iss` of its tokens, `…/identity`.
    pub const fn issuer(&self) -> &'static str {
        self.issuer
    }

    /// The token endpoint, `…/identity/token`.
    pub const fn token_url(&self) -> &'static str {
        self.token_url
    }

    /// A key cache over this environment's JWK set endpoint. Nothing is fetched yet.
    ///
    /// # Errors
    ///
    /// [`InvalidKeysUrl`](crate::keys::InvalidKeysUrl) when the keys URL is not `https`
    /// (never for the presets).
    pub fn key_cache(&self) -> Result<KeyCache, crate::keys::InvalidKeysUrl> {
        Ok(KeyCache::new(HttpKeySource::new(self.keys_url)?))
    }

    /// A verifier builder with this environment's keys and issuer.
    ///
    /// # Errors
    ///
    /// As [`key_cache`](Self::key_cache).
    pub fn verifier(&self, policy: Policy) -> Result<VerifierBuilder, crate::keys::InvalidKeysUrl> {
        Ok(crate::Verifier::builder(self.key_cache()?, policy).issuer(self.issuer))
    }
}
