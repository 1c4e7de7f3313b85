//! Background work: the task set the adapter owns, and running an operation under its lease.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use tokio::sync::Notify;
use tokio::task::{AbortHandle, JoinSet};

use super::error::halted;
use super::{Engine, INTERRUPTED};
use crate::error::{BrokerError, ErrorKind};
use crate::managed::logic::{OperationKind, ServiceLogic};
use crate::managed::record::{Lifecycle, Outcome, Phase};
use crate::managed::store::StateStore;
use crate::operation::OperationToken;

/// The tasks of one adapter: a `JoinSet` (aborted on drop) plus the abort handle of each
/// running operation, so a delete can halt a create running here.
#[derive(Debug, Default)]
pub(super) struct TaskSet {
    set: Mutex<JoinSet<()>>,
    operations: Mutex<HashMap<OperationToken, AbortHandle>>,
    /// Operations whose work runs in this process right now (background or inline), each with
    /// the signal that halts it.
    local: Mutex<HashMap<OperationToken, Arc<Notify>>>,
    closed: AtomicBool,
}

/// Marks an operation as running here until dropped.
/// Registered before the work checks that it still owns its operation, so a local halt
/// either comes first and the check fails, or comes after and the stored signal stops the work
/// before it is first polled.
pub(super) struct LocalGuard {
    tasks: std::sync::Weak<TaskSet>,
    token: OperationToken,
    halt: Arc<Notify>,
}

impl Drop for LocalGuard {
    fn drop(&mut self) {
        if let Some(tasks) = self.tasks.upgrade() {
            tasks
                .local
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&self.token);
        }
    }
}

impl TaskSet {
    /// Spawns `task` on the current tokio runtime. Returns `false` when the set is shut down or
    /// there is no runtime.
    pub(super) fn spawn<F>(&self, operation: Option<OperationToken>, task: F) -> bool
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if self.closed.load(Ordering::Acquire) {
            return false;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!("no tokio runtime: background operations need one");
            return false;
        };
        let mut set = self.set.lock().unwrap_or_else(PoisonError::into_inner);
        // Reap finished tasks so the set does not grow.
        while set.try_join_next().is_some() {}
        let handle = set.spawn_on(task, &runtime);
        drop(set);
        let mut operations = self
            .operations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        operations.retain(|_, handle| !handle.is_finished());
        if let Some(token) = operation {
            operations.insert(token, handle);
        }
        true
    }

    /// Halts operation `token` if its work runs here: signals inline work and aborts its task.
    pub(super) fn abort(&self, token: &OperationToken) {
        let halt = self
            .local
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(token)
            .cloned();
        if let Some(halt) = halt {
            // `notify_one` stores a permit, so a halt that comes before the work awaits it counts.
            halt.notify_one();
        }
        let handle = self
            .operations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(token);
        if let Some(handle) = handle {
            handle.abort();
        }
    }

    /// Whether operation `token`'s work runs in this process.
    pub(super) fn is_local(&self, token: &OperationToken) -> bool {
        self.local
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(token)
    }

    pub(super) fn len(&self) -> usize {
        let mut set = self.set.lock().unwrap_or_else(PoisonError::into_inner);
        while set.try_join_next().is_some() {}
        set.len()
    }

    pub(super) async fn shutdown(&self) {
        self.closed.store(true, Ordering::Release);
        let mut set = std::mem::take(&mut *self.set.lock().unwrap_or_else(PoisonError::into_inner));
        set.shutdown().await;
        self.operations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// Logs why background operation `token` ended with `err`, with the cause chain (which may
/// hold internals: logs only). A halt by another request is routine (debug); a failure of the
/// logic is a warning; a broker failure (5xx, e.g. the store) is an error.
fn log_failure(token: &OperationToken, err: &BrokerError) {
    let cause = err.cause_chain();
    let cause = cause.as_deref();
    if err.kind() == ErrorKind::ConcurrencyError {
        tracing::debug!(operation = %token, error = %err, "background operation halted");
    } else if err.status().is_server_error() {
        tracing::error!(operation = %token, error = %err, cause, "background operation failed");
    } else {
        tracing::warn!(operation = %token, error = %err, cause, "background operation failed");
    }
}

/// Which resource an operation works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    Instance(String),
    Binding(String, String),
}

