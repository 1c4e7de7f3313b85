//! Deprovisioning: `DELETE /v2/service_instances/:instance_id` (spec.md "Deprovisioning").

use crate::operation::OperationToken;

/// The query of a deprovision request: both ids are required (checked for presence only, never
/// against the current catalog, so instances of retired plans stay deletable).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeprovisionRequest {
    /// The offering's id.
    pub service_id: String,
    /// The plan's id.
    pub plan_id: String,
}

impl DeprovisionRequest {
    /// A deprovision request.
    pub fn new(service_id: impl Into<String>, plan_id: impl Into<String>) -> Self {
        Self {
            service_id: service_id.into(),
            plan_id: plan_id.into(),
        }
    }
}

/// A deprovision answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeprovisionResponse {
    /// 200 OK: the instance is gone.
    Deleted,
    /// 202 Accepted: the delete runs asynchronously.
    Accepted {
        /// The operation to poll.
        operation: Option<OperationToken>,
    },
}
