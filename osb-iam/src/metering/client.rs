//! The metering API client: `POST /v4/metering/resources/{resource_id}/usage`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use osb_core::managed::{Clock, SystemClock};
use serde::Deserialize;

use super::record::{InvalidRecord, UsageRecord};
use super::retry::RetryPolicy;
use crate::apikey::{ApiKeyClient, ApiKeyError};
use crate::client::{BodyError, read_limited};

/// The most records IBM takes in one request.
pub const MAX_BATCH: usize = 100;
/// IBM's production metering endpoint.
pub const PRODUCTION_URL: &str = "https://billing.cloud.ibm.com";
/// IBM's staging metering endpoint.
pub const STAGING_URL: &str = "https://billing.test.cloud.ibm.com";
/// Default timeout of one request.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest answer read (100 statuses with messages are a few kilobytes).
const MAX_ANSWER: usize = 1024 * 1024;

/// What IBM did with one record.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// 201: accepted now.
    Accepted,
    /// 409: a record with the same duplicate key was accepted before. Never resend it.
    Duplicate,
    /// 400 (bad record), 404 (metering not onboarded), 424 (instance metadata) or another
    /// per-record 4xx: refused for good. Never retried.
    Rejected {
        /// The per-record status.
        status: u16,
        /// IBM's error code, if given.
        code: Option<String>,
        /// IBM's message, if given.
        message: Option<String>,
    },
    /// 500 (or another per-record 5xx / 429): send it again later.
    RetryLater {
        /// The per-record status.
        status: u16,
    },
    /// Not sent: the record failed the checks before sending.
    Invalid(InvalidRecord),
}

impl Outcome {
    /// Whether IBM now holds the record (accepted now or before).
    pub fn is_delivered(&self) -> bool {
        matches!(self, Self::Accepted | Self::Duplicate)
    }

    fn from_status(entry: AnswerEntry) -> Self {
        match entry.status {
            200..=202 => Self::Accepted,
            409 => Self::Duplicate,
            429 | 500..=599 => Self::RetryLater {
                status: entry.status,
            },
            400..=499 => Self::Rejected {
                status: entry.status,
                code: entry.code,
                message: entry.message,
            },
            // Unknown statuses are retried: IBM's duplicate key makes a resend harmless.
            other => Self::RetryLater { status: other },
        }
    }
}

