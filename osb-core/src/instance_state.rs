//! IBM Cloud's `bluemix_v1` instance-state extension (rules.md §17.3).
//!
//! The resource controller reads an instance's state and enables or disables it when an account
//! is suspended, reactivated or crosses a spending cap. A disabled instance keeps its data but its
//! users lose access.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::broker::RequestContext;
use crate::error::BrokerError;
use crate::lenient::{empty_string_as_none, is_none_or_empty};

/// The state of an instance: `{"enabled", "active", "last_active"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InstanceState {
    /// Whether the instance is enabled (not suspended by IBM Cloud).
    pub enabled: bool,
    /// Whether the instance is in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// When it was last active, in milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_active: Option<i64>,
}

impl InstanceState {
    /// A state with `enabled` set and nothing else.
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            active: None,
            last_active: None,
        }
    }
}

/// The body of `PUT /bluemix_v1/service_instances/:id`: `{"enabled", "initiator_id", "reason_code"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InstanceStateUpdate {
    /// The state to move to.
    pub enabled: bool,
    /// Who asked.
    #[serde(
        default,
        deserialize_with = "empty_string_as_none",
        skip_serializing_if = "is_none_or_empty"
    )]
    pub initiator_id: Option<String>,
    /// Why (e.g. `IBMCLOUD_ACCT_SUSPEND`); unknown codes are kept as sent.
    #[serde(
        default,
        deserialize_with = "empty_string_as_none",
        skip_serializing_if = "is_none_or_empty"
    )]
    pub reason_code: Option<String>,
}

impl InstanceStateUpdate {
    /// An update to `enabled`.
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            initiator_id: None,
            reason_code: None,
        }
    }
}

/// The `bluemix_v1` endpoints. A broker offers them by returning itself from
/// [`ServiceBroker::instance_state`](crate::ServiceBroker::instance_state).
#[async_trait]
pub trait InstanceStateBroker: Send + Sync {
    /// `GET /bluemix_v1/service_instances/:instance_id`. Unknown instance: 404.
    async fn get_state(
        &self,
        instance_id: &str,
        ctx: &RequestContext,
    ) -> Result<InstanceState, BrokerError>;

    /// `PUT /bluemix_v1/service_instances/:instance_id`. Unknown instance: 404.
    async fn set_state(
        &self,
        instance_id: &str,
        update: InstanceStateUpdate,
        ctx: &RequestContext,
    ) -> Result<InstanceState, BrokerError>;
}