impl<L: ServiceLogic, S: StateStore> Engine<L, S> {
    /// Runs operation `token` of `kind` in the background; if that is impossible (shut down,
    /// no runtime), fails it at once rather than leave it to lease expiry.
    pub(super) async fn spawn_work(
        &self,
        target: Target,
        kind: OperationKind,
        token: OperationToken,
    ) {
        if !self.try_spawn(target.clone(), kind, token.clone()) {
            let _ = self
                .finish(&target, &token, Outcome::failed(INTERRUPTED))
                .await;
        }
    }

    /// Spawns the task running operation `token`. Not `async`: the task may itself settle and
    /// resume operations, and a recursive `async fn` could not be proven `Send`.
    fn try_spawn(&self, target: Target, kind: OperationKind, token: OperationToken) -> bool {
        let engine = self.clone();
        let work_token = token.clone();
        let work_target = target;
        let task = async move {
            let (target, token) = (work_target, work_token);
            let result = match (&target, kind) {
                (Target::Instance(iid), OperationKind::Provision) => {
                    engine.create_instance(iid, &token).await.map(drop)
                }
                (Target::Instance(iid), OperationKind::Update) => {
                    engine.update_instance(iid, &token).await.map(drop)
                }
                (Target::Instance(iid), OperationKind::Deprovision) => {
                    engine.delete_instance(iid, &token).await
                }
                (Target::Binding(iid, bid), OperationKind::Bind) => {
                    engine.create_binding(iid, bid, &token).await.map(drop)
                }
                (Target::Binding(iid, bid), OperationKind::Unbind) => {
                    engine.delete_binding(iid, bid, &token).await
                }
                _ => Ok(()),
            };
            if let Err(err) = result {
                log_failure(&token, &err);
            }
        };
        self.tasks
            .upgrade()
            .is_some_and(|tasks| tasks.spawn(Some(token), task))
    }

    /// Whether operation `token`'s work runs in this process.
    pub(super) fn is_local(&self, token: &OperationToken) -> bool {
        self.tasks
            .upgrade()
            .is_some_and(|tasks| tasks.is_local(token))
    }

    /// Aborts the local task of operation `token`, if it runs here.
    pub(super) fn abort(&self, token: &OperationToken) {
        if let Some(tasks) = self.tasks.upgrade() {
            tasks.abort(token);
        }
    }

    /// Runs `work` while renewing the lease of operation `token`. Returns `None`, dropping
    /// `work`, when the operation is no longer this replica's (halted by a delete, failed at its
    /// deadline, taken over after an expired lease).
    /// Marks operation `token` as running here until the guard drops. Call it before checking
    /// that the operation is still this replica's.
    pub(super) fn enter_local(&self, token: &OperationToken) -> LocalGuard {
        let halt = Arc::new(Notify::new());
        if let Some(tasks) = self.tasks.upgrade() {
            tasks
                .local
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(token.clone(), halt.clone());
        }
        LocalGuard {
            tasks: self.tasks.clone(),
            token: token.clone(),
            halt,
        }
    }

    pub(super) async fn run_leased<F: Future>(
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
                () = local.halt.notified() => return None,
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
    pub(super) async fn run_owned<T, E: Into<BrokerError>>(
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

/// Whether the record still shows operation `token` and is not ready (so no newer create or
/// bind of the same id succeeded): what [`Engine::clean_up_late`] then deletes. Says so in the log.
fn finished_late(life: &Lifecycle, token: &OperationToken, what: &str) -> bool {
    let late = life.find(token.as_str()).is_some() && life.phase != Phase::Ready;
    if late {
        tracing::info!(operation = %token, "cleaning up after a {what} that finished late");
    }
    late
}
