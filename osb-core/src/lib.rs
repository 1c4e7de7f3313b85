//! The typed Open Service Broker API v2.17 model and the async [`ServiceBroker`] trait that a
//! broker implements.
//!
//! ```
//! use std::sync::Arc;
//!
//! use async_trait::async_trait;
//! use osb_core::catalog::{Catalog, Plan, Service};
//! use osb_core::{
//!     ApiVersion, BrokerError, DeprovisionRequest, DeprovisionResponse, ProvisionRequest,
//!     ProvisionResponse, ProvisionedInstance, RequestContext, ServiceBroker,
//! };
//!
//! /// A broker whose instances are just dashboard links.
//! struct Echo {
//!     catalog: Arc<Catalog>,
//! }
//!
//! #[async_trait]
//! impl ServiceBroker for Echo {
//!     async fn catalog(&self, _ctx: &RequestContext) -> Result<Arc<Catalog>, BrokerError> {
//!         Ok(Arc::clone(&self.catalog))
//!     }
//!
//!     async fn provision(
//!         &self,
//!         instance_id: &str,
//!         request: ProvisionRequest,
//!         _ctx: &RequestContext,
//!     ) -> Result<ProvisionResponse, BrokerError> {
//!         if request.parameters.is_some_and(|p| p.contains_key("size")) {
//!             return Err(BrokerError::bad_request("Echo instances have no size."));
//!         }
//!         let url = format!("https://echo.example.com/{instance_id}");
//!         Ok(ProvisionResponse::Created(ProvisionedInstance::with_dashboard_url(url)))
//!     }
//!
//!     async fn deprovision(
//!         &self,
//!         _instance_id: &str,
//!         _request: DeprovisionRequest,
//!         _ctx: &RequestContext,
//!     ) -> Result<DeprovisionResponse, BrokerError> {
//!         Ok(DeprovisionResponse::Deleted)
//!     }
//!     // update, bind, fetch and last_operation keep their spec-conforming defaults.
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let catalog = Catalog::new(vec![
//!     Service::new("echo-id", "echo", "Echoes", false).with_plan(Plan::new("free-id", "free", "Free")),
//! ]);
//! catalog.validate()?;
//! let broker = Echo { catalog: Arc::new(catalog) };
//! let ctx = RequestContext::new(ApiVersion::V2_17);
//!
//! // A request body as a platform sends it: `""` and `{}` placeholders mean "not provided".
//! let request: ProvisionRequest = serde_json::from_str(
//!     r#"{"service_id": "echo-id", "plan_id": "free-id", "organization_guid": "",
//!         "maintenance_info": {}, "context": {"platform": "ibmcloud", "account_id": "acc"}}"#,
//! )?;
//! let answer = broker.provision("instance-1", request, &ctx).await?;
//! assert!(matches!(answer, ProvisionResponse::Created(_)));
//!
//! // Optional endpoints answer as the spec says for a broker that does not offer them.
//! let error = broker.fetch_instance("instance-1", Default::default(), &ctx).await.unwrap_err();
//! assert_eq!(error.status(), http::StatusCode::NOT_FOUND);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! This crate knows the OSB protocol and nothing of HTTP servers: `osb-tower` turns a
//! [`ServiceBroker`] into a `tower::Service`, and `osb-iam` adds IBM Cloud IAM.
//!
//! # Overview
//!
//! - [`catalog`]: offerings, plans, schemas, maintenance info, the conventional metadata fields,
//!   [`Catalog::validate`] (every problem at once) and the look-ups the HTTP layer needs
//!   ([`Catalog::plan`], [`Plan::is_bindable`](catalog::Plan::is_bindable),
//!   [`Plan::is_plan_updateable`](catalog::Plan::is_plan_updateable)).
//! - Requests and responses, one module per operation: [`provision`], [`update`],
//!   [`deprovision`], [`instance`] (fetch), [`binding`] (bind, unbind, fetch),
//!   [`last_operation`] (polling, for instances and bindings).
//! - [`context`]: the `context` object with typed Cloud Foundry, Kubernetes and IBM Cloud
//!   profiles and an open variant for any other platform; unknown fields are never lost.
//! - Headers as types: [`ApiVersion`], [`OriginatingIdentity`], [`RequestIdentity`]; and
//!   [`OperationToken`], the `operation` of a `202 Accepted`.
//! - [`BrokerError`]: every failure status of the spec, rendered as the OSB error body
//!   ([`ErrorBody`]); the cause of a 500 is logged, never sent.
//! - [`ServiceBroker`]: one async method per OSB operation, each receiving the typed request and
//!   a [`RequestContext`] (API version, identities, `accepts_incomplete`, and the HTTP
//!   request's extensions, so an auth layer's result reaches the broker). [`instance_state`]
//!   holds IBM Cloud's `bluemix_v1` extension.
//!
//! # Spec compliance
//!
//! The model follows `spec.md` and `profile.md` of OSB v2.17 field by field, spelled as the spec
//! spells them (`plan_updateable`, `clusterid`); each type names its spec section. [`rules`]
//! writes down, in numbered sections the code cites (`rules.md §N`), what a broker built on these
//! crates answers, the order of its checks, and which answers are the spec's, our choice, or a
//! deliberate deviation.
//!
//! - **Lenient requests** (spec.md "Vendor Extension Fields"; [`rules`] §16): unknown
//!   fields are ignored; `""` means "not provided", so an empty required `service_id` or
//!   `plan_id` is an error naming the field; `"maintenance_info": {}` and `"bind_resource": {}`
//!   are accepted placeholders; a present `maintenance_info.version` that is not SemVer 2.0 is
//!   an error. Treating `{}` as an absent `maintenance_info` is a deliberate deviation (Postel),
//!   as is keeping a non-SemVer version in the informational `previous_values`.
//! - **Exact responses** (spec.md "Service Broker Errors": strings, if present, MUST be
//!   non-empty): absent fields are omitted, never `null`, and empty strings are never written.
//! - **Illegal answers are unrepresentable**: a `202` bind answer ([`BindAccepted`]) has no
//!   place for credentials (spec.md "Binding" → Response); `instance_usable` and
//!   `update_repeatable` exist only on failed updates and deprovisions ([`Failure`]); an
//!   [`OperationToken`] is 1 to 10,000 characters.
//! - **Catalog rules** ([`Catalog::validate`], spec.md "Catalog Management"): unique offering
//!   ids and names, globally unique plan ids, plan names unique per offering, non-empty required
//!   fields, at least one plan, `requires` within `syslog_drain`, `route_forwarding` and
//!   `volume_mount`, SemVer 2.0 `maintenance_info.version`, schemas with `$schema` and at most
//!   64 kB.
//! - **Secrets stay out of logs**: `parameters`, `credentials` and the dashboard client secret
//!   are redacted in `Debug` output.
//!
//! HTTP statuses, the `X-Broker-API-Version` check and the order of protocol checks belong to
//! `osb-tower`.
//!
//! # Feature flags
//!
//! - `tokio` (default): background execution of asynchronous operations in the managed adapter.
//! - `sqlite`: `managed::SqliteStore`, durable state in one SQLite file (compiled in).
//! - `postgres`: `managed::PostgresStore`, durable state shared by several replicas.
//! - `postgres-tls`: TLS (rustls) for PostgreSQL connections.
//! - `conformance`: `managed::conformance` and `state_store_conformance!`, the test suite
//!   for [`managed::StateStore`] implementations.
//! - `clap`: `managed::StoreUrl` as a `clap` argument (`managed::StoreUrlParser`) whose refusal
//!   never repeats the URL, which may hold a password.
//!
//! # Dependencies
//!
//! Besides the project's chosen crates (`serde`, `serde_json`, `http`, `async-trait`,
//! `thiserror`, `uuid`): `base64` decodes originating identities, `semver` checks
//! `maintenance_info.version` as SemVer 2.0 demands, `tracing` logs. The SQL stores use `sqlx`
//! with runtime-checked queries (building needs no database).
//!
//! # Stability
//!
//! The crate is at 0.x: minor releases may break the API. Types the spec may grow are
//! `#[non_exhaustive]` and come with constructors, so new spec fields can be added without a
//! breaking change. OSB minor versions are additive; [`ApiVersion::LATEST`] names the newest
//! version this crate implements (2.17). Minimum supported Rust version: 1.88.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

pub mod binding;
pub mod broker;
pub mod catalog;
pub mod context;
pub mod deprovision;
pub mod error;
pub mod identity;
pub mod instance;
pub mod instance_state;
pub mod last_operation;
mod lenient;
pub mod managed;
pub mod operation;
pub mod provision;
#[doc = include_str!("../docs/rules.md")]
pub mod rules {}
pub mod update;
pub mod version;

pub use binding::{
    BindAccepted, BindRequest, BindResource, BindResponse, Binding, BindingMetadata, Endpoint,
    FetchBindingRequest, FetchBindingResponse, UnbindRequest, UnbindResponse,
};
pub use broker::{RequestContext, ServiceBroker};
pub use catalog::Catalog;
pub use context::Context;
pub use deprovision::{DeprovisionRequest, DeprovisionResponse};
pub use error::{BoxError, BrokerError, ErrorBody, ErrorKind};
pub use identity::{OriginatingIdentity, RequestIdentity};
pub use instance::{FetchInstanceRequest, FetchInstanceResponse};
pub use instance_state::{InstanceState, InstanceStateBroker, InstanceStateUpdate};
pub use last_operation::{
    BindingLastOperation, BindingOperationState, Failure, LastOperation, LastOperationRequest,
    OperationState,
};
#[cfg(feature = "tokio")]
pub use managed::Managed;
pub use managed::{LogicError, MemoryStore, ServiceLogic, StateStore};
pub use operation::OperationToken;
pub use provision::{
    InstanceMetadata, ProvisionAccepted, ProvisionRequest, ProvisionResponse, ProvisionedInstance,
};
pub use update::{UpdateAccepted, UpdateRequest, UpdateResponse, UpdatedInstance};
pub use version::ApiVersion;

// The README's example is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