/// Why a batch got no per-record answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// No IAM token could be obtained with the API key.
    #[error("cannot obtain an IAM token for the metering API")]
    Token(#[source] ApiKeyError),
    /// The metering API refused the token twice, the second time right after a fresh one was
    /// obtained (401).
    #[error("the metering API refused the IAM token (401)")]
    Unauthorized,
    /// The service ID lacks the rights to submit usage for this resource (403).
    #[error("the metering API forbids submitting usage for this resource (403)")]
    Forbidden,
    /// The whole request was refused with a 4xx other than 401/403/429.
    #[error("the metering API refused the request ({status}): {}", .message.as_deref().unwrap_or("no details"))]
    Refused {
        /// The HTTP status.
        status: StatusCode,
        /// IBM's error code, if given.
        code: Option<String>,
        /// IBM's message, if given.
        message: Option<String>,
    },
    /// Every attempt failed with a network error, a timeout, a 5xx or a 429, or an answer
    /// that did not hold one status per record.
    #[error("the metering API is unavailable after {attempts} attempts")]
    Unavailable {
        /// How many requests were sent.
        attempts: u32,
        /// The last failure.
        #[source]
        last: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The failure of one attempt that may succeed when tried again.
#[derive(Debug, thiserror::Error)]
enum Transient {
    #[error("request failed")]
    Network(#[source] reqwest::Error),
    #[error("the metering API answered {0}")]
    Status(StatusCode),
    #[error("the metering API's answer is unusable: {0}")]
    Answer(&'static str),
}

/// `base_url` is neither `https` nor `http` on a loopback host.
#[derive(Debug, thiserror::Error)]
#[error("the metering base URL must be https (plain http only on a loopback host)")]
pub struct InvalidBaseUrl;

#[derive(Deserialize)]
struct Answer {
    resources: Vec<AnswerEntry>,
}

#[derive(Deserialize)]
struct AnswerEntry {
    #[serde(deserialize_with = "lenient_status")]
    status: u16,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// IBM documents the per-record status as a number; accept a numeric string too.
fn lenient_status<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u16, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Status {
        Number(u16),
        Text(String),
    }
    match Status::deserialize(deserializer)? {
        Status::Number(n) => Ok(n),
        Status::Text(text) => text.parse().map_err(serde::de::Error::custom),
    }
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// Submits usage records to IBM Cloud's metering API for one resource (the service's id in
/// IBM's global catalog), with a bearer token from an [`ApiKeyClient`].
///
/// - Records are checked first ([`UsageRecord::check_timing`]); those that fail come back as
///   [`Outcome::Invalid`] and are not sent.
/// - At most [`MAX_BATCH`] records go in one request; IBM answers 202 with one status per
///   record, mapped to an [`Outcome`].
/// - Network errors, timeouts, 5xx and 429 are retried with the [`RetryPolicy`] (a
///   `Retry-After` header lengthens the wait, up to the policy's cap). Resending is safe:
///   IBM answers records it already has with 409, [`Outcome::Duplicate`].
/// - A 401 makes the client drop its token and fetch a new one, once per batch.
/// - Neither the API key nor a token is ever logged or shown by `Debug`.
///
/// Clones share the connection pool and token cache.
///
/// # Example
///
/// ```
/// use osb_iam::apikey::{ApiKey, ApiKeyClient};
/// use osb_iam::metering::MeteringClient;
///
/// let tokens = ApiKeyClient::new(ApiKey::new("…from your secret store…"));
/// let client = MeteringClient::builder("my-service-id", tokens).build()?;
/// assert_eq!(
///     client.usage_url(),
///     "https://billing.cloud.ibm.com/v4/metering/resources/my-service-id/usage"
/// );
/// // client.submit(&records).await? sends them.
/// # Ok::<(), osb_iam::metering::InvalidBaseUrl>(())
/// ```
#[derive(Clone)]
pub struct MeteringClient {
    inner: Arc<Inner>,
}

struct Inner {
    resource_id: String,
    usage_url: reqwest::Url,
    tokens: ApiKeyClient,
    http: Option<reqwest::Client>,
    timeout: Duration,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for MeteringClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MeteringClient")
            .field("usage_url", &self.inner.usage_url.as_str())
            .field("tokens", &self.inner.tokens)
            .field("timeout", &self.inner.timeout)
            .field("retry", &self.inner.retry)
            .finish_non_exhaustive()
    }
}

impl MeteringClient {
    /// Starts configuring a client for `resource_id` (the service's id in IBM's global
    /// catalog), authenticating with `tokens`.
    pub fn builder(resource_id: impl Into<String>, tokens: ApiKeyClient) -> MeteringClientBuilder {
        MeteringClientBuilder {
            resource_id: resource_id.into(),
            tokens,
            base_url: PRODUCTION_URL.to_owned(),
            http: None,
            timeout: DEFAULT_TIMEOUT,
            retry: RetryPolicy::new(),
            clock: Arc::new(SystemClock),
        }
    }

    /// The resource (service) id usage is submitted for.
    pub fn resource_id(&self) -> &str {
        &self.inner.resource_id
    }

    /// The URL records are posted to.
    pub fn usage_url(&self) -> &str {
        self.inner.usage_url.as_str()
    }

    /// The clock used for the checks before sending.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Submits `records` (any number, in batches of at most [`MAX_BATCH`]) and returns one
    /// [`Outcome`] per record, in order.
    ///
    /// # Errors
    ///
    /// [`SubmitError`] when a batch got no per-record answer (after retries where they apply).
    /// Batches before it were submitted; submitting all records again is safe, since IBM
    /// answers those it has with 409.
    pub async fn submit(&self, records: &[UsageRecord]) -> Result<Vec<Outcome>, SubmitError> {
        let now = self.inner.clock.now();
        let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(records.len());
        let mut valid = Vec::with_capacity(records.len());
        for (index, record) in records.iter().enumerate() {
            match record.check_timing(now) {
                Ok(()) => {
                    outcomes.push(None);
                    valid.push(index);
                }
                Err(error) => outcomes.push(Some(Outcome::Invalid(error))),
            }
        }
        for chunk in valid.chunks(MAX_BATCH) {
            let batch: Vec<&UsageRecord> = chunk.iter().map(|i| &records[*i]).collect();
            let answers = self.submit_batch(&batch).await?;
            for (index, outcome) in chunk.iter().zip(answers) {
                outcomes[*index] = Some(outcome);
            }
        }
        // Every slot is filled: invalid ones at once, valid ones by their batch.
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Outcome::RetryLater { status: 0 }))
            .collect())
    }

    async fn submit_batch(&self, batch: &[&UsageRecord]) -> Result<Vec<Outcome>, SubmitError> {
        let inner = &*self.inner;
        let body = serde_json::to_vec(batch).map_err(|e| SubmitError::Unavailable {
            attempts: 0,
            last: Box::new(e),
        })?;
        let mut refreshed = false;
        let mut attempt = 0_u32;
        loop {
            let token = inner.tokens.token().await.map_err(SubmitError::Token)?;
            let authorization = token.authorization().map_err(SubmitError::Token)?;
            attempt += 1;
            tracing::debug!(records = batch.len(), attempt, "submitting usage records");
            let failure = match self.post(&body, authorization).await {
                Ok((status, answer)) if status.is_success() => {
                    match parse_answer(&answer, batch.len()) {
                        Ok(outcomes) => return Ok(outcomes),
                        Err(reason) => (Transient::Answer(reason), None),
                    }
                }
                Ok((StatusCode::UNAUTHORIZED, _)) if !refreshed => {
                    // The token may have been revoked or IAM's keys rotated before its expiry:
                    // one fresh token, not counted as an attempt.
                    tracing::info!("the metering API refused the IAM token; fetching a new one");
                    inner.tokens.invalidate(&token);
                    refreshed = true;
                    attempt -= 1;
                    continue;
                }
                Ok((StatusCode::UNAUTHORIZED, _)) => return Err(SubmitError::Unauthorized),
                Ok((StatusCode::FORBIDDEN, _)) => return Err(SubmitError::Forbidden),
                Ok((status, _))
                    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() =>
                {
                    (Transient::Status(status), None)
                }
                Ok((status, answer)) => {
                    let error: ErrorBody = serde_json::from_slice(&answer).unwrap_or_default();
                    return Err(SubmitError::Refused {
                        status,
                        code: error.code,
                        message: error.message,
                    });
                }
                Err((error, retry_after)) => (error, retry_after),
            };
            let (error, retry_after) = failure;
            if attempt >= inner.retry.attempts() {
                tracing::warn!(attempts = attempt, error = %error, "usage submission failed");
                return Err(SubmitError::Unavailable {
                    attempts: attempt,
                    last: Box::new(error),
                });
            }
            let wait = inner
                .retry
                .delay(attempt)
                .max(retry_after.unwrap_or_default().min(inner.retry.cap()));
            tracing::debug!(attempt, error = %error, wait_ms = wait.as_millis() as u64, "usage submission will be retried");
            tokio::time::sleep(wait).await;
        }
    }

    /// One POST; `Err` holds a transient failure and the server's `Retry-After`, if any.
    async fn post(
        &self,
        body: &[u8],
        authorization: http::HeaderValue,
    ) -> Result<(StatusCode, Vec<u8>), (Transient, Option<Duration>)> {
        let inner = &*self.inner;
        let network = |e: reqwest::Error| (Transient::Network(e.without_url()), None);
        let client = match &inner.http {
            Some(client) => client.clone(),
            None => crate::client::shared().map_err(network)?,
        };
        let response = client
            .post(inner.usage_url.clone())
            .header(http::header::AUTHORIZATION, authorization)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json")
            .body(body.to_vec())
            .timeout(inner.timeout)
            .send()
            .await
            .map_err(network)?;
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            let retry_after = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err((Transient::Status(status), retry_after));
        }
        let answer = read_limited(response, MAX_ANSWER)
            .await
            .map_err(|error| match error {
                BodyError::Network(error) => network(error),
                BodyError::TooLarge => (Transient::Answer("the answer is too large"), None),
            })?;
        Ok((status, answer))
    }
}

