//! Broker bookkeeping done once: write the business logic, get the spec's rules for free.
//!
//! A provider implements [`ServiceLogic`] ("create the database", "create a user") and wraps it
//! in [`Managed`], which implements [`ServiceBroker`](crate::ServiceBroker) and answers 200 vs
//! 201 vs 202 vs 409 vs 410 vs 422 itself, runs long work in the background, answers
//! `last_operation` from a [`StateStore`], and keeps IBM Cloud's enabled flag.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use async_trait::async_trait;
//! use osb_core::catalog::{Catalog, Plan, Service};
//! use osb_core::managed::{
//!     BindingRecord, DeprovisionError, Execution, InstanceRecord, LogicError, Managed,
//!     OperationKind, ServiceLogic,
//! };
//! use osb_core::{
//!     ApiVersion, BindRequest, BindResponse, Binding, LastOperationRequest, OperationState,
//!     ProvisionRequest, ProvisionResponse, ProvisionedInstance, RequestContext, ServiceBroker,
//! };
//!
//! /// The provider's code: no status codes, no tokens, no retries.
//! #[derive(Debug)]
//! struct Queues {
//!     catalog: Arc<Catalog>,
//! }
//!
//! #[async_trait]
//! impl ServiceLogic for Queues {
//!     fn catalog(&self) -> Arc<Catalog> {
//!         self.catalog.clone()
//!     }
//!
//!     fn execution(&self, kind: OperationKind, plan_id: &str) -> Execution {
//!         // Dedicated queues take a while to set up; everything else is quick.
//!         if kind == OperationKind::Provision && plan_id == "dedicated" {
//!             Execution::Asynchronous
//!         } else {
//!             Execution::Synchronous
//!         }
//!     }
//!
//!     fn dashboard_url(&self, instance_id: &str, _request: &ProvisionRequest) -> Option<String> {
//!         Some(format!("https://queues.example.com/{instance_id}"))
//!     }
//!
//!     async fn create_instance(
//!         &self,
//!         _instance_id: &str,
//!         _request: &ProvisionRequest,
//!     ) -> Result<ProvisionedInstance, LogicError> {
//!         Ok(ProvisionedInstance::default()) // create the queue here
//!     }
//!
//!     async fn delete_instance(
//!         &self,
//!         _instance_id: &str,
//!         _instance: &InstanceRecord,
//!     ) -> Result<(), DeprovisionError> {
//!         Ok(()) // delete the queue, also when it was only half created
//!     }
//!
//!     async fn create_binding(
//!         &self,
//!         instance_id: &str,
//!         binding_id: &str,
//!         _request: &BindRequest,
//!     ) -> Result<Binding, LogicError> {
//!         let credentials = serde_json::json!({
//!             "url": format!("amqps://queues.example.com/{instance_id}"),
//!             "user": binding_id,
//!         });
//!         match credentials {
//!             serde_json::Value::Object(map) => Ok(Binding::with_credentials(map)),
//!             _ => Err(LogicError::failed("Creating the user failed.")),
//!         }
//!     }
//!
//!     async fn delete_binding(
//!         &self,
//!         _instance_id: &str,
//!         _binding_id: &str,
//!         _binding: &BindingRecord,
//!     ) -> Result<(), LogicError> {
//!         Ok(()) // revoke the user
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let catalog = Catalog::new(vec![
//!     Service::new("queues", "queues", "Message queues", true)
//!         .with_plan(Plan::new("shared", "shared", "A shared queue"))
//!         .with_plan(Plan::new("dedicated", "dedicated", "A dedicated queue")),
//! ]);
//! let broker = Managed::builder(Queues { catalog: Arc::new(catalog) }).build();
//! // `broker` is a `ServiceBroker`: hand it to `osb_tower` to serve it over HTTP.
//! let sync = RequestContext::new(ApiVersion::V2_17);
//! let incomplete_ok = RequestContext::new(ApiVersion::V2_17).with_accepts_incomplete(true);
//!
//! // A synchronous plan: 201, then 200 for the identical retry.
//! let created = broker.provision("q-1", ProvisionRequest::new("queues", "shared"), &sync).await?;
//! assert!(matches!(created, ProvisionResponse::Created(_)));
//! let again = broker.provision("q-1", ProvisionRequest::new("queues", "shared"), &sync).await?;
//! assert!(matches!(again, ProvisionResponse::AlreadyExists(_)));
//! // A different request for the same id: 409.
//! let other = broker.provision("q-1", ProvisionRequest::new("queues", "dedicated"), &sync).await;
//! assert_eq!(other.unwrap_err().status().as_u16(), 409);
//!
//! // An asynchronous plan needs accepts_incomplete=true (else 422 AsyncRequired) and answers 202.
//! let refused = broker.provision("q-2", ProvisionRequest::new("queues", "dedicated"), &sync).await;
//! assert_eq!(refused.unwrap_err().to_body().error.as_deref(), Some("AsyncRequired"));
//! let accepted = broker
//!     .provision("q-2", ProvisionRequest::new("queues", "dedicated"), &incomplete_ok)
//!     .await?;
//! assert!(matches!(accepted, ProvisionResponse::Accepted(_)));
//! loop {
//!     let polled = broker.last_operation("q-2", LastOperationRequest::default(), &sync).await?;
//!     if polled.state == OperationState::Succeeded {
//!         break;
//!     }
//!     assert!(polled.retry_after.is_some());
//!     tokio::task::yield_now().await;
//! }
//!
//! // A re-bind's 200 carries the credentials again.
//! let bind = || BindRequest::new("queues", "shared");
//! let BindResponse::Created(first) = broker.bind("q-1", "b-1", bind(), &sync).await? else {
//!     unreachable!()
//! };
//! let BindResponse::AlreadyExists(second) = broker.bind("q-1", "b-1", bind(), &sync).await? else {
//!     unreachable!()
//! };
//! assert_eq!(first.credentials, second.credentials);
//!
//! broker.shutdown().await;
//! # Ok::<(), osb_core::BrokerError>(())
//! # }).unwrap();
//! ```
//!
//! # What the adapter answers
//!
//! The HTTP layer (`osb-tower`) has already answered what depends only on the request and the
//! catalog (401, 412, 400, 413, unknown plans, `MaintenanceInfoConflict`, …). The adapter
//! answers what depends on state, in the order of rules.md §4 and §8–§12. "202" is only ever
//! sent when the request had `accepts_incomplete=true`; where the table says 202 and the platform
//! did not accept it, the answer is 422 `AsyncRequired`. An operation of an
//! [asynchronous](Execution::Asynchronous) plan requested without `accepts_incomplete=true` is
//! 422 `AsyncRequired` before anything starts.
//!
//! The adapter also checks against the catalog what needs the stored resource, before it
//! looks at the state (so an instance being created still answers these with 400 / 422):
//!
//! | Request | check | answer |
//! |---|---|---|
//! | update, bind | `service_id` is not the instance's | 400 |
//! | update | `plan_id` other than the stored plan, not a plan of the instance's service | 400 |
//! | update | `plan_id` other than the stored plan, and the stored plan (else its service) is not `plan_updateable` | 422 with a description |
//! | update | only `context` (no `plan_id` change, no `parameters`, no `maintenance_info`), and the service has no `allow_context_updates` | 422 with a description |
//! | update | `maintenance_info.version` is not the target plan's (the stored plan's without a plan change), or the plan has no `maintenance_info` | 422 `MaintenanceInfoConflict` |
//!
//! The update rules are [`UpdateRequest::check`](crate::UpdateRequest::check), judged against the
//! stored record (`previous_values` decide nothing; rules.md §10). A `plan_id` equal to the
//! stored plan is no plan change, and a `context` equal to the stored one is no context change.
//! After any of these answers nothing is stored and the logic is not called.
//!
//! Instances, by the state of the instance the request names:
//!
//! | Request | unknown or deleted | being created | ready | being updated | create failed | being deleted |
//! |---|---|---|---|---|---|---|
//! | provision, identical | 201 / 202 | 202, same `operation` | 200 | 422 `ConcurrencyError` | 422 | 422 `ConcurrencyError` |
//! | provision, different attributes | 201 / 202 | 409 | 409 | 409 | 409 | 422 `ConcurrencyError` |
//! | update | 404 | 422 `ConcurrencyError` | 200 / 202 | 202 same `operation` if identical, else 422 `ConcurrencyError` | 422 | 422 `ConcurrencyError` |
//! | deprovision | 410 | halts the create, 200 / 202 ([`DeleteDuringCreate::Refuse`]: 422 `ConcurrencyError`) | 200 / 202 (422 `ConcurrencyError` while a bind or unbind runs) | 422 `ConcurrencyError` | 200 / 202 (orphan mitigation) | 202, same `operation` |
//! | fetch instance | 404 | 404 | 200 | 422 `ConcurrencyError` | 404 | 422 `ConcurrencyError` |
//! | last_operation | 404; a tombstone answers `succeeded` ([`AfterDelete::Gone`]: 410) | `in progress` + `Retry-After` | the latest operation | `in progress` + `Retry-After` | `failed` | `in progress` + `Retry-After` |
//! | bind | 404 | 422 `ConcurrencyError` | see below | 422 `ConcurrencyError` | 422 | 422 `ConcurrencyError` |
//! | `bluemix_v1` get / set | 404 | 200 | 200 | 200 | 200 | 200 |
//!
//! Bindings of a ready instance, by the state of the binding:
//!
//! | Request | unknown or deleted | being bound | bound | bind failed | being unbound |
//! |---|---|---|---|---|---|
//! | bind, identical | 201 / 202 | 202, same `operation` | 200 with the stored credentials | 422 | 422 `ConcurrencyError` |
//! | bind, different attributes | 201 / 202 | 409 | 409 | 409 | 422 `ConcurrencyError` |
//! | unbind | 410 | halts the bind, 200 / 202 | 200 / 202 | 200 / 202 (orphan mitigation) | 202, same `operation` |
//! | fetch binding | 404 | 404 | 200 | 404 | 404 |
//! | binding last_operation | 404; a tombstone answers `succeeded` (or 410) | `in progress` | the latest operation | `failed` | `in progress` |
//!
//! Also:
//!
//! - A **disabled** instance (IBM Cloud `bluemix_v1`, e.g. a suspended account) answers bind and
//!   update with 422 and a description naming the reason code; everything else works as for a
//!   ready instance, and its data stays. `PUT /bluemix_v1/…` with `enabled: true` restores it.
//!   The hooks [`ServiceLogic::on_disable`] / [`ServiceLogic::on_enable`] block and restore the
//!   users' access; an error from a hook leaves the state unchanged. We chose 422 (the spec's
//!   "cannot be processed in the current state") over 403, which platforms read as an
//!   authorization failure.
//! - A bind that names a `predecessor_binding_id` (rotation, 2.17) needs a bound predecessor of
//!   the same instance whose `metadata.expires_at` has not passed (else 400) and inherits its
//!   parameters when it has none. `expires_at` is read in the spec's form
//!   `yyyy-mm-ddThh:mm:ss(.s)Z`; a predecessor whose `expires_at` is in any other form counts as
//!   not expired. A plan for which
//!   [`ServiceLogic::requires_app`] is true answers a bind without an application with 422
//!   `RequiresApp`.
//! - "Identical" compares attributes, not JSON text (rules.md §13):
//!   [`ProvisionRequest::is_identical`](crate::ProvisionRequest::is_identical),
//!   [`BindRequest::is_identical`](crate::BindRequest::is_identical),
//!   [`UpdateRequest::is_identical`](crate::UpdateRequest::is_identical). Names and annotations
//!   in the context may change.
//! - `last_operation` with a known `operation` answers for that operation; with an unknown or
//!   missing one, for the latest. A record remembers its last [`OPERATION_HISTORY`] operations.
//!   After a *synchronous* delete that halted an asynchronous create, it answers for the halted
//!   create (`failed`), as spec.md "Deprovisioning" asks.
//! - Logs: a failed background operation is logged at warn (error for a 5xx) and a store
//!   failure at error, each with its cause chain ([`BrokerError::cause_chain`](crate::BrokerError::cause_chain)); the platform
//!   only ever sees descriptions.
//! - Failures: the logic's [`LogicError`] description reaches the platform (in the error body
//!   for synchronous work, in `last_operation` for asynchronous work). `instance_usable` and
//!   `update_repeatable` exist only on [`UpdateError`] and `instance_usable` only on
//!   [`DeprovisionError`], so no other operation can send them. A failed create keeps its record
//!   (`create failed`) so that the platform's orphan-mitigation DELETE succeeds and calls the
//!   logic's delete.
//!
//! # Background work, deadlines and restarts
//!
//! Each running operation is owned by one replica through a [`Lease`] in its record, renewed
//! while the work runs (default: 60 s, renewed every 20 s; [`Builder::lease`]). Asynchronous
//! work runs in tasks owned by the [`Managed`] value; [`Managed::shutdown`] (or dropping it)
//! stops them.
//!
//! - An operation running past its plan's `maximum_polling_duration` is recorded `failed`
//!   (the platform stops polling then anyway), and its work is stopped.
//! - When a replica dies, its operations stay `in progress` until their lease expires. Then the
//!   next request or poll touching the resource, or [`Managed::recover`] (call it at start-up,
//!   or use [`Managed::spawn_maintenance`]), settles them: when [`ServiceLogic::is_idempotent`]
//!   says the kind of work may be re-run, this replica takes the lease over and runs it again;
//!   otherwise it is recorded `failed` with a description saying the outcome is unknown, so the
//!   platform cleans up (orphan mitigation). Nothing stays `in progress` forever.
//! - A delete accepted during a running create (the default) records the create `failed` in
//!   the same write that starts the delete, and answers as usual (202 and polling, or the
//!   synchronous delete's answer once it is done). The logic's create and delete of one id never
//!   run at the same time: if the create runs in this process, its work is stopped at once and
//!   the logic's delete runs right away; if it runs on another replica, that replica notices at
//!   its next lease renewal, stops the work and records that it stopped
//!   ([`OperationRecord::stopping`]), and only then does the logic's delete run, or once the
//!   create's lease has expired when that replica died. The delete thus waits about one
//!   renewal period (at most a lease duration), polling the store; its plan's
//!   `maximum_polling_duration` still bounds it. A create that finished just before it noticed
//!   deletes what it made before it records that it stopped. The same holds for an unbind
//!   halting a bind. Work the logic hands to tasks of its own is its own to stop when the
//!   adapter drops the create's future.
//!
//! # State
//!
//! The adapter keeps nothing authoritative in memory: the [`StateStore`] holds one record per
//! instance and per binding, each carrying its recent operations, the running operation's lease,
//! and (for instances) the enabled flag. Every write is a compare-and-set on the record's
//! version, so N identical concurrent provisions create once and the rest get 202/200, and
//! conflicting ones get 409, whether they reach one replica or several sharing a store. The
//! [`StateStore`] docs say what a store must guarantee. [`MemoryStore`] is the default; deleted
//! resources stay as tombstones for [`Builder::tombstone_retention`] (default 24 h) and are
//! removed by [`Managed::purge_tombstones`].
//!
//! Collectors read the records too: usage metering (osb-iam) bills an instance for the hour
//! it was deleted in through its tombstone, so tombstones must outlive that hour's collection
//! (keep the retention longer than the longest reporter outage you want to survive), and the
//! hour it was disabled in through the time the enabled flag last changed
//! ([`InstanceRecord::enabled_changed_at`]).
//!
//! # Feature flags
//!
//! [`Managed`] needs the `tokio` feature (on by default) for its background tasks and lease
//! renewals. The traits, records and [`MemoryStore`] do not.

mod clock;
mod logic;
mod outbox;
mod record;
mod store;

#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;

#[cfg(feature = "tokio")]
mod adapter;

// The guide links every store, so it is built where they all are (docs.rs builds all features).
#[cfg(all(feature = "sqlite", feature = "postgres"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "sqlite", feature = "postgres"))))]
#[doc = include_str!("../../docs/faults.md")]
pub mod faults {}

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use adapter::{AfterDelete, Builder, DeleteDuringCreate, Managed, Settings};
pub use clock::{Clock, SystemClock, Timestamp};
pub use logic::{DeprovisionError, Execution, LogicError, ServiceLogic, UpdateError};
pub use outbox::{
    ClaimOutcome, OutboxEntry, OutboxStats, PendingEntry, RejectedEntry, Settlement, UsageOutbox,
};
pub use record::{
    BindingRecord, InstanceRecord, Lease, Lifecycle, OPERATION_HISTORY, OperationKind,
    OperationRecord, OperationStatus, Outcome, Phase,
};
#[cfg(feature = "clap")]
#[cfg_attr(docsrs, doc(cfg(feature = "clap")))]
pub use store::StoreUrlParser;
pub use store::{
    AnyStore, CasError, InvalidStoreUrl, Listed, MemoryStore, StateStore, StoreError, StoreUrl,
    Version, Versioned,
};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use store::{PostgresStore, PostgresStoreBuilder};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use store::{SqliteStore, SqliteStoreBuilder};
