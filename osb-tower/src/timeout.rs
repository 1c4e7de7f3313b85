//! A request timeout that answers like a broker: `503 Service Unavailable` with the OSB error
//! body, where `tower::timeout` fails the service and tower-http's `TimeoutLayer` answers an
//! empty `408`.
//!
//! Why 503: the spec's error bodies are JSON `{"description": …}` (spec.md "Service Broker
//! Errors"), and a platform treats a 5xx as "try again later". `408 Request Timeout` would tell
//! the platform that *it* was too slow to send the request, and `504 Gateway Timeout` that an
//! upstream gateway failed; 503 says what happened: this broker could not answer in time. A
//! `Retry-After` is not sent, since the broker cannot know when it will be faster.
//!
//! The inner future is dropped when the time is up: an operation a broker must finish belongs
//! in an asynchronous operation (`202` + `last_operation`), not in a long request.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use tokio::time::Sleep;
use tower::{Layer, Service};

use crate::identity;

/// The body of the answer to a request that ran out of time.
const BODY: &[u8] =
    br#"{"description":"The service broker did not answer in time; try again later."}"#;

/// Applies [`Timeout`] to a service; see the [module docs](self).
///
/// # Example
///
/// ```
/// use std::convert::Infallible;
/// use std::time::Duration;
///
/// use bytes::Bytes;
/// use http::{Request, Response, StatusCode};
/// use osb_tower::timeout::TimeoutLayer;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let slow = service_fn(|_: Request<()>| async {
///     tokio::time::sleep(Duration::from_secs(3600)).await;
///     Ok::<_, Infallible>(Response::new(Bytes::from_static(b"{}")))
/// });
/// let service = TimeoutLayer::new(Duration::from_millis(10)).layer(slow);
///
/// let response = service.oneshot(Request::new(())).await?;
/// assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
/// assert_eq!(response.headers()["content-type"], "application/json");
/// # Ok::<(), Infallible>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TimeoutLayer {
    timeout: Duration,
}

impl TimeoutLayer {
    /// Answers `503` with the OSB error body to a request still running after `timeout`.
    pub const fn new(timeout: Duration) -> Self {
        Self { timeout }
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout::new(inner, self.timeout)
    }
}

/// Answers `503 Service Unavailable` with the OSB error body to a request its inner service has
/// not answered within the timeout; see the [module docs](self).
///
/// The response body type only needs `From<Bytes>`: osb-tower's
/// [`ResponseBody`](crate::ResponseBody), axum's `Body`, `Full<Bytes>`, `Bytes` itself.
#[derive(Debug, Clone)]
pub struct Timeout<S> {
    inner: S,
    timeout: Duration,
}

impl<S> Timeout<S> {
    /// Wraps `inner`, answering `503` to a request still running after `timeout`.
    pub const fn new(inner: S, timeout: Duration) -> Self {
        Self { inner, timeout }
    }

    /// A [`TimeoutLayer`] with this timeout.
    pub const fn layer(timeout: Duration) -> TimeoutLayer {
        TimeoutLayer::new(timeout)
    }

    /// The timeout.
    pub const fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The inner service.
    pub const fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for Timeout<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    ResB: From<Bytes>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        // Kept for the 503 only: the inner service echoes it on its own answers.
        let request_identity = identity::request_identity_header(request.headers());
        ResponseFuture {
            inner: Box::pin(self.inner.call(request)),
            sleep: Box::pin(tokio::time::sleep(self.timeout)),
            request_identity,
        }
    }
}

/// The future of [`Timeout`].
pub struct ResponseFuture<F> {
    inner: Pin<Box<F>>,
    sleep: Pin<Box<Sleep>>,
    request_identity: Option<HeaderValue>,
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: From<Bytes>,
{
    type Output = Result<Response<B>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(result) = self.inner.as_mut().poll(cx) {
            return Poll::Ready(result);
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                tracing::warn!("request timed out; answered 503");
                let mut response = timed_out();
                // rules.md §2.3: every answer echoes the request identity.
                if let Some(value) = self.request_identity.take() {
                    let name = identity::X_BROKER_API_REQUEST_IDENTITY;
                    response.headers_mut().insert(name, value);
                }
                Poll::Ready(Ok(response))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

fn timed_out<B: From<Bytes>>() -> Response<B> {
    let mut response = Response::new(B::from(Bytes::from_static(BODY)));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::convert::Infallible;

    use http_body_util::BodyExt;
    use tower::{ServiceExt, service_fn};

    use super::*;
    use crate::ResponseBody;

    async fn call(timeout: Duration, delay: Duration) -> Response<ResponseBody> {
        let inner = service_fn(move |_: Request<()>| async move {
            tokio::time::sleep(delay).await;
            Ok::<_, Infallible>(Response::new(ResponseBody::from(Bytes::from_static(b"{}"))))
        });
        TimeoutLayer::new(timeout)
            .layer(inner)
            .oneshot(Request::new(()))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn request_past_the_timeout_gets_503_with_the_osb_error_body() {
        let response = call(Duration::from_millis(20), Duration::from_secs(3600)).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(json["description"].as_str().unwrap().contains("in time"));
        assert!(json.get("error").is_none());
    }

    #[tokio::test]
    async fn the_503_echoes_the_request_identity() {
        let inner = service_fn(|_: Request<()>| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<_, Infallible>(Response::new(ResponseBody::from(Bytes::new())))
        });
        let mut request = Request::new(());
        let id = HeaderValue::from_static("r-7");
        request
            .headers_mut()
            .insert(identity::X_BROKER_API_REQUEST_IDENTITY, id);
        let response = TimeoutLayer::new(Duration::from_millis(10))
            .layer(inner)
            .oneshot(request)
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["x-broker-api-request-identity"], "r-7");
    }

    #[tokio::test]
    async fn request_within_the_timeout_gets_the_inner_answer() {
        let response = call(Duration::from_secs(3600), Duration::ZERO).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"{}");
    }

    #[tokio::test]
    async fn inner_errors_pass_through() {
        let failing = service_fn(|_: Request<()>| async { Err::<Response<Bytes>, _>("broken") });
        let err = Timeout::new(failing, Duration::from_secs(5))
            .oneshot(Request::new(()))
            .await
            .unwrap_err();
        assert_eq!(err, "broken");
    }
}
