//! The `ServiceBroker` trait and the per-request context it receives.

use std::sync::Arc;

use async_trait::async_trait;

use crate::binding::{
    BindRequest, BindResponse, FetchBindingRequest, FetchBindingResponse, UnbindRequest,
    UnbindResponse,
};
use crate::catalog::Catalog;
use crate::deprovision::{DeprovisionRequest, DeprovisionResponse};
use crate::error::BrokerError;
use crate::identity::{OriginatingIdentity, RequestIdentity};
use crate::instance::{FetchInstanceRequest, FetchInstanceResponse};
use crate::instance_state::InstanceStateBroker;
use crate::last_operation::{BindingLastOperation, LastOperation, LastOperationRequest};
use crate::provision::{ProvisionRequest, ProvisionResponse};
use crate::update::{UpdateRequest, UpdateResponse};
use crate::version::ApiVersion;

/// What the HTTP layer knows about a request beyond its typed body.
///
/// `extensions` carries what outer layers found out, e.g. the verified IAM claims that
/// `osb-iam`'s layer inserts, so a broker can read the caller's identity.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RequestContext {
    /// The `X-Broker-API-Version` the platform declared.
    pub api_version: ApiVersion,
    /// The parsed `X-Broker-API-Originating-Identity`, if sent.
    pub originating_identity: Option<OriginatingIdentity>,
    /// The `X-Broker-API-Request-Identity`, if sent.
    pub request_identity: Option<RequestIdentity>,
    /// Whether the query had `accepts_incomplete=true`.
    pub accepts_incomplete: bool,
    /// The HTTP request's extensions (auth results and anything else outer layers put there).
    pub extensions: http::Extensions,
}

impl RequestContext {
    /// A context for a version, with nothing else set.
    pub fn new(api_version: ApiVersion) -> Self {
        Self {
            api_version,
            originating_identity: None,
            request_identity: None,
            accepts_incomplete: false,
            extensions: http::Extensions::new(),
        }
    }

    /// Sets `accepts_incomplete`.
    #[must_use]
    pub fn with_accepts_incomplete(mut self, accepts_incomplete: bool) -> Self {
        self.accepts_incomplete = accepts_incomplete;
        self
    }
}

/// An Open Service Broker: one method per OSB operation.
///
/// The HTTP layer (`osb-tower`) has already checked authentication, the API version, the body,
/// and the protocol rules that depend only on the request and the catalog (ids known, plan of
/// the service, bindable, a provision's maintenance info) before a method is called. What is
/// left is the broker's own state: whether the instance exists, is identical, is busy, and the
/// update rules that need the instance's current plan and context
/// ([`UpdateRequest::check`](crate::UpdateRequest::check)).
///
/// Implement this trait for full control of every answer.
///
/// Methods for optional endpoints have defaults that answer as the spec says for a broker that
/// does not offer them.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use async_trait::async_trait;
/// use osb_core::catalog::{Catalog, Plan, Service};
/// use osb_core::{
///     BrokerError, DeprovisionRequest, DeprovisionResponse, ProvisionRequest, ProvisionResponse,
///     ProvisionedInstance, RequestContext, ServiceBroker,
/// };
///
/// struct Echo {
///     catalog: Arc<Catalog>,
/// }
///
/// #[async_trait]
/// impl ServiceBroker for Echo {
///     async fn catalog(&self, _ctx: &RequestContext) -> Result<Arc<Catalog>, BrokerError> {
///         Ok(self.catalog.clone())
///     }
///
///     async fn provision(
///         &self,
///         instance_id: &str,
///         _request: ProvisionRequest,
///         _ctx: &RequestContext,
///     ) -> Result<ProvisionResponse, BrokerError> {
///         let url = format!("https://echo.example.com/{instance_id}");
///         Ok(ProvisionResponse::Created(ProvisionedInstance::with_dashboard_url(url)))
///     }
///
///     async fn deprovision(
///         &self,
///         _instance_id: &str,
///         _request: DeprovisionRequest,
///         _ctx: &RequestContext,
///     ) -> Result<DeprovisionResponse, BrokerError> {
///         Ok(DeprovisionResponse::Deleted)
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let broker = Echo {
///     catalog: Arc::new(Catalog::new(vec![
///         Service::new("svc", "echo", "Echoes", false).with_plan(Plan::new("p", "free", "Free")),
///     ])),
/// };
/// let ctx = RequestContext::new(osb_core::ApiVersion::V2_17);
/// let answer = broker.provision("i-1", ProvisionRequest::new("svc", "p"), &ctx).await?;
/// assert!(matches!(answer, ProvisionResponse::Created(_)));
/// # Ok::<(), BrokerError>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait ServiceBroker: Send + Sync + 'static {
    /// `GET /v2/catalog`. Return the same `Arc` while the catalog is unchanged: the HTTP layer
    /// caches its serialisation and `ETag` by pointer.
    async fn catalog(&self, ctx: &RequestContext) -> Result<Arc<Catalog>, BrokerError>;

    /// `PUT /v2/service_instances/:instance_id`.
    async fn provision(
        &self,
        instance_id: &str,
        request: ProvisionRequest,
        ctx: &RequestContext,
    ) -> Result<ProvisionResponse, BrokerError>;

    /// `PATCH /v2/service_instances/:instance_id`. Default: 422, updates not supported.
    async fn update(
        &self,
        instance_id: &str,
        request: UpdateRequest,
        ctx: &RequestContext,
    ) -> Result<UpdateResponse, BrokerError> {
        let _ = (instance_id, request, ctx);
        Err(BrokerError::unprocessable(
            "This service does not support updating instances.",
        ))
    }

    /// `DELETE /v2/service_instances/:instance_id`.
    async fn deprovision(
        &self,
        instance_id: &str,
        request: DeprovisionRequest,
        ctx: &RequestContext,
    ) -> Result<DeprovisionResponse, BrokerError>;

    /// `GET /v2/service_instances/:instance_id` (2.14). Default: 404.
    async fn fetch_instance(
        &self,
        instance_id: &str,
        request: FetchInstanceRequest,
        ctx: &RequestContext,
    ) -> Result<FetchInstanceResponse, BrokerError> {
        let _ = (instance_id, request, ctx);
        Err(BrokerError::not_found())
    }

    /// `GET /v2/service_instances/:instance_id/last_operation`. Default: 404, for a broker that
    /// never answers 202.
    async fn last_operation(
        &self,
        instance_id: &str,
        request: LastOperationRequest,
        ctx: &RequestContext,
    ) -> Result<LastOperation, BrokerError> {
        let _ = (instance_id, request, ctx);
        Err(BrokerError::not_found())
    }

    /// `PUT …/service_bindings/:binding_id`. Default: 400, the service is not bindable.
    async fn bind(
        &self,
        instance_id: &str,
        binding_id: &str,
        request: BindRequest,
        ctx: &RequestContext,
    ) -> Result<BindResponse, BrokerError> {
        let _ = (instance_id, binding_id, request, ctx);
        Err(BrokerError::bad_request(
            "This service does not support bindings.",
        ))
    }

    /// `DELETE …/service_bindings/:binding_id`. Default: 410, there are no bindings.
    async fn unbind(
        &self,
        instance_id: &str,
        binding_id: &str,
        request: UnbindRequest,
        ctx: &RequestContext,
    ) -> Result<UnbindResponse, BrokerError> {
        let _ = (instance_id, binding_id, request, ctx);
        Err(BrokerError::gone())
    }

    /// `GET …/service_bindings/:binding_id` (2.14). Default: 404.
    async fn fetch_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        request: FetchBindingRequest,
        ctx: &RequestContext,
    ) -> Result<FetchBindingResponse, BrokerError> {
        let _ = (instance_id, binding_id, request, ctx);
        Err(BrokerError::not_found())
    }

    /// `GET …/service_bindings/:binding_id/last_operation` (2.14). Default: 404.
    async fn binding_last_operation(
        &self,
        instance_id: &str,
        binding_id: &str,
        request: LastOperationRequest,
        ctx: &RequestContext,
    ) -> Result<BindingLastOperation, BrokerError> {
        let _ = (instance_id, binding_id, request, ctx);
        Err(BrokerError::not_found())
    }

    /// IBM Cloud's `bluemix_v1` instance-state endpoints, if this broker offers them.
    /// Default: `None` (the routes answer 404).
    fn instance_state(&self) -> Option<&dyn InstanceStateBroker> {
        None
    }
}

