//! [`RequireAuthLayer`] and [`RequireAuth`]: run an [`Authenticate`] before the inner service.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tower::{Layer, Service};

use super::Authenticate;
use crate::identity;

/// Wraps a service in [`RequireAuth`]: every request is authenticated first, and a rejected one
/// is answered with [`Rejection::into_response`](super::Rejection::into_response) without reaching
/// the inner service.
///
/// Put it outside the OSB service so 401 comes before every other check (osb-core rules.md §2.5, §4).
/// Cheap to clone: the authenticator sits behind an `Arc`.
///
/// # Example
///
/// ```
/// use http::{Request, Response, StatusCode};
/// use osb_tower::auth::{Basic, RequireAuthLayer};
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let inner = service_fn(|_: Request<()>| async {
///     Ok::<_, std::convert::Infallible>(Response::new(bytes::Bytes::from_static(b"{}")))
/// });
/// let service = RequireAuthLayer::new(Basic::new("platform", "s3cret")).layer(inner);
/// let response = service.oneshot(Request::new(())).await?;
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
/// # Ok::<(), std::convert::Infallible>(())
/// # }).unwrap();
/// ```
pub struct RequireAuthLayer<A> {
    authenticator: Arc<A>,
}

impl<A> RequireAuthLayer<A> {
    /// Authenticates every request with `authenticator`.
    pub fn new(authenticator: A) -> Self {
        Self::from_arc(Arc::new(authenticator))
    }

    /// Shares an authenticator that is already behind an `Arc` (e.g. one whose keys another task
    /// refreshes).
    pub const fn from_arc(authenticator: Arc<A>) -> Self {
        Self { authenticator }
    }

    /// The authenticator.
    pub fn authenticator(&self) -> &A {
        &self.authenticator
    }
}

impl<A> Clone for RequireAuthLayer<A> {
    fn clone(&self) -> Self {
        Self {
            authenticator: Arc::clone(&self.authenticator),
        }
    }
}

impl<A: fmt::Debug> fmt::Debug for RequireAuthLayer<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireAuthLayer")
            .field("authenticator", &self.authenticator)
            .finish()
    }
}

impl<S, A> Layer<S> for RequireAuthLayer<A> {
    type Service = RequireAuth<S, A>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireAuth {
            inner,
            authenticator: Arc::clone(&self.authenticator),
        }
    }
}

/// The service [`RequireAuthLayer`] builds: authenticates each request, then calls `inner`.
///
/// On success, whatever the authenticator inserted into the request's extensions stays there for
/// the inner service. On failure the answer is the rejection's response (401/403, OSB JSON body,
/// `WWW-Authenticate`, the typed reason in the response's extensions) and `inner` is not called.
///
/// # Example
///
/// ```
/// use http::{Request, Response, StatusCode};
/// use osb_tower::auth::{Basic, RequireAuth};
/// use tower::{ServiceExt, service_fn};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let inner = service_fn(|_: Request<()>| async {
///     Ok::<_, std::convert::Infallible>(Response::new(bytes::Bytes::from_static(b"{}")))
/// });
/// let service = RequireAuth::new(inner, Basic::new("platform", "s3cret"));
/// let request = Request::builder()
///     .header("authorization", "Basic cGxhdGZvcm06czNjcmV0") // platform:s3cret
///     .body(())
///     .expect("a valid request");
/// assert_eq!(service.oneshot(request).await?.status(), StatusCode::OK);
/// # Ok::<(), std::convert::Infallible>(())
/// # }).unwrap();
/// ```
pub struct RequireAuth<S, A> {
    inner: S,
    authenticator: Arc<A>,
}

impl<S, A> RequireAuth<S, A> {
    /// Authenticates every request to `inner` with `authenticator`.
    pub fn new(inner: S, authenticator: A) -> Self {
        Self {
            inner,
            authenticator: Arc::new(authenticator),
        }
    }

    /// A [`RequireAuthLayer`] with `authenticator`; same as [`RequireAuthLayer::new`].
    pub fn layer(authenticator: A) -> RequireAuthLayer<A> {
        RequireAuthLayer::new(authenticator)
    }

    /// The authenticator.
    pub fn authenticator(&self) -> &A {
        &self.authenticator
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, A> Clone for RequireAuth<S, A> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            authenticator: Arc::clone(&self.authenticator),
        }
    }
}

impl<S: fmt::Debug, A: fmt::Debug> fmt::Debug for RequireAuth<S, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireAuth")
            .field("inner", &self.inner)
            .field("authenticator", &self.authenticator)
            .finish()
    }
}

impl<S, A, ReqB, ResB> Service<Request<ReqB>> for RequireAuth<S, A>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    A: Authenticate,
    ReqB: Send + 'static,
    ResB: From<Bytes> + Send + 'static,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<ResB, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        // `self.inner` is the instance `poll_ready` readied; take it and leave a fresh clone:
        // https://docs.rs/tower/latest/tower/trait.Service.html#be-careful-when-cloning-inner-services
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let authenticator = Arc::clone(&self.authenticator);
        ResponseFuture {
            inner: Box::pin(async move {
                let (mut parts, body) = request.into_parts();
                match authenticator.authenticate(&mut parts).await {
                    Ok(()) => inner.call(Request::from_parts(parts, body)).await,
                    Err(rejection) => {
                        // The description never holds credentials (see `Rejection`).
                        tracing::debug!(
                            status = rejection.status().as_u16(),
                            reason = rejection.description(),
                            "request rejected by authentication"
                        );
                        let mut response = rejection.into_response();
                        // rules.md §2.3: every answer echoes the request identity, refusals too.
                        identity::echo(&parts.headers, &mut response);
                        Ok(response)
                    }
                }
            }),
        }
    }
}

/// The response future of [`RequireAuth`].
pub struct ResponseFuture<B, E> {
    inner: Pin<Box<dyn Future<Output = Result<Response<B>, E>> + Send>>,
}

impl<B, E> Future for ResponseFuture<B, E> {
    type Output = Result<Response<B>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<B, E> fmt::Debug for ResponseFuture<B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
