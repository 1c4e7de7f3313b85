//! Asynchronous operations (spec.md "Asynchronous Operations"): the `202` answers of the
//! operations that may run long, and polling them with `last_operation`.

use std::time::Duration;

use http::header::{HeaderValue, RETRY_AFTER};
use http::{Response, StatusCode};
use osb_core::{BrokerError, LastOperationRequest, OperationToken, RequestContext};
use serde::Serialize;

use super::call::Reply;
use crate::query::Query;
use crate::response::{self, ResponseBody};

/// A 202, only when the platform sent `accepts_incomplete=true` (spec.md "Asynchronous
/// Operations"); otherwise the broker broke the protocol and the platform gets a 500.
pub(super) fn accepted<T: Serialize>(ctx: &RequestContext, body: &T) -> Reply {
    if !ctx.accepts_incomplete {
        return Err(BrokerError::internal(
            "the broker answered 202 Accepted to a request without accepts_incomplete=true",
        ));
    }
    Ok(response::json(StatusCode::ACCEPTED, body))
}

/// `{"operation"?}`, the 202 body of both deletes.
#[derive(Serialize)]
pub(super) struct OperationBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) operation: Option<OperationToken>,
}

/// The `last_operation` request: the query's `service_id`, `plan_id` and `operation`.
pub(super) fn last_operation_request(query: Query) -> LastOperationRequest {
    let mut request = LastOperationRequest::default();
    request.service_id = query.service_id;
    request.plan_id = query.plan_id;
    request.operation = query.operation;
    request
}

/// `Retry-After` in delta-seconds, rounded up (spec.md "Polling Last Operation for Service
/// Instances", 2.15).
pub(super) fn with_retry_after(
    mut response: Response<ResponseBody>,
    retry_after: Option<Duration>,
) -> Response<ResponseBody> {
    if let Some(delay) = retry_after {
        let seconds = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}
