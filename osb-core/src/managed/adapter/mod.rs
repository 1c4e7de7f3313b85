//! `Managed`: a [`ServiceBroker`] built from a [`ServiceLogic`] and a [`StateStore`].
//!
//! Inside, decisions are kept apart from execution. `decide` holds, per operation, a pure
//! function from the stored records, the request and the moment (time, catalog, settings) to
//! "answer now" or "start this operation with this record"; `run` is the one executor that saves
//! that record by compare-and-set, runs the operation inline or in the background under its
//! lease, and settles the outcome. The operation modules (`instance`, `binding`, `delete`) load,
//! decide and run, and hold the logic's part of each operation; `access` reads and writes
//! records (settling stale operations with `recover`), `tasks` owns the background work, `claim`
//! a binding's claim on its instance, `halt` what a delete halting a create waits for and cleans
//! up, `refused` the undo of a refused create, `error` the answers all of them give.

mod access;
mod binding;
mod builder;
mod claim;
mod decide;
mod delete;
mod error;
mod expiry;
mod halt;
mod instance;
mod poll;
mod recover;
mod refused;
mod run;
mod settings;
mod state;
mod tasks;

pub use builder::Builder;
pub use settings::{AfterDelete, DeleteDuringCreate, Settings};

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;

use crate::binding::{
    BindRequest, BindResponse, FetchBindingRequest, FetchBindingResponse, UnbindRequest,
    UnbindResponse,
};
use crate::broker::{RequestContext, ServiceBroker};
use crate::catalog::Catalog;
use crate::deprovision::{DeprovisionRequest, DeprovisionResponse};
use crate::error::BrokerError;
use crate::instance::{FetchInstanceRequest, FetchInstanceResponse};
use crate::instance_state::InstanceStateBroker;
use crate::last_operation::{BindingLastOperation, LastOperation, LastOperationRequest};
use crate::provision::{ProvisionRequest, ProvisionResponse};
use crate::update::{UpdateRequest, UpdateResponse};

use super::clock::{Clock, Timestamp};
use super::logic::{Execution, OperationKind, ServiceLogic};
use super::record::Lease;
use super::store::{MemoryStore, StateStore};
use error::internal;
use tasks::TaskSet;

/// How often a compare-and-set is retried after conflicts before answering 422
/// `ConcurrencyError`. Conflicts only repeat under heavy contention on one resource.
const MAX_ATTEMPTS: usize = 64;

const HALTED: &str = "A delete request halted this operation before it finished.";
const DEADLINE: &str = "The operation did not finish within the plan's maximum polling duration.";
const INTERRUPTED: &str =
    "The broker stopped while this operation ran; its outcome is unknown. Delete and try again.";

/// A [`ServiceBroker`] that applies the spec's bookkeeping rules on top of a [`ServiceLogic`],
/// keeping its state in a [`StateStore`]. See the [module guide](super) for the rules and the
/// status table.
///
/// Asynchronous operations run as tasks owned by this value: [`Managed::shutdown`] stops them,
/// and so does dropping it. An operation stopped that way keeps its lease until it expires; then
/// any replica (or this broker after a restart) resumes or fails it.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use async_trait::async_trait;
/// use osb_core::catalog::{Catalog, Plan, Service};
/// use osb_core::managed::{
///     AfterDelete, DeprovisionError, InstanceRecord, LogicError, Managed, MemoryStore, ServiceLogic,
/// };
/// use osb_core::{ApiVersion, ProvisionRequest, ProvisionedInstance, RequestContext, ServiceBroker};
///
/// #[derive(Debug)]
/// struct Nothing(Arc<Catalog>);
///
/// #[async_trait]
/// impl ServiceLogic for Nothing {
///     fn catalog(&self) -> Arc<Catalog> {
///         self.0.clone()
///     }
///     async fn create_instance(&self, _: &str, _: &ProvisionRequest) -> Result<ProvisionedInstance, LogicError> {
///         Ok(ProvisionedInstance::default())
///     }
///     async fn delete_instance(&self, _: &str, _: &InstanceRecord) -> Result<(), DeprovisionError> {
///         Ok(())
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let catalog = Catalog::new(vec![Service::new("s", "nothing", "Nothing", false).with_plan(Plan::new("p", "p", "P"))]);
/// let broker = Managed::builder(Nothing(Arc::new(catalog)))
///     .store(Arc::new(MemoryStore::new())) // or a durable store shared by replicas
///     .after_delete(AfterDelete::Gone)
///     .tombstone_retention(Duration::from_secs(3600))
///     .build();
/// broker.recover().await?; // settle operations a previous process left behind
/// let ctx = RequestContext::new(ApiVersion::V2_17);
/// broker.provision("i-1", ProvisionRequest::new("s", "p"), &ctx).await?;
/// // Deleting an unknown instance: 410 Gone.
/// let gone = broker.deprovision("i-2", osb_core::DeprovisionRequest::new("s", "p"), &ctx).await;
/// assert_eq!(gone.unwrap_err().status().as_u16(), 410);
/// broker.shutdown().await;
/// # Ok::<(), osb_core::BrokerError>(())
/// # }).unwrap();
/// ```
pub struct Managed<L, S = MemoryStore> {
    engine: Engine<L, S>,
    tasks: Arc<TaskSet>,
}

