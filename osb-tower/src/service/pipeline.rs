//! One request through the stages of [`routing`](crate::routing)'s order of checks.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, ETAG, HeaderValue, IF_NONE_MATCH, RETRY_AFTER};
use http::request::Parts;
use http::{Extensions, HeaderMap, Request, Response, StatusCode, Uri};
use http_body::Body;
use osb_core::{
    BindRequest, BindResponse, BoxError, BrokerError, DeprovisionRequest, DeprovisionResponse,
    FetchBindingRequest, FetchInstanceRequest, InstanceStateUpdate, LastOperationRequest,
    ProvisionRequest, ProvisionResponse, RequestContext, RequestIdentity, ServiceBroker,
    UnbindRequest, UnbindResponse, UpdateRequest, UpdateResponse,
};
use serde::Serialize;
use tracing::field::Empty;

use super::{ResponseFuture, Shared};
use crate::catalog::{Prepared, if_none_match};
use crate::identity;
use crate::json;
use crate::query::Query;
use crate::response::{self, ResponseBody};
use crate::routing::{self, Endpoint, NoRoute, Route};
use crate::validate;

/// Starts one request: routes it, opens its span and hands the pipeline ([`dispatch`]) to the
/// [`ResponseFuture`], which polls it under the span and a panic guard and echoes the request
/// identity.
pub(super) fn serve<B, ReqBody>(shared: Arc<Shared<B>>, request: Request<ReqBody>) -> ResponseFuture
where
    B: ServiceBroker,
    ReqBody: Body + Send + 'static,
    ReqBody::Error: Into<BoxError>,
{
    let request_identity = identity::request_identity_header(request.headers());
    let routed = routing::route(request.method(), request.uri().path(), &shared.prefix);
    let (template, endpoint) = match &routed {
        Ok(route) => (route.endpoint.template(), Some(route.endpoint)),
        Err(_) => ("<unmatched>", None),
    };
    // Never the raw path (ids), bodies, parameters or the Authorization header.
    let span = tracing::info_span!(
        "osb_request",
        method = %request.method(),
        route = template,
        request_identity = request_identity.as_ref().and_then(|v| v.to_str().ok()),
        status = Empty,
        latency_us = Empty,
    );
    // The typed copy for the broker's context; the header value itself is echoed.
    let typed_identity = identity::request_identity(request_identity.as_ref());
    match routed {
        Ok(route) => {
            let (parts, body) = request.into_parts();
            // The method was routed and the version is hyper's: neither is kept.
            let Parts {
                uri,
                headers,
                extensions,
                ..
            } = parts;
            let pipeline = dispatch(
                shared,
                route,
                uri,
                headers,
                extensions,
                body,
                typed_identity,
            );
            ResponseFuture::new(pipeline, span, request_identity, endpoint)
        }
        Err(no_route) => ResponseFuture::new(
            std::future::ready(no_route_response(no_route)),
            span,
            request_identity,
            endpoint,
        ),
    }
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

/// The endpoint; a [`BrokerError`] becomes the OSB error body with the flags the endpoint may
/// carry.
///
/// An `async` block rather than an `async fn`: the block uses its captures in place, where an
/// `async fn` would keep a second copy of its arguments (`Parts` alone is over 200 bytes) in its
/// state.
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn would store its arguments twice"
)]
fn dispatch<B, ReqBody>(
    shared: Arc<Shared<B>>,
    route: Route,
    uri: Uri,
    headers: HeaderMap,
    extensions: Extensions,
    body: ReqBody,
    mut request_identity: Option<RequestIdentity>,
) -> impl Future<Output = Response<ResponseBody>> + Send + 'static
where
    B: ServiceBroker,
    ReqBody: Body + Send + 'static,
    ReqBody::Error: Into<BoxError>,
{
    async move {
        let endpoint = route.endpoint;
        match handle(
            &shared,
            &route,
            &uri,
            &headers,
            extensions,
            body,
            &mut request_identity,
        )
        .await
        {
            Ok(response) => response,
            Err(err) => {
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
                response::error(&err, endpoint.error_flags())
            }
        }
    }
}

