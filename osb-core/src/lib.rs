//! The typed Open Service Broker API v2.17 model and the async [`ServiceBroker`] trait.
//!
//! ```
//! use osb_core::{ProvisionRequest, Context};
//!
//! let request: ProvisionRequest = serde_json::from_str(r#"{
//!     "service_id": "svc", "plan_id": "small",
//!     "context": {"platform": "ibmcloud", "account_id": "acc", "crn": "crn:v1:bluemix:public:x"},
//!     "maintenance_info": {},
//!     "organization_guid": ""
//! }"#)?;
//! assert!(matches!(request.context, Some(Context::IbmCloud(_))));
//! assert!(request.maintenance_info.is_none()); // `{}` means "not provided"
//! assert!(request.organization_guid.is_none()); // `""` too
//! # Ok::<(), serde_json::Error>(())
//! ```
//!
//! # Overview
//!
//! - [`catalog`]: offerings, plans, schemas, maintenance info, and [`Catalog::validate`].
//! - Requests and responses, one module per operation: [`provision`], [`update`],
//!   [`deprovision`], [`instance`] (fetch), [`binding`], [`last_operation`].
//! - [`context`]: the `context` object with typed Cloud Foundry, Kubernetes and IBM Cloud
//!   profiles; unknown fields are never lost.
//! - Headers as types: [`ApiVersion`], [`OriginatingIdentity`], [`RequestIdentity`].
//! - [`BrokerError`]: every failure status of the spec, with the OSB error body.
//! - [`ServiceBroker`]: one async method per OSB operation, and [`instance_state`] for IBM
//!   Cloud's `bluemix_v1` extension.
//!
//! Requests are parsed leniently, as the spec asks: unknown fields are ignored, empty strings and
//! empty placeholder objects mean "not provided". Responses are serialised exactly: no `null` for
//! absent fields and never an empty string.
//!
//! # Dependencies
//!
//! Besides the project's chosen crates (`serde`, `serde_json`, `http`, `async-trait`,
//! `thiserror`, `uuid`): `base64` decodes originating identities, `semver` checks
//! `maintenance_info.version` as SemVer 2.0 demands, `tracing` logs.
//!
//! # Feature flags
//!
//! - `tokio` (default): background execution of asynchronous operations in the managed adapter.
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
pub mod operation;
pub mod provision;
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
pub use operation::OperationToken;
pub use provision::{
    InstanceMetadata, ProvisionAccepted, ProvisionRequest, ProvisionResponse, ProvisionedInstance,
};
pub use update::{UpdateAccepted, UpdateRequest, UpdateResponse, UpdatedInstance};
pub use version::ApiVersion;
