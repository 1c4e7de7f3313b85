//! The identity headers: `X-Broker-API-Request-Identity` (echoed on every answer) and
//! `X-Broker-API-Originating-Identity` (parsed into the request context).
//!
//! Spec: spec.md "Request Identity" (2.15: the broker SHOULD echo it) and "Originating Identity".

use http::{HeaderMap, HeaderName, HeaderValue};
use osb_core::{BrokerError, OriginatingIdentity, RequestIdentity};

// `HeaderName` constants, not `&str`: a `&str` key is parsed and hashed anew on every lookup.

/// `X-Broker-API-Request-Identity`.
pub(crate) const X_BROKER_API_REQUEST_IDENTITY: HeaderName =
    HeaderName::from_static("x-broker-api-request-identity");
/// `X-Broker-API-Originating-Identity`.
pub(crate) const X_BROKER_API_ORIGINATING_IDENTITY: HeaderName =
    HeaderName::from_static("x-broker-api-originating-identity");

/// The request identity header value to echo, if one was sent and is non-empty.
pub(crate) fn request_identity_header(headers: &HeaderMap) -> Option<HeaderValue> {
    headers
        .get(&X_BROKER_API_REQUEST_IDENTITY)
        .filter(|v| !v.is_empty())
        .cloned()
}

/// Echoes the request identity of `headers` (if one was sent) on `response`: for the answers
/// made outside the OSB service, by the auth and timeout layers.
pub(crate) fn echo<B>(headers: &HeaderMap, response: &mut http::Response<B>) {
    if let Some(value) = request_identity_header(headers) {
        response
            .headers_mut()
            .insert(X_BROKER_API_REQUEST_IDENTITY, value);
    }
}

/// The typed request identity (`None` when absent, empty or not visible ASCII/UTF-8).
pub(crate) fn request_identity(value: Option<&HeaderValue>) -> Option<RequestIdentity> {
    value
        .and_then(|v| v.to_str().ok())
        .and_then(RequestIdentity::new)
}

/// The originating identity, if sent.
///
/// # Errors
///
/// 400 when the header is present but not `<platform> <base64 JSON>` (an empty value counts as
/// absent).
pub(crate) fn originating_identity(
    headers: &HeaderMap,
) -> Result<Option<OriginatingIdentity>, BrokerError> {
    let Some(value) = headers
        .get(&X_BROKER_API_ORIGINATING_IDENTITY)
        .filter(|v| !v.as_bytes().iter().all(u8::is_ascii_whitespace))
    else {
        return Ok(None);
    };
    let parsed = value.to_str().ok().map(str::parse::<OriginatingIdentity>);
    match parsed {
        Some(Ok(identity)) => Ok(Some(identity)),
        Some(Err(err)) => Err(BrokerError::bad_request(format!(
            "The X-Broker-API-Originating-Identity header is malformed: {err}."
        ))),
        None => Err(BrokerError::bad_request(
            "The X-Broker-API-Originating-Identity header is malformed: it is not visible ASCII.",
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn originating_identity_absent_valid_and_malformed() {
        let mut headers = HeaderMap::new();
        assert!(originating_identity(&headers).unwrap().is_none());
        headers.insert(
            X_BROKER_API_ORIGINATING_IDENTITY,
            HeaderValue::from_static(""),
        );
        assert!(originating_identity(&headers).unwrap().is_none());
        headers.insert(
            X_BROKER_API_ORIGINATING_IDENTITY,
            HeaderValue::from_static("cloudfoundry eyJ1c2VyX2lkIjoiYWIifQ=="),
        );
        let id = originating_identity(&headers).unwrap().unwrap();
        assert_eq!(id.user_id(), Some("ab"));
        headers.insert(
            X_BROKER_API_ORIGINATING_IDENTITY,
            HeaderValue::from_static("cloudfoundry"),
        );
        let err = originating_identity(&headers).unwrap_err();
        assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
    }

    #[test]
    fn empty_request_identity_is_not_echoed() {
        let mut headers = HeaderMap::new();
        headers.insert(X_BROKER_API_REQUEST_IDENTITY, HeaderValue::from_static(""));
        assert!(request_identity_header(&headers).is_none());
        headers.insert(
            X_BROKER_API_REQUEST_IDENTITY,
            HeaderValue::from_static("r-1"),
        );
        let value = request_identity_header(&headers);
        assert_eq!(request_identity(value.as_ref()).unwrap().as_str(), "r-1");
    }
}