impl<L, S> fmt::Debug for Managed<L, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Managed")
            .field("owner", &self.engine.core.owner)
            .field("settings", &self.engine.core.settings)
            .finish_non_exhaustive()
    }
}

impl<L: ServiceLogic, S: StateStore> Managed<L, S> {
    /// An adapter over `logic` and `store` with default settings.
    pub fn new(logic: L, store: S) -> Self {
        Managed::builder(logic).store(store).build()
    }

    /// The business logic.
    pub fn logic(&self) -> &L {
        &self.engine.core.logic
    }

    /// The state store.
    pub fn store(&self) -> &S {
        &self.engine.core.store
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.engine.core.settings
    }

    /// Settles every running operation whose owner's lease expired or whose deadline passed:
    /// resumes it when [`ServiceLogic::is_idempotent`] says so, fails it otherwise. Call it at
    /// start-up; polls and requests do the same for the resource they touch. Returns how many
    /// operations were settled.
    ///
    /// # Errors
    ///
    /// A 500 [`BrokerError`] when the store fails.
    pub async fn recover(&self) -> Result<usize, BrokerError> {
        self.engine.recover().await
    }

    /// Removes tombstones past their retention from the store. Returns how many were removed.
    ///
    /// # Errors
    ///
    /// A 500 [`BrokerError`] when the store fails.
    pub async fn purge_tombstones(&self) -> Result<usize, BrokerError> {
        let now = self.engine.core.now();
        self.engine
            .core
            .store
            .purge_expired(now)
            .await
            .map_err(internal)
    }

