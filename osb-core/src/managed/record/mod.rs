//! The records a [`StateStore`](super::StateStore) keeps: one per instance, one per binding, each
//! carrying its recent operations.
//!
//! A resource and its operations live in one record so that one compare-and-set covers both: a
//! store only has to be linearisable per key (see [`StateStore`](super::StateStore)). Records are
//! plain serde structs; a store may keep them as JSON text or JSONB. What the records share lives
//! beside them: the [`Lifecycle`] state machine, the [operations](OperationRecord) that drive it,
//! and the [`Lease`] under which one runs.

mod lease;
mod lifecycle;
mod operation;

pub use lease::Lease;
pub use lifecycle::{Lifecycle, OPERATION_HISTORY, Phase};
pub use operation::{OperationKind, OperationRecord, OperationStatus, Outcome};

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::binding::{BindRequest, Binding};
use crate::catalog::MaintenanceInfo;
use crate::context::Context;
use crate::lenient::Redacted;
use crate::provision::{InstanceMetadata, ProvisionRequest};
use crate::update::UpdateRequest;

use super::clock::Timestamp;

/// An instance: the provision request as received, its current state, IBM Cloud's
/// enabled flag, and its recent operations.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InstanceRecord {
    /// Phase and operations.
    pub lifecycle: Lifecycle,
    /// The provision request that created the instance (idempotency compares against it).
    pub request: ProvisionRequest,
    /// The current plan (changes with updates).
    pub plan_id: String,
    /// The current parameters: the provision's, with each update's top-level keys applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Map<String, Value>>,
    /// The latest context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Context>,
    /// The current maintenance info.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_info: Option<MaintenanceInfo>,
    /// The dashboard URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard_url: Option<String>,
    /// Instance metadata returned by the logic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<InstanceMetadata>,
    /// IBM Cloud `bluemix_v1`: `false` while the instance is disabled.
    pub enabled: bool,
    /// The `reason_code` of the latest enable / disable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
    /// When [`enabled`](Self::enabled) last changed: the instance has been enabled (or
    /// disabled) since then. `None` while it never changed, and in records stored before this
    /// field existed (they still load); a disabled instance without it has been disabled since
    /// an unknown time. Usage metering reads it to bill the part of an hour an instance was
    /// enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled_changed_at: Option<Timestamp>,
    /// The running update's request (kept so a re-sent PATCH is recognised, and for resuming).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_update: Option<UpdateRequest>,
    /// Bindings with a running bind or unbind, each until when its claim holds. A deprovision or
    /// update waits for them to end (422 `ConcurrencyError`); a claim past its time is stale.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub binding_operations: BTreeMap<String, Timestamp>,
}

impl InstanceRecord {
    /// A new instance whose provision `operation` just started.
    pub fn new(request: ProvisionRequest, operation: OperationRecord) -> Self {
        Self {
            lifecycle: Lifecycle::creating(operation),
            plan_id: request.plan_id.clone(),
            parameters: request.parameters.clone(),
            context: request.context.clone(),
            maintenance_info: request.maintenance_info.clone(),
            dashboard_url: None,
            metadata: None,
            enabled: true,
            state_reason: None,
            enabled_changed_at: None,
            pending_update: None,
            binding_operations: BTreeMap::new(),
            request,
        }
    }

    /// The service offering's id.
    pub fn service_id(&self) -> &str {
        &self.request.service_id
    }

    /// Whether a bind or unbind on this instance holds a live claim at `now`.
    pub fn has_binding_operations(&self, now: Timestamp) -> bool {
        self.binding_operations.values().any(|until| *until > now)
    }
}

impl fmt::Debug for InstanceRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstanceRecord")
            .field("lifecycle", &self.lifecycle)
            .field("request", &self.request)
            .field("plan_id", &self.plan_id)
            .field("parameters", &Redacted(&self.parameters))
            .field("context", &self.context)
            .field("maintenance_info", &self.maintenance_info)
            .field("dashboard_url", &self.dashboard_url)
            .field("metadata", &self.metadata)
            .field("enabled", &self.enabled)
            .field("state_reason", &self.state_reason)
            .field("enabled_changed_at", &self.enabled_changed_at)
            .field("pending_update", &self.pending_update)
            .field("binding_operations", &self.binding_operations)
            .finish()
    }
}

/// A binding: the bind request as received, what the logic returned (credentials included), and
/// its recent operations. `Debug` redacts parameters and credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BindingRecord {
    /// Phase and operations.
    pub lifecycle: Lifecycle,
    /// The bind request (with the predecessor's parameters filled in for a rotation).
    pub request: BindRequest,
    /// What the logic returned, once the bind succeeded. A re-bind's 200 carries it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<Binding>,
}

impl BindingRecord {
    /// A new binding whose bind `operation` just started.
    pub fn new(request: BindRequest, operation: OperationRecord) -> Self {
        Self {
            lifecycle: Lifecycle::creating(operation),
            request,
            binding: None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    fn op(kind: OperationKind) -> OperationRecord {
        OperationRecord::start(
            kind,
            true,
            Timestamp::from_unix_millis(0),
            None,
            Lease::new("me", Timestamp::from_unix_millis(10)),
        )
    }

    #[test]
    fn instance_record_without_enabled_changed_at_loads() {
        // As stored before the field existed: a disabled instance, no change time.
        let stored = r#"{"lifecycle":{"phase":"ready","created":true,"operations":[]},
            "request":{"service_id":"svc","plan_id":"plan"},"plan_id":"plan",
            "enabled":false,"state_reason":"IBMCLOUD_ACCT_SUSPEND"}"#;
        let record: InstanceRecord = serde_json::from_str(stored).unwrap();
        assert!(!record.enabled);
        assert_eq!(record.enabled_changed_at, None);
        let written = serde_json::to_value(&record).unwrap();
        assert!(written.get("enabled_changed_at").is_none());
    }

    #[test]
    fn instance_record_keeps_enabled_changed_at() {
        let mut record = InstanceRecord::new(
            ProvisionRequest::new("svc", "plan"),
            op(OperationKind::Provision),
        );
        record.enabled_changed_at = Some(Timestamp::from_unix_millis(42));
        let text = serde_json::to_string(&record).unwrap();
        let loaded: InstanceRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(
            loaded.enabled_changed_at,
            Some(Timestamp::from_unix_millis(42))
        );
    }
}
