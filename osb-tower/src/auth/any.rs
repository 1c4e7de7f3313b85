//! [`Any`]: "this authenticator or that one".

use std::future::Future;
use std::pin::Pin;

use http::request::Parts;

use super::{Authenticate, Rejection};

/// Accepts a request that either of two authenticators accepts, e.g. Basic *or* an IAM bearer
/// token. Build it with [`Any::new`] or [`AuthenticateExt::or`](super::AuthenticateExt::or).
///
/// `first` runs; only when it answers [`Rejection::missing_credentials`] (the request carried no
/// credentials of its scheme) does `second` run. When both say missing, the answer is a 401 that
/// carries both challenges and both reasons. Any other rejection is final: a wrong Basic password
/// is never retried as something else.
///
/// # Example
///
/// ```
/// use http::Request;
/// use osb_tower::auth::{Authenticate, AuthenticateExt, Basic};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let either = Basic::new("old", "one").or(Basic::new("new", "two").realm("rotation"));
///
/// // `Basic dXNlcjpwYXNz` is `user:pass`: a Basic header, wrong for both, and final after the first.
/// let (mut parts, ()) = Request::builder()
///     .header("authorization", "Basic dXNlcjpwYXNz")
///     .body(())?
///     .into_parts();
/// let rejection = either.authenticate(&mut parts).await.unwrap_err();
/// assert_eq!(rejection.challenges().len(), 1);
///
/// // No credentials at all: both challenges are offered.
/// let (mut parts, ()) = Request::new(()).into_parts();
/// let rejection = either.authenticate(&mut parts).await.unwrap_err();
/// assert_eq!(rejection.challenges().len(), 2);
/// # Ok::<(), http::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Any<A, B> {
    first: A,
    second: B,
}

impl<A, B> Any<A, B> {
    /// Tries `first`, then `second` when `first` found no credentials of its scheme.
    pub const fn new(first: A, second: B) -> Self {
        Self { first, second }
    }

    /// The first authenticator.
    pub fn first(&self) -> &A {
        &self.first
    }

    /// The second authenticator.
    pub fn second(&self) -> &B {
        &self.second
    }
}

impl<A: Authenticate, B: Authenticate> Authenticate for Any<A, B> {
    fn authenticate<'a>(
        &'a self,
        parts: &'a mut Parts,
    ) -> Pin<Box<dyn Future<Output = Result<(), Rejection>> + Send + 'a>> {
        Box::pin(async move {
            match self.first.authenticate(parts).await {
                Err(first) if first.is_missing_credentials() => {
                    match self.second.authenticate(parts).await {
                        Err(second) if second.is_missing_credentials() => {
                            Err(first.merge_missing(second))
                        }
                        other => other,
                    }
                }
                other => other,
            }
        })
    }
}
