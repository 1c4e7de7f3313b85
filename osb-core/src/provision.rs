//! Provisioning: `PUT /v2/service_instances/:instance_id` (spec.md "Provisioning").

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::catalog::MaintenanceInfo;
use crate::context::Context;
use crate::lenient::{Redacted, empty_string_as_none, is_none, is_none_or_empty};
use crate::operation::OperationToken;

/// The body of a provision request (spec.md "Provisioning" → Request → Body).
///
/// Parsed leniently (rules.md §16): unknown fields are ignored, `""` means absent and a
/// `maintenance_info` without a `version` (`{}`) is treated as not provided. `service_id` and
/// `plan_id` must be present and non-empty. `parameters` are redacted in `Debug` output.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProvisionRequest {
    /// `service_id`*: the offering's id, from the catalog.
    #[serde(deserialize_with = "crate::lenient::service_id")]
    pub service_id: String,
    /// `plan_id`*: the plan's id, a plan of that offering.
    #[serde(deserialize_with = "crate::lenient::plan_id")]
    pub plan_id: String,
    /// `context`: where the instance is made (profile.md "Context Object").
    #[serde(default, skip_serializing_if = "is_none")]
    pub context: Option<Context>,
    /// `organization_guid`: deprecated in favour of `context`, still sent by Cloud Foundry.
    /// The spec marks it required; this model leaves the presence check to the HTTP layer
    /// (rules.md §8).
    #[serde(
        default,
        deserialize_with = "empty_string_as_none",
        skip_serializing_if = "is_none_or_empty"
    )]
    pub organization_guid: Option<String>,
    /// `space_guid`: deprecated in favour of `context`, like `organization_guid`.
    #[serde(
        default,
        deserialize_with = "empty_string_as_none",
        skip_serializing_if = "is_none_or_empty"
    )]
    pub space_guid: Option<String>,
    /// `parameters`: configuration parameters (may hold secrets). A broker SHOULD validate them,
    /// e.g. against the plan's `schemas.service_instance.create`.
    #[serde(default, skip_serializing_if = "is_none")]
    pub parameters: Option<Map<String, Value>>,
    /// `maintenance_info` (2.15): the maintenance version the platform expects; only `version`
    /// counts. A mismatch with the plan is `422 MaintenanceInfoConflict`.
    #[serde(
        default,
        deserialize_with = "crate::lenient::maintenance_info",
        skip_serializing_if = "is_none"
    )]
    pub maintenance_info: Option<MaintenanceInfo>,
}

impl ProvisionRequest {
    /// A request for a plan of an offering, with nothing else set.
    pub fn new(service_id: impl Into<String>, plan_id: impl Into<String>) -> Self {
        Self {
            service_id: service_id.into(),
            plan_id: plan_id.into(),
            context: None,
            organization_guid: None,
            space_guid: None,
            parameters: None,
            maintenance_info: None,
        }
    }

    /// Whether `other` is a retry of this request: identical in the sense of rules.md §13, so it
    /// gets this request's answer (`200`, or `202` while it runs) rather than `409`. Compares the
    /// ids, `parameters` (as values: key order never matters), `organization_guid`, `space_guid`
    /// and the identifying context fields ([`Context::identifying_fields`]); names and
    /// annotations in the context, and `maintenance_info`, may differ.
    ///
    /// # Example
    ///
    /// ```
    /// use osb_core::ProvisionRequest;
    ///
    /// let first = ProvisionRequest::new("db", "small");
    /// assert!(first.is_identical(&ProvisionRequest::new("db", "small")));
    /// // Another plan for the same instance id: a conflict, not a retry.
    /// assert!(!first.is_identical(&ProvisionRequest::new("db", "large")));
    /// ```
    pub fn is_identical(&self, other: &ProvisionRequest) -> bool {
        self.service_id == other.service_id
            && self.plan_id == other.plan_id
            && self.parameters == other.parameters
            && self.organization_guid == other.organization_guid
            && self.space_guid == other.space_guid
            && crate::context::identifies_same(self.context.as_ref(), other.context.as_ref())
    }
}

impl std::fmt::Debug for ProvisionRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProvisionRequest")
            .field("service_id", &self.service_id)
            .field("plan_id", &self.plan_id)
            .field("context", &self.context)
            .field("organization_guid", &self.organization_guid)
            .field("space_guid", &self.space_guid)
            .field("parameters", &Redacted(&self.parameters))
            .field("maintenance_info", &self.maintenance_info)
            .finish()
    }
}

/// Instance metadata in provision, update and fetch answers (spec.md "Service Instance
/// Metadata"): `labels` (2.16) and `attributes` (2.17).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InstanceMetadata {
    /// `labels`: key-value pairs meaningful to users, implying no platform behaviour; platforms
    /// replace all labels on each provision or update.
    #[serde(default, skip_serializing_if = "is_none")]
    pub labels: Option<Map<String, Value>>,
    /// `attributes`: broker-generated key-value pairs that MAY imply platform behaviour.
    #[serde(default, skip_serializing_if = "is_none")]
    pub attributes: Option<Map<String, Value>>,
}

/// The body of a 200 or 201 provision answer (spec.md "Provisioning" → Response → Body).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProvisionedInstance {
    /// `dashboard_url`: where users manage the instance; give it in the first answer.
    #[serde(default, skip_serializing_if = "is_none_or_empty")]
    pub dashboard_url: Option<String>,
    /// `metadata`: labels and attributes.
    #[serde(default, skip_serializing_if = "is_none")]
    pub metadata: Option<InstanceMetadata>,
}

impl ProvisionedInstance {
    /// An answer with a dashboard URL.
    pub fn with_dashboard_url(dashboard_url: impl Into<String>) -> Self {
        Self {
            dashboard_url: Some(dashboard_url.into()),
            metadata: None,
        }
    }
}

/// The body of a 202 provision answer (spec.md "Provisioning" → Response → Body). A dashboard
/// URL MUST be given in this first answer, even though provisioning is asynchronous.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProvisionAccepted {
    /// `dashboard_url`: where users manage the instance.
    #[serde(default, skip_serializing_if = "is_none_or_empty")]
    pub dashboard_url: Option<String>,
    /// `operation`: the token the platform echoes when polling (at most 10,000 characters).
    #[serde(default, skip_serializing_if = "is_none")]
    pub operation: Option<OperationToken>,
    /// `metadata`: labels and attributes.
    #[serde(default, skip_serializing_if = "is_none")]
    pub metadata: Option<InstanceMetadata>,
}

impl ProvisionAccepted {
    /// An accepted answer carrying an operation token.
    pub fn with_operation(operation: OperationToken) -> Self {
        Self {
            dashboard_url: None,
            operation: Some(operation),
            metadata: None,
        }
    }
}

/// A provision answer: every status the spec allows for success, and nothing else.
#[derive(Debug, Clone, PartialEq)]
pub enum ProvisionResponse {
    /// 201 Created: this request created the instance.
    Created(ProvisionedInstance),
    /// 200 OK: the instance already exists, is complete, and the request is identical.
    AlreadyExists(ProvisionedInstance),
    /// 202 Accepted: provisioning runs asynchronously.
    Accepted(ProvisionAccepted),
}
