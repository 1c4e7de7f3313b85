//! The response body type and the JSON answers every endpoint builds.
//!
//! Every answer is `application/json` with a JSON object body (`{}` at minimum), errors included;
//! the only bodiless answers are `304 Not Modified` and the optional `204 No Content` of
//! `bluemix_v1` (osb-core rules.md §2.4).

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};
use osb_core::{BrokerError, ErrorBody};
use serde::Serialize;

/// The body of every response [`OsbService`](crate::OsbService) produces: one buffered chunk.
///
/// It is `http_body_util::Full<Bytes>` (data [`Bytes`], error [`Infallible`](std::convert::Infallible)),
/// which hyper serves directly and axum accepts through `axum::body::Body::new`.
///
/// # Example
///
/// ```
/// use bytes::Bytes;
/// use osb_tower::ResponseBody;
///
/// let body = ResponseBody::new(Bytes::from_static(b"{}"));
/// # let _ = body;
/// ```
pub type ResponseBody = http_body_util::Full<Bytes>;

pub(crate) const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// Which failure flags an endpoint may send (spec.md "Service Broker Errors": `instance_usable`
/// only for update and deprovision, `update_repeatable` only for update).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorFlags {
    pub(crate) instance_usable: bool,
    pub(crate) update_repeatable: bool,
}

impl ErrorFlags {
    pub(crate) const NONE: Self = Self {
        instance_usable: false,
        update_repeatable: false,
    };
}

/// `200`/`201`/`202` with a serialised body. A serialisation failure is a broker bug: 500.
pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<ResponseBody> {
    let mut buf = Vec::with_capacity(128);
    match serde_json::to_writer(&mut buf, value) {
        Ok(()) => bytes(status, Bytes::from(buf)),
        Err(err) => {
            tracing::error!(error = %err, "failed to serialise the broker's answer");
            error(&BrokerError::internal(err), ErrorFlags::NONE)
        }
    }
}

/// A JSON answer from already serialised bytes.
pub(crate) fn bytes(status: StatusCode, body: Bytes) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, APPLICATION_JSON);
    response
}

/// `{}` with a status.
pub(crate) fn empty_object(status: StatusCode) -> Response<ResponseBody> {
    bytes(status, Bytes::from_static(b"{}"))
}

/// A bodiless answer (`304`, `204`).
pub(crate) fn no_body(status: StatusCode) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// The OSB error body for a [`BrokerError`], keeping only the flags the endpoint may send.
pub(crate) fn error(err: &BrokerError, flags: ErrorFlags) -> Response<ResponseBody> {
    let mut body: ErrorBody = err.to_body();
    if !flags.instance_usable {
        body.instance_usable = None;
    }
    if !flags.update_repeatable {
        body.update_repeatable = None;
    }
    let mut buf = Vec::with_capacity(96);
    let body = match serde_json::to_writer(&mut buf, &body) {
        Ok(()) => Bytes::from(buf),
        // OK to fall back: an `ErrorBody` of strings and booleans always serialises.
        Err(_) => Bytes::from_static(b"{}"),
    };
    bytes(err.status(), body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn error_flags_are_stripped_unless_allowed() {
        let err = BrokerError::unprocessable("no")
            .with_instance_usable(false)
            .with_update_repeatable(false);
        let body = |flags| {
            use futures_util::FutureExt as _;
            use http_body_util::BodyExt as _;
            let collected = error(&err, flags).into_body().collect().now_or_never();
            collected
                .expect("a full body is ready")
                .expect("infallible")
                .to_bytes()
        };
        let none = body(ErrorFlags::NONE);
        assert!(!String::from_utf8_lossy(&none).contains("instance_usable"));
        let deprovision = body(ErrorFlags {
            instance_usable: true,
            update_repeatable: false,
        });
        let text = String::from_utf8_lossy(&deprovision).into_owned();
        assert!(text.contains("\"instance_usable\":false"));
        assert!(!text.contains("update_repeatable"));
    }
}