    /// What a broker calls once at start-up, before serving: settles the operations an earlier
    /// run left ([`Managed::recover`], the count logged at `info`), then runs the
    /// [maintenance](Managed::spawn_maintenance) every `period` from one `period` on. Returns
    /// how many operations were settled. Call it once: each call starts another maintenance
    /// task.
    ///
    /// # Errors
    ///
    /// A 500 [`BrokerError`] when the store fails; no task is started then.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (the maintenance is a task).
    ///
    /// # Example
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::time::Duration;
    /// # use osb_core::catalog::{Catalog, Plan, Service};
    /// # use osb_core::managed::{LogicError, Managed, ServiceLogic};
    /// # use osb_core::{Binding, BindRequest, ProvisionRequest, ProvisionedInstance};
    /// # struct Logic(Arc<Catalog>);
    /// # #[async_trait::async_trait]
    /// # impl ServiceLogic for Logic {
    /// #     fn catalog(&self) -> Arc<Catalog> { self.0.clone() }
    /// #     async fn create_instance(&self, _: &str, _: &ProvisionRequest) -> Result<ProvisionedInstance, LogicError> { Ok(ProvisionedInstance::default()) }
    /// #     async fn update_instance(&self, _: &str, _: &osb_core::UpdateRequest, _: &osb_core::managed::InstanceRecord) -> Result<osb_core::UpdatedInstance, osb_core::managed::UpdateError> { Ok(Default::default()) }
    /// #     async fn delete_instance(&self, _: &str, _: &osb_core::managed::InstanceRecord) -> Result<(), osb_core::managed::DeprovisionError> { Ok(()) }
    /// #     async fn create_binding(&self, _: &str, _: &str, _: &BindRequest) -> Result<Binding, LogicError> { Ok(Binding::default()) }
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let catalog = Catalog::new(vec![Service::new("s", "db", "A db", true).with_plan(Plan::new("p", "small", "Small"))]);
    /// let broker = Managed::builder(Logic(Arc::new(catalog))).build();
    /// let settled = broker.start(Duration::from_secs(30)).await?;
    /// assert_eq!((settled, broker.running_tasks()), (0, 1)); // nothing left by an earlier run
    /// // … serve it, then:
    /// broker.shutdown().await;
    /// # Ok::<(), osb_core::BrokerError>(())
    /// # }).unwrap();
    /// ```
    pub async fn start(&self, period: Duration) -> Result<usize, BrokerError> {
        let settled = self.recover().await?;
        if settled > 0 {
            tracing::info!(settled, "settled operations of an earlier run");
        }
        let period = period.max(Duration::from_millis(1));
        // The recovery just ran: the maintenance's first round is one period away.
        let now = tokio::time::Instant::now();
        self.spawn_maintenance_at(now.checked_add(period).unwrap_or(now), period);
        Ok(settled)
    }

    /// Runs [`Managed::recover`] and [`Managed::purge_tombstones`] now and every `period` in a
    /// task owned by this adapter, until [`Managed::shutdown`] or drop. A zero `period` counts
    /// as one millisecond.
    pub fn spawn_maintenance(&self, period: Duration) {
        let period = period.max(Duration::from_millis(1));
        self.spawn_maintenance_at(tokio::time::Instant::now(), period);
    }

    /// The maintenance task, its first round at `first`.
    fn spawn_maintenance_at(&self, first: tokio::time::Instant, period: Duration) {
        let engine = self.engine.clone();
        self.tasks.spawn(None, async move {
            let mut ticks = tokio::time::interval_at(first, period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                // A store failure was logged with its cause where it happened.
                if let Err(err) = engine.recover().await {
                    tracing::warn!(error = %err, "recovering operations failed");
                }
                let now = engine.core.now();
                if let Err(err) = engine.core.store.purge_expired(now).await {
                    let err = BrokerError::internal(err);
                    tracing::error!(
                        cause = err.cause_chain().as_deref(),
                        "purging tombstones failed"
                    );
                }
            }
        });
    }

    /// How many times a scan of the store ([`Managed::recover`], at start and in every
    /// maintenance round) met a record it could not read: corrupt JSON, or a record this
    /// broker's decoder refuses. Each is logged at `error` with its instance (and binding) id
    /// and skipped; requests for that id answer 500 until an operator repairs or removes the
    /// row, while every other instance keeps working. A count that keeps growing means such a
    /// row is still there. Starts at zero.
    pub fn unreadable_records(&self) -> u64 {
        self.engine.core.unreadable.load(Ordering::Relaxed)
    }

    /// How many background tasks are running.
    pub fn running_tasks(&self) -> usize {
        self.tasks.len()
    }

    /// Stops all background work and waits for it to end. Operations stopped this way keep
    /// their leases until they expire, then are resumed or failed (by another replica, or by
    /// this broker's next start). An asynchronous operation accepted after shutdown has nobody
    /// to run it and is recorded `failed` at once; stop serving requests before shutting down.
    pub async fn shutdown(&self) {
        self.tasks.shutdown().await;
    }
}

/// What every clone of the engine shares; holds no task handles (tasks hold it).
struct Core<L, S> {
    logic: L,
    store: S,
    catalog: Arc<Catalog>,
    settings: Settings,
    clock: Arc<dyn Clock>,
    owner: String,
    /// Unreadable records met by recovery scans (see [`Managed::unreadable_records`]).
    unreadable: AtomicU64,
}

