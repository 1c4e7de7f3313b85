//! [`Builder`]: the settings of an [`OsbService`].

use std::fmt;
use std::sync::Arc;

use osb_core::{ApiVersion, ServiceBroker};

use super::{OsbService, Shared};
use crate::catalog::CatalogCache;
use crate::json::DEFAULT_MAX_BODY_SIZE;
use crate::version::{MissingVersion, VersionPolicy};

/// Builds an [`OsbService`]; every setting has a spec-conforming default.
///
/// # Example
///
/// ```
/// use osb_core::ApiVersion;
/// use osb_tower::{MissingVersion, OsbService};
/// # use std::sync::Arc;
/// # use osb_core::{catalog::Catalog, *};
/// # struct MyBroker;
/// # #[async_trait::async_trait]
/// # impl ServiceBroker for MyBroker {
/// #     async fn catalog(&self, _: &RequestContext) -> Result<Arc<Catalog>, BrokerError> { Ok(Arc::default()) }
/// #     async fn provision(&self, _: &str, _: ProvisionRequest, _: &RequestContext) -> Result<ProvisionResponse, BrokerError> { Err(BrokerError::not_found()) }
/// #     async fn deprovision(&self, _: &str, _: DeprovisionRequest, _: &RequestContext) -> Result<DeprovisionResponse, BrokerError> { Err(BrokerError::gone()) }
/// # }
///
/// let service = OsbService::builder(MyBroker)
///     .path_prefix("/broker")
///     .min_api_version(ApiVersion::V2_13)
///     .missing_version(MissingVersion::BadRequest)
///     .max_body_size(64 * 1024)
///     .build();
/// # let _ = service;
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder<B> {
    broker: B,
    prefix: String,
    min_version: ApiVersion,
    max_version: Option<ApiVersion>,
    missing_version: MissingVersion,
    enforce_endpoint_versions: bool,
    max_body_size: usize,
    require_organization_and_space: bool,
    instance_state_no_content: bool,
}

impl<B: ServiceBroker> Builder<B> {
    pub(crate) fn new(broker: B) -> Self {
        Self {
            broker,
            prefix: String::new(),
            min_version: ApiVersion::V2_12,
            max_version: None,
            missing_version: MissingVersion::PreconditionFailed,
            enforce_endpoint_versions: false,
            max_body_size: DEFAULT_MAX_BODY_SIZE,
            require_organization_and_space: false,
            instance_state_no_content: false,
        }
    }

    /// Serves the routes under a path prefix, e.g. `/broker` for `/broker/v2/catalog`; requests
    /// outside it answer 404.
    ///
    /// Leave it unset when a router already strips the prefix (axum's `Router::nest_service`).
    /// A trailing `/` is ignored and a missing leading `/` added.
    ///
    /// Default: none (routes at `/v2/…` and `/bluemix_v1/…`).
    pub fn path_prefix(mut self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        let trimmed = prefix.trim_end_matches('/');
        self.prefix = if trimmed.is_empty() {
            String::new()
        } else if trimmed.starts_with('/') {
            trimmed.to_owned()
        } else {
            format!("/{trimmed}")
        };
        self
    }

    /// The oldest `X-Broker-API-Version` accepted; older ones get 412.
    ///
    /// Default: 2.12, the version IBM Cloud's resource controller sends. Raising it locks out
    /// platforms that declare older versions even when they would work.
    pub fn min_api_version(mut self, version: ApiVersion) -> Self {
        self.min_version = version;
        self
    }

    /// The newest `X-Broker-API-Version` accepted; newer ones get 412.
    ///
    /// Default: none, every later 2.x (minor revisions are additive, spec.md "API Version Header").
    pub fn max_api_version(mut self, version: ApiVersion) -> Self {
        self.max_version = Some(version);
        self
    }

    /// The answer to an absent or empty `X-Broker-API-Version`.
    ///
    /// Default: [`MissingVersion::PreconditionFailed`] (412), what conformance tools expect.
    pub fn missing_version(mut self, answer: MissingVersion) -> Self {
        self.missing_version = answer;
        self
    }

    /// Refuses the 2.14 endpoints (fetch instance, fetch binding, binding last_operation) with
    /// 412 when the platform declares an older version.
    ///
    /// Default: `false`, a platform that calls them supports them.
    pub fn enforce_endpoint_versions(mut self, enforce: bool) -> Self {
        self.enforce_endpoint_versions = enforce;
        self
    }

    /// The largest request body accepted, in bytes; larger bodies get 413.
    ///
    /// Default: 1 MiB. Raising it lets a client make the service buffer that much per request.
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        self.max_body_size = bytes;
        self
    }

    /// Requires `organization_guid` and `space_guid` on provision even when a `context` is sent,
    /// as the spec's text does.
    ///
    /// Default: `false`: accepted without them when `context` is present (Kubernetes-style
    /// platforms and IBM Cloud omit them; osb-core rules.md §8).
    pub fn require_organization_and_space(mut self, require: bool) -> Self {
        self.require_organization_and_space = require;
        self
    }

    /// Answers a successful `PUT /bluemix_v1/service_instances/:id` with `204 No Content`
    /// instead of `200` and the state body (IBM's samples use 204, its SDK models 200).
    ///
    /// Default: `false` (200 with the state).
    pub fn instance_state_no_content(mut self, no_content: bool) -> Self {
        self.instance_state_no_content = no_content;
        self
    }

    /// Builds the service.
    pub fn build(self) -> OsbService<B> {
        OsbService {
            shared: Arc::new(Shared {
                broker: self.broker,
                prefix: self.prefix,
                versions: VersionPolicy::new(
                    self.min_version,
                    self.max_version,
                    self.missing_version,
                    self.enforce_endpoint_versions,
                ),
                max_body_size: self.max_body_size,
                require_organization_and_space: self.require_organization_and_space,
                instance_state_no_content: self.instance_state_no_content,
                catalog: CatalogCache::default(),
            }),
        }
    }
}

impl<B> fmt::Debug for Builder<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("prefix", &self.prefix)
            .field("min_version", &self.min_version)
            .field("max_version", &self.max_version)
            .field("missing_version", &self.missing_version)
            .field("enforce_endpoint_versions", &self.enforce_endpoint_versions)
            .field("max_body_size", &self.max_body_size)
            .field(
                "require_organization_and_space",
                &self.require_organization_and_space,
            )
            .field("instance_state_no_content", &self.instance_state_no_content)
            .finish_non_exhaustive()
    }
}
