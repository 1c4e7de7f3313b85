//! One request: routed, then through the operation of its endpoint.
//!
//! Each operation is an `async fn` of its own ([`catalog`], [`instance`], [`binding`], [`state`])
//! that reads as the request goes: the checks of [`routing`]'s order (step 2 and step 3 in
//! [`Call::check`], then the body), the checks against the catalog, the broker call, the shape
//! of the answer.

use std::future::ready;
use std::sync::Arc;

use http::header::{ALLOW, HeaderValue};
use http::{Request, Response, StatusCode};
use osb_core::{BrokerError, RequestContext, ServiceBroker};
use tracing::Span;
use tracing::field::Empty;

use super::call::{Call, RequestBody};
use super::{ResponseFuture, Shared, binding, catalog, instance, state};
use crate::identity;
use crate::response::{self, ResponseBody};
use crate::routing::{self, Endpoint, NoRoute};

/// Starts one request: routes it, opens its span and hands the operation of its endpoint to the
/// [`ResponseFuture`], which polls it under the span and a panic guard and echoes the request
/// identity.
pub(super) fn serve<B, ReqBody>(shared: Arc<Shared<B>>, request: Request<ReqBody>) -> ResponseFuture
where
    B: ServiceBroker,
    ReqBody: RequestBody,
{
    let request_identity = identity::request_identity_header(request.headers());
    let routed = routing::route(request.method(), request.uri().path(), &shared.prefix);
    let endpoint = routed.as_ref().ok().map(|route| route.endpoint);
    let span = span(&request, endpoint, request_identity.as_ref());
    let route = match routed {
        Ok(route) => route,
        Err(no_route) => {
            let response = no_route_response(no_route);
            return ResponseFuture::new(ready(response), span, request_identity, endpoint);
        }
    };

    // The version is the lowest supported until step 2 negotiates the request's own.
    let mut ctx = RequestContext::new(shared.versions.min);
    // The typed copy for the broker; the header value itself is echoed.
    ctx.request_identity = identity::request_identity(request_identity.as_ref());
    let (parts, body) = request.into_parts();
    ctx.extensions = parts.extensions;
    // The method was routed and the version is hyper's: neither is kept.
    let endpoint = route.endpoint;
    let call = Call::new(shared, route, parts.uri, parts.headers);

    // An `async` block owns the request, and each operation borrows it: an `async fn` would keep
    // a second copy of its arguments in its state (rust-lang/rust#62958), and the whole state
    // must stay within the 1 KiB the allocator serves from its per-thread cache (see the test
    // below and README "Performance").
    let pipeline = async move {
        let reply = match endpoint {
            Endpoint::Catalog => catalog::fetch(&call, &mut ctx, body).await,
            Endpoint::Provision => instance::provision(&call, &mut ctx, body).await,
            Endpoint::Update => instance::update(&call, &mut ctx, body).await,
            Endpoint::Deprovision => instance::deprovision(&call, &mut ctx, body).await,
            Endpoint::FetchInstance => instance::fetch(&call, &mut ctx, body).await,
            Endpoint::LastOperation => instance::last_operation(&call, &mut ctx, body).await,
            Endpoint::Bind => binding::bind(&call, &mut ctx, body).await,
            Endpoint::Unbind => binding::unbind(&call, &mut ctx, body).await,
            Endpoint::FetchBinding => binding::fetch(&call, &mut ctx, body).await,
            Endpoint::BindingLastOperation => binding::last_operation(&call, &mut ctx, body).await,
            Endpoint::GetInstanceState => state::get(&call, &mut ctx, body).await,
            Endpoint::SetInstanceState => state::set(&call, &mut ctx, body).await,
        };
        reply.unwrap_or_else(|err| refused(&err, endpoint))
    };
    ResponseFuture::new(pipeline, span, request_identity, Some(endpoint))
}

