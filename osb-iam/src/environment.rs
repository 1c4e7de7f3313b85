//! IBM Cloud IAM environments: where the keys and the token endpoint are, and who the issuer is.

use std::borrow::Cow;

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
    keys_url: Cow<'static, str>,
    issuer: Cow<'static, str>,
    token_url: Cow<'static, str>,
    loopback_http: bool,
}

impl Environment {
    /// Production IAM, `https://iam.cloud.ibm.com`.
    pub const PRODUCTION: Self = Self::new(
        "https://iam.cloud.ibm.com/identity/keys",
        "https://iam.cloud.ibm.com/identity",
        "https://iam.cloud.ibm.com/identity/token",
    );

    /// Staging IAM, `https://iam.test.cloud.ibm.com` (the issuer follows production's pattern;
    /// IBM does not document it).
    pub const STAGING: Self = Self::new(
        "https://iam.test.cloud.ibm.com/identity/keys",
        "https://iam.test.cloud.ibm.com/identity",
        "https://iam.test.cloud.ibm.com/identity/token",
    );

    /// Another IAM deployment (all three must be `https` URLs for production use).
    pub const fn new(
        keys_url: &'static str,
        issuer: &'static str,
        token_url: &'static str,
    ) -> Self {
        Self {
            keys_url: Cow::Borrowed(keys_url),
            issuer: Cow::Borrowed(issuer),
            token_url: Cow::Borrowed(token_url),
            loopback_http: false,
        }
    }

    /// An IAM deployment known only at run time (from configuration), e.g. a local fake IAM
    /// in tests. All three must be `https` URLs, unless
    /// [`insecure_allow_loopback_http`](Self::insecure_allow_loopback_http).
    ///
    /// # Example
    ///
    /// ```
    /// use osb_iam::Environment;
    ///
    /// let base = String::from("https://iam.example.com");
    /// let iam = Environment::custom(
    ///     format!("{base}/identity/keys"),
    ///     format!("{base}/identity"),
    ///     format!("{base}/identity/token"),
    /// );
    /// assert_eq!(iam.issuer(), "https://iam.example.com/identity");
    /// assert!(iam.key_cache().is_ok());
    /// ```
    pub fn custom(
        keys_url: impl Into<String>,
        issuer: impl Into<String>,
        token_url: impl Into<String>,
    ) -> Self {
        Self {
            keys_url: Cow::Owned(keys_url.into()),
            issuer: Cow::Owned(issuer.into()),
            token_url: Cow::Owned(token_url.into()),
            loopback_http: false,
        }
    }

    /// Accepts a plain `http` keys URL when its host is loopback (`localhost`, `127.0.0.0/8`,
    /// `[::1]`): a fake IAM in tests or a JWK set served on the same machine. Any other host
    /// still needs `https`.
    ///
    /// Risk: none on a loopback host, where nobody on the network can replace the keys; that
    /// is why no other host is allowed. Default: `https` only.
    ///
    /// # Example
    ///
    /// ```
    /// use osb_iam::Environment;
    ///
    /// let local = |keys: &str| Environment::custom(keys, "http://127.0.0.1:9/identity", "");
    /// assert!(local("http://127.0.0.1:9/keys").key_cache().is_err());
    /// assert!(local("http://127.0.0.1:9/keys").insecure_allow_loopback_http().key_cache().is_ok());
    /// assert!(local("http://iam.example.com/keys").insecure_allow_loopback_http().key_cache().is_err());
    /// ```
    #[must_use]
    pub fn insecure_allow_loopback_http(mut self) -> Self {
        self.loopback_http = true;
        self
    }

    /// Whether this environment is a loopback IAM over plain `http` that
    /// [`insecure_allow_loopback_http`](Self::insecure_allow_loopback_http) let in: its keys
    /// URL and issuer are both `http` on a loopback host. Clients built from it (discovery,
    /// authorization, cookies) may then switch their own `insecure_allow_http` on.
    ///
    /// # Example
    ///
    /// ```
    /// use osb_iam::Environment;
    ///
    /// let local = Environment::custom("http://127.0.0.1:9/identity/keys", "http://127.0.0.1:9/identity", "");
    /// assert!(!local.clone().is_loopback_http());
    /// assert!(local.insecure_allow_loopback_http().is_loopback_http());
    /// assert!(!Environment::PRODUCTION.insecure_allow_loopback_http().is_loopback_http());
    /// ```
    pub fn is_loopback_http(&self) -> bool {
        self.loopback_http && is_loopback_http(&self.keys_url) && is_loopback_http(&self.issuer)
    }

    /// The JWK set endpoint, `…/identity/keys`.
    pub fn keys_url(&self) -> &str {
        &self.keys_url
    }

