//! Operations on a resource: what they do, their state, and their outcome.

use serde::{Deserialize, Serialize};

use super::Lease;
use crate::managed::clock::Timestamp;
use crate::operation::OperationToken;

/// The five operations that change state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OperationKind {
    /// Create an instance.
    Provision,
    /// Change an instance's plan, parameters or context.
    Update,
    /// Delete an instance.
    Deprovision,
    /// Create a binding.
    Bind,
    /// Delete a binding.
    Unbind,
}

impl OperationKind {
    /// Whether the operation creates its resource.
    pub fn creates(self) -> bool {
        matches!(self, Self::Provision | Self::Bind)
    }

    /// Whether the operation deletes its resource.
    pub fn deletes(self) -> bool {
        matches!(self, Self::Deprovision | Self::Unbind)
    }
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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn operation_record_without_stopping_loads() {
        let stored = r#"{"token":"op-1","kind":"provision","asynchronous":true,
            "status":"failed","started_at":1000,"finished_at":2000}"#;
        let record: OperationRecord = serde_json::from_str(stored).unwrap();
        assert_eq!(record.stopping, None);
        let written = serde_json::to_value(&record).unwrap();
        assert!(written.get("stopping").is_none());
    }
}