/// The request's span. Never the raw path (ids), bodies, parameters or the Authorization header.
fn span<ReqBody>(
    request: &Request<ReqBody>,
    endpoint: Option<Endpoint>,
    request_identity: Option<&HeaderValue>,
) -> Span {
    tracing::info_span!(
        "osb_request",
        method = %request.method(),
        route = endpoint.map_or("<unmatched>", Endpoint::template),
        request_identity = request_identity.and_then(|v| v.to_str().ok()),
        status = Empty,
        latency_us = Empty,
    )
}

/// A [`BrokerError`] as the OSB error body, with the failure flags its endpoint may carry.
fn refused(err: &BrokerError, endpoint: Endpoint) -> Response<ResponseBody> {
    if err.status().is_server_error() {
        tracing::error!(
            status = err.status().as_u16(),
            error = %err,
            cause = err.cause_chain().as_deref(),
            "the broker failed"
        );
    } else {
        tracing::debug!(status = err.status().as_u16(), error = %err, "request refused");
    }
    response::error(err, endpoint.error_flags())
}

/// 404 for a path outside the API, 405 with `Allow` for a method the path does not accept.
fn no_route_response(no_route: NoRoute) -> Response<ResponseBody> {
    match no_route {
        NoRoute::NotFound => {
            let err = BrokerError::not_found()
                .with_description("There is no Open Service Broker endpoint at this path.");
            response::error(&err, response::ErrorFlags::NONE)
        }
        NoRoute::MethodNotAllowed(allow) => {
            let err = BrokerError::status_code(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("This path accepts only {allow}."),
            );
            let mut response = response::error(&err, response::ErrorFlags::NONE);
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allow));
            response
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::Method;
    use osb_core::catalog::Catalog;
    use osb_core::{DeprovisionRequest, DeprovisionResponse, ProvisionRequest, ProvisionResponse};

    struct NoBroker;

    #[async_trait::async_trait]
    impl ServiceBroker for NoBroker {
        async fn catalog(&self, _: &RequestContext) -> Result<Arc<Catalog>, BrokerError> {
            Ok(Arc::default())
        }
        async fn provision(
            &self,
            _: &str,
            _: ProvisionRequest,
            _: &RequestContext,
        ) -> Result<ProvisionResponse, BrokerError> {
            Err(BrokerError::not_found())
        }
        async fn deprovision(
            &self,
            _: &str,
            _: DeprovisionRequest,
            _: &RequestContext,
        ) -> Result<DeprovisionResponse, BrokerError> {
            Err(BrokerError::gone())
        }
    }

    /// glibc serves allocations of up to 1 032 bytes from its per-thread cache; a larger
    /// pipeline state takes the slow path on every request (README "Performance"). Every
    /// endpoint's state is one allocation, the [`ResponseFuture`]'s box.
    #[test]
    fn pipeline_state_fits_the_allocators_thread_cache() {
        let shared = crate::OsbService::new(NoBroker).shared;
        let instance = "/v2/service_instances/i";
        let binding = "/v2/service_instances/i/service_bindings/b";
        let requests = [
            (Method::GET, "/v2/catalog".to_owned()),
            (Method::PUT, instance.to_owned()),
            (Method::PATCH, instance.to_owned()),
            (Method::DELETE, instance.to_owned()),
            (Method::GET, instance.to_owned()),
            (Method::GET, format!("{instance}/last_operation")),
            (Method::PUT, binding.to_owned()),
            (Method::DELETE, binding.to_owned()),
            (Method::GET, binding.to_owned()),
            (Method::GET, format!("{binding}/last_operation")),
            (Method::GET, "/bluemix_v1/service_instances/i".to_owned()),
            (Method::PUT, "/bluemix_v1/service_instances/i".to_owned()),
        ];
        for (method, path) in requests {
            let request = Request::builder()
                .method(method.clone())
                .uri(&path)
                .body(http_body_util::Full::new(Bytes::new()))
                .unwrap();
            let future = serve(shared.clone(), request);
            let size = future.pipeline_size();
            assert!(
                size <= 1024,
                "the pipeline's state for {method} {path} is {size} bytes"
            );
        }
    }
}
