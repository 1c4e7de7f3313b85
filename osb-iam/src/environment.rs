//! IBM Cloud IAM environments: where the keys and the token endpoint are, and who the issuer is;
//! and where this crate may send secrets.
//!
//! A leaf: it imports nothing of the crate. What is built for an environment is built by its own
//! type (`KeyCache::for_environment`, `Verifier::for_environment`,
//! `Discovery::try_for_environment`).

use std::borrow::Cow;

/// An IAM environment (osb-core rules.md §17.5): production, staging, or your own.
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
    /// is why no other host is allowed. See
    /// [`KeyCache::for_environment`](crate::keys::KeyCache::for_environment) for an example.
    ///
    /// Default: `https` only.
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

    /// Whether the keys URL may be plain `http`: a loopback host that
    /// [`insecure_allow_loopback_http`](Self::insecure_allow_loopback_http) let in.
    pub(crate) fn allows_loopback_http_keys(&self) -> bool {
        self.loopback_http && is_loopback_http(&self.keys_url)
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
}
