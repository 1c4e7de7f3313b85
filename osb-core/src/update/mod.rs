//! Updating: `PATCH /v2/service_instances/:instance_id` (spec.md "Updating a Service Instance").

mod check;

pub use check::CurrentInstance;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::catalog::MaintenanceInfo;
use crate::context::Context;
use crate::lenient::{Redacted, empty_string_as_none, is_none, is_none_or_empty};
use crate::operation::OperationToken;
use crate::provision::InstanceMetadata;

/// The body of an update request (spec.md "Updating a Service Instance" → Request → Body).
///
/// Absent `plan_id` or `parameters` change nothing; `""` counts as absent.
///
/// `parameters` are redacted in `Debug` output.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UpdateRequest {
    /// `service_id`*: the offering's id.
    #[serde(deserialize_with = "crate::lenient::service_id")]
    pub service_id: String,
    /// `plan_id`: the plan to move to; absent means the plan MUST NOT change.
    #[serde(
        default,
        deserialize_with = "empty_string_as_none",
        skip_serializing_if = "is_none_or_empty"
    )]
    pub plan_id: Option<String>,
    /// `context`: where the instance lives (profile.md "Context Object").
    #[serde(default, skip_serializing_if = "is_none")]
    pub context: Option<Context>,
    /// `parameters`: the parameters the user specified for this update (may hold secrets);
    /// absent means the parameters MUST NOT change.
    #[serde(default, skip_serializing_if = "is_none")]
    pub parameters: Option<Map<String, Value>>,
    /// `previous_values`: the instance before the update (informational).
    #[serde(default, skip_serializing_if = "is_none")]
    pub previous_values: Option<PreviousValues>,
    /// `maintenance_info` (2.15): the maintenance version to move to; only `version` counts.
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

    /// Whether `other` asks for the same change: a re-sent PATCH while this update runs, answered
    /// `202` with the same operation rather than `422 ConcurrencyError` (rules.md §13, §10).
    /// Compares `service_id`, `plan_id`, `parameters` (as values), `maintenance_info` and the
    /// identifying context fields ([`Context::identifying_fields`]); `previous_values` and
    /// context names and annotations may differ.
    ///
    /// # Example
    ///
    /// ```
    /// use osb_core::UpdateRequest;
    ///
    /// let mut first = UpdateRequest::new("db");
    /// first.plan_id = Some("large".to_owned());
    /// assert!(first.is_identical(&first.clone()));
    /// // The same PATCH without the plan change: another update.
    /// assert!(!first.is_identical(&UpdateRequest::new("db")));
    /// ```
    pub fn is_identical(&self, other: &UpdateRequest) -> bool {
        self.service_id == other.service_id
            && self.plan_id == other.plan_id
            && self.parameters == other.parameters
            && self.maintenance_info == other.maintenance_info
            && crate::context::identifies_same(self.context.as_ref(), other.context.as_ref())
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

/// Information about the instance before the update (spec.md "Previous Values Object";
/// informational only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PreviousValues {
    /// `service_id`: deprecated (the offering never changes).
    #[serde(
        default,
        deserialize_with = "empty_string_as_none",
        skip_serializing_if = "is_none_or_empty"
    )]
    pub service_id: Option<String>,
    /// `plan_id`: the plan before the update.
    #[serde(
        default,
        deserialize_with = "empty_string_as_none",
        skip_serializing_if = "is_none_or_empty"
    )]
    pub plan_id: Option<String>,
    /// `organization_id`: deprecated; the org is in `context`.
    #[serde(
        default,
        deserialize_with = "empty_string_as_none",
        skip_serializing_if = "is_none_or_empty"
    )]
    pub organization_id: Option<String>,
    /// `space_id`: deprecated; the space is in `context`.
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

/// The body of a 200 update answer (spec.md "Updating a Service Instance" → Response → Body).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UpdatedInstance {
    /// `dashboard_url`: a new dashboard URL; absent keeps the old one.
    #[serde(default, skip_serializing_if = "is_none_or_empty")]
    pub dashboard_url: Option<String>,
    /// `metadata`: labels and attributes.
    #[serde(default, skip_serializing_if = "is_none")]
    pub metadata: Option<InstanceMetadata>,
}

/// The body of a 202 update answer (spec.md "Updating a Service Instance" → Response → Body).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UpdateAccepted {
    /// `dashboard_url`: a new dashboard URL; absent keeps the old one.
    #[serde(default, skip_serializing_if = "is_none_or_empty")]
    pub dashboard_url: Option<String>,
    /// `operation`: the token the platform echoes when polling (non-empty, at most 10,000
    /// characters).
    #[serde(default, skip_serializing_if = "is_none")]
    pub operation: Option<OperationToken>,
    /// `metadata`: labels and attributes.
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
