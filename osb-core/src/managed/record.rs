//! The records a [`StateStore`](super::StateStore) keeps: one per instance, one per binding, each
//! carrying its recent operations.
//!
//! A resource and its operations live in one record so that one compare-and-set covers both: a
//! store only has to be linearisable per key (see [`StateStore`](super::StateStore)). Records are
//! plain serde structs; a store may keep them as JSON text or JSONB.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::binding::{BindRequest, Binding};
use crate::catalog::MaintenanceInfo;
use crate::context::Context;
use crate::lenient::Redacted;
use crate::operation::OperationToken;
use crate::provision::{InstanceMetadata, ProvisionRequest};
use crate::update::UpdateRequest;

use super::clock::Timestamp;
use super::logic::OperationKind;

/// How many operations a record remembers (the running one included). Older ones are dropped;
/// a poll with a dropped token answers for the latest operation (NOTES.md §13).
pub const OPERATION_HISTORY: usize = 8;

/// Where a resource is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Phase {
    /// The create is running.
    Creating,
    /// Created; an update may be running.
    Ready,
    /// The create failed or was halted; only a delete (orphan mitigation) is accepted.
    CreateFailed,
    /// The delete is running.
    Deleting,
    /// Deleted: a tombstone kept until `retain_until`, so polls keep their answer.
    Deleted,
}

/// The state of a recorded operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OperationStatus {
    /// Running, under its owner's lease.
    InProgress,
    /// Finished successfully.
    Succeeded,
    /// Finished with a failure.
    Failed,
}

/// Ownership of a running operation: the replica `owner` runs it until `expires_at` and renews
/// the lease while it works. After expiry any replica may take the operation over.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Lease {
    /// The owning replica's id.
    pub owner: String,
    /// When the lease ends unless renewed.
    pub expires_at: Timestamp,
}

impl Lease {
    /// A lease for `owner` until `expires_at`.
    pub fn new(owner: impl Into<String>, expires_at: Timestamp) -> Self {
        Self {
            owner: owner.into(),
            expires_at,
        }
    }

    /// Whether the lease has ended at `now`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.expires_at
    }
}

/// One operation on a resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OperationRecord {
    /// The token returned with 202 (also recorded for synchronous operations).
    pub token: OperationToken,
    /// What the operation does.
    pub kind: OperationKind,
    /// Whether it ran in the background (answered 202).
    pub asynchronous: bool,
    /// Its state.
    pub status: OperationStatus,
    /// A user-facing description of the outcome (failures, halts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Failed update or deprovision only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_usable: Option<bool>,
    /// Failed update only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_repeatable: Option<bool>,
    /// When it started.
    pub started_at: Timestamp,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// When it is failed if still running: start plus the plan's `maximum_polling_duration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Timestamp>,
    /// The owner's lease while running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// For a create or bind halted by a delete while another replica ran it: that replica's
    /// lease, kept until the replica records that its work stopped. The delete calls the logic
    /// only once this is cleared or the lease has expired. `None` otherwise, and in records
    /// stored before this field existed (they still load).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopping: Option<Lease>,
}

impl OperationRecord {
    /// A running operation owned by `lease.owner`.
    pub fn start(
        kind: OperationKind,
        asynchronous: bool,
        now: Timestamp,
        deadline: Option<Timestamp>,
        lease: Lease,
    ) -> Self {
        Self {
            token: OperationToken::random(),
            kind,
            asynchronous,
            status: OperationStatus::InProgress,
            description: None,
            instance_usable: None,
            update_repeatable: None,
            started_at: now,
            finished_at: None,
            deadline,
            lease: Some(lease),
            stopping: None,
        }
    }

    /// Whether it is running.
    pub fn is_running(&self) -> bool {
        self.status == OperationStatus::InProgress
    }
}

/// The outcome of an operation, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Outcome {
    /// `None` for success, else the failure's description.
    pub failure: Option<String>,
    /// Failed update or deprovision only (dropped elsewhere).
    pub instance_usable: Option<bool>,
    /// Failed update only (dropped elsewhere).
    pub update_repeatable: Option<bool>,
}

impl Outcome {
    /// Success.
    pub fn succeeded() -> Self {
        Self::default()
    }

