//! Fetching an instance: `GET /v2/service_instances/:instance_id` (spec.md "Fetching a Service
//! Instance", 2.14).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::catalog::MaintenanceInfo;
use crate::lenient::{Redacted, is_none, is_none_or_empty};
use crate::provision::InstanceMetadata;

/// The query of a fetch-instance request (spec.md "Fetching a Service Instance" → Parameters):
/// optional hints (2.16), empty values ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchInstanceRequest {
    /// The offering's id, if the platform sent it.
    pub service_id: Option<String>,
    /// The plan's id, if the platform sent it.
    pub plan_id: Option<String>,
}

/// The 200 answer to a fetch-instance request (spec.md "Fetching a Service Instance" → Body).
/// `parameters` are redacted in `Debug`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FetchInstanceResponse {
    /// `service_id`: the offering's id (optional in the spec; clients expect it).
    #[serde(default, skip_serializing_if = "is_none_or_empty")]
    pub service_id: Option<String>,
    /// `plan_id`: the plan's id (optional in the spec; clients expect it).
    #[serde(default, skip_serializing_if = "is_none_or_empty")]
    pub plan_id: Option<String>,
    /// `dashboard_url`: where users manage the instance.
    #[serde(default, skip_serializing_if = "is_none_or_empty")]
    pub dashboard_url: Option<String>,
    /// `parameters`: the instance's parameters (a broker MAY omit sensitive ones).
    #[serde(default, skip_serializing_if = "is_none")]
    pub parameters: Option<Map<String, Value>>,
    /// `maintenance_info` (2.17): the maintenance version the instance runs.
    #[serde(default, skip_serializing_if = "is_none")]
    pub maintenance_info: Option<MaintenanceInfo>,
    /// `metadata` (2.17): labels and attributes.
    #[serde(default, skip_serializing_if = "is_none")]
    pub metadata: Option<InstanceMetadata>,
}

impl std::fmt::Debug for FetchInstanceResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchInstanceResponse")
            .field("service_id", &self.service_id)
            .field("plan_id", &self.plan_id)
            .field("dashboard_url", &self.dashboard_url)
            .field("parameters", &Redacted(&self.parameters))
            .field("maintenance_info", &self.maintenance_info)
            .field("metadata", &self.metadata)
            .finish()
    }
}
