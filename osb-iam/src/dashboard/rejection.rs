//! Why a dashboard request was not let through, and the HTML page that says so.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::TokenRejection;

/// Why the dashboard guard or its callback did not let a browser in.
///
/// Each variant answers a small HTML page (the dashboard is opened in a browser) that says what
/// happened without internals: 404 when the request names no instance, 405 for a callback that
/// is not `GET`, **403** for every refusal (bad `state`, IAM's sign-in error, a refused code, a
/// token that does not verify, IAM's access check saying no), **502** when IAM cannot be reached
/// or answers nonsense, 500 when no random nonce could be drawn. The rejection itself goes into
/// the response's extensions, so outer layers and tests can tell the cases apart.
///
/// # Example
///
/// ```
/// use osb_iam::dashboard::Rejection;
///
/// let response = Rejection::AccessDenied.into_response::<Vec<u8>>();
/// assert_eq!(response.status(), 403);
/// assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
/// assert_eq!(response.extensions().get::<Rejection>(), Some(&Rejection::AccessDenied));
/// assert_eq!(Rejection::IamUnavailable.status(), 502);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The request names no service instance (the [`ExtractInstance`](super::ExtractInstance)
    /// found none): 404.
    #[error("the request names no service instance")]
    NoInstance,
    /// The callback was called with a method other than `GET`: 405.
    #[error("the sign-in callback takes only GET")]
    MethodNotAllowed,
    /// The callback's `state` is missing, does not match the nonce bound to this browser, or
    /// its sign-in has expired (a forged or replayed callback, or another browser's): 403.
    #[error("the sign-in state is missing, expired or does not match")]
    InvalidState,
    /// IAM sent the browser back with an `error` instead of a `code`, or with neither: 403.
    #[error("IAM did not sign the user in")]
    SignInFailed,
    /// IAM's token endpoint refused the authorization code (already used, expired, or not
    /// issued to this client): 403.
    #[error("IAM refused the authorization code")]
    CodeRefused,
    /// The access token IAM returned did not pass the [`Verifier`](crate::Verifier): 403.
    #[error("IAM's access token was refused: {0}")]
    TokenRejected(TokenRejection),
    /// IAM's access check (`/v2/authz`) says the user may not view this instance: 403.
    #[error("IAM does not permit the user to view this instance")]
    AccessDenied,
    /// IAM (discovery, token or authorization endpoint) could not be reached, answered with a
    /// server error, or answered something unusable: 502.
    #[error("IAM is unavailable")]
    IamUnavailable,
    /// No randomness for a sign-in nonce: 500.
    #[error("no randomness available for the sign-in state")]
    Internal,
}

impl Rejection {
    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NoInstance => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::InvalidState
            | Self::SignInFailed
            | Self::CodeRefused
            | Self::TokenRejected(_)
            | Self::AccessDenied => StatusCode::FORBIDDEN,
            Self::IamUnavailable => StatusCode::BAD_GATEWAY,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The page's title and the sentence it shows the user.
    fn text(&self) -> (&'static str, &'static str) {
        match self {
            Self::NoInstance => (
                "Not found",
                "There is no service dashboard at this address.",
            ),
            Self::MethodNotAllowed => (
                "Method not allowed",
                "The sign-in callback can only be opened by the browser.",
            ),
            Self::InvalidState => (
                "Sign-in expired",
                "This sign-in was not started in this browser or has expired. Open the \
                 dashboard again from the IBM Cloud console.",
            ),
            Self::SignInFailed => (
                "Not signed in",
                "IBM Cloud did not sign you in. Open the dashboard again from the IBM Cloud \
                 console to retry.",
            ),
            Self::CodeRefused => (
                "Sign-in failed",
                "The sign-in could not be completed: its one-time code was already used or has \
                 expired. Open the dashboard again from the IBM Cloud console.",
            ),
            Self::TokenRejected(_) => (
                "Sign-in failed",
                "IBM Cloud's answer to the sign-in could not be verified. Open the dashboard \
                 again from the IBM Cloud console.",
            ),
            Self::AccessDenied => (
                "Access denied",
                "Your IBM Cloud user may not view this service instance's dashboard. Ask an \
                 administrator of the account for access.",
            ),
            Self::IamUnavailable => (
                "IBM Cloud sign-in unavailable",
                "Signing in failed because IBM Cloud IAM could not be reached or answered \
                 unexpectedly. Please try again in a few minutes.",
            ),
            Self::Internal => (
                "Sign-in unavailable",
                "Signing in failed on our side. Please try again.",
            ),
        }
    }

    /// The HTTP answer: status, a small HTML page, `Cache-Control: no-store`, a strict
    /// `Content-Security-Policy`, and `self` in the extensions.
    pub fn into_response<B: From<Bytes>>(self) -> Response<B> {
        let (title, sentence) = self.text();
        let status = self.status();
        let page = format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>{title}</title></head>\n<body><h1>{title}</h1>\n<p>{sentence}</p>\n\
             <p><small>HTTP {}</small></p></body></html>\n",
            status.as_u16()
        );
        let mut response = Response::new(B::from(Bytes::from(page)));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'"),
        );
        if status == StatusCode::METHOD_NOT_ALLOWED {
            headers.insert(header::ALLOW, HeaderValue::from_static("GET"));
        }
        response.extensions_mut().insert(self);
        response
    }
}
