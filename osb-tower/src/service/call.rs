//! [`Call`]: one routed request, and the stages every operation shares.
//!
//! The stages are those of [`routing`]'s order of checks: [`Call::check`] runs
//! step 2 and step 3 up to the body, [`Call::read`] and [`Call::parse`] the rest of step 3, and
//! [`Call::catalog`] fetches what steps 4 to 11 check against.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Response, Uri};
use http_body::Body;
use osb_core::{BoxError, BrokerError, RequestContext, ServiceBroker};
use serde::de::DeserializeOwned;

use super::Shared;
use crate::catalog::Prepared;
use crate::identity;
use crate::json;
use crate::query::Query;
use crate::response::ResponseBody;
use crate::routing::{self, Route};

/// What an operation answers: its response, or the error the pipeline turns into the OSB error
/// body.
pub(super) type Reply = Result<Response<ResponseBody>, BrokerError>;

/// A request body the service accepts (the bounds of its `tower::Service` impl).
pub(super) trait RequestBody: Body<Error: Into<BoxError>> + Send + 'static {}

impl<T> RequestBody for T where T: Body<Error: Into<BoxError>> + Send + 'static {}

/// One routed request, as the operations read it: the service's settings and broker, the
/// route, and the request's URI and headers. The body and the [`RequestContext`] travel beside
/// it, as they are consumed and filled in on the way.
pub(super) struct Call<B> {
    shared: Arc<Shared<B>>,
    route: Route,
    uri: Uri,
    headers: HeaderMap,
}

/// The path and query parameters, checked and decoded (step 3).
pub(super) struct Params<'a> {
    pub(super) query: Query,
    pub(super) instance_id: Cow<'a, str>,
    /// Empty for the endpoints without one.
    pub(super) binding_id: Cow<'a, str>,
}

impl<B: ServiceBroker> Call<B> {
    pub(super) fn new(shared: Arc<Shared<B>>, route: Route, uri: Uri, headers: HeaderMap) -> Self {
        Self {
            shared,
            route,
            uri,
            headers,
        }
    }

    /// The broker.
    pub(super) fn broker(&self) -> &B {
        &self.shared.broker
    }

    /// The service's settings.
    pub(super) fn shared(&self) -> &Shared<B> {
        &self.shared
    }

    /// The request's headers.
    pub(super) fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Step 2 (the version, then the originating identity) and step 3 up to the body (its
    /// declared size, the query, the ids), recording in `ctx` what the broker is told of them.
    pub(super) fn check(
        &self,
        ctx: &mut RequestContext,
        body: &impl RequestBody,
    ) -> Result<Params<'_>, BrokerError> {
        let endpoint = self.route.endpoint;
        ctx.api_version = if endpoint.is_osb() {
            self.shared.versions.negotiate(&self.headers, endpoint)?
        } else {
            self.shared.versions.lenient(&self.headers)
        };
        ctx.originating_identity = identity::originating_identity(&self.headers)?;

        if endpoint.has_body() {
            json::check_declared_size(&self.headers, body, self.shared.max_body_size)?;
        }
        let query = Query::parse(self.uri.query())?;
        ctx.accepts_incomplete = query.accepts_incomplete;
        let path = self.uri.path();
        let instance_id = decode(self.route.raw_instance_id(path), "instance_id")?;
        let binding_id = decode(self.route.raw_binding_id(path), "binding_id")?;
        Ok(Params {
            query,
            instance_id,
            binding_id,
        })
    }

    /// Step 3: reads the body, up to the size limit.
    pub(super) async fn read(&self, body: impl RequestBody) -> Result<Bytes, BrokerError> {
        json::read(body, self.shared.max_body_size).await
    }

    /// Step 3: parses the body read by [`read`](Self::read).
    ///
    /// Into a box: a parsed request (330 to 430 bytes) waits for the catalog, and held in the
    /// pipeline's state it would push that state, for every endpoint, past the 1 KiB the
    /// allocator serves from its per-thread cache (the size test in `pipeline`; README
    /// "Performance").
    pub(super) fn parse<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<Box<T>, BrokerError> {
        json::parse(bytes, &self.headers).map(Box::new)
    }

    /// The broker's catalog, prepared (serialised, indexed) once per `Arc`.
    pub(super) async fn catalog(&self, ctx: &RequestContext) -> Result<Arc<Prepared>, BrokerError> {
        let catalog = self.shared.broker.catalog(ctx).await?;
        self.shared
            .catalog
            .prepare(catalog)
            .map_err(BrokerError::internal)
    }
}

fn decode<'p>(raw: &'p str, name: &str) -> Result<Cow<'p, str>, BrokerError> {
    routing::decode_id(raw).map_err(|problem| {
        BrokerError::bad_request(format!("The {name} in the path {}.", problem.describe()))
    })
}