/// The staged checks of the routing module's table, then the broker call.
///
/// An `async` block for the reason given at [`dispatch`].
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn would store its arguments twice"
)]
fn handle<'a, B, ReqBody>(
    shared: &'a Shared<B>,
    route: &'a Route,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    extensions: Extensions,
    body: ReqBody,
    // Borrowed and taken: a value moved into this future would take its room twice.
    request_identity: &'a mut Option<RequestIdentity>,
) -> impl Future<Output = Result<Response<ResponseBody>, BrokerError>> + Send + 'a
where
    B: ServiceBroker,
    ReqBody: Body + Send + 'static,
    ReqBody::Error: Into<BoxError>,
{
    async move {
        let endpoint = route.endpoint;
        // Step 2: version, then the originating identity.
        let api_version = if endpoint.is_osb() {
            shared.versions.negotiate(headers, endpoint)?
        } else {
            shared.versions.lenient(headers)
        };
        // The context is complete before the first await, so its parts are not also kept apart.
        let mut ctx = RequestContext::new(api_version);
        ctx.originating_identity = identity::originating_identity(headers)?;
        ctx.request_identity = request_identity.take();

        // Step 3: declared size, query, ids, body.
        if endpoint.has_body() {
            json::check_declared_size(headers, &body, shared.max_body_size)?;
        }
        let mut query = Query::parse(uri.query())?;
        ctx.accepts_incomplete = query.accepts_incomplete;
        ctx.extensions = extensions;
        let path = uri.path();
        let instance_id = decode(route.raw_instance_id(path), "instance_id")?;
        let binding_id = decode(route.raw_binding_id(path), "binding_id")?;
        let bytes = if endpoint.has_body() {
            json::read(body, shared.max_body_size).await?
        } else {
            drop(body);
            Bytes::new()
        };

        let broker = &shared.broker;

        match endpoint {
            Endpoint::Catalog => {
                let prepared = catalog(shared, &ctx).await?;
                let not_modified = headers
                    .get_all(IF_NONE_MATCH)
                    .iter()
                    .any(|value| if_none_match(value, prepared.etag()));
                // spec.md "Catalog Management" (2.16): ETag / If-None-Match, RFC 7232.
                let mut response = if not_modified {
                    response::no_body(StatusCode::NOT_MODIFIED)
                } else {
                    response::bytes(StatusCode::OK, prepared.body())
                };
                response.headers_mut().insert(ETAG, prepared.etag().clone());
                Ok(response)
            }
            Endpoint::Provision => {
                // Boxed: the parsed request (over 300 bytes) waits for the catalog; kept in
                // this future's state it would push the state past the size the allocator
                // serves from its per-thread cache.
                let request: Box<ProvisionRequest> = Box::new(json::parse(&bytes, headers)?);
                validate::provision(
                    &*catalog(shared, &ctx).await?,
                    &request,
                    shared.require_organization_and_space,
                )?;
                match broker.provision(&instance_id, *request, &ctx).await? {
                    ProvisionResponse::Created(body) => {
                        Ok(response::json(StatusCode::CREATED, &body))
                    }
                    ProvisionResponse::AlreadyExists(body) => {
                        Ok(response::json(StatusCode::OK, &body))
                    }
                    ProvisionResponse::Accepted(body) => accepted(&ctx, &body),
                }
            }
            // The rarely used endpoints with large state run in their own box, so that the state
            // of every request's future stays the size of the common ones (a small future is
            // allocated from the allocator's per-thread cache).
            Endpoint::Update => Box::pin(update(shared, &instance_id, &bytes, headers, &ctx)).await,
            Endpoint::Deprovision => {
                let (service_id, plan_id) = query.required_ids()?;
                let request = DeprovisionRequest::new(service_id, plan_id);
                match broker.deprovision(&instance_id, request, &ctx).await? {
                    DeprovisionResponse::Deleted => Ok(response::empty_object(StatusCode::OK)),
                    DeprovisionResponse::Accepted { operation } => {
                        accepted(&ctx, &OperationBody { operation })
                    }
                }
            }
            Endpoint::FetchInstance => {
                Box::pin(fetch_instance(shared, &instance_id, query, &ctx)).await
            }
            Endpoint::LastOperation => {
                let answer = broker
                    .last_operation(&instance_id, last_operation_request(query), &ctx)
                    .await?;
                Ok(with_retry_after(
                    response::json(StatusCode::OK, &answer),
                    answer.retry_after,
                ))
            }
            Endpoint::Bind => {
                Box::pin(bind(
                    shared,
                    &instance_id,
                    &binding_id,
                    &bytes,
                    headers,
                    &ctx,
                ))
                .await
            }
            Endpoint::Unbind => {
                let (service_id, plan_id) = query.required_ids()?;
                let request = UnbindRequest::new(service_id, plan_id);
                match broker
                    .unbind(&instance_id, &binding_id, request, &ctx)
                    .await?
                {
                    UnbindResponse::Deleted => Ok(response::empty_object(StatusCode::OK)),
                    UnbindResponse::Accepted { operation } => {
                        accepted(&ctx, &OperationBody { operation })
                    }
                }
            }
            Endpoint::FetchBinding => {
                Box::pin(fetch_binding(
                    shared,
                    &instance_id,
                    &binding_id,
                    query,
                    &ctx,
                ))
                .await
            }
            Endpoint::BindingLastOperation => {
                let answer = broker
                    .binding_last_operation(
                        &instance_id,
                        &binding_id,
                        last_operation_request(query),
                        &ctx,
                    )
                    .await?;
                Ok(with_retry_after(
                    response::json(StatusCode::OK, &answer),
                    answer.retry_after,
                ))
            }
            Endpoint::GetInstanceState => {
                Box::pin(get_instance_state(shared, &instance_id, &ctx)).await
            }
            Endpoint::SetInstanceState => {
                Box::pin(set_instance_state(
                    shared,
                    &instance_id,
                    &bytes,
                    headers,
                    &ctx,
                ))
                .await
            }
        }
    }
}

