//! A binding's claim on its instance: a bind or unbind marks its binding busy in the instance's
//! record, so that a deprovision or update waits for it (rules.md §6.3) and an update or delete
//! started meanwhile wins the compare-and-set.

use super::Engine;
use super::error::{internal, retry};
use crate::error::BrokerError;
use crate::managed::clock::Timestamp;
use crate::managed::logic::ServiceLogic;
use crate::managed::store::{StateStore, Version};

/// The result of [`Engine::claim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Claim {
    /// The instance changed: reload and decide again.
    Conflict,
    /// Another request holds a live claim on this binding.
    Busy,
    /// Claimed; nobody held it.
    Fresh,
    /// Claimed over a live claim (an unbind halting a bind).
    TakenOver,
}

impl<L: ServiceLogic, S: StateStore> Engine<L, S> {
    /// Marks binding `binding_id` as busy on its instance, if the instance is still at
    /// `version` (so a deprovision or update started meanwhile wins). A live claim of another
    /// request on the same binding is left alone unless `take_over` (an unbind halting a bind).
    pub(super) async fn claim(
        &self,
        instance_id: &str,
        binding_id: &str,
        version: Version,
        now: Timestamp,
        take_over: bool,
    ) -> Result<Claim, BrokerError> {
        let store = &self.core.store;
        let Some(mut current) = store.load_instance(instance_id).await.map_err(internal)? else {
            return Ok(Claim::Conflict);
        };
        if current.version != version {
            return Ok(Claim::Conflict);
        }
        let claims = &mut current.record.binding_operations;
        claims.retain(|_, until| *until > now);
        let existed = claims.contains_key(binding_id);
        if existed && !take_over {
            return Ok(Claim::Busy);
        }
        let until = now.saturating_add(self.core.settings.lease_duration);
        claims.insert(binding_id.to_owned(), until);
        match store
            .save_instance(instance_id, Some(version), &current.record)
            .await
        {
            Ok(_) if existed => Ok(Claim::TakenOver),
            Ok(_) => Ok(Claim::Fresh),
            Err(err) => retry(err).map(|()| Claim::Conflict),
        }
    }

    /// Gives a claim back after the binding's record could not be written; only a claim this
    /// request made itself (never one it took over: that one belongs to the running operation).
    pub(super) async fn return_claim(&self, instance_id: &str, binding_id: &str, claim: Claim) {
        if claim == Claim::Fresh {
            self.release_claim(instance_id, binding_id).await;
        }
    }

    /// Drops binding `binding_id`'s claim on its instance (best effort: a claim left behind
    /// expires with the lease).
    pub(super) async fn release_claim(&self, instance_id: &str, binding_id: &str) {
        let released = self
            .modify_instance(instance_id, |r| {
                r.binding_operations.remove(binding_id).is_some()
            })
            .await;
        if let Err(err) = released {
            tracing::warn!(error = %err, "releasing a binding's claim on its instance failed");
        }
    }
}