#[async_trait]
impl<B: ServiceBroker + ?Sized> ServiceBroker for Arc<B> {
    async fn catalog(&self, ctx: &RequestContext) -> Result<Arc<Catalog>, BrokerError> {
        (**self).catalog(ctx).await
    }
    async fn provision(
        &self,
        instance_id: &str,
        request: ProvisionRequest,
        ctx: &RequestContext,
    ) -> Result<ProvisionResponse, BrokerError> {
        (**self).provision(instance_id, request, ctx).await
    }
    async fn update(
        &self,
        instance_id: &str,
        request: UpdateRequest,
        ctx: &RequestContext,
    ) -> Result<UpdateResponse, BrokerError> {
        (**self).update(instance_id, request, ctx).await
    }
    async fn deprovision(
        &self,
        instance_id: &str,
        request: DeprovisionRequest,
        ctx: &RequestContext,
    ) -> Result<DeprovisionResponse, BrokerError> {
        (**self).deprovision(instance_id, request, ctx).await
    }
    async fn fetch_instance(
        &self,
        instance_id: &str,
        request: FetchInstanceRequest,
        ctx: &RequestContext,
    ) -> Result<FetchInstanceResponse, BrokerError> {
        (**self).fetch_instance(instance_id, request, ctx).await
    }
    async fn last_operation(
        &self,
        instance_id: &str,
        request: LastOperationRequest,
        ctx: &RequestContext,
    ) -> Result<LastOperation, BrokerError> {
        (**self).last_operation(instance_id, request, ctx).await
    }
    async fn bind(
        &self,
        instance_id: &str,
        binding_id: &str,
        request: BindRequest,
        ctx: &RequestContext,
    ) -> Result<BindResponse, BrokerError> {
        (**self).bind(instance_id, binding_id, request, ctx).await
    }
    async fn unbind(
        &self,
        instance_id: &str,
        binding_id: &str,
        request: UnbindRequest,
        ctx: &RequestContext,
    ) -> Result<UnbindResponse, BrokerError> {
        (**self).unbind(instance_id, binding_id, request, ctx).await
    }
    async fn fetch_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        request: FetchBindingRequest,
        ctx: &RequestContext,
    ) -> Result<FetchBindingResponse, BrokerError> {
        (**self)
            .fetch_binding(instance_id, binding_id, request, ctx)
            .await
    }
    async fn binding_last_operation(
        &self,
        instance_id: &str,
        binding_id: &str,
        request: LastOperationRequest,
        ctx: &RequestContext,
    ) -> Result<BindingLastOperation, BrokerError> {
        (**self)
            .binding_last_operation(instance_id, binding_id, request, ctx)
            .await
    }
    fn instance_state(&self) -> Option<&dyn InstanceStateBroker> {
        (**self).instance_state()
    }
}