/// `PATCH /v2/service_instances/:instance_id`.
async fn update<B: ServiceBroker>(
    shared: &Shared<B>,
    instance_id: &str,
    bytes: &Bytes,
    headers: &HeaderMap,
    ctx: &RequestContext,
) -> Result<Response<ResponseBody>, BrokerError> {
    let request: UpdateRequest = json::parse(bytes, headers)?;
    validate::update(&*catalog(shared, ctx).await?, &request)?;
    match shared.broker.update(instance_id, request, ctx).await? {
        UpdateResponse::Updated(body) => Ok(response::json(StatusCode::OK, &body)),
        UpdateResponse::Accepted(body) => accepted(ctx, &body),
    }
}

/// `GET /v2/service_instances/:instance_id` (2.14).
async fn fetch_instance<B: ServiceBroker>(
    shared: &Shared<B>,
    instance_id: &str,
    query: Query,
    ctx: &RequestContext,
) -> Result<Response<ResponseBody>, BrokerError> {
    validate::instances_retrievable(&*catalog(shared, ctx).await?, query.service_id.as_deref())?;
    let mut request = FetchInstanceRequest::default();
    request.service_id = query.service_id;
    request.plan_id = query.plan_id;
    let body = shared
        .broker
        .fetch_instance(instance_id, request, ctx)
        .await?;
    Ok(response::json(StatusCode::OK, &body))
}

/// `PUT /v2/service_instances/:instance_id/service_bindings/:binding_id`.
async fn bind<B: ServiceBroker>(
    shared: &Shared<B>,
    instance_id: &str,
    binding_id: &str,
    bytes: &Bytes,
    headers: &HeaderMap,
    ctx: &RequestContext,
) -> Result<Response<ResponseBody>, BrokerError> {
    let request: BindRequest = json::parse(bytes, headers)?;
    validate::bind(&*catalog(shared, ctx).await?, &request)?;
    match shared
        .broker
        .bind(instance_id, binding_id, request, ctx)
        .await?
    {
        BindResponse::Created(body) => Ok(response::json(StatusCode::CREATED, &body)),
        BindResponse::AlreadyExists(body) => Ok(response::json(StatusCode::OK, &body)),
        BindResponse::Accepted(body) => accepted(ctx, &body),
    }
}

/// `GET /v2/service_instances/:instance_id/service_bindings/:binding_id` (2.14).
async fn fetch_binding<B: ServiceBroker>(
    shared: &Shared<B>,
    instance_id: &str,
    binding_id: &str,
    query: Query,
    ctx: &RequestContext,
) -> Result<Response<ResponseBody>, BrokerError> {
    validate::bindings_retrievable(&*catalog(shared, ctx).await?, query.service_id.as_deref())?;
    let mut request = FetchBindingRequest::default();
    request.service_id = query.service_id;
    request.plan_id = query.plan_id;
    let body = shared
        .broker
        .fetch_binding(instance_id, binding_id, request, ctx)
        .await?;
    Ok(response::json(StatusCode::OK, &body))
}

