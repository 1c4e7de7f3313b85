//! One request through the stages of [`routing`](crate::routing)'s order of checks.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, ETAG, HeaderValue, IF_NONE_MATCH, RETRY_AFTER};
use http::request::Parts;
use http::{Request, Response, StatusCode};
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
    ResponseFuture::new(
        dispatch(shared, routed, request, typed_identity),
        span,
        request_identity,
        endpoint,
    )
}

/// Routing failures, then the endpoint; a [`BrokerError`] becomes the OSB error body with the
/// flags the endpoint may carry.
async fn dispatch<B, ReqBody>(
    shared: Arc<Shared<B>>,
    routed: Result<Route, NoRoute>,
    request: Request<ReqBody>,
    request_identity: Option<RequestIdentity>,
) -> Response<ResponseBody>
where
    B: ServiceBroker,
    ReqBody: Body + Send + 'static,
    ReqBody::Error: Into<BoxError>,
{
    let route = match routed {
        Ok(route) => route,
        Err(NoRoute::NotFound) => {
            let err = BrokerError::not_found()
                .with_description("There is no Open Service Broker endpoint at this path.");
            return response::error(&err, response::ErrorFlags::NONE);
        }
        Err(NoRoute::MethodNotAllowed(allow)) => {
            let err = BrokerError::status_code(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("This path accepts only {allow}."),
            );
            let mut response = response::error(&err, response::ErrorFlags::NONE);
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allow));
            return response;
        }
    };
    let endpoint = route.endpoint;
    let (mut parts, body) = request.into_parts();
    match handle(&shared, &route, &mut parts, body, request_identity).await {
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

/// The staged checks of the routing module's table, then the broker call.
async fn handle<B, ReqBody>(
    shared: &Shared<B>,
    route: &Route,
    parts: &mut Parts,
    body: ReqBody,
    request_identity: Option<RequestIdentity>,
) -> Result<Response<ResponseBody>, BrokerError>
where
    B: ServiceBroker,
    ReqBody: Body + Send + 'static,
    ReqBody::Error: Into<BoxError>,
{
    let endpoint = route.endpoint;
    // Step 2: version, then the originating identity.
    let api_version = if endpoint.is_osb() {
        shared.versions.negotiate(&parts.headers, endpoint)?
    } else {
        shared.versions.lenient(&parts.headers)
    };
    let originating_identity = identity::originating_identity(&parts.headers)?;

    // Step 3: declared size, query, ids, body.
    if endpoint.has_body() {
        json::check_declared_size(&parts.headers, &body, shared.max_body_size)?;
    }
    let mut query = Query::parse(parts.uri.query())?;
    let path = parts.uri.path();
    let instance_id = decode(route.raw_instance_id(path), "instance_id")?;
    let binding_id = decode(route.raw_binding_id(path), "binding_id")?;
    let bytes = if endpoint.has_body() {
        json::read(body, shared.max_body_size).await?
    } else {
        drop(body);
        Bytes::new()
    };

    let mut ctx =
        RequestContext::new(api_version).with_accepts_incomplete(query.accepts_incomplete);
    ctx.originating_identity = originating_identity;
    ctx.request_identity = request_identity;
    ctx.extensions = std::mem::take(&mut parts.extensions);
    let headers = &parts.headers;
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
            let request: ProvisionRequest = json::parse(&bytes, headers)?;
            validate::provision(
                &*catalog(shared, &ctx).await?,
                &request,
                shared.require_organization_and_space,
            )?;
            match broker.provision(&instance_id, request, &ctx).await? {
                ProvisionResponse::Created(body) => Ok(response::json(StatusCode::CREATED, &body)),
                ProvisionResponse::AlreadyExists(body) => Ok(response::json(StatusCode::OK, &body)),
                ProvisionResponse::Accepted(body) => accepted(&ctx, &body),
            }
        }
        Endpoint::Update => {
            let request: UpdateRequest = json::parse(&bytes, headers)?;
            validate::update(&*catalog(shared, &ctx).await?, &request)?;
            match broker.update(&instance_id, request, &ctx).await? {
                UpdateResponse::Updated(body) => Ok(response::json(StatusCode::OK, &body)),
                UpdateResponse::Accepted(body) => accepted(&ctx, &body),
            }
        }
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
            validate::instances_retrievable(
                &*catalog(shared, &ctx).await?,
                query.service_id.as_deref(),
            )?;
            let mut request = FetchInstanceRequest::default();
            request.service_id = query.service_id;
            request.plan_id = query.plan_id;
            let body = broker.fetch_instance(&instance_id, request, &ctx).await?;
            Ok(response::json(StatusCode::OK, &body))
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
            let request: BindRequest = json::parse(&bytes, headers)?;
            validate::bind(&*catalog(shared, &ctx).await?, &request)?;
            match broker
                .bind(&instance_id, &binding_id, request, &ctx)
                .await?
            {
                BindResponse::Created(body) => Ok(response::json(StatusCode::CREATED, &body)),
                BindResponse::AlreadyExists(body) => Ok(response::json(StatusCode::OK, &body)),
                BindResponse::Accepted(body) => accepted(&ctx, &body),
            }
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
            validate::bindings_retrievable(
                &*catalog(shared, &ctx).await?,
                query.service_id.as_deref(),
            )?;
            let mut request = FetchBindingRequest::default();
            request.service_id = query.service_id;
            request.plan_id = query.plan_id;
            let body = broker
                .fetch_binding(&instance_id, &binding_id, request, &ctx)
                .await?;
            Ok(response::json(StatusCode::OK, &body))
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
            let states = broker.instance_state().ok_or_else(no_instance_state)?;
            let state = states.get_state(&instance_id, &ctx).await?;
            Ok(response::json(StatusCode::OK, &state))
        }
        Endpoint::SetInstanceState => {
            let states = broker.instance_state().ok_or_else(no_instance_state)?;
            let update: InstanceStateUpdate = json::parse(&bytes, headers)?;
            let state = states.set_state(&instance_id, update, &ctx).await?;
            Ok(if shared.instance_state_no_content {
                response::no_body(StatusCode::NO_CONTENT)
            } else {
                response::json(StatusCode::OK, &state)
            })
        }
    }
}

fn decode<'p>(raw: &'p str, name: &str) -> Result<std::borrow::Cow<'p, str>, BrokerError> {
    routing::decode_id(raw).ok_or_else(|| {
        BrokerError::bad_request(format!(
            "The {name} in the path is not valid UTF-8 after percent-decoding."
        ))
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
