//! Why a bearer token was refused, and how that is answered over HTTP.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use osb_tower::auth::Rejection;

use crate::PolicyViolation;

/// Why a request's IAM bearer token was refused.
///
/// Every variant but [`PolicyDenied`](Self::PolicyDenied) answers **401** with
/// `WWW-Authenticate: Bearer error="invalid_token"` ([`MissingToken`](Self::MissingToken): a bare
/// `Bearer` challenge, RFC 6750 §3.1); `PolicyDenied` answers **403** (the token is genuine but
/// its holder may not call this broker; RFC 6750's `insufficient_scope`). The body is the OSB
/// error JSON; descriptions never echo the token. The rejection itself goes into the response's
/// extensions, so outer layers and tests can tell "expired" from "bad signature".
///
/// # Example
///
/// ```
/// use osb_iam::TokenRejection;
///
/// let response = TokenRejection::Expired.into_response::<bytes::Bytes>();
/// assert_eq!(response.status(), 401);
/// assert_eq!(response.headers()["www-authenticate"], r#"Bearer error="invalid_token""#);
/// assert_eq!(response.extensions().get::<TokenRejection>(), Some(&TokenRejection::Expired));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenRejection {
    /// No `Authorization: Bearer …` header.
    #[error("no bearer token")]
    MissingToken,
    /// The token is longer than the configured limit; refused before parsing.
    #[error("the token exceeds {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The token is not a well-formed JWS compact serialisation with JSON header and claims.
    #[error("malformed token: {reason}")]
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// The header's `alg` is not `RS256` (e.g. `none`, or `HS256` with the public key as secret).
    #[error("the token's algorithm `{alg}` is not allowed")]
    DisallowedAlgorithm {
        /// The `alg` the token named.
        alg: String,
    },
    /// The header names no `kid`.
    #[error("the token names no key id")]
    MissingKeyId,
    /// No IAM key has the token's `kid`, even after a refresh (or the refresh was rate-limited).
    #[error("unknown key id `{kid}`")]
    UnknownKey {
        /// The `kid` the token named.
        kid: String,
    },
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// `iss` is missing or not the configured issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// A claim the verifier needs (`exp`, `iam_id`) is missing or mistyped.
    #[error("missing claim `{claim}`")]
    MissingClaim {
        /// The claim's name.
        claim: &'static str,
    },
    /// `exp` has passed (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` or `iat` lies in the future (beyond the leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// The token is genuine, but the [`Policy`](crate::Policy) refuses its holder: 403.
    #[error("the caller is not allowed: {violation}")]
    PolicyDenied {
        /// The rule broken.
        violation: PolicyViolation,
    },
}

impl TokenRejection {
    /// 403 for [`PolicyDenied`](Self::PolicyDenied), 401 otherwise.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::PolicyDenied { .. } => StatusCode::FORBIDDEN,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The human `description` of the OSB error body: says what is wrong, echoes nothing the
    /// caller sent.
    pub fn description(&self) -> &'static str {
        match self {
            Self::MissingToken => "This broker requires an IBM Cloud IAM bearer token.",
            Self::TooLarge { .. } => "The bearer token is too large.",
            Self::Malformed { .. } => "The bearer token is malformed.",
            Self::DisallowedAlgorithm { .. } => "The bearer token must be signed with RS256.",
            Self::MissingKeyId | Self::UnknownKey { .. } => {
                "The bearer token is not signed by a known IAM key."
            }
            Self::BadSignature => "The bearer token's signature is invalid.",
            Self::WrongIssuer => "The bearer token was not issued by the expected IAM.",
            Self::MissingClaim { .. } => "The bearer token lacks a required claim.",
            Self::Expired => "The bearer token has expired.",
            Self::NotYetValid => "The bearer token is not valid yet.",
            Self::PolicyDenied { .. } => "The caller is not allowed to use this broker.",
        }
    }

    /// The `WWW-Authenticate` challenge (RFC 6750 §3).
    pub fn challenge(&self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::MissingToken => "Bearer",
            Self::PolicyDenied { .. } => r#"Bearer error="insufficient_scope""#,
            _ => r#"Bearer error="invalid_token""#,
        })
    }

    /// The answer through osb-tower's auth slot: [`MissingToken`](Self::MissingToken) is
    /// "missing credentials" (so `Basic::new(..).or(verifier)` tries the next authenticator),
    /// [`PolicyDenied`](Self::PolicyDenied) is 403, every other rejection 401; with the
    /// challenge, and `self` as the reason.
    pub(crate) fn into_rejection(self) -> Rejection {
        let rejection = match &self {
            Self::MissingToken => Rejection::missing_credentials(self.description()),
            Self::PolicyDenied { .. } => Rejection::forbidden(self.description()),
            _ => Rejection::unauthorized(self.description()),
        };
        rejection.with_challenge(self.challenge()).with_reason(self)
    }

    /// The HTTP answer: status, OSB JSON error body, `WWW-Authenticate`, and `self` in the
    /// extensions.
    pub fn into_response<B: From<Bytes>>(self) -> Response<B> {
        self.into_rejection().into_response()
    }
}
