//! Calling IBM Cloud as the provider: exchanging an API key for an IAM access token.

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use http::HeaderValue;
use serde::Deserialize;
use tokio::time::Instant;

use crate::Environment;
use crate::client::{BodyError, read_limited};

/// IAM's grant type for the API-key exchange.
const GRANT_TYPE: &str = "urn:ibm:params:oauth:grant-type:apikey";
/// Default timeout of one exchange.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest token answer read (IAM's is a few kilobytes, with a refresh token).
const MAX_ANSWER: usize = 256 * 1024;

/// An IBM Cloud API key. `Debug` never shows it.
///
/// # Example
///
/// ```
/// use osb_iam::apikey::ApiKey;
///
/// let key = ApiKey::new("s3cr3t-api-key");
/// assert_eq!(format!("{key:?}"), "ApiKey(<redacted>)");
/// ```
#[derive(Clone)]
pub struct ApiKey(Arc<str>);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(Arc::from(key.into()))
    }
}

/// An empty string is no API key.
#[derive(Debug, thiserror::Error)]
#[error("the API key is empty")]
pub struct EmptyApiKey;

/// Parses a key from configuration, e.g. an environment variable; surrounding whitespace (a
/// trailing newline from a secret file) is removed.
///
/// ```
/// use osb_iam::apikey::ApiKey;
///
/// assert!("s3cr3t-api-key\n".parse::<ApiKey>().is_ok());
/// assert!("  ".parse::<ApiKey>().is_err());
/// ```
impl std::str::FromStr for ApiKey {
    type Err = EmptyApiKey;