fn parse_answer(body: &[u8], expected: usize) -> Result<Vec<Outcome>, &'static str> {
    let answer: Answer = serde_json::from_slice(body).map_err(|_| "not a per-record answer")?;
    if answer.resources.len() != expected {
        return Err("the answer does not hold one status per record");
    }
    Ok(answer
        .resources
        .into_iter()
        .map(Outcome::from_status)
        .collect())
}

/// Configures a [`MeteringClient`]; see [`MeteringClient::builder`].
#[derive(Debug)]
#[must_use = "call .build() to get a client"]
pub struct MeteringClientBuilder {
    resource_id: String,
    tokens: ApiKeyClient,
    base_url: String,
    http: Option<reqwest::Client>,
    timeout: Duration,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
}

impl MeteringClientBuilder {
    /// Use IBM's staging endpoint, [`STAGING_URL`].
    pub fn staging(self) -> Self {
        self.base_url(STAGING_URL)
    }

    /// Use this endpoint (scheme and host, e.g. a loopback fake in tests). Plain `http` is
    /// accepted only for loopback hosts, since the bearer token travels with every request.
    ///
    /// Default: [`PRODUCTION_URL`].
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Timeout of one request. Default: 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How network errors, timeouts, 5xx and 429 are retried. Default: [`RetryPolicy::new`].
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Use this `reqwest` client (proxies, extra roots). Default: a shared rustls client.
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// The clock for the checks before sending. Default: [`SystemClock`].
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the client (nothing is fetched yet).
    ///
    /// # Errors
    ///
    /// [`InvalidBaseUrl`] when the base URL does not parse, or is plain `http` on a host that
    /// is not loopback.
    pub fn build(self) -> Result<MeteringClient, InvalidBaseUrl> {
        if !crate::environment::is_https_or_loopback_http(&self.base_url) {
            return Err(InvalidBaseUrl);
        }
        let mut url = reqwest::Url::parse(&self.base_url).map_err(|_| InvalidBaseUrl)?;
        url.path_segments_mut()
            .map_err(|_| InvalidBaseUrl)?
            .pop_if_empty()
            .extend(["v4", "metering", "resources", &self.resource_id, "usage"]);
        Ok(MeteringClient {
            inner: Arc::new(Inner {
                resource_id: self.resource_id,
                usage_url: url,
                tokens: self.tokens,
                http: self.http,
                timeout: self.timeout,
                retry: self.retry,
                clock: self.clock,
            }),
        })
    }
}