    /// A failure with a user-facing description.
    pub fn failed(description: impl Into<String>) -> Self {
        Self {
            failure: Some(description.into()),
            ..Self::default()
        }
    }
}

/// A resource's phase and recent operations; the part instances and bindings share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Lifecycle {
    /// Where the resource is in its life.
    pub phase: Phase,
    /// Whether its create succeeded.
    pub created: bool,
    /// Recent operations, oldest first (at most [`OPERATION_HISTORY`]).
    pub operations: Vec<OperationRecord>,
    /// For a tombstone: when the store may forget it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_until: Option<Timestamp>,
}

impl Lifecycle {
    /// A resource whose create `operation` just started.
    pub fn creating(operation: OperationRecord) -> Self {
        Self {
            phase: Phase::Creating,
            created: false,
            operations: vec![operation],
            retain_until: None,
        }
    }

    /// The latest operation.
    pub fn latest(&self) -> Option<&OperationRecord> {
        self.operations.last()
    }

    /// The running operation, if any (only the latest can run).
    pub fn running(&self) -> Option<&OperationRecord> {
        self.latest().filter(|op| op.is_running())
    }

    /// The operation with this token.
    pub fn find(&self, token: &str) -> Option<&OperationRecord> {
        self.operations
            .iter()
            .rev()
            .find(|op| op.token.as_str() == token)
    }

    /// Whether this is a tombstone past its retention, to be treated as absent.
    pub fn is_expired_tombstone(&self, now: Timestamp) -> bool {
        self.phase == Phase::Deleted && self.retain_until.is_some_and(|until| now >= until)
    }

    /// Whether the resource is gone (tombstone).
    pub fn is_deleted(&self) -> bool {
        self.phase == Phase::Deleted
    }

    /// Starts `operation` on an existing resource. A delete halts a running create: the create
    /// is recorded `failed` with `halt_description` (spec.md "Deprovisioning": the net effect of
    /// a delete accepted during a create MUST be to halt it), and its owner's lease, if still
    /// live at `now`, moves to [`OperationRecord::stopping`] until the owner records that its
    /// work stopped ([`Lifecycle::stopped`]).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))] // used by the adapter
    pub(crate) fn begin(
        &mut self,
        operation: OperationRecord,
        now: Timestamp,
        halt_description: &str,
    ) {
        if operation.kind.deletes() {
            if let Some(create) = self.operations.last_mut().filter(|op| op.is_running()) {
                let lease = create.lease.take().filter(|lease| !lease.is_expired(now));
                close(create, now, Some(halt_description.to_owned()));
                create.stopping = lease;
            }
            self.phase = Phase::Deleting;
        }
        self.operations.push(operation);
        if self.operations.len() > OPERATION_HISTORY {
            let excess = self.operations.len() - OPERATION_HISTORY;
            self.operations.drain(..excess);
        }
    }

    /// Records the outcome of the running operation `token` and moves the phase on. Returns
    /// `false` (and changes nothing) when `token` is not the running operation.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))] // used by the adapter
    pub(crate) fn complete(
        &mut self,
        token: &OperationToken,
        outcome: Outcome,
        now: Timestamp,
        retention: Duration,
    ) -> bool {
        let Some(op) = self
            .operations
            .last_mut()
            .filter(|op| op.is_running() && &op.token == token)
        else {
            return false;
        };
        let kind = op.kind;
        let failed = outcome.failure.is_some();
        close(op, now, outcome.failure);
        if failed {
            // NOTES.md §4.1: the flags exist only for failed updates (both) and deprovisions
            // (`instance_usable`).
            match kind {
                OperationKind::Update => {
                    op.instance_usable = outcome.instance_usable;
                    op.update_repeatable = outcome.update_repeatable;
                }
                OperationKind::Deprovision => op.instance_usable = outcome.instance_usable,
                _ => {}
            }
        }
        self.phase = match (kind.creates(), kind.deletes(), failed) {
            (true, _, false) => {
                self.created = true;
                Phase::Ready
            }
            (true, _, true) => Phase::CreateFailed,
            (_, true, false) => {
                self.retain_until = Some(now.saturating_add(retention));
                Phase::Deleted
            }
            _ if self.created => Phase::Ready,
            _ => Phase::CreateFailed,
        };
        true
    }

