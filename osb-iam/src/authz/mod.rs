//! IAM's authorization API, `POST /v2/authz`: may this subject do this action on this resource?
//!
//! The provider asks with its own service ID's token (from an
//! [`ApiKeyClient`]); the body is a JSON **array** of questions
//! and IAM answers `{"responses": [...]}` in the same order, each with a string `status` and an
//! `authorizationDecision` (osb-core rules.md §17.6). [`AuthzClient`] asks one question
//! ([`check`](AuthzClient::check)) or many in one call ([`check_batch`](AuthzClient::check_batch)),
//! and remembers decisions briefly (no longer than IAM's `maxCacheAgeSeconds`).

mod cache;
mod decision;
mod error;
mod request;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::Environment;
use crate::apikey::ApiKeyClient;
use crate::client::{BodyError, read_limited};
use cache::DecisionCache;

pub use decision::Decision;
pub use error::{AuthzError, InvalidUrl};
pub use request::{AuthzRequest, Subject};

/// Production IAM's authorization endpoint.
const PRODUCTION_URL: &str = "https://iam.cloud.ibm.com/v2/authz";
/// Default timeout of one call.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default number of decisions remembered.
const DEFAULT_CACHE_CAPACITY: usize = 1024;
/// Default longest time a decision is remembered.
const DEFAULT_CACHE_MAX_AGE: Duration = Duration::from_secs(60);
/// Largest answer read.
const MAX_ANSWER: usize = 1024 * 1024;

/// A client of IAM's `/v2/authz`, with a short, bounded decision cache and timeouts.
///
/// Cheap to clone (an `Arc`); clones share the cache.
///
/// # Example
///
/// ```
/// use osb_iam::apikey::{ApiKey, ApiKeyClient};
/// use osb_iam::authz::{AuthzClient, AuthzRequest, Subject};
/// use std::time::Duration;
///
/// let service_id = ApiKeyClient::new(ApiKey::new("…the provider's service ID API key…"));
/// let authz = AuthzClient::builder(service_id).timeout(Duration::from_secs(5)).build()?;
/// assert_eq!(authz.url(), "https://iam.cloud.ibm.com/v2/authz");
///
/// async fn may_view(authz: &AuthzClient, user_token: &str, instance_crn: &str) -> bool {
///     let Some(subject) = Subject::from_access_token(user_token) else { return false };
///     let request = AuthzRequest::new(subject, instance_crn, "my-service.dashboard.view");
///     // No decision (IAM down, say) is not a permission either.
///     authz.check(&request).await.is_ok_and(|decision| decision.is_permitted())
/// }
/// # Ok::<(), osb_iam::authz::InvalidUrl>(())
/// ```
#[derive(Clone)]
pub struct AuthzClient {
    inner: Arc<Inner>,
}

struct Inner {
    url: reqwest::Url,
    tokens: ApiKeyClient,
    http: Option<reqwest::Client>,
    timeout: Duration,
    cache: DecisionCache,
}

impl AuthzClient {
    /// Starts configuring a client that asks with the tokens of `tokens` (the provider's
    /// service ID).
    pub fn builder(tokens: ApiKeyClient) -> AuthzClientBuilder {
        AuthzClientBuilder {
            url: PRODUCTION_URL.to_owned(),
            insecure_allow_http: false,
            tokens,
            http: None,
            timeout: DEFAULT_TIMEOUT,
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            cache_max_age: DEFAULT_CACHE_MAX_AGE,
        }
    }

    /// The authorization endpoint.
    pub fn url(&self) -> &str {
        self.inner.url.as_str()
    }

    /// Asks one question.
    ///
    /// # Errors
    ///
    /// [`AuthzError`] when IAM gave no decision; a denial is `Ok` with `permitted == false`.
    pub async fn check(&self, request: &AuthzRequest) -> Result<Decision, AuthzError> {
        let mut answers = self.check_batch(std::slice::from_ref(request)).await?;
        answers
            .pop()
            .unwrap_or(Err(AuthzError::InvalidAnswer { reason: "no entry" }))
    }

    /// Asks several questions in one call; the answers follow the order of `requests`.
    /// Questions with a remembered decision are answered from the cache and not sent.
    ///
    /// # Errors
    ///
    /// The outer [`AuthzError`] when the call as a whole failed; an inner one when IAM could
    /// not decide that entry.
    pub async fn check_batch(
        &self,
        requests: &[AuthzRequest],
    ) -> Result<Vec<Result<Decision, AuthzError>>, AuthzError> {
        let cache = &self.inner.cache;
        let now = Instant::now();
        let keys: Vec<[u8; 32]> = requests.iter().map(DecisionCache::key).collect();
        let mut answers: Vec<Option<Result<Decision, AuthzError>>> =
            keys.iter().map(|key| cache.get(key, now).map(Ok)).collect();
        let missing: Vec<usize> = (0..requests.len())
            .filter(|&i| answers[i].is_none())
            .collect();
        if !missing.is_empty() {
            let asked: Vec<&AuthzRequest> = missing.iter().map(|&i| &requests[i]).collect();
            let entries = self.call(&asked).await?;
            let now = Instant::now();
            for (index, entry) in missing.into_iter().zip(entries) {
                let decision = entry.into_decision();
                if let Ok(decision) = &decision {
                    cache.insert(keys[index], *decision, now);
                }
                answers[index] = Some(decision);
            }
        }
        Ok(answers
            .into_iter()
            .map(|answer| answer.unwrap_or(Err(AuthzError::InvalidAnswer { reason: "no entry" })))
            .collect())
    }

