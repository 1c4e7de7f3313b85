//! IAM's OpenID Connect discovery document: where to send the browser and where to redeem its
//! code, read from `<issuer>/.well-known/openid-configuration` instead of hard-coded.

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use crate::Environment;
use crate::client::{BodyError, read_limited};

/// Default time a fetched document is used before it is fetched again.
const DEFAULT_TTL: Duration = Duration::from_secs(3600);
/// Default timeout of one fetch.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the previous document is used after a failed refetch before trying again.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);
/// Largest document read (IAM's is about 2 KiB).
const MAX_DOCUMENT: usize = 64 * 1024;
/// The path OpenID Connect Discovery 1.0 §4 appends to the issuer.
const WELL_KNOWN: &str = "/.well-known/openid-configuration";

/// The endpoints the sign-in needs, from IAM's discovery document.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Endpoints {
    /// `issuer`, e.g. `https://iam.cloud.ibm.com/identity`.
    pub issuer: String,
    /// `authorization_endpoint`: where the browser is sent to sign in.
    pub authorization_endpoint: String,
    /// `token_endpoint`: where the code is exchanged for tokens.
    pub token_endpoint: String,
}

/// Why no discovery document could be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// IAM could not be reached, or did not answer in time.
    #[error("cannot reach IAM's discovery endpoint")]
    Unreachable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// IAM answered with an error status.
    #[error("IAM's discovery endpoint answered {status}")]
    Status {
        /// The HTTP status.
        status: http::StatusCode,
    },
    /// The answer is not a usable discovery document.
    #[error("IAM's discovery document is unusable: {reason}")]
    InvalidDocument {
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// The discovery URL given is unusable.
#[derive(Debug, thiserror::Error)]
#[error("invalid discovery URL `{url}`: {reason}")]
pub struct InvalidDiscoveryUrl {
    url: String,
    reason: &'static str,
}

/// IAM's discovery document, fetched on first use, kept for a while, and fetched again when it
/// is old or when a call to an endpoint it named failed (see [`invalidate`](Self::invalidate)).
///
/// While a refetch fails the last good document keeps being used (the failure is logged).
/// Concurrent callers share one fetch. Cheap to clone; clones share the document.
///
/// # Example
///
/// ```
/// use osb_iam::Environment;
/// use osb_iam::dashboard::Discovery;
///
/// assert_eq!(
///     Discovery::production().url(),
///     "https://iam.cloud.ibm.com/identity/.well-known/openid-configuration"
/// );
/// let staging = Discovery::for_environment(&Environment::STAGING);
/// assert_eq!(staging.url(), "https://iam.test.cloud.ibm.com/identity/.well-known/openid-configuration");
/// // Plain HTTP only when asked for by name.
/// assert!(Discovery::new("http://127.0.0.1:8080/identity/.well-known/openid-configuration").is_err());
/// ```
#[derive(Clone)]
pub struct Discovery {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    insecure_allow_http: bool,
    http: Option<reqwest::Client>,
    timeout: Duration,
    ttl: Duration,
    cached: RwLock<Option<(Arc<Endpoints>, Instant)>>,
    flight: tokio::sync::Mutex<()>,
}

impl Discovery {
    /// Production IAM's document.
    pub fn production() -> Self {
        Self::for_environment(&Environment::PRODUCTION)
    }

    /// The document of `environment`: its issuer followed by
    /// `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §4).
    pub fn for_environment(environment: &Environment) -> Self {
        Self::from_parts(format!("{}{WELL_KNOWN}", environment.issuer()), false)
    }

    /// The document of `environment`, its issuer checked: an `https` URL, or plain `http` on a
    /// loopback host when [`Environment::is_loopback_http`] (the endpoints it names may then be
    /// `http` too).
    ///
    /// # Errors
    ///
    /// [`InvalidDiscoveryUrl`] when the issuer is not an `https` URL (never for the presets).
    ///
    /// # Example
    ///
    /// ```
    /// use osb_iam::Environment;
    /// use osb_iam::dashboard::Discovery;
    ///
    /// let discovery = Discovery::try_for_environment(&Environment::STAGING)?;
    /// assert_eq!(discovery.url(), "https://iam.test.cloud.ibm.com/identity/.well-known/openid-configuration");
    /// # Ok::<(), osb_iam::dashboard::InvalidDiscoveryUrl>(())
    /// ```
    pub fn try_for_environment(environment: &Environment) -> Result<Self, InvalidDiscoveryUrl> {
        let url = format!("{}{WELL_KNOWN}", environment.issuer());
        Self::checked(&url, environment.is_loopback_http())
    }

    /// The document at `url`, which must be `https`; the endpoints it names must be too.
    ///
    /// # Errors
    ///
    /// [`InvalidDiscoveryUrl`] when `url` does not parse or is not `https`.
    pub fn new(url: &str) -> Result<Self, InvalidDiscoveryUrl> {
        Self::checked(url, false)
    }

    /// The document at `url` over plain `http` or `https`, accepting `http` endpoints in it:
    /// for loopback tests only.
    ///
    /// Risk: over plain HTTP anyone on the path can send users to a sign-in page of their
    /// choosing and read the authorization code and client secret.
    ///
    /// # Errors
    ///
    /// [`InvalidDiscoveryUrl`] when `url` does not parse or is neither `http` nor `https`.
    pub fn insecure_allow_http(url: &str) -> Result<Self, InvalidDiscoveryUrl> {
        Self::checked(url, true)
    }

    fn checked(url: &str, insecure_allow_http: bool) -> Result<Self, InvalidDiscoveryUrl> {
        let invalid = |reason| InvalidDiscoveryUrl {
            url: url.to_owned(),
            reason,
        };
        let parsed = reqwest::Url::parse(url).map_err(|_| invalid("not an absolute URL"))?;
        if !scheme_allowed(&parsed, insecure_allow_http) {
            return Err(invalid("the scheme must be https"));
        }
        Ok(Self::from_parts(url.to_owned(), insecure_allow_http))
    }

    fn from_parts(url: String, insecure_allow_http: bool) -> Self {
        Self {
            inner: Arc::new(Inner {
                url,
                insecure_allow_http,
                http: None,
                timeout: DEFAULT_TIMEOUT,
                ttl: DEFAULT_TTL,
                cached: RwLock::new(None),
                flight: tokio::sync::Mutex::new(()),
            }),
        }
    }

    fn rebuild(self, change: impl FnOnce(&mut Inner)) -> Self {
        let inner = &*self.inner;
        let mut copy = Inner {
            url: inner.url.clone(),
            insecure_allow_http: inner.insecure_allow_http,
            http: inner.http.clone(),
            timeout: inner.timeout,
            ttl: inner.ttl,
            cached: RwLock::new(None),
            flight: tokio::sync::Mutex::new(()),
        };
        change(&mut copy);
        Self {
            inner: Arc::new(copy),
        }
    }

    /// Timeout of one fetch. Default: 10 s.
    #[must_use]
    pub fn timeout(self, timeout: Duration) -> Self {
        self.rebuild(|inner| inner.timeout = timeout)
    }

    /// How long a fetched document is used before it is fetched again. Default: 1 hour.
    #[must_use]
    pub fn ttl(self, ttl: Duration) -> Self {
        self.rebuild(|inner| inner.ttl = ttl)
    }

    /// Use this `reqwest` client (proxies, extra roots). Default: a shared rustls client that
    /// follows no redirects.
    #[must_use]
    pub fn client(self, client: reqwest::Client) -> Self {
        self.rebuild(|inner| inner.http = Some(client))
    }

    /// The document's URL.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The endpoints: from memory while fresh, else fetched (one fetch for all callers).
    ///
    /// # Errors
    ///
    /// [`DiscoveryError`] when nothing is cached and the fetch fails.
    pub async fn endpoints(&self) -> Result<Arc<Endpoints>, DiscoveryError> {
        if let Some(endpoints) = self.fresh(Instant::now()) {
            return Ok(endpoints);
        }
        let _flight = self.inner.flight.lock().await;
        // Another caller may have fetched while this one waited.
        if let Some(endpoints) = self.fresh(Instant::now()) {
            return Ok(endpoints);
        }
        match self.fetch().await {
            Ok(endpoints) => {
                let endpoints = Arc::new(endpoints);
                *self
                    .inner
                    .cached
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) =
                    Some((endpoints.clone(), Instant::now()));
                Ok(endpoints)
            }
            Err(error) => {
                let stale = self.cached().map(|(endpoints, _)| endpoints);
                match stale {
                    Some(endpoints) => {
                        tracing::warn!(error = %error, url = %self.inner.url, "refreshing IAM's discovery document failed; using the previous one");
                        // Keep it for RETRY_AFTER_FAILURE, so an IAM outage costs one fetch per
                        // interval rather than one per sign-in.
                        let ttl = self.inner.ttl;
                        let as_if_fetched = Instant::now()
                            .checked_sub(ttl.saturating_sub(RETRY_AFTER_FAILURE))
                            .unwrap_or_else(Instant::now);
                        *self
                            .inner
                            .cached
                            .write()
                            .unwrap_or_else(|poisoned| poisoned.into_inner()) =
                            Some((endpoints.clone(), as_if_fetched));
                        Ok(endpoints)
                    }
                    None => Err(error),
                }
            }
        }
    }

    /// Marks the cached document as old, so the next [`endpoints`](Self::endpoints) fetches it
    /// again (it is still used if that fetch fails). Called when an endpoint it named failed.
    pub fn invalidate(&self) {
        let mut cached = self
            .inner
            .cached
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((endpoints, _)) = cached.take() {
            // Keep it as a fallback, already expired.
            let long_ago = Instant::now()
                .checked_sub(self.inner.ttl)
                .unwrap_or_else(Instant::now);
            *cached = Some((endpoints, long_ago));
        }
    }

    fn cached(&self) -> Option<(Arc<Endpoints>, Instant)> {
        self.inner
            .cached
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn fresh(&self, now: Instant) -> Option<Arc<Endpoints>> {
        self.cached()
            .filter(|(_, fetched)| now.saturating_duration_since(*fetched) < self.inner.ttl)
            .map(|(endpoints, _)| endpoints)
    }

    async fn fetch(&self) -> Result<Endpoints, DiscoveryError> {
        let inner = &*self.inner;
        let unreachable =
            |error: reqwest::Error| DiscoveryError::Unreachable(Box::new(error.without_url()));
        let client = match &inner.http {
            Some(client) => client.clone(),
            None => crate::client::shared().map_err(unreachable)?,
        };
        let response = client
            .get(&inner.url)
            .header(http::header::ACCEPT, "application/json")
            .timeout(inner.timeout)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        if !status.is_success() {
            return Err(DiscoveryError::Status { status });
        }
        let body = read_limited(response, MAX_DOCUMENT)
            .await
            .map_err(|error| match error {
                BodyError::Network(error) => unreachable(error),
                BodyError::TooLarge => DiscoveryError::InvalidDocument {
                    reason: "the document is too large",
                },
            })?;
        let endpoints: Endpoints =
            serde_json::from_slice(&body).map_err(|_| DiscoveryError::InvalidDocument {
                reason: "not an OpenID Connect discovery document",
            })?;
        for endpoint in [&endpoints.authorization_endpoint, &endpoints.token_endpoint] {
            let parsed =
                reqwest::Url::parse(endpoint).map_err(|_| DiscoveryError::InvalidDocument {
                    reason: "an endpoint is not an absolute URL",
                })?;
            if !scheme_allowed(&parsed, inner.insecure_allow_http) {
                return Err(DiscoveryError::InvalidDocument {
                    reason: "an endpoint is not https",
                });
            }
        }
        Ok(endpoints)
    }
}

fn scheme_allowed(url: &reqwest::Url, insecure_allow_http: bool) -> bool {
    url.scheme() == "https" || (insecure_allow_http && url.scheme() == "http")
}

impl fmt::Debug for Discovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("Discovery")
            .field("url", &inner.url)
            .field("insecure_allow_http", &inner.insecure_allow_http)
            .field("timeout", &inner.timeout)
            .field("ttl", &inner.ttl)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_over_loopback_http_needs_the_explicit_knob() {
        let local = Environment::custom(
            "http://127.0.0.1:9/identity/keys",
            "http://127.0.0.1:9/identity",
            "http://127.0.0.1:9/identity/token",
        );
        assert!(Discovery::try_for_environment(&local).is_err());
        let allowed = local.insecure_allow_loopback_http();
        assert_eq!(
            Discovery::try_for_environment(&allowed)
                .map(|d| d.url().to_owned())
                .ok()
                .as_deref(),
            Some("http://127.0.0.1:9/identity/.well-known/openid-configuration")
        );
        let remote = Environment::custom("http://iam.example/k", "http://iam.example/identity", "");
        let remote = remote.insecure_allow_loopback_http();
        assert!(Discovery::try_for_environment(&remote).is_err());
    }
}