    /// Renews the lease of the running operation `token` held by `owner`. Returns `false` when
    /// the operation is no longer running or no longer `owner`'s.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))] // used by the adapter
    pub(crate) fn renew(
        &mut self,
        token: &OperationToken,
        owner: &str,
        expires_at: Timestamp,
    ) -> bool {
        match self.operations.last_mut() {
            Some(op) if op.is_running() && &op.token == token => match &mut op.lease {
                Some(lease) if lease.owner == owner => {
                    lease.expires_at = expires_at;
                    true
                }
                _ => false,
            },
            _ => false,
        }
    }

    /// The create or bind halted by the delete `token` whose work may still run, if any: the
    /// operation just before the delete, while it has [`OperationRecord::stopping`].
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))] // used by the adapter
    pub(crate) fn stopping_before(&self, token: &OperationToken) -> Option<&OperationRecord> {
        let delete = self.operations.iter().position(|op| &op.token == token)?;
        let halted = self.operations.get(delete.checked_sub(1)?)?;
        (halted.kind.creates() && halted.stopping.is_some()).then_some(halted)
    }

    /// Records that `owner` stopped the work of operation `token`, halted by a delete. Returns
    /// `false` (and changes nothing) when no delete waits for `owner` to stop that work.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))] // used by the adapter
    pub(crate) fn stopped(&mut self, token: &OperationToken, owner: &str) -> bool {
        let Some(op) = self
            .operations
            .iter_mut()
            .rev()
            .find(|op| &op.token == token)
        else {
            return false;
        };
        if op
            .stopping
            .as_ref()
            .is_some_and(|lease| lease.owner == owner)
        {
            op.stopping = None;
            true
        } else {
            false
        }
    }

    /// Whether `owner` holds the running operation `token`.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))] // used by the adapter
    pub(crate) fn owns(&self, token: &OperationToken, owner: &str) -> bool {
        self.running().is_some_and(|op| {
            &op.token == token && op.lease.as_ref().is_some_and(|l| l.owner == owner)
        })
    }
}

#[cfg_attr(not(feature = "tokio"), allow(dead_code))] // used by the adapter
fn close(op: &mut OperationRecord, now: Timestamp, failure: Option<String>) {
    op.status = if failure.is_some() {
        OperationStatus::Failed
    } else {
        OperationStatus::Succeeded
    };
    op.description = failure;
    op.finished_at = Some(now);
    op.lease = None;
}

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

fn same_context(a: Option<&Context>, b: Option<&Context>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.identifies_same(b),
        _ => false,
    }
}

/// Whether two provision requests are identical in the sense of NOTES.md §9.1: ids,
/// parameters, org / space and the identifying context fields (names and annotations may
/// differ).
pub fn provision_identical(a: &ProvisionRequest, b: &ProvisionRequest) -> bool {
    a.service_id == b.service_id
        && a.plan_id == b.plan_id
        && a.parameters == b.parameters
        && a.organization_guid == b.organization_guid
        && a.space_guid == b.space_guid
        && same_context(a.context.as_ref(), b.context.as_ref())
}

/// Whether two bind requests are identical (NOTES.md §9.1): ids, parameters, the bound
/// application or route, the predecessor binding and the identifying context fields.
pub fn bind_identical(a: &BindRequest, b: &BindRequest) -> bool {
    let route = |r: &BindRequest| r.bind_resource.as_ref().and_then(|b| b.route.clone());
    a.service_id == b.service_id
        && a.plan_id == b.plan_id
        && a.parameters == b.parameters
        && a.app_guid() == b.app_guid()
        && route(a) == route(b)
        && a.predecessor_binding_id == b.predecessor_binding_id
        && same_context(a.context.as_ref(), b.context.as_ref())
}