/// `GET /bluemix_v1/service_instances/:instance_id`.
async fn get_instance_state<B: ServiceBroker>(
    shared: &Shared<B>,
    instance_id: &str,
    ctx: &RequestContext,
) -> Result<Response<ResponseBody>, BrokerError> {
    let states = shared
        .broker
        .instance_state()
        .ok_or_else(no_instance_state)?;
    let state = states.get_state(instance_id, ctx).await?;
    Ok(response::json(StatusCode::OK, &state))
}

/// `PUT /bluemix_v1/service_instances/:instance_id`.
async fn set_instance_state<B: ServiceBroker>(
    shared: &Shared<B>,
    instance_id: &str,
    bytes: &Bytes,
    headers: &HeaderMap,
    ctx: &RequestContext,
) -> Result<Response<ResponseBody>, BrokerError> {
    let states = shared
        .broker
        .instance_state()
        .ok_or_else(no_instance_state)?;
    let update: InstanceStateUpdate = json::parse(bytes, headers)?;
    let state = states.set_state(instance_id, update, ctx).await?;
    Ok(if shared.instance_state_no_content {
        response::no_body(StatusCode::NO_CONTENT)
    } else {
        response::json(StatusCode::OK, &state)
    })
}

fn decode<'p>(raw: &'p str, name: &str) -> Result<std::borrow::Cow<'p, str>, BrokerError> {
    routing::decode_id(raw).map_err(|problem| {
        BrokerError::bad_request(format!("The {name} in the path {}.", problem.describe()))
    })
}

/// The broker's catalog, prepared (serialised, indexed) once per `Arc`.
async fn catalog<B: ServiceBroker>(
    shared: &Shared<B>,
    ctx: &RequestContext,
) -> Result<Arc<Prepared>, BrokerError> {
    let catalog = shared.broker.catalog(ctx).await?;
    shared
        .catalog
        .prepare(catalog)
        .map_err(BrokerError::internal)
}

fn last_operation_request(query: Query) -> LastOperationRequest {
    let mut request = LastOperationRequest::default();
    request.service_id = query.service_id;
    request.plan_id = query.plan_id;
    request.operation = query.operation;
    request
}

/// `{"operation"?}`, the 202 body of both deletes.
#[derive(Serialize)]
struct OperationBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    operation: Option<osb_core::OperationToken>,
}

/// A 202, only when the platform sent `accepts_incomplete=true` (spec.md "Asynchronous
/// Operations"); otherwise the broker broke the protocol and the platform gets a 500.
fn accepted<T: Serialize>(
    ctx: &RequestContext,
    body: &T,
) -> Result<Response<ResponseBody>, BrokerError> {
    if !ctx.accepts_incomplete {
        return Err(BrokerError::internal(
            "the broker answered 202 Accepted to a request without accepts_incomplete=true",
        ));
    }
    Ok(response::json(StatusCode::ACCEPTED, body))
}

/// `Retry-After` in delta-seconds (spec.md "Polling Last Operation", 2.15), rounded up.
fn with_retry_after(
    mut response: Response<ResponseBody>,
    retry_after: Option<Duration>,
) -> Response<ResponseBody> {
    if let Some(delay) = retry_after {
        let seconds = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

fn no_instance_state() -> BrokerError {
    BrokerError::not_found()
        .with_description("This broker does not offer the bluemix_v1 instance state endpoints.")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use osb_core::catalog::Catalog;
    use osb_core::{DeprovisionRequest, DeprovisionResponse};

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
    /// pipeline state takes the slow path on every request (README "Performance").
    #[test]
    fn pipeline_state_fits_the_allocators_thread_cache() {
        let shared = crate::OsbService::new(NoBroker).shared;
        let route = routing::route(&http::Method::GET, "/v2/catalog", "").unwrap();
        let request = Request::new(http_body_util::Full::new(Bytes::new()));
        let (parts, body) = request.into_parts();
        let pipeline = dispatch(
            shared,
            route,
            parts.uri,
            parts.headers,
            parts.extensions,
            body,
            None,
        );
        let size = std::mem::size_of_val(&pipeline);
        assert!(size <= 1024, "the pipeline's state is {size} bytes");
    }
}
