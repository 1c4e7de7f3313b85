//! Background work: the task set the adapter owns, and which operations run in this process.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use tokio::sync::Notify;
use tokio::task::{AbortHandle, JoinSet};

use super::Engine;
use crate::managed::logic::ServiceLogic;
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

impl LocalGuard {
    /// The signal that halts the operation's work here.
    pub(super) fn halt(&self) -> &Notify {
        &self.halt
    }
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

/// Which resource an operation works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    Instance(String),
    Binding(String, String),
}

impl<L: ServiceLogic, S: StateStore> Engine<L, S> {
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
}