    async fn call(&self, requests: &[&AuthzRequest]) -> Result<Vec<decision::Entry>, AuthzError> {
        let inner = &*self.inner;
        let unreachable =
            |error: reqwest::Error| AuthzError::Unreachable(Box::new(error.without_url()));
        let token = inner.tokens.token().await.map_err(AuthzError::Token)?;
        let authorization = token.authorization().map_err(AuthzError::Token)?;
        let client = match &inner.http {
            Some(client) => client.clone(),
            None => crate::client::shared().map_err(unreachable)?,
        };
        let response = client
            .post(inner.url.clone())
            .header(http::header::AUTHORIZATION, authorization)
            .header(http::header::ACCEPT, "application/json")
            .json(requests)
            .timeout(inner.timeout)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        if !status.is_success() {
            return Err(AuthzError::Refused { status });
        }
        let body = read_limited(response, MAX_ANSWER)
            .await
            .map_err(|error| match error {
                BodyError::Network(error) => unreachable(error),
                BodyError::TooLarge => AuthzError::InvalidAnswer {
                    reason: "the answer is too large",
                },
            })?;
        let answer: decision::Answer =
            serde_json::from_slice(&body).map_err(|_| AuthzError::InvalidAnswer {
                reason: "not an authorization answer",
            })?;
        // osb-core rules.md §17.6: entries follow request order, so a count mismatch cannot be matched up.
        if answer.responses.len() != requests.len() {
            return Err(AuthzError::InvalidAnswer {
                reason: "the number of entries differs",
            });
        }
        Ok(answer.responses)
    }
}

impl fmt::Debug for AuthzClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("AuthzClient")
            .field("url", &inner.url.as_str())
            .field("tokens", &inner.tokens)
            .field("timeout", &inner.timeout)
            .field("cache_capacity", &inner.cache.capacity())
            .field("cache_max_age", &inner.cache.max_age())
            .finish_non_exhaustive()
    }
}

/// Configures an [`AuthzClient`]; see [`AuthzClient::builder`].
#[derive(Debug)]
#[must_use = "call .build() to get a client"]
pub struct AuthzClientBuilder {
    url: String,
    insecure_allow_http: bool,
    tokens: ApiKeyClient,
    http: Option<reqwest::Client>,
    timeout: Duration,
    cache_capacity: usize,
    cache_max_age: Duration,
}

impl AuthzClientBuilder {
    /// Use this environment's IAM: `/v2/authz` on the host of its issuer.
    pub fn environment(mut self, environment: &Environment) -> Self {
        if let Ok(mut url) = reqwest::Url::parse(environment.issuer()) {
            url.set_path("/v2/authz");
            self.url = url.into();
        }
        self
    }

    /// Use this authorization endpoint; it must be `https` unless
    /// [`insecure_allow_http`](Self::insecure_allow_http) is set.
    ///
    /// Default: `https://iam.cloud.ibm.com/v2/authz`.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// Accept a plain `http` endpoint: for loopback tests only.
    ///
    /// Risk: over plain HTTP the service ID's token travels in clear text and anyone on the path
    /// can answer "permitted". Default: off.
    pub fn insecure_allow_http(mut self) -> Self {
        self.insecure_allow_http = true;
        self
    }

    /// Timeout of one call, the body included. Default: 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many decisions to remember. 0 disables the cache.
    ///
    /// Default: 1024.
    pub fn cache_capacity(mut self, entries: usize) -> Self {
        self.cache_capacity = entries;
        self
    }

    /// Longest time a decision is remembered; IAM's `maxCacheAgeSeconds` shortens it, never
    /// lengthens it. Zero disables the cache.
    ///
    /// Default: 60 s. Raising it lets a revoked access keep working that much longer.
    pub fn cache_max_age(mut self, max_age: Duration) -> Self {
        self.cache_max_age = max_age;
        self
    }

    /// Use this `reqwest` client (proxies, extra roots). Default: a shared rustls client that
    /// follows no redirects.
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Builds the client (nothing is fetched yet).
    ///
    /// # Errors
    ///
    /// [`InvalidUrl`] when the URL does not parse, or is not `https` without
    /// [`insecure_allow_http`](Self::insecure_allow_http).
    pub fn build(self) -> Result<AuthzClient, InvalidUrl> {
        let url = reqwest::Url::parse(&self.url).map_err(|_| InvalidUrl {
            url: self.url.clone(),
            reason: "not an absolute URL",
        })?;
        match url.scheme() {
            "https" => {}
            "http" if self.insecure_allow_http => {}
            _ => {
                return Err(InvalidUrl {
                    url: self.url,
                    reason: "the scheme must be https",
                });
            }
        }
        Ok(AuthzClient {
            inner: Arc::new(Inner {
                url,
                tokens: self.tokens,
                http: self.http,
                timeout: self.timeout,
                cache: DecisionCache::new(self.cache_capacity, self.cache_max_age),
            }),
        })
    }
}
