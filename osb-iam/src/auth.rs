//! IAM bearer tokens in front of a service: [`Verifier`] in osb-tower's auth slot.
//!
//! The middleware is osb-tower's [`RequireAuth`] with a [`Verifier`] as its authenticator;
//! [`IamAuthLayer`] and [`IamAuth`] name that pairing.

use std::future::Future;
use std::pin::Pin;

use http::request::Parts;
use http::{HeaderMap, HeaderValue, header};
use osb_tower::auth::{Authenticate, Rejection, RequireAuth, RequireAuthLayer};

use crate::{TokenRejection, Verifier};

/// Wraps services in [`IamAuth`]: only requests with a valid IAM bearer token get through.
///
/// osb-tower's [`RequireAuthLayer`] with a [`Verifier`]: build it with
/// [`IamAuthLayer::new`](RequireAuthLayer::new); the verifier is
/// [`authenticator`](RequireAuthLayer::authenticator). For "Basic or IAM bearer", put the
/// verifier in the slot beside `Basic` instead (see [`Verifier`]'s `Authenticate`
/// implementation).
///
/// # Example
///
/// ```
/// use osb_iam::{IamAuthLayer, Verifier};
///
/// // IBM Cloud's recommended broker authentication ("Bearer CRN", osb-core rules.md §17.4): the resource
/// // controller's tokens for this broker, verified against production IAM's keys.
/// let layer = IamAuthLayer::new(Verifier::bearer_crn(
///     "crn:v1:bluemix:public:resource-controller::a/0123::resource-broker:4f4e…",
/// ));
/// assert!(layer.authenticator().policy().allows_iam_id(
///     "crn-crn:v1:bluemix:public:resource-controller::a/0123::resource-broker:4f4e…"
/// ));
/// ```
pub type IamAuthLayer = RequireAuthLayer<Verifier>;

/// Middleware that lets a request through only with a valid IAM bearer token: osb-tower's
/// [`RequireAuth`] with a [`Verifier`].
///
/// Reads `Authorization: Bearer <token>` and verifies it with its [`Verifier`]. On success the
/// [`IamClaims`](crate::IamClaims) go into the request's extensions and the inner service is
/// called; on failure it answers the [`TokenRejection`]'s response: 401 with the OSB error body
/// and `WWW-Authenticate: Bearer error="invalid_token"`, or 403 for a policy refusal, the token
/// never echoed, the rejection in the response's extensions.
///
/// Build it with [`IamAuthLayer`], or [`IamAuth::new`](RequireAuth::new)`(inner, verifier)`.
pub type IamAuth<S> = RequireAuth<S, Verifier>;

/// Verifies the request's bearer token; puts the [`IamClaims`](crate::IamClaims) into the
/// request's extensions.
///
/// No `Authorization` header, or another scheme, is [`Rejection::missing_credentials`] (so
/// `Basic::new(..).or(verifier)` tries the next authenticator); every other failure is final:
/// 401, or 403 for a policy refusal, with the [`TokenRejection`] as the rejection's reason.
///
/// # Example
///
/// ```
/// use osb_iam::{Policy, Verifier};
/// use osb_iam::keys::{KeyCache, KeySet};
/// use osb_tower::auth::{AuthenticateExt, Basic, RequireAuthLayer};
///
/// let iam = Verifier::builder(KeyCache::fixed(KeySet::new()), Policy::iam_ids(["iam-ServiceId-1"]))
///     .build();
/// // "Basic or IAM bearer": a platform may send either.
/// let layer = RequireAuthLayer::new(Basic::new("platform", "s3cret").or(iam));
/// # let _ = layer;
/// ```
impl Authenticate for Verifier {
    fn authenticate<'a>(
        &'a self,
        parts: &'a mut Parts,
    ) -> Pin<Box<dyn Future<Output = Result<(), Rejection>> + Send + 'a>> {
        Box::pin(async move {
            let result = match bearer_token(&parts.headers) {
                Ok(token) => self.verify(token).await,
                Err(rejection) => Err(rejection),
            };
            match result {
                Ok(claims) => {
                    parts.extensions.insert(claims);
                    Ok(())
                }
                Err(rejection) => Err(rejection.into_rejection()),
            }
        })
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive, RFC 7235 §2.1).
fn bearer_token(headers: &HeaderMap) -> Result<&str, TokenRejection> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(TokenRejection::MissingToken);
    };
    if !is_bearer(value) {
        return Err(TokenRejection::MissingToken);
    }
    let Ok(value) = value.to_str() else {
        return Err(TokenRejection::Malformed {
            reason: "the header is not visible ASCII",
        });
    };
    // OK to default: `is_bearer` checked the 7-byte ASCII prefix.
    Ok(value.get(7..).unwrap_or_default().trim_matches(' '))
}

/// Whether an `Authorization` value uses the Bearer scheme.
fn is_bearer(value: &HeaderValue) -> bool {
    value
        .as_bytes()
        .get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case(b"bearer "))
}
