//! Settling an operation's outcome in its record: the phase moves on, and a binding's claim on
//! its instance is given back.

use crate::error::BrokerError;
use crate::managed::adapter::Engine;
use crate::managed::adapter::tasks::Target;
use crate::managed::logic::{OperationKind, ServiceLogic};
use crate::managed::record::Outcome;
use crate::managed::store::StateStore;
use crate::operation::OperationToken;

impl<L: ServiceLogic, S: StateStore> Engine<L, S> {
    /// Records the outcome of operation `token` without applying any result. `Ok(false)` when
    /// the operation was no longer running.
    pub(in crate::managed::adapter) async fn finish(
        &self,
        target: &Target,
        token: &OperationToken,
        outcome: Outcome,
    ) -> Result<bool, BrokerError> {
        let now = self.core.now();
        let retention = self.core.settings.tombstone_retention;
        match target {
            Target::Instance(iid) => {
                self.modify_instance(iid, |r| {
                    let done = r.lifecycle.complete(token, outcome.clone(), now, retention);
                    if done
                        && r.lifecycle
                            .latest()
                            .is_some_and(|op| op.kind == OperationKind::Update)
                    {
                        r.pending_update = None;
                    }
                    done
                })
                .await
            }
            Target::Binding(iid, bid) => {
                let done = self
                    .modify_binding(iid, bid, |r| {
                        r.lifecycle.complete(token, outcome.clone(), now, retention)
                    })
                    .await?;
                // Only the operation's owner drops the claim; a halted or taken-over operation's
                // claim now belongs to whoever replaced it.
                if done {
                    self.release_claim(iid, bid).await;
                }
                Ok(done)
            }
        }
    }
}