/// Whether two update requests ask for the same change (a re-sent PATCH).
pub fn update_identical(a: &UpdateRequest, b: &UpdateRequest) -> bool {
    a.service_id == b.service_id
        && a.plan_id == b.plan_id
        && a.parameters == b.parameters
        && a.maintenance_info == b.maintenance_info
        && same_context(a.context.as_ref(), b.context.as_ref())
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
    fn delete_during_create_halts_the_create() {
        let mut life = Lifecycle::creating(op(OperationKind::Provision));
        let create = life.operations[0].token.clone();
        life.begin(
            op(OperationKind::Deprovision),
            Timestamp::from_unix_millis(1),
            "halted",
        );
        assert_eq!(life.phase, Phase::Deleting);
        let halted = life.find(create.as_str()).unwrap();
        assert_eq!(halted.status, OperationStatus::Failed);
        assert_eq!(halted.description.as_deref(), Some("halted"));
        assert!(!life.complete(
            &create,
            Outcome::succeeded(),
            Timestamp::from_unix_millis(2),
            Duration::ZERO
        ));
    }

    #[test]
    fn halted_create_stays_stopping_until_its_owner_stopped() {
        let mut life = Lifecycle::creating(op(OperationKind::Provision));
        let create = life.operations[0].token.clone();
        let delete = op(OperationKind::Deprovision);
        let token = delete.token.clone();
        life.begin(delete, Timestamp::from_unix_millis(1), "halted");
        let halted = life.stopping_before(&token).unwrap();
        assert_eq!(halted.token, create);
        assert_eq!(halted.lease, None);
        assert_eq!(halted.stopping.as_ref().unwrap().owner, "me");
        assert!(!life.stopped(&create, "someone else"));
        assert!(life.stopping_before(&token).is_some());
        assert!(life.stopped(&create, "me"));
        assert!(life.stopping_before(&token).is_none());
        assert!(!life.stopped(&create, "me"), "recorded once");
    }

    #[test]
    fn halted_create_with_an_expired_lease_is_not_stopping() {
        let mut life = Lifecycle::creating(op(OperationKind::Provision));
        let delete = op(OperationKind::Deprovision);
        let token = delete.token.clone();
        // The create's lease ended at 10.
        life.begin(delete, Timestamp::from_unix_millis(10), "halted");
        assert!(life.stopping_before(&token).is_none());
    }

    #[test]
    fn operation_record_without_stopping_loads() {
        let stored = r#"{"token":"op-1","kind":"provision","asynchronous":true,
            "status":"failed","started_at":1000,"finished_at":2000}"#;
        let record: OperationRecord = serde_json::from_str(stored).unwrap();
        assert_eq!(record.stopping, None);
        let written = serde_json::to_value(&record).unwrap();
        assert!(written.get("stopping").is_none());
    }

    #[test]
    fn failed_delete_of_a_half_created_resource_stays_create_failed() {
        let mut life = Lifecycle::creating(op(OperationKind::Provision));
        let create = life.operations[0].token.clone();
        assert!(life.complete(
            &create,
            Outcome::failed("boom"),
            Timestamp::from_unix_millis(1),
            Duration::ZERO
        ));
        assert_eq!(life.phase, Phase::CreateFailed);
        let delete = op(OperationKind::Deprovision);
        let token = delete.token.clone();
        life.begin(delete, Timestamp::from_unix_millis(2), "halted");
        assert!(life.complete(
            &token,
            Outcome::failed("no"),
            Timestamp::from_unix_millis(3),
            Duration::ZERO
        ));
        assert_eq!(life.phase, Phase::CreateFailed);
    }

    #[test]
    fn flags_are_kept_only_where_the_spec_allows_them() {
        let mut life = Lifecycle::creating(op(OperationKind::Provision));
        let create = life.operations[0].token.clone();
        let outcome = Outcome {
            failure: Some("x".into()),
            instance_usable: Some(false),
            update_repeatable: Some(true),
        };
        life.complete(
            &create,
            outcome,
            Timestamp::from_unix_millis(1),
            Duration::ZERO,
        );
        let failed = life.latest().unwrap();
        assert_eq!(
            (failed.instance_usable, failed.update_repeatable),
            (None, None)
        );
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

    #[test]
    fn history_is_bounded() {
        let mut life = Lifecycle::creating(op(OperationKind::Provision));
        for _ in 0..20 {
            life.begin(
                op(OperationKind::Update),
                Timestamp::from_unix_millis(1),
                "",
            );
        }
        assert_eq!(life.operations.len(), OPERATION_HISTORY);
    }
}
