//! The response future of [`OsbService`](super::OsbService).

use std::any::Any;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{HeaderValue, Response};
use osb_core::{BrokerError, ErrorKind};
use tracing::Span;

use crate::identity::X_BROKER_API_REQUEST_IDENTITY;
use crate::response::{self, ResponseBody};
use crate::routing::Endpoint;

type BoxFuture = Pin<Box<dyn Future<Output = Response<ResponseBody>> + Send + 'static>>;

/// The future [`OsbService`](super::OsbService) returns: always resolves to a response, never to
/// an error (failures are OSB JSON error answers).
///
/// It polls the request's pipeline inside the request's `tracing` span and a panic guard (a
/// panic in the broker becomes a 500), then echoes the request identity, tags the response with
/// its [`Endpoint`] and records status and latency on the span. Doing this here, in `poll`,
/// rather than in wrapping futures, keeps the pipeline's state machine from being moved through
/// several adapters on every request.
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture {
    inner: BoxFuture,
    span: Span,
    /// `None` when nothing can see the span (no subscriber wants it and tracing's `log` bridge
    /// is not compiled in): then the clock is not read at all.
    start: Option<Instant>,
    request_identity: Option<HeaderValue>,
    endpoint: Option<Endpoint>,
}

impl ResponseFuture {
    pub(crate) fn new(
        inner: impl Future<Output = Response<ResponseBody>> + Send + 'static,
        span: Span,
        request_identity: Option<HeaderValue>,
        endpoint: Option<Endpoint>,
    ) -> Self {
        Self {
            inner: Box::pin(inner),
            start: span.metadata().map(|_| Instant::now()),
            span,
            request_identity,
            endpoint,
        }
    }

    /// The size of the pipeline's state, the box this future allocates.
    #[cfg(test)]
    pub(super) fn pipeline_size(&self) -> usize {
        std::mem::size_of_val(&*self.inner)
    }

    fn finish(&mut self, mut response: Response<ResponseBody>) -> Response<ResponseBody> {
        if let Some(value) = self.request_identity.take() {
            response
                .headers_mut()
                .insert(X_BROKER_API_REQUEST_IDENTITY, value);
        }
        if let Some(endpoint) = self.endpoint {
            response.extensions_mut().insert(endpoint);
        }
        self.span.record("status", response.status().as_u16());
        if let Some(start) = self.start {
            self.span.record(
                "latency_us",
                u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX),
            );
        }
        self.span.in_scope(|| tracing::debug!("request finished"));
        response
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<ResponseBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let polled = {
            let _entered = this.span.enter();
            // A panicked pipeline is never polled again: this poll answers 500 and completes.
            catch_unwind(AssertUnwindSafe(|| this.inner.as_mut().poll(cx)))
        };
        let response = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(response)) => response,
            Err(panic) => {
                this.span.in_scope(|| {
                    tracing::error!(
                        panic = panic_message(&*panic),
                        "the broker panicked; answering 500"
                    );
                });
                response::error(
                    &BrokerError::new(ErrorKind::Internal),
                    response::ErrorFlags::NONE,
                )
            }
        };
        Poll::Ready(Ok(this.finish(response)))
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("<non-string panic payload>")
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}
