//! [`Verifier`] in osb-tower's auth slot, so a broker can accept "Basic or IAM bearer".

use std::future::Future;
use std::pin::Pin;

use http::request::Parts;
use osb_tower::auth::{Authenticate, Rejection};

use super::{bearer_token, token_str};
use crate::{TokenRejection, Verifier};

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
                Ok(token) => self.verify(token_str(&token)).await,
                Err(rejection) => Err(rejection),
            };
            match result {
                Ok(claims) => {
                    parts.extensions.insert(claims);
                    Ok(())
                }
                Err(rejection) => Err(into_rejection(rejection)),
            }
        })
    }
}

fn into_rejection(reason: TokenRejection) -> Rejection {
    let rejection = match &reason {
        TokenRejection::MissingToken => Rejection::missing_credentials(reason.description()),
        TokenRejection::PolicyDenied { .. } => Rejection::forbidden(reason.description()),
        _ => Rejection::unauthorized(reason.description()),
    };
    rejection
        .with_challenge(reason.challenge())
        .with_reason(reason)
}