    fn from_str(key: &str) -> Result<Self, Self::Err> {
        match key.trim() {
            "" => Err(EmptyApiKey),
            key => Ok(Self::new(key)),
        }
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// An IAM access token obtained with an API key. `Debug` never shows it.
#[derive(Clone)]
pub struct AccessToken {
    token: Arc<str>,
}

impl AccessToken {
    /// The token itself (a JWT). Keep it out of logs.
    pub fn secret(&self) -> &str {
        &self.token
    }

    /// `Bearer <token>`, for an `Authorization` header; marked sensitive so `http` and tracing
    /// layers that honour the flag leave it out.
    ///
    /// # Errors
    ///
    /// [`ApiKeyError::InvalidAnswer`] when the token holds characters a header cannot.
    pub fn authorization(&self) -> Result<HeaderValue, ApiKeyError> {
        let mut value = HeaderValue::try_from(format!("Bearer {}", self.token)).map_err(|_| {
            ApiKeyError::InvalidAnswer {
                reason: "the token is not a header value",
            }
        })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

/// Why no access token could be obtained.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiKeyError {
    /// IAM could not be reached, or the exchange timed out.
    #[error("cannot reach IAM's token endpoint")]
    Unreachable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// IAM refused the exchange; `code` and `message` are IAM's `errorCode` and `errorMessage`.
    #[error("IAM refused the API key ({status}): {}", iam_message(.code, .message))]
    Refused {
        /// The HTTP status (e.g. 400 for an unknown or disabled key).
        status: http::StatusCode,
        /// IAM's `errorCode`, e.g. `BXNIM0415E`.
        code: Option<String>,
        /// IAM's `errorMessage`, e.g. `Provided API key could not be found.`.
        message: Option<String>,
    },
    /// IAM answered something that is not a token.
    #[error("IAM's token answer is unusable: {reason}")]
    InvalidAnswer {
        /// What is wrong with it.
        reason: &'static str,
    },
}

fn iam_message(code: &Option<String>, message: &Option<String>) -> String {
    match (code, message) {
        (Some(code), Some(message)) => format!("{code} {message}"),
        (Some(text), None) | (None, Some(text)) => text.clone(),
        (None, None) => "no error details".to_owned(),
    }
}

/// Exchanges an API key for IAM access tokens (`POST /identity/token`, grant type
/// `urn:ibm:params:oauth:grant-type:apikey`) and caches them.
///
/// [`token`](Self::token) answers from memory until 80 % of the token's lifetime has passed (as
/// IBM's SDKs do), then exchanges again; concurrent callers share one exchange. If a refresh
/// fails while the cached token is still valid, that token is returned and the failure logged.
/// Neither the key nor a token is ever logged or shown by `Debug`. Clones share the cache.
///
/// # Example
///
/// ```
/// use osb_iam::Environment;
/// use osb_iam::apikey::{ApiKey, ApiKeyClient};
///
/// let client = ApiKeyClient::builder(ApiKey::new("…from your secret store…"))
///     .environment(&Environment::STAGING)
///     .build()?;
/// assert_eq!(client.token_url(), "https://iam.test.cloud.ibm.com/identity/token");
/// // `client.token().await?.authorization()?` is the header for IBM Cloud APIs.
///
/// // Never in clear text to another host.
/// let plain = ApiKeyClient::builder(ApiKey::new("k")).token_url("http://iam.example.com/identity/token");
/// assert!(plain.build().is_err());
/// # Ok::<(), osb_iam::apikey::InvalidTokenUrl>(())
/// ```
#[derive(Clone)]
pub struct ApiKeyClient {
    inner: Arc<Inner>,
}

struct Inner {
    api_key: ApiKey,
    token_url: String,
    http: Option<reqwest::Client>,
    timeout: Duration,
    cached: RwLock<Option<Cached>>,
    flight: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
struct Cached {
    token: AccessToken,
    refresh_at: Instant,
    expires_at: Instant,
}

impl ApiKeyClient {
    /// A client for production IAM with the defaults.
    pub fn new(api_key: ApiKey) -> Self {
        // The default token URL is production's, an https URL: nothing to check.
        Self::builder(api_key).finish()
    }

    /// Starts configuring a client.
    pub fn builder(api_key: ApiKey) -> ApiKeyClientBuilder {
        ApiKeyClientBuilder {
            api_key,
            token_url: Environment::PRODUCTION.token_url().to_owned(),
            http: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The token endpoint.
    pub fn token_url(&self) -> &str {
        &self.inner.token_url
    }

    /// Forgets `token` if it is the cached one, so that the next [`token`](Self::token) call
    /// exchanges the API key again: for a token an IBM Cloud API refused (401) before its
    /// expiry. A token already replaced by a newer one is left alone, so concurrent callers
    /// that saw the same 401 cause one exchange, not one each.
    pub fn invalidate(&self, token: &AccessToken) {
        let mut cached = self
            .inner
            .cached
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if cached
            .as_ref()
            .is_some_and(|current| Arc::ptr_eq(&current.token.token, &token.token))
        {
            *cached = None;
        }
    }

    /// A valid access token: the cached one, or a fresh one once 80 % of its lifetime is gone.
    ///
    /// # Errors
    ///
    /// [`ApiKeyError`] when IAM cannot be reached or refuses the key and no unexpired token is
    /// cached.
    pub async fn token(&self) -> Result<AccessToken, ApiKeyError> {
        if let Some(cached) = self.fresh(Instant::now()) {
            return Ok(cached);
        }
        let _flight = self.inner.flight.lock().await;
        // Another caller may have refreshed while this one waited.
        if let Some(cached) = self.fresh(Instant::now()) {
            return Ok(cached);
        }
        match self.exchange().await {
            Ok(cached) => {
                let token = cached.token.clone();
                *self
                    .inner
                    .cached
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(cached);
                Ok(token)
            }
            Err(error) => {
                let current = self.current();
                match current {
                    Some(cached) if Instant::now() < cached.expires_at => {
                        tracing::warn!(error = %error, "refreshing the IAM token failed; using the current one until it expires");
                        Ok(cached.token)
                    }
                    _ => Err(error),
                }
            }
        }
    }

    fn current(&self) -> Option<Cached> {
        self.inner
            .cached
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn fresh(&self, now: Instant) -> Option<AccessToken> {
        self.current()
            .filter(|cached| now < cached.refresh_at)
            .map(|cached| cached.token)
    }

    async fn exchange(&self) -> Result<Cached, ApiKeyError> {
        let inner = &*self.inner;
        let unreachable =
            |error: reqwest::Error| ApiKeyError::Unreachable(Box::new(error.without_url()));
        let client = match &inner.http {
            Some(client) => client.clone(),
            None => crate::client::shared().map_err(unreachable)?,
        };
        let started = Instant::now();
        let response = client
            .post(&inner.token_url)
            .header(http::header::ACCEPT, "application/json")
            .form(&[
                ("grant_type", GRANT_TYPE),
                ("apikey", &inner.api_key.0),
                ("response_type", "cloud_iam"),
            ])
            .timeout(inner.timeout)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        let body = read_limited(response, MAX_ANSWER)
            .await
            .map_err(|error| match error {
                BodyError::Network(error) => unreachable(error),
                BodyError::TooLarge => ApiKeyError::InvalidAnswer {
                    reason: "the answer is too large",
                },
            })?;
        if !status.is_success() {
            let error: IamError = serde_json::from_slice(&body).unwrap_or_default();
            return Err(ApiKeyError::Refused {
                status,
                code: error.error_code,
                message: error.error_message,
            });
        }
        let answer: TokenAnswer =
            serde_json::from_slice(&body).map_err(|_| ApiKeyError::InvalidAnswer {
                reason: "not a token answer",
            })?;
        if answer.access_token.is_empty() {
            return Err(ApiKeyError::InvalidAnswer {
                reason: "the access token is empty",
            });
        }
        let lifetime = answer.lifetime().ok_or(ApiKeyError::InvalidAnswer {
            reason: "neither expires_in nor expiration",
        })?;
        Ok(Cached {
            token: AccessToken {
                token: Arc::from(answer.access_token),
            },
            // IBM's SDKs refresh at 80 % of the lifetime.
            refresh_at: started + lifetime.mul_f64(0.8),
            expires_at: started + lifetime,
        })
    }
}

impl fmt::Debug for ApiKeyClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyClient")
            .field("api_key", &self.inner.api_key)
            .field("token_url", &self.inner.token_url)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<u64>,
    expiration: Option<u64>,
}

impl TokenAnswer {
    fn lifetime(&self) -> Option<Duration> {
        if let Some(seconds) = self.expires_in {
            return Some(Duration::from_secs(seconds));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        Some(Duration::from_secs(self.expiration?).saturating_sub(now))
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct IamError {
    error_code: Option<String>,
    error_message: Option<String>,
}

/// Configures an [`ApiKeyClient`]; see [`ApiKeyClient::builder`].
#[derive(Debug)]
#[must_use = "call .build() to get a client"]
pub struct ApiKeyClientBuilder {
    api_key: ApiKey,
    token_url: String,
    http: Option<reqwest::Client>,
    timeout: Duration,
}

impl ApiKeyClientBuilder {
    /// Use this environment's token endpoint.
    pub fn environment(self, environment: &Environment) -> Self {
        self.token_url(environment.token_url())
    }

    /// Use this token endpoint (a regional IAM host, or a loopback fake in tests).
    ///
    /// Default: `https://iam.cloud.ibm.com/identity/token`.
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = url.into();
        self
    }

    /// Timeout of one exchange. Default: 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Use this `reqwest` client (proxies, extra roots). Default: a shared rustls client.
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Builds the client (nothing is fetched yet).
    ///
    /// # Errors
    ///
    /// [`InvalidTokenUrl`] when the token URL is not `https` (plain `http` only on a loopback
    /// host): the API key must never travel in clear text.
    pub fn build(self) -> Result<ApiKeyClient, InvalidTokenUrl> {
        if !crate::environment::is_https_or_loopback_http(&self.token_url) {
            return Err(InvalidTokenUrl {
                url: self.token_url,
            });
        }
        Ok(self.finish())
    }

    fn finish(self) -> ApiKeyClient {
        ApiKeyClient {
            inner: Arc::new(Inner {
                api_key: self.api_key,
                token_url: self.token_url,
                http: self.http,
                timeout: self.timeout,
                cached: RwLock::new(None),
                flight: tokio::sync::Mutex::new(()),
            }),
        }
    }
}

/// The token URL given to [`ApiKeyClientBuilder`] is not `https` (nor plain `http` on a
/// loopback host).
#[derive(Debug, thiserror::Error)]
#[error("invalid IAM token URL `{url}`: it must be https (plain http only on a loopback host)")]
pub struct InvalidTokenUrl {
    url: String,
}
