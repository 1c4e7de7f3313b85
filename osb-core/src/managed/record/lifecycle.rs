//! The lifecycle state machine a resource's operations drive: phases, and the bounded history
//! of operations that move a resource from one phase to the next.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{OperationKind, OperationRecord, OperationStatus, Outcome};
use crate::managed::clock::Timestamp;
use crate::operation::OperationToken;

/// How many operations a record remembers (the running one included). Older ones are dropped;
/// a poll with a dropped token answers for the latest operation (rules.md §7.1).
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
            // rules.md §3.3: the flags exist only for failed updates (both) and deprovisions
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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use crate::managed::record::Lease;

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