    /// The `iss` of its tokens, `…/identity`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The token endpoint, `…/identity/token`.
    pub fn token_url(&self) -> &str {
        &self.token_url
    }

    /// A key cache over this environment's JWK set endpoint. Nothing is fetched yet.
    ///
    /// # Errors
    ///
    /// [`InvalidKeysUrl`](crate::keys::InvalidKeysUrl) when the keys URL is not `https`
    /// (never for the presets), or plain `http` on a loopback host where that is
    /// [allowed](Self::insecure_allow_loopback_http).
    pub fn key_cache(&self) -> Result<KeyCache, crate::keys::InvalidKeysUrl> {
        let source = if self.loopback_http && is_loopback_http(&self.keys_url) {
            HttpKeySource::insecure_allow_http(&self.keys_url)?
        } else {
            HttpKeySource::new(&self.keys_url)?
        };
        Ok(KeyCache::new(source))
    }

    /// The OpenID discovery document of this environment's dashboard sign-in:
    /// `<issuer>/.well-known/openid-configuration`, over plain `http` only when
    /// [`is_loopback_http`](Self::is_loopback_http).
    ///
    /// # Errors
    ///
    /// [`InvalidDiscoveryUrl`](crate::dashboard::InvalidDiscoveryUrl) when the issuer is not
    /// an `https` URL (never for the presets).
    ///
    /// # Example
    ///
    /// ```
    /// use osb_iam::Environment;
    ///
    /// let discovery = Environment::STAGING.discovery()?;
    /// assert_eq!(discovery.url(), "https://iam.test.cloud.ibm.com/identity/.well-known/openid-configuration");
    /// # Ok::<(), osb_iam::dashboard::InvalidDiscoveryUrl>(())
    /// ```
    #[cfg(feature = "dashboard")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dashboard")))]
    pub fn discovery(
        &self,
    ) -> Result<crate::dashboard::Discovery, crate::dashboard::InvalidDiscoveryUrl> {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        if self.is_loopback_http() {
            crate::dashboard::Discovery::insecure_allow_http(&url)
        } else {
            crate::dashboard::Discovery::new(&url)
        }
    }

    /// A verifier builder with this environment's keys and issuer.
    ///
    /// # Errors
    ///
    /// As [`key_cache`](Self::key_cache).
    pub fn verifier(&self, policy: Policy) -> Result<VerifierBuilder, crate::keys::InvalidKeysUrl> {
        Ok(crate::Verifier::builder(self.key_cache()?, policy).issuer(self.issuer.clone()))
    }
}

/// Where this crate sends secrets (API keys, tokens, cookies): an `https` URL, or plain
/// `http` on a loopback host.
pub(crate) fn is_https_or_loopback_http(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|parsed| parsed.scheme() == "https") || is_loopback_http(url)
}

/// `http://` with a loopback host: `localhost`, an IPv4 `127.x.y.z` or `[::1]`.
pub(crate) fn is_loopback_http(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    url.scheme() == "http"
        && url.host_str().is_some_and(|host| {
            host.eq_ignore_ascii_case("localhost")
                || host
                    .trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_http_urls_are_recognised() {
        for url in [
            "http://127.0.0.1:8/k",
            "http://localhost/k",
            "http://[::1]:9/k",
            "http://127.1.2.3/k",
        ] {
            assert!(is_loopback_http(url), "{url}");
        }
    }

    #[test]
    fn other_hosts_and_schemes_are_not_loopback_http() {
        for url in [
            "https://127.0.0.1/k",
            "http://10.0.0.1/k",
            "http://localhost.evil.com/k",
            "http://127.0.0.1@evil.com/k",
            "not a url",
        ] {
            assert!(!is_loopback_http(url), "{url}");
        }
    }

    #[test]
    fn custom_environment_keeps_its_urls() {
        let env = Environment::custom("https://k", "https://i", "https://t");
        assert_eq!(
            (env.keys_url(), env.issuer(), env.token_url()),
            ("https://k", "https://i", "https://t")
        );
    }

    #[cfg(feature = "dashboard")]
    #[test]
    fn discovery_over_loopback_http_needs_the_explicit_knob() {
        let local = Environment::custom(
            "http://127.0.0.1:9/identity/keys",
            "http://127.0.0.1:9/identity",
            "http://127.0.0.1:9/identity/token",
        );
        assert!(local.discovery().is_err());
        let allowed = local.insecure_allow_loopback_http();
        assert_eq!(
            allowed
                .discovery()
                .map(|d| d.url().to_owned())
                .ok()
                .as_deref(),
            Some("http://127.0.0.1:9/identity/.well-known/openid-configuration")
        );
        let remote = Environment::custom("http://iam.example/k", "http://iam.example/identity", "");
        assert!(remote.insecure_allow_loopback_http().discovery().is_err());
    }
}
