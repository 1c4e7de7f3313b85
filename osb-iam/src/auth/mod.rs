//! Bearer-token authentication in front of a service: the [`IamAuth`] middleware and its
//! [`IamAuthLayer`], plus the `osb_tower::auth::Authenticate` implementation of [`Verifier`].

mod authenticate;
mod layer;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, header};
use tower::Service;

use crate::{TokenRejection, Verifier};

pub use layer::IamAuthLayer;

/// The future of [`IamAuth`].
pub type ResponseFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

/// Middleware that lets a request through only with a valid IAM bearer token.
///
/// Reads `Authorization: Bearer <token>` and verifies it with its [`Verifier`]. On success the
/// [`IamClaims`](crate::IamClaims) go into the request's extensions and the inner service is
/// called; on failure it answers the [`TokenRejection`]'s response: 401 with the OSB error body
/// and `WWW-Authenticate: Bearer error="invalid_token"`, or 403 for a policy refusal, the token
/// never echoed, the rejection in the response's extensions.
///
/// Build it with [`IamAuthLayer`].
#[derive(Debug, Clone)]
pub struct IamAuth<S> {
    inner: S,
    verifier: Verifier,
}

impl<S> IamAuth<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, verifier: Verifier) -> Self {
        Self { inner, verifier }
    }

    /// A layer that wraps services with `verifier`.
    pub fn layer(verifier: Verifier) -> IamAuthLayer {
        IamAuthLayer::new(verifier)
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, consuming the middleware.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for IamAuth<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    ReqBody: Send + 'static,
    ResBody: From<Bytes> + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // The clone may not be ready: keep the ready service for this call and leave the clone
        // in `self` (https://docs.rs/tower/latest/tower/trait.Service.html#be-careful-when-cloning-inner-services).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        let token = bearer_token(request.headers());
        Box::pin(async move {
            let result = match token {
                Ok(token) => verifier.verify(token_str(&token)).await,
                Err(rejection) => Err(rejection),
            };
            match result {
                Ok(claims) => {
                    request.extensions_mut().insert(claims);
                    inner.call(request).await
                }
                Err(rejection) => Ok(rejection.into_response()),
            }
        })
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive, RFC 7235 §2.1).
///
/// Returns the whole header value (cheap to clone) so the future owns it; see [`token_str`].
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<HeaderValue, TokenRejection> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(TokenRejection::MissingToken);
    };
    if !is_bearer(value) {
        return Err(TokenRejection::MissingToken);
    }
    if value.to_str().is_err() {
        return Err(TokenRejection::Malformed {
            reason: "the header is not visible ASCII",
        });
    }
    Ok(value.clone())
}

/// Whether an `Authorization` value uses the Bearer scheme.
pub(crate) fn is_bearer(value: &HeaderValue) -> bool {
    value
        .as_bytes()
        .get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case(b"bearer "))
}

/// The token part of a value [`bearer_token`] accepted.
pub(crate) fn token_str(value: &HeaderValue) -> &str {
    // OK to default: `bearer_token` checked both the prefix and that the value is ASCII.
    value
        .to_str()
        .unwrap_or_default()
        .get(7..)
        .unwrap_or_default()
        .trim_matches(' ')
}
