//! Updating: `PATCH /v2/service_instances/:instance_id` (spec.md "Updating a Service Instance").

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::catalog::MaintenanceInfo;
use crate::context::Context;
use crate::lenient::{Redacted, empty_string_as_none, is_none, is_none_or_empty};
use crate::operation::OperationToken;
use crate::provision::InstanceMetadata;

/// The body of an update request. Absent `plan_id` or `parameters` change nothing.
///
/// `parameters` are redacted in `Debug` output.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UpdateRequest {
    /// The offering's id.
    #[serde(deserialize_with = "crate::lenient::service_id")]
    pub service_id: String,
    /// The new plan, if the plan changes.
    #[serde(
        default,
        deserialize_with = "empty_string_as_none",
        skip_serializing_if = "is_none_or_empty"
    )]
    pub plan_id: Option<String>,
    /// Platform context.
    #[serde(default, skip_serializing_if = "is_none")]
    pub context: Option<Context>,
    /// Parameters to change (only those the user specified).
    #[serde(default, skip_serializing_if = "is_none")]
    pub parameters: Option<Map<String, Value>>,
    /// What the instance looked like before.
    #[serde(default, skip_serializing_if = "is_none")]
    pub previous_values: Option<PreviousValues>,
    /// The maintenance version to move to (2.15).
    #[serde(
        default,
        deserialize_with = "crate::lenient::maintenance_info",
        skip_serializing_if = "is_none"
    )]
    pub maintenance_info: Option<MaintenanceInfo>,
}

impl UpdateRequest {
    /// An update of an offering's instance that changes nothing yet.
    pub fn new(service_id: impl Into<String>) -> Self {
        Self {
            service_id: service_id.into(),
            plan_id: None,
            context: None,
            parameters: None,
            previous_values: None,
            maintenance_info: None,
        }
    }
}

impl std::fmt::Debug for UpdateRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateRequest")
            .field("service_id", &self.service_id)
            .field("plan_id", &self.plan_id)
            .field("context", &self.context)
            .field("parameters", &Redacted(&self.parameters))
            .field("previous_values", &self.previous_values)
            .field("maintenance_info", &self.maintenance_info)
            .finish()
    }
}

/// Information about the instance before the update (informational only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PreviousValues {
    /// Deprecated: the offering's id.
    #[serde(
        default,
        deserialize_with = "empty_string_as_none",
        skip_serializing_if = "is_none_or_empty"
    )]
    pub service_id: Option<String>,
    /// The plan before the update.
    #[serde(
        default,
        deserialize_with = "empty_string_as_none",
        skip_serializing_if = "is_none_or_empty"
    )]
    pub plan_id: Option<String>,
    /// Deprecated: the org.
    #[serde(
        default,
        deserialize_with = "empty_string_as_none",
        skip_serializing_if = "is_none_or_empty"
    )]
    pub organization_id: Option<String>,
    /// Deprecated: the space.
    #[serde(
        default,
        deserialize_with = "empty_string_as_none",
        skip_serializing_if = "is_none_or_empty"
    )]
    pub space_id: Option<String>,
    /// The maintenance info the instance had before the update. Informational: `{}` means none
    /// and a version that is not SemVer 2.0 is kept as sent instead of failing the update.
    #[serde(
        default,
        deserialize_with = "crate::lenient::previous_maintenance_info",
        skip_serializing_if = "is_none"
    )]
    pub maintenance_info: Option<MaintenanceInfo>,
}

/// The body of a 200 update answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UpdatedInstance {
    /// A new dashboard URL; absent keeps the old one.
    #[serde(default, skip_serializing_if = "is_none_or_empty")]
    pub dashboard_url: Option<String>,
    /// Instance metadata.
    #[serde(default, skip_serializing_if = "is_none")]
    pub metadata: Option<InstanceMetadata>,
}

/// The body of a 202 update answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UpdateAccepted {
    /// A new dashboard URL; absent keeps the old one.
    #[serde(default, skip_serializing_if = "is_none_or_empty")]
    pub dashboard_url: Option<String>,
    /// The operation to poll.
    #[serde(default, skip_serializing_if = "is_none")]
    pub operation: Option<OperationToken>,
    /// Instance metadata.
    #[serde(default, skip_serializing_if = "is_none")]
    pub metadata: Option<InstanceMetadata>,
}

impl UpdateAccepted {
    /// An accepted answer carrying an operation token.
    pub fn with_operation(operation: OperationToken) -> Self {
        Self {
            dashboard_url: None,
            operation: Some(operation),
            metadata: None,
        }
    }
}

/// An update answer.
#[derive(Debug, Clone, PartialEq)]
pub enum UpdateResponse {
    /// 200 OK: the changes were applied (or there was nothing to change).
    Updated(UpdatedInstance),
    /// 202 Accepted: the update runs asynchronously.
    Accepted(UpdateAccepted),
}
