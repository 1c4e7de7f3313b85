//! IBM Cloud's `bluemix_v1` instance state, recorded in the store (rules.md §17.3).

use async_trait::async_trait;

use super::Managed;
use crate::broker::RequestContext;
use crate::error::BrokerError;
use crate::instance_state::{InstanceState, InstanceStateBroker, InstanceStateUpdate};
use crate::managed::logic::ServiceLogic;
use crate::managed::store::StateStore;

/// Disabling keeps the instance and its data; it refuses new bindings and updates with 422 and a
/// description naming the reason, until the same endpoint enables it again. Deprovision, unbind,
/// polls and fetches keep working (the platform must be able to clean up a suspended account).
#[async_trait]
impl<L: ServiceLogic, S: StateStore> InstanceStateBroker for Managed<L, S> {
    async fn get_state(
        &self,
        instance_id: &str,
        ctx: &RequestContext,
    ) -> Result<InstanceState, BrokerError> {
        let _ = ctx;
        let current = self.engine.instance(instance_id).await?;
        let Some(current) = current.filter(|c| !c.record.lifecycle.is_deleted()) else {
            return Err(BrokerError::not_found());
        };
        let mut state = InstanceState::new(current.record.enabled);
        // The adapter does not track usage: an enabled instance counts as active.
        state.active = Some(current.record.enabled);
        Ok(state)
    }

    async fn set_state(
        &self,
        instance_id: &str,
        update: InstanceStateUpdate,
        ctx: &RequestContext,
    ) -> Result<InstanceState, BrokerError> {
        let _ = ctx;
        let engine = &self.engine;
        let current = engine.instance(instance_id).await?;
        let Some(current) = current.filter(|c| !c.record.lifecycle.is_deleted()) else {
            return Err(BrokerError::not_found());
        };
        // The hook runs before the state is recorded: if blocking or restoring access fails,
        // the recorded state stays what it was and the platform can retry.
        if current.record.enabled != update.enabled {
            let logic = &engine.core.logic;
            let hook = if update.enabled {
                logic.on_enable(instance_id, &update).await
            } else {
                logic.on_disable(instance_id, &update).await
            };
            hook.map_err(BrokerError::from)?;
        }
        let now = engine.core.now();
        let changed = engine
            .modify_instance(instance_id, |r| {
                if r.lifecycle.is_deleted() {
                    return false;
                }
                // Usage metering bills the part of an hour before a disable (or after an
                // enable) by this time; a repeated PUT of the same state is no change.
                if r.enabled != update.enabled {
                    r.enabled_changed_at = Some(now);
                }
                r.enabled = update.enabled;
                r.state_reason.clone_from(&update.reason_code);
                true
            })
            .await?;
        if !changed {
            return Err(BrokerError::not_found());
        }
        tracing::info!(
            enabled = update.enabled,
            reason_code = update.reason_code.as_deref().unwrap_or(""),
            "instance state changed"
        );
        let mut state = InstanceState::new(update.enabled);
        state.active = Some(update.enabled);
        Ok(state)
    }
}
