//! A delete halting a create (or an unbind halting a bind) that runs on another replica: the
//! delete calls the logic only once that replica has stopped the work and recorded so, or its
//! lease has expired, so the logic's create and delete of one id never overlap.

use std::time::Duration;

use super::Engine;
use super::tasks::Target;
use crate::error::BrokerError;
use crate::managed::logic::ServiceLogic;
use crate::managed::record::{Lifecycle, Phase};
use crate::managed::store::StateStore;
use crate::operation::OperationToken;

/// How often a delete polls the store while it waits for a halted operation's replica to stop
/// its work: a quarter of the lease renewal period, at least [`STOP_POLL_MIN`] and at most
/// [`STOP_POLL_MAX`].
const STOP_POLL_MIN: Duration = Duration::from_millis(1);
/// See [`STOP_POLL_MIN`].
const STOP_POLL_MAX: Duration = Duration::from_secs(1);

impl<L: ServiceLogic, S: StateStore> Engine<L, S> {
    /// Records in `lifecycle`, where a delete halts the running create or bind `halts`, that
    /// the halted work stopped, if it runs in this process: the delete stops that work itself,
    /// right after saving the halt, so it need not wait for it.
    pub(super) fn stop_here(&self, lifecycle: &mut Lifecycle, halts: Option<&OperationToken>) {
        if let Some(create) = halts.filter(|token| self.is_local(token)) {
            lifecycle.stopped(create, &self.core.owner);
        }
    }

    /// Records that this replica stopped the work of operation `token` after a delete halted it
    /// ([`Lifecycle::stopped`]), so that the delete, waiting in [`Engine::until_stopped`] on
    /// another replica, calls the logic now. Best effort: if the write fails, the delete waits
    /// for the lease to expire instead.
    pub(super) async fn record_stopped(&self, target: &Target, token: &OperationToken) {
        let owner = &self.core.owner;
        let recorded = match target {
            Target::Instance(iid) => {
                self.modify_instance(iid, |r| r.lifecycle.stopped(token, owner))
                    .await
            }
            Target::Binding(iid, bid) => {
                self.modify_binding(iid, bid, |r| r.lifecycle.stopped(token, owner))
                    .await
            }
        };
        match recorded {
            Ok(true) => {
                tracing::debug!(operation = %token, "recorded that a halted operation stopped")
            }
            Ok(false) => {}
            Err(err) => tracing::warn!(
                operation = %token,
                error = %err,
                cause = err.cause_chain().as_deref(),
                "recording that a halted operation stopped failed; its delete waits for the lease to expire"
            ),
        }
    }

    /// Waits until the work of the create or bind that the delete `token` halted has stopped, if
    /// it ran on another replica: until that replica recorded so ([`Engine::record_stopped`], at
    /// its next lease renewal) or the lease it held has expired (the replica died). Never longer
    /// than that lease: the halted operation can no longer renew it. `lifecycle` is the
    /// resource as the delete loaded it. A store failure while polling is logged and polling
    /// goes on; the delete's own deadline still applies (its lease renewals check it).
    pub(super) async fn until_stopped(
        &self,
        target: &Target,
        lifecycle: &Lifecycle,
        token: &OperationToken,
    ) {
        let Some((halted, lease)) = lifecycle
            .stopping_before(token)
            .and_then(|op| Some((op.token.clone(), op.stopping.clone()?)))
        else {
            return;
        };
        let settings = &self.core.settings;
        let period = (settings.lease_renewal / 4).clamp(STOP_POLL_MIN, STOP_POLL_MAX);
        tracing::debug!(
            operation = %token,
            halted = %halted,
            owner = %lease.owner,
            "waiting for the replica of a halted operation to stop its work"
        );
        loop {
            if lease.is_expired(self.core.now()) {
                tracing::info!(
                    operation = %token,
                    halted = %halted,
                    owner = %lease.owner,
                    "the replica of a halted operation did not record that it stopped before its lease expired"
                );
                return;
            }
            let loaded = match target {
                Target::Instance(iid) => self
                    .core
                    .store
                    .load_instance(iid)
                    .await
                    .map(|c| c.map(|c| c.record.lifecycle)),
                Target::Binding(iid, bid) => self
                    .core
                    .store
                    .load_binding(iid, bid)
                    .await
                    .map(|c| c.map(|c| c.record.lifecycle)),
            };
            match loaded {
                Ok(Some(life)) if life.stopping_before(token).is_some() => {}
                Ok(_) => return,
                Err(err) => {
                    let err = BrokerError::internal(err);
                    tracing::warn!(
                        operation = %token,
                        cause = err.cause_chain().as_deref(),
                        "loading a record while waiting for a halted operation to stop failed"
                    );
                }
            }
            tokio::time::sleep(period).await;
        }
    }

    /// A create or bind finished after it was halted or failed by another request or replica:
    /// delete what it made, unless a newer instance or binding of the same id exists.
    pub(super) async fn clean_up_late(&self, target: &Target, token: &OperationToken) {
        let (store, logic) = (&self.core.store, &self.core.logic);
        let what = match target {
            Target::Instance(_) => "create",
            Target::Binding(..) => "bind",
        };
        let deleted = match target {
            Target::Instance(iid) => match store.load_instance(iid).await {
                Ok(Some(c)) if finished_late(&c.record.lifecycle, token, what) => logic
                    .delete_instance(iid, &c.record)
                    .await
                    .map_err(BrokerError::from),
                _ => return,
            },
            Target::Binding(iid, bid) => match store.load_binding(iid, bid).await {
                Ok(Some(c)) if finished_late(&c.record.lifecycle, token, what) => logic
                    .delete_binding(iid, bid, &c.record)
                    .await
                    .map_err(BrokerError::from),
                _ => return,
            },
        };
        if let Err(err) = deleted {
            tracing::warn!(
                operation = %token,
                error = %err,
                cause = err.cause_chain().as_deref(),
                "cleaning up a late {what} failed"
            );
        }
    }
}

/// Whether the record still shows operation `token` and is not ready (so no newer create or
/// bind of the same id succeeded): what [`Engine::clean_up_late`] then deletes. Says so in the log.
fn finished_late(life: &Lifecycle, token: &OperationToken, what: &str) -> bool {
    let late = life.find(token.as_str()).is_some() && life.phase != Phase::Ready;
    if late {
        tracing::info!(operation = %token, "cleaning up after a {what} that finished late");
    }
    late
}
