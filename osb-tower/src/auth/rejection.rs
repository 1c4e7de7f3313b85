//! [`Rejection`]: the answer to a request that failed authentication.

use std::fmt;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{Extensions, HeaderValue, Response, StatusCode};
use osb_core::ErrorBody;

/// Why a request was refused before it reached the broker.
///
/// A rejection owns its HTTP mapping, like axum's rejections: a status (401, or 403 for a policy
/// refusal), the OSB JSON error body `{"error": "Unauthorized" | "Forbidden", "description": ...}`,
/// any number of `WWW-Authenticate` challenges ([RFC 9110 §11.6.1]) and a typed reason that
/// [`into_response`](Self::into_response) puts into the response's extensions, so tests and outer
/// layers can tell "expired token" from "bad signature" without parsing text.
///
/// The description is sent to the client: never put the presented credentials, a token or any
/// other secret into it.
///
/// [RFC 9110 §11.6.1]: https://www.rfc-editor.org/rfc/rfc9110#section-11.6.1
///
/// # Example
///
/// ```
/// use http::{HeaderValue, StatusCode};
/// use osb_tower::auth::Rejection;
///
/// #[derive(Debug, Clone, PartialEq)]
/// enum TokenProblem {
///     Expired,
/// }
///
/// let rejection = Rejection::unauthorized("the token has expired")
///     .with_challenge(HeaderValue::from_static(r#"Bearer error="invalid_token""#))
///     .with_reason(TokenProblem::Expired);
/// assert_eq!(rejection.status(), StatusCode::UNAUTHORIZED);
///
/// let response = rejection.into_response::<bytes::Bytes>();
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
/// assert_eq!(response.headers()["content-type"], "application/json");
/// assert_eq!(response.extensions().get(), Some(&TokenProblem::Expired));
/// assert_eq!(
///     response.body().as_ref(),
///     br#"{"error":"Unauthorized","description":"the token has expired"}"#
/// );
/// ```
#[must_use = "a rejection does nothing until it is returned or turned into a response"]
pub struct Rejection {
    status: StatusCode,
    description: String,
    missing_credentials: bool,
    challenges: Vec<HeaderValue>,
    reasons: Extensions,
}

impl Rejection {
    fn new(status: StatusCode, description: String, missing_credentials: bool) -> Self {
        Self {
            status,
            description,
            missing_credentials,
            challenges: Vec::new(),
            reasons: Extensions::new(),
        }
    }

    /// A 401 `Unauthorized`: the credentials were present but wrong, malformed or expired.
    pub fn unauthorized(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, description.into(), false)
    }

    /// A 403 `Forbidden`: the caller is known but not allowed to do this.
    pub fn forbidden(description: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, description.into(), false)
    }

    /// A 401 `Unauthorized` because the request carried no credentials of this authenticator's
    /// scheme (no `Authorization` header, or one with another scheme).
    ///
    /// Combinators such as [`Any`](super::Any) try the next authenticator only after this
    /// rejection; every other rejection is final.
    pub fn missing_credentials(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, description.into(), true)
    }

    /// Whether this rejection means "no credentials of my scheme" rather than "bad credentials".
    pub fn is_missing_credentials(&self) -> bool {
        self.missing_credentials
    }

    /// Adds a `WWW-Authenticate` challenge; each call adds one more header line.
    pub fn with_challenge(mut self, www_authenticate: HeaderValue) -> Self {
        self.challenges.push(www_authenticate);
        self
    }

    /// Attaches a typed reason, found in the response's extensions after
    /// [`into_response`](Self::into_response). A second reason of the same type replaces the first.
    pub fn with_reason<T: Clone + Send + Sync + 'static>(mut self, reason: T) -> Self {
        self.reasons.insert(reason);
        self
    }

    /// The status the response will carry: 401, or 403 for [`forbidden`](Self::forbidden).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The description sent to the client.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The `WWW-Authenticate` challenges, in the order they were added.
    pub fn challenges(&self) -> &[HeaderValue] {
        &self.challenges
    }

    /// Merges another missing-credentials rejection into this one: its challenges follow ours and
    /// its reasons join ours (ours win where both hold the same type).
    pub(crate) fn merge_missing(mut self, other: Self) -> Self {
        self.challenges.extend(other.challenges);
        let mut reasons = other.reasons;
        reasons.extend(self.reasons);
        self.reasons = reasons;
        self
    }

    /// The OSB error code for the status (spec.md "Service Broker Errors": a single CamelCase word).
    fn error_code(&self) -> &'static str {
        match self.status {
            StatusCode::FORBIDDEN => "Forbidden",
            _ => "Unauthorized",
        }
    }

    /// Builds the response: status, `Content-Type: application/json`, the challenges, the OSB
    /// error body and the reasons in the extensions.
    pub fn into_response<B: From<Bytes>>(self) -> Response<B> {
        let mut body = ErrorBody::with_description(self.description.as_str());
        body.error = Some(self.error_code().to_owned());
        // A struct of two strings always serialises; the fallback keeps the body a JSON object.
        let bytes =
            serde_json::to_vec(&body).map_or_else(|_| Bytes::from_static(b"{}"), Bytes::from);
        let mut response = Response::new(B::from(bytes));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for challenge in self.challenges {
            headers.append(WWW_AUTHENTICATE, challenge);
        }
        *response.extensions_mut() = self.reasons;
        response
    }
}

