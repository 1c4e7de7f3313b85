use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::{KeySet, KeySource, KeySourceError};
use crate::client::{BodyError, read_limited};

/// Default limit on the JWK set's size. IAM's set is a few kilobytes.
const DEFAULT_MAX_BODY: usize = 64 * 1024;
/// Default timeout of one fetch, connection included.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// IAM's JWK set over HTTPS (rustls with aws-lc-rs, the platform's trust store; no OpenSSL).
///
/// # Example
///
/// ```
/// use osb_iam::keys::HttpKeySource;
/// use std::time::Duration;
///
/// let source = HttpKeySource::new("https://iam.cloud.ibm.com/identity/keys")?
///     .timeout(Duration::from_secs(5));
/// assert_eq!(source.url(), "https://iam.cloud.ibm.com/identity/keys");
/// // Plain HTTP is refused unless asked for by name.
/// assert!(HttpKeySource::new("http://iam.example/identity/keys").is_err());
/// # Ok::<(), osb_iam::keys::InvalidKeysUrl>(())
/// ```
#[derive(Debug, Clone)]
pub struct HttpKeySource {
    url: reqwest::Url,
    client: Option<reqwest::Client>,
    timeout: Duration,
    max_body: usize,
}

/// The URL given to [`HttpKeySource`] is unusable.
#[derive(Debug, thiserror::Error)]
#[error("invalid JWK set URL `{url}`: {reason}")]
pub struct InvalidKeysUrl {
    url: String,
    reason: &'static str,
}

impl HttpKeySource {
    /// A source fetching `url`, which must be `https`.
    ///
    /// # Errors
    ///
    /// [`InvalidKeysUrl`] when `url` does not parse or is not `https`.
    pub fn new(url: &str) -> Result<Self, InvalidKeysUrl> {
        let parsed = Self::parse(url)?;
        if parsed.scheme() != "https" {
            return Err(InvalidKeysUrl {
                url: url.to_owned(),
                reason: "the scheme must be https",
            });
        }
        Ok(Self::from_url(parsed))
    }

    /// A source fetching `url` over plain `http` or `https`: for loopback tests only.
    ///
    /// Risk: over plain HTTP anyone on the path can publish keys and so mint tokens this broker
    /// accepts.
    ///
    /// # Errors
    ///
    /// [`InvalidKeysUrl`] when `url` does not parse or is neither `http` nor `https`.
    pub fn insecure_allow_http(url: &str) -> Result<Self, InvalidKeysUrl> {
        let parsed = Self::parse(url)?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(InvalidKeysUrl {
                url: url.to_owned(),
                reason: "the scheme must be http(s)",
            });
        }
        Ok(Self::from_url(parsed))
    }

    fn parse(url: &str) -> Result<reqwest::Url, InvalidKeysUrl> {
        reqwest::Url::parse(url).map_err(|_| InvalidKeysUrl {
            url: url.to_owned(),
            reason: "not an absolute URL",
        })
    }

    fn from_url(url: reqwest::Url) -> Self {
        Self {
            url,
            client: None,
            timeout: DEFAULT_TIMEOUT,
            max_body: DEFAULT_MAX_BODY,
        }
    }

    /// Use this `reqwest` client (proxies, extra roots) instead of a default one.
    #[must_use]
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Timeout of one fetch, connecting included. An unknown `kid` waits for at most this long.
    ///
    /// Default: 10 s.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Largest accepted answer in bytes; a bigger one is refused before it is parsed.
    ///
    /// Default: 64 KiB.
    #[must_use]
    pub fn max_body_size(mut self, limit: usize) -> Self {
        self.max_body = limit;
        self
    }

    /// The endpoint.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    async fn fetch_keys(&self) -> Result<KeySet, KeySourceError> {
        let url = || self.url.to_string();
        let unreachable = |source: reqwest::Error| KeySourceError::Unreachable {
            url: url(),
            source: Box::new(source),
        };
        let client = match &self.client {
            Some(client) => client.clone(),
            None => crate::client::shared().map_err(unreachable)?,
        };
        let response = client
            .get(self.url.clone())
            .header(http::header::ACCEPT, "application/json")
            .timeout(self.timeout)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        if !status.is_success() {
            return Err(KeySourceError::Status { url: url(), status });
        }
        let body = read_limited(response, self.max_body)
            .await
            .map_err(|error| match error {
                BodyError::Network(error) => unreachable(error),
                BodyError::TooLarge => KeySourceError::TooLarge {
                    url: url(),
                    limit: self.max_body,
                },
            })?;
        KeySet::from_jwks_json(&body)
            .map_err(|source| KeySourceError::Invalid { url: url(), source })
    }
}

impl KeySource for HttpKeySource {
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<KeySet, KeySourceError>> + Send + '_>> {
        Box::pin(self.fetch_keys())
    }
}
