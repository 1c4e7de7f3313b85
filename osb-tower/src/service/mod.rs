//! [`OsbService`]: a [`ServiceBroker`] as a `tower::Service`.

mod binding;
mod builder;
mod call;
mod catalog;
mod future;
mod instance;
mod operation;
mod pipeline;
mod state;

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use osb_core::{BoxError, ServiceBroker};

pub use builder::Builder;
pub use future::ResponseFuture;

use crate::catalog::CatalogCache;
use crate::response::ResponseBody;
use crate::version::VersionPolicy;

/// Serves the Open Service Broker API (and IBM Cloud's `bluemix_v1`) for a [`ServiceBroker`].
///
/// It routes, negotiates the version, parses and limits bodies, checks the protocol rules that
/// depend on the catalog, calls the broker and shapes its answer, in the order written down in
/// [`routing`](crate::routing). It never fails: every problem is an OSB JSON error response, a
/// panic in the broker included (500, and the service keeps serving).
///
/// Cloning is cheap (one `Arc`); the service is always ready.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use http_body_util::{BodyExt, Empty};
/// use osb_core::catalog::{Catalog, Plan, Service};
/// use osb_core::*;
/// use osb_tower::OsbService;
/// use tower::ServiceExt;
///
/// struct MyBroker(Arc<Catalog>);
///
/// #[async_trait::async_trait]
/// impl ServiceBroker for MyBroker {
///     async fn catalog(&self, _: &RequestContext) -> Result<Arc<Catalog>, BrokerError> {
///         Ok(self.0.clone())
///     }
///     async fn provision(&self, _: &str, _: ProvisionRequest, _: &RequestContext)
///         -> Result<ProvisionResponse, BrokerError> {
///         Ok(ProvisionResponse::Created(ProvisionedInstance::default()))
///     }
///     async fn deprovision(&self, _: &str, _: DeprovisionRequest, _: &RequestContext)
///         -> Result<DeprovisionResponse, BrokerError> {
///         Ok(DeprovisionResponse::Deleted)
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let catalog = Catalog::new(vec![
///     Service::new("svc", "my-db", "A database", false).with_plan(Plan::new("small", "small", "Small")),
/// ]);
/// let service = OsbService::new(MyBroker(Arc::new(catalog)));
///
/// let request = http::Request::get("/v2/catalog")
///     .header("X-Broker-API-Version", "2.17")
///     .body(Empty::<bytes::Bytes>::new())?;
/// let response = service.clone().oneshot(request).await?;
/// assert_eq!(response.status(), 200);
/// assert!(response.headers().contains_key("etag"));
///
/// // No version header: 412, with an OSB error body.
/// let request = http::Request::get("/v2/catalog").body(Empty::<bytes::Bytes>::new())?;
/// let response = service.oneshot(request).await?;
/// assert_eq!(response.status(), 412);
/// let body = response.into_body().collect().await?.to_bytes();
/// assert!(std::str::from_utf8(&body)?.contains("2.12"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct OsbService<B> {
    shared: Arc<Shared<B>>,
}

/// What every clone of one service shares.
pub(crate) struct Shared<B> {
    pub(crate) broker: B,
    pub(crate) prefix: String,
    pub(crate) versions: VersionPolicy,
    pub(crate) max_body_size: usize,
    pub(crate) require_organization_and_space: bool,
    pub(crate) instance_state_no_content: bool,
    pub(crate) catalog: CatalogCache,
}

impl<B: ServiceBroker> OsbService<B> {
    /// A service for `broker` with every default.
    pub fn new(broker: B) -> Self {
        Builder::new(broker).build()
    }

    /// A [`Builder`] to change the defaults.
    pub fn builder(broker: B) -> Builder<B> {
        Builder::new(broker)
    }

    /// The broker.
    pub fn get_ref(&self) -> &B {
        &self.shared.broker
    }
}

impl<B> Clone for OsbService<B> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<B> fmt::Debug for OsbService<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OsbService")
            .field("prefix", &self.shared.prefix)
            .field("versions", &self.shared.versions)
            .field("max_body_size", &self.shared.max_body_size)
            .finish_non_exhaustive()
    }
}

impl<B, ReqBody> tower::Service<Request<ReqBody>> for OsbService<B>
where
    B: ServiceBroker,
    ReqBody: Body + Send + 'static,
    ReqBody::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        pipeline::serve(self.shared.clone(), request)
    }
}
