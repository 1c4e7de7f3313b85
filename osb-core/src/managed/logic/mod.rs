//! `ServiceLogic`: the provider's work, and nothing else.

mod error;

pub use error::{DeprovisionError, LogicError, UpdateError};

use std::sync::Arc;

use async_trait::async_trait;

use crate::binding::{BindRequest, Binding, FetchBindingResponse};
use crate::catalog::Catalog;
use crate::instance::FetchInstanceResponse;
use crate::instance_state::InstanceStateUpdate;
use crate::provision::{ProvisionRequest, ProvisionedInstance};
use crate::update::{UpdateRequest, UpdatedInstance};

use super::record::{BindingRecord, InstanceRecord};
// Re-exported where it was defined before records owned it (the conformance suite imports it here).
pub(crate) use super::record::OperationKind;

/// How an operation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Execution {
    /// Inside the request: the platform gets 200/201 when the work is done.
    #[default]
    Synchronous,
    /// In the background: the platform gets 202 at once and polls `last_operation`. Requests
    /// without `accepts_incomplete=true` get 422 `AsyncRequired`.
    Asynchronous,
}

/// A service's business logic: create, update and delete instances, create and delete
/// bindings. Nothing about HTTP, status codes, operation tokens, retries or concurrency: the
/// [`Managed`](super::Managed) adapter does all of that.
///
/// Every method is called at most once per operation, except after a crash: an operation whose
/// owner died is re-run only when [`ServiceLogic::is_idempotent`] says so, and failed
/// otherwise. Deletes must succeed for a resource that was never, or only half, created: the
/// platform sends them for orphan mitigation after a failed create (rules.md §14).
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use async_trait::async_trait;
/// use osb_core::catalog::{Catalog, Plan, Service};
/// use osb_core::managed::{DeprovisionError, Execution, InstanceRecord, LogicError, OperationKind, ServiceLogic};
/// use osb_core::{ProvisionRequest, ProvisionedInstance};
///
/// #[derive(Debug)]
/// struct Databases {
///     catalog: Arc<Catalog>,
/// }
///
/// #[async_trait]
/// impl ServiceLogic for Databases {
///     fn catalog(&self) -> Arc<Catalog> {
///         self.catalog.clone()
///     }
///
///     fn execution(&self, kind: OperationKind, plan_id: &str) -> Execution {
///         // Creating a large database takes minutes.
///         if kind == OperationKind::Provision && plan_id == "large" {
///             Execution::Asynchronous
///         } else {
///             Execution::Synchronous
///         }
///     }
///
///     async fn create_instance(
///         &self,
///         instance_id: &str,
///         _request: &ProvisionRequest,
///     ) -> Result<ProvisionedInstance, LogicError> {
///         Ok(ProvisionedInstance::with_dashboard_url(format!("https://db.example.com/{instance_id}")))
///     }
///
///     async fn delete_instance(
///         &self,
///         _instance_id: &str,
///         _instance: &InstanceRecord,
///     ) -> Result<(), DeprovisionError> {
///         Ok(())
///     }
/// }
/// # let _ = Databases { catalog: Arc::new(Catalog::new(vec![Service::new("s", "db", "DB", false)
/// #     .with_plan(Plan::new("large", "large", "Large"))])) };
/// ```
#[async_trait]
pub trait ServiceLogic: Send + Sync + 'static {
    /// The catalog. Read once, when the adapter is built.
    fn catalog(&self) -> Arc<Catalog>;

    /// Whether an operation on a plan runs in the background. Default: synchronous.
    ///
    /// For deprovision and unbind `plan_id` is the stored plan of the resource, which may have
    /// left the catalog.
    fn execution(&self, kind: OperationKind, plan_id: &str) -> Execution {
        let _ = (kind, plan_id);
        Execution::Synchronous
    }

    /// Whether an operation of this kind may be run again from the start after the replica
    /// running it died (its lease expired). `true` resumes it on another replica; `false`
    /// (the default) reports it `failed`, asking the platform to clean up.
    fn is_idempotent(&self, kind: OperationKind) -> bool {
        let _ = kind;
        false
    }

    /// Whether bindings of a plan need an application: a bind without `bind_resource.app_guid`
    /// (or the deprecated `app_guid`) is answered 422 `RequiresApp`. Default: `false`.
    fn requires_app(&self, plan_id: &str) -> bool {
        let _ = plan_id;
        false
    }

    /// The dashboard URL of a new instance, known before the work starts. An asynchronous
    /// provision can only return a dashboard in its first answer (spec.md "Provisioning" →
    /// Response), so it comes from here; a synchronous one may also return it from
    /// [`ServiceLogic::create_instance`]. Default: none.
    fn dashboard_url(&self, instance_id: &str, request: &ProvisionRequest) -> Option<String> {
        let _ = (instance_id, request);
        None
    }

    /// Creates an instance.
    ///
    /// # Errors
    ///
    /// A [`LogicError`] whose description reaches the platform.
    async fn create_instance(
        &self,
        instance_id: &str,
        request: &ProvisionRequest,
    ) -> Result<ProvisionedInstance, LogicError>;

    /// Changes an instance's plan, parameters or context. `instance` is its state before the
    /// update. Default: 422, updates are not supported.
    ///
    /// # Errors
    ///
    /// An [`UpdateError`], optionally saying whether the instance is still usable and whether
    /// the update may be repeated.
    async fn update_instance(
        &self,
        instance_id: &str,
        request: &UpdateRequest,
        instance: &InstanceRecord,
    ) -> Result<UpdatedInstance, UpdateError> {
        let _ = (instance_id, request, instance);
        Err(LogicError::unprocessable("This service does not support updating instances.").into())
    }

    /// Deletes an instance and everything it holds. Must succeed for an instance that was only
    /// half created (orphan mitigation).
    ///
    /// # Errors
    ///
    /// A [`DeprovisionError`], optionally saying whether the instance is still usable.
    async fn delete_instance(
        &self,
        instance_id: &str,
        instance: &InstanceRecord,
    ) -> Result<(), DeprovisionError>;

    /// Creates a binding: credentials, endpoints, … Default: 400, the service is not
    /// bindable.
    ///
    /// # Errors
    ///
    /// A [`LogicError`] whose description reaches the platform.
    async fn create_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        request: &BindRequest,
    ) -> Result<Binding, LogicError> {
        let _ = (instance_id, binding_id, request);
        Err(LogicError::bad_request(
            "This service does not support bindings.",
        ))
    }

    /// Deletes a binding (revokes its credentials). Must succeed for a binding that was only
    /// half created. Default: nothing to do.
    ///
    /// # Errors
    ///
    /// A [`LogicError`] whose description reaches the platform.
    async fn delete_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        binding: &BindingRecord,
    ) -> Result<(), LogicError> {
        let _ = (instance_id, binding_id, binding);
        Ok(())
    }

    /// The answer to a fetch of a ready instance. `stored` is built from the store (service,
    /// current plan, dashboard, parameters, maintenance info, metadata); override to read the
    /// live instance or to leave out sensitive parameters. Default: `stored`.
    ///
    /// # Errors
    ///
    /// A [`LogicError`] whose description reaches the platform.
    async fn fetch_instance(
        &self,
        instance_id: &str,
        stored: FetchInstanceResponse,
    ) -> Result<FetchInstanceResponse, LogicError> {
        let _ = instance_id;
        Ok(stored)
    }

    /// The answer to a fetch of a ready binding. `stored` holds what
    /// [`ServiceLogic::create_binding`] returned and the bind's parameters. Default: `stored`.
    ///
    /// # Errors
    ///
    /// A [`LogicError`] whose description reaches the platform.
    async fn fetch_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        stored: FetchBindingResponse,
    ) -> Result<FetchBindingResponse, LogicError> {
        let _ = (instance_id, binding_id);
        Ok(stored)
    }

    /// IBM Cloud disabled the instance (`bluemix_v1`, e.g. account suspended): block its users'
    /// access, keep its data. Called before the state is recorded; an error leaves the instance
    /// enabled. Default: nothing to do.
    ///
    /// # Errors
    ///
    /// A [`LogicError`]; the platform gets its status and description.
    async fn on_disable(
        &self,
        instance_id: &str,
        update: &InstanceStateUpdate,
    ) -> Result<(), LogicError> {
        let _ = (instance_id, update);
        Ok(())
    }

    /// IBM Cloud enabled the instance again: restore its users' access. Called before the state
    /// is recorded; an error leaves the instance disabled. Default: nothing to do.
    ///
    /// # Errors
    ///
    /// A [`LogicError`]; the platform gets its status and description.
    async fn on_enable(
        &self,
        instance_id: &str,
        update: &InstanceStateUpdate,
    ) -> Result<(), LogicError> {
        let _ = (instance_id, update);
        Ok(())
    }
}