impl fmt::Debug for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejection")
            .field("status", &self.status)
            .field("description", &self.description)
            .field("missing_credentials", &self.missing_credentials)
            .field("challenges", &self.challenges)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status.as_u16(), self.description)
    }
}

impl std::error::Error for Rejection {}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    fn body_json(response: Response<Bytes>) -> serde_json::Value {
        serde_json::from_slice(response.body()).unwrap()
    }

    #[test]
    fn unauthorized_is_401_with_osb_error_body() {
        let response = Rejection::unauthorized("bad credentials").into_response::<Bytes>();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(
            body_json(response),
            serde_json::json!({"error": "Unauthorized", "description": "bad credentials"})
        );
    }

    #[test]
    fn forbidden_is_403_with_forbidden_error_code() {
        let rejection = Rejection::forbidden("not allowed");
        assert!(!rejection.is_missing_credentials());
        let response = rejection.into_response::<Bytes>();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            body_json(response),
            serde_json::json!({"error": "Forbidden", "description": "not allowed"})
        );
    }

    #[test]
    fn missing_credentials_is_401_and_flagged() {
        let rejection = Rejection::missing_credentials("no credentials");
        assert!(rejection.is_missing_credentials());
        assert!(!Rejection::unauthorized("x").is_missing_credentials());
        assert_eq!(rejection.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn every_challenge_becomes_one_www_authenticate_line() {
        let response = Rejection::unauthorized("x")
            .with_challenge(HeaderValue::from_static("Basic realm=\"a\""))
            .with_challenge(HeaderValue::from_static("Bearer"))
            .into_response::<Bytes>();
        let challenges: Vec<_> = response
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .collect();
        assert_eq!(challenges, ["Basic realm=\"a\"", "Bearer"]);
    }

    #[test]
    fn reasons_travel_in_response_extensions() {
        #[derive(Debug, Clone, PartialEq)]
        struct Expired;
        let response = Rejection::unauthorized("x")
            .with_reason(Expired)
            .into_response::<Bytes>();
        assert_eq!(response.extensions().get::<Expired>(), Some(&Expired));
    }

    #[test]
    fn merge_keeps_both_challenges_and_both_reasons() {
        #[derive(Debug, Clone, PartialEq)]
        struct First;
        #[derive(Debug, Clone, PartialEq)]
        struct Second;
        let merged = Rejection::missing_credentials("first")
            .with_challenge(HeaderValue::from_static("Basic"))
            .with_reason(First)
            .merge_missing(
                Rejection::missing_credentials("second")
                    .with_challenge(HeaderValue::from_static("Bearer"))
                    .with_reason(Second),
            );
        assert!(merged.is_missing_credentials());
        assert_eq!(merged.description(), "first");
        assert_eq!(merged.challenges(), ["Basic", "Bearer"]);
        let response = merged.into_response::<Bytes>();
        assert_eq!(response.extensions().get::<First>(), Some(&First));
        assert_eq!(response.extensions().get::<Second>(), Some(&Second));
    }
}
