//! Authentication in front of the OSB service: a pluggable [`Authenticate`] policy, HTTP
//! [`Basic`], the [`Any`] combinator, and the [`RequireAuthLayer`] that runs it before every
//! other check.
//!
//! The spec asks platforms to authenticate every request (spec.md "Platform to Service Broker
//! Authentication") and the order of checks (osb-core rules.md §4) puts authentication first, so a
//! request without credentials gets 401 before it can learn anything from a 412, 400 or 404.
//! [`RequireAuthLayer`] therefore wraps the whole OSB service: a rejected request never reaches it.
//!
//! The slot takes any [`Authenticate`]: [`Basic`], osb-iam's bearer-token verifier, your own, or
//! "either one" with [`AuthenticateExt::or`]. A successful authenticator may insert values (e.g.
//! verified token claims) into the request's extensions; the OSB service copies them into
//! `RequestContext::extensions` for the broker.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use osb_tower::auth::{Basic, RequireAuthLayer};
//! use tower::{Layer, ServiceExt, service_fn};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let inner = service_fn(|_: Request<()>| async {
//!     Ok::<_, std::convert::Infallible>(Response::new(Bytes::from_static(b"{}")))
//! });
//! let service = RequireAuthLayer::new(Basic::new("platform", "s3cret")).layer(inner);
//!
//! // No credentials: 401 with the OSB error body and a Basic challenge.
//! let response = service.clone().oneshot(Request::new(())).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert!(response.headers().contains_key("www-authenticate"));
//!
//! // `cGxhdGZvcm06czNjcmV0` is base64 of `platform:s3cret`.
//! let request = Request::builder()
//!     .header("authorization", "Basic cGxhdGZvcm06czNjcmV0")
//!     .body(())
//!     .expect("a valid request");
//! let response = service.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! # Ok::<(), std::convert::Infallible>(())
//! # }).unwrap();
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::request::Parts;

mod any;
mod basic;
mod rejection;
mod require;

pub use any::Any;
pub use basic::{Basic, BasicFailure};
pub use rejection::Rejection;
pub use require::{RequireAuth, RequireAuthLayer, ResponseFuture};

/// Pluggable request authentication: one object-safe method over the request head, like
/// tower-http's `AsyncAuthorizeRequest`.
///
/// On success an implementation may insert values (e.g. verified claims) into
/// `parts.extensions`; the OSB service copies them into `RequestContext::extensions`. On failure
/// it answers a [`Rejection`]; use [`Rejection::missing_credentials`] when the request carries no
/// credentials of your scheme, so [`Any`] can try the next authenticator.
///
/// # Example
///
/// A toy bearer-token check (a real one verifies a signature, see osb-iam):
///
/// ```
/// use std::future::Future;
/// use std::pin::Pin;
///
/// use http::request::Parts;
/// use http::{HeaderValue, Request};
/// use osb_tower::auth::{Authenticate, Rejection};
///
/// #[derive(Debug, Clone)]
/// struct Caller(String);
///
/// struct StaticToken(&'static str);
///
/// impl Authenticate for StaticToken {
///     fn authenticate<'a>(
///         &'a self,
///         parts: &'a mut Parts,
///     ) -> Pin<Box<dyn Future<Output = Result<(), Rejection>> + Send + 'a>> {
///         Box::pin(async move {
///             let challenge = HeaderValue::from_static("Bearer");
///             let Some(token) = parts
///                 .headers
///                 .get("authorization")
///                 .and_then(|v| v.to_str().ok())
///                 .and_then(|v| v.strip_prefix("Bearer "))
///             else {
///                 return Err(Rejection::missing_credentials("missing bearer token")
///                     .with_challenge(challenge));
///             };
///             if token != self.0 {
///                 return Err(Rejection::unauthorized("invalid token").with_challenge(challenge));
///             }
///             parts.extensions.insert(Caller("platform".to_owned()));
///             Ok(())
///         })
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let auth = StaticToken("t0ken");
/// let (mut parts, ()) = Request::builder()
///     .header("authorization", "Bearer t0ken")
///     .body(())?
///     .into_parts();
/// assert!(auth.authenticate(&mut parts).await.is_ok());
/// assert!(parts.extensions.get::<Caller>().is_some());
///
/// let (mut parts, ()) = Request::builder()
///     .header("authorization", "Bearer wrong")
///     .body(())?
///     .into_parts();
/// let rejection = auth.authenticate(&mut parts).await.unwrap_err();
/// assert!(!rejection.is_missing_credentials());
/// # Ok::<(), http::Error>(())
/// # }).unwrap();
/// ```
pub trait Authenticate: Send + Sync + 'static {
    /// Checks the request head; on success it may insert values into `parts.extensions`.
    ///
    /// # Errors
    ///
    /// A [`Rejection`] when the request is not authenticated (401) or not allowed (403).
    fn authenticate<'a>(
        &'a self,
        parts: &'a mut Parts,
    ) -> Pin<Box<dyn Future<Output = Result<(), Rejection>> + Send + 'a>>;
}

impl<A: Authenticate + ?Sized> Authenticate for Arc<A> {
    fn authenticate<'a>(
        &'a self,
        parts: &'a mut Parts,
    ) -> Pin<Box<dyn Future<Output = Result<(), Rejection>> + Send + 'a>> {
        (**self).authenticate(parts)
    }
}

impl<A: Authenticate + ?Sized> Authenticate for Box<A> {
    fn authenticate<'a>(
        &'a self,
        parts: &'a mut Parts,
    ) -> Pin<Box<dyn Future<Output = Result<(), Rejection>> + Send + 'a>> {
        (**self).authenticate(parts)
    }
}

/// Combinators for every [`Authenticate`].
pub trait AuthenticateExt: Authenticate + Sized {
    /// Accepts what `self` accepts, or, when the request carries no credentials of `self`'s
    /// scheme, what `other` accepts. See [`Any`].
    ///
    /// # Example
    ///
    /// ```
    /// use osb_tower::auth::{AuthenticateExt, Basic, RequireAuthLayer};
    ///
    /// let layer = RequireAuthLayer::new(Basic::new("a", "1").or(Basic::new("b", "2")));
    /// # let _ = layer;
    /// ```
    fn or<B: Authenticate>(self, other: B) -> Any<Self, B> {
        Any::new(self, other)
    }
}

impl<A: Authenticate> AuthenticateExt for A {}
