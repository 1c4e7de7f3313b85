//! Polling: `GET …/last_operation` for instances and bindings (spec.md "Polling Last Operation").

use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

/// The query of a last-operation request (spec.md "Polling Last Operation for Service Instances"
/// and "… for Service Bindings" → Parameters). All fields are optional hints; empty values are
/// absent.
///
/// `operation` may not be a token the broker returned (some clients send `provision` or nothing):
/// answer for the resource's latest operation then (rules.md §7.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LastOperationRequest {
    /// `service_id`: the offering's id.
    pub service_id: Option<String>,
    /// `plan_id`: the plan's id (the *old* plan while a plan change runs).
    pub plan_id: Option<String>,
    /// `operation`: the token the broker returned with its 202, percent-decoded; it may also be
    /// a word like `provision` or be missing.
    pub operation: Option<String>,
}

/// The `state` of an instance operation: `in progress`, `succeeded` or `failed`.
///
/// `instance_usable` / `update_repeatable` exist only where the spec allows them (spec.md
/// "Polling Last Operation for Service Instances" → Body: a failed update or deprovision), so
/// a body the spec forbids cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OperationState {
    /// Still running.
    InProgress,
    /// Finished successfully.
    Succeeded,
    /// Failed.
    Failed(Failure),
}

/// Which instance operation failed, with the flags the spec allows for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// A provision failed: no flags (the platform may orphan-mitigate).
    Provision,
    /// An update failed.
    Update {
        /// `instance_usable`: whether the instance still works. Absent means `true`.
        instance_usable: Option<bool>,
        /// `update_repeatable`: whether the same update may succeed if repeated. Absent means
        /// `true`.
        update_repeatable: Option<bool>,
    },
    /// A deprovision failed.
    Deprovision {
        /// `instance_usable`: whether the instance still works. Absent means `true`.
        instance_usable: Option<bool>,
    },
}

/// The answer to an instance last-operation poll (spec.md "Polling Last Operation for Service
/// Instances" → Response): the 200 body, plus the `Retry-After` header.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use osb_core::{Failure, LastOperation, OperationState};
///
/// let polling = LastOperation::new(OperationState::InProgress)
///     .with_description("Creating service (10% complete).")
///     .with_retry_after(Duration::from_secs(10));
/// assert_eq!(
///     serde_json::to_value(&polling)?,
///     serde_json::json!({"state": "in progress", "description": "Creating service (10% complete)."}),
/// );
///
/// let failed = LastOperation::new(OperationState::Failed(Failure::Deprovision {
///     instance_usable: Some(false),
/// }));
/// assert_eq!(
///     serde_json::to_value(&failed)?,
///     serde_json::json!({"state": "failed", "instance_usable": false}),
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LastOperation {
    /// The operation's state.
    pub state: OperationState,
    /// `description`: a user-facing message about the operation (never empty).
    pub description: Option<String>,
    /// The `Retry-After` header (2.15): how long the platform SHOULD wait before polling again,
    /// sent in seconds.
    pub retry_after: Option<Duration>,
}

impl LastOperation {
    /// An answer with a state and nothing else.
    pub fn new(state: OperationState) -> Self {
        Self {
            state,
            description: None,
            retry_after: None,
        }
    }

    /// Sets the description (ignored when empty).
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        let description = description.into();
        self.description = (!description.is_empty()).then_some(description);
        self
    }

    /// Sets `Retry-After`.
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }
}

/// The `state` of a binding operation (spec.md "Polling Last Operation for Service Bindings";
/// no usability flags exist for bindings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BindingOperationState {
    /// Still running.
    InProgress,
    /// Finished successfully.
    Succeeded,
    /// Failed.
    Failed,
}

/// The answer to a binding last-operation poll (spec.md "Polling Last Operation for Service
/// Bindings" → Response, 2.14): the 200 body, plus the `Retry-After` header.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BindingLastOperation {
    /// The operation's state.
    pub state: BindingOperationState,
    /// `description`: a user-facing message about the operation (never empty).
    pub description: Option<String>,
    /// The `Retry-After` header: how long the platform SHOULD wait before polling again.
    pub retry_after: Option<Duration>,
}

impl BindingLastOperation {
    /// An answer with a state and nothing else.
    pub fn new(state: BindingOperationState) -> Self {
        Self {
            state,
            description: None,
            retry_after: None,
        }
    }

    /// Sets the description (ignored when empty).
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        let description = description.into();
        self.description = (!description.is_empty()).then_some(description);
        self
    }

    /// Sets `Retry-After`.
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }
}

/// The JSON body of a last-operation answer, as the spec spells it; what [`LastOperation`] and
/// [`BindingLastOperation`] serialise to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LastOperationBody {
    /// `state`*: `in progress`, `succeeded` or `failed`.
    pub state: String,
    /// A user-facing description; never serialised empty (spec: "If present, MUST be a
    /// non-empty string").
    #[serde(default, skip_serializing_if = "crate::lenient::is_none_or_empty")]
    pub description: Option<String>,
    /// `instance_usable`: failed update or deprovision only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_usable: Option<bool>,
    /// `update_repeatable`: failed update only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_repeatable: Option<bool>,
}

const IN_PROGRESS: &str = "in progress";
const SUCCEEDED: &str = "succeeded";
const FAILED: &str = "failed";

impl From<&LastOperation> for LastOperationBody {
    fn from(op: &LastOperation) -> Self {
        let (state, instance_usable, update_repeatable) = match op.state {
            OperationState::InProgress => (IN_PROGRESS, None, None),
            OperationState::Succeeded => (SUCCEEDED, None, None),
            OperationState::Failed(Failure::Provision) => (FAILED, None, None),
            OperationState::Failed(Failure::Update {
                instance_usable,
                update_repeatable,
            }) => (FAILED, instance_usable, update_repeatable),
            OperationState::Failed(Failure::Deprovision { instance_usable }) => {
                (FAILED, instance_usable, None)
            }
        };
        Self {
            state: state.to_owned(),
            description: op.description.clone().filter(|d| !d.is_empty()),
            instance_usable,
            update_repeatable,
        }
    }
}

impl From<&BindingLastOperation> for LastOperationBody {
    fn from(op: &BindingLastOperation) -> Self {
        let state = match op.state {
            BindingOperationState::InProgress => IN_PROGRESS,
            BindingOperationState::Succeeded => SUCCEEDED,
            BindingOperationState::Failed => FAILED,
        };
        Self {
            state: state.to_owned(),
            description: op.description.clone().filter(|d| !d.is_empty()),
            instance_usable: None,
            update_repeatable: None,
        }
    }
}

impl Serialize for LastOperation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        LastOperationBody::from(self).serialize(serializer)
    }
}

impl Serialize for BindingLastOperation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        LastOperationBody::from(self).serialize(serializer)
    }
}
