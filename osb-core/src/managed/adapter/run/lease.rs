//! Running an operation's work under its lease: renewed while the work runs, and the work
//! dropped once the operation is no longer this replica's.

use std::future::Future;

use crate::error::BrokerError;
use crate::managed::adapter::Engine;
use crate::managed::adapter::error::halted;
use crate::managed::adapter::tasks::{LocalGuard, Target};
use crate::managed::logic::ServiceLogic;
use crate::managed::record::Outcome;
use crate::managed::store::StateStore;
use crate::operation::OperationToken;

impl<L: ServiceLogic, S: StateStore> Engine<L, S> {
    /// Runs `work` while renewing the lease of operation `token`. Returns `None`, dropping
    /// `work`, when the operation is no longer this replica's (halted by a delete, failed at its
    /// deadline, taken over after an expired lease).
    pub(in crate::managed::adapter) async fn run_leased<F: Future>(
        &self,
        target: &Target,
        token: &OperationToken,
        local: &LocalGuard,
        work: F,
    ) -> Option<F::Output> {
        let mut work = std::pin::pin!(work);
        let period = self.core.settings.lease_renewal;
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                // A halt signalled before the first poll wins: the work never starts.
                biased;
                () = local.halt().notified() => return None,
                output = &mut work => return Some(output),
                _ = ticks.tick() => {
                    if !self.renew(target, token).await {
                        return None;
                    }
                }
            }
        }
    }

    /// Runs `work`, the logic's part of operation `token`, under its lease
    /// ([`Engine::run_leased`]): a halt answers [`halted`]; a failure is recorded as the
    /// outcome `failed` makes of it and returned; a success is handed back for the caller to
    /// record with its result.
    pub(in crate::managed::adapter) async fn run_owned<T, E: Into<BrokerError>>(
        &self,
        target: &Target,
        token: &OperationToken,
        local: &LocalGuard,
        work: impl Future<Output = Result<T, E>>,
        failed: impl FnOnce(&E) -> Outcome,
    ) -> Result<T, BrokerError> {
        match self.run_leased(target, token, local, work).await {
            None => Err(halted()),
            Some(Err(err)) => {
                self.finish(target, token, failed(&err)).await?;
                Err(err.into())
            }
            Some(Ok(value)) => Ok(value),
        }
    }

    /// Renews the lease of `token`; settles it first if its deadline passed. `false` when the
    /// operation is no longer ours.
    async fn renew(&self, target: &Target, token: &OperationToken) -> bool {
        let now = self.core.now();
        let expires_at = now.saturating_add(self.core.settings.lease_duration);
        let owner = self.core.owner.clone();
        let result = match target {
            Target::Instance(iid) => {
                // A load settles (fails) the operation when its deadline passed; the renewal
                // then finds it is no longer running.
                let _ = self.instance(iid).await;
                self.modify_instance(iid, |r| r.lifecycle.renew(token, &owner, expires_at))
                    .await
            }
            Target::Binding(iid, bid) => {
                let _ = self.binding(iid, bid).await;
                let renewed = self
                    .modify_binding(iid, bid, |r| r.lifecycle.renew(token, &owner, expires_at))
                    .await;
                if matches!(renewed, Ok(true)) {
                    let claim = expires_at;
                    let _ = self
                        .modify_instance(iid, |r| {
                            match r.binding_operations.get_mut(bid.as_str()) {
                                Some(until) => {
                                    *until = claim;
                                    true
                                }
                                None => false,
                            }
                        })
                        .await;
                }
                renewed
            }
        };
        match result {
            Ok(renewed) => renewed,
            Err(err) => {
                // Keep working: the store may come back before the lease expires. If it does not,
                // another replica takes over and the next renewal finds out.
                tracing::warn!(
                    operation = %token,
                    error = %err,
                    cause = err.cause_chain().as_deref(),
                    "renewing a lease failed"
                );
                true
            }
        }
    }
}