impl<L: ServiceLogic, S: StateStore> Core<L, S> {
    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn is_async(&self, kind: OperationKind, plan_id: &str) -> bool {
        self.logic.execution(kind, plan_id) == Execution::Asynchronous
    }

    fn lease(&self, now: Timestamp) -> Lease {
        Lease::new(
            self.owner.clone(),
            now.saturating_add(self.settings.lease_duration),
        )
    }

    /// What a decision reads besides the records and the request, as of now.
    fn moment(&self, accepts_incomplete: bool) -> decide::Moment<'_> {
        decide::Moment {
            now: self.now(),
            catalog: &self.catalog,
            settings: &self.settings,
            owner: &self.owner,
            accepts_incomplete,
        }
    }
}

/// The adapter's working half: the shared core and a weak link to the task set, so that
/// background tasks can hold it without keeping themselves alive.
struct Engine<L, S> {
    core: Arc<Core<L, S>>,
    tasks: Weak<TaskSet>,
}

impl<L, S> Clone for Engine<L, S> {
    fn clone(&self) -> Self {
        Self {
            core: self.core.clone(),
            tasks: self.tasks.clone(),
        }
    }
}

#[async_trait]
impl<L: ServiceLogic, S: StateStore> ServiceBroker for Managed<L, S> {
    async fn catalog(&self, _ctx: &RequestContext) -> Result<Arc<Catalog>, BrokerError> {
        Ok(self.engine.core.catalog.clone())
    }

    async fn provision(
        &self,
        instance_id: &str,
        request: ProvisionRequest,
        ctx: &RequestContext,
    ) -> Result<ProvisionResponse, BrokerError> {
        self.engine.provision(instance_id, request, ctx).await
    }

    async fn update(
        &self,
        instance_id: &str,
        request: UpdateRequest,
        ctx: &RequestContext,
    ) -> Result<UpdateResponse, BrokerError> {
        self.engine.update(instance_id, request, ctx).await
    }

    async fn deprovision(
        &self,
        instance_id: &str,
        request: DeprovisionRequest,
        ctx: &RequestContext,
    ) -> Result<DeprovisionResponse, BrokerError> {
        let _ = request;
        self.engine.deprovision(instance_id, ctx).await
    }

    async fn fetch_instance(
        &self,
        instance_id: &str,
        request: FetchInstanceRequest,
        ctx: &RequestContext,
    ) -> Result<FetchInstanceResponse, BrokerError> {
        let _ = (request, ctx);
        self.engine.fetch_instance(instance_id).await
    }

    async fn last_operation(
        &self,
        instance_id: &str,
        request: LastOperationRequest,
        ctx: &RequestContext,
    ) -> Result<LastOperation, BrokerError> {
        let _ = ctx;
        self.engine
            .last_operation(instance_id, request.operation.as_deref())
            .await
    }

    async fn bind(
        &self,
        instance_id: &str,
        binding_id: &str,
        request: BindRequest,
        ctx: &RequestContext,
    ) -> Result<BindResponse, BrokerError> {
        self.engine
            .bind(instance_id, binding_id, request, ctx)
            .await
    }

    async fn unbind(
        &self,
        instance_id: &str,
        binding_id: &str,
        request: UnbindRequest,
        ctx: &RequestContext,
    ) -> Result<UnbindResponse, BrokerError> {
        let _ = request;
        self.engine.unbind(instance_id, binding_id, ctx).await
    }

    async fn fetch_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        request: FetchBindingRequest,
        ctx: &RequestContext,
    ) -> Result<FetchBindingResponse, BrokerError> {
        let _ = (request, ctx);
        self.engine.fetch_binding(instance_id, binding_id).await
    }

    async fn binding_last_operation(
        &self,
        instance_id: &str,
        binding_id: &str,
        request: LastOperationRequest,
        ctx: &RequestContext,
    ) -> Result<BindingLastOperation, BrokerError> {
        let _ = ctx;
        self.engine
            .binding_last_operation(instance_id, binding_id, request.operation.as_deref())
            .await
    }

    fn instance_state(&self) -> Option<&dyn InstanceStateBroker> {
        Some(self)
    }
}
