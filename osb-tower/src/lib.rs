//! Turns any [`osb_core::ServiceBroker`] into a spec-exact [`tower::Service`] for hyper, axum or
//! any tower server.
//!
//! ```
//! use std::sync::Arc;
//! use hyper_util::rt::{TokioExecutor, TokioIo};
//! use hyper_util::service::TowerToHyperService;
//! use osb_core::catalog::{Catalog, Plan, Service};
//! use osb_core::*;
//! use osb_tower::OsbService;
//!
//! struct MyBroker(Arc<Catalog>);
//!
//! #[async_trait::async_trait]
//! impl ServiceBroker for MyBroker {
//!     async fn catalog(&self, _: &RequestContext) -> Result<Arc<Catalog>, BrokerError> {
//!         Ok(self.0.clone())
//!     }
//!     async fn provision(&self, id: &str, _: ProvisionRequest, _: &RequestContext)
//!         -> Result<ProvisionResponse, BrokerError> {
//!         let dashboard = format!("https://db.example.com/{id}");
//!         Ok(ProvisionResponse::Created(ProvisionedInstance::with_dashboard_url(dashboard)))
//!     }
//!     async fn deprovision(&self, _: &str, _: DeprovisionRequest, _: &RequestContext)
//!         -> Result<DeprovisionResponse, BrokerError> {
//!         Ok(DeprovisionResponse::Deleted)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let catalog = Catalog::new(vec![
//!     Service::new("svc", "my-db", "A database", false).with_plan(Plan::new("small", "small", "Small")),
//! ]);
//! let service = OsbService::new(MyBroker(Arc::new(catalog)));
//!
//! // Serve one connection with hyper 1 (hyper-util's adapters).
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! let server = tokio::spawn(async move {
//!     let (stream, _) = listener.accept().await?;
//!     hyper::server::conn::http1::Builder::new()
//!         .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
//!         .await?;
//!     Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! });
//!
//! // One request, as a platform would send it.
//! let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
//!     .build_http::<http_body_util::Full<bytes::Bytes>>();
//! let request = http::Request::put(format!("http://{addr}/v2/service_instances/i-1"))
//!     .header("X-Broker-API-Version", "2.12")
//!     .header("Content-Type", "application/json")
//!     .body(r#"{"service_id":"svc","plan_id":"small","context":{"platform":"ibmcloud"}}"#.into())?;
//! let response = client.request(request).await?;
//! assert_eq!(response.status(), 201);
//! drop(client); // closes the connection, so the server task ends
//! server.await?.map_err(|e| e.to_string())?;
//! # Ok(())
//! # }
//! ```
//!
//! # Overview
//!
//! - [`OsbService`] (built with [`OsbService::builder`]) serves the ten OSB v2.17 endpoints and
//!   IBM Cloud's `bluemix_v1` instance-state extension for a [`ServiceBroker`](osb_core::ServiceBroker).
//! - [`routing`] holds the route table and **the order of checks** every request passes (each step
//!   with its section of osb-core's rules.md): version negotiation (412), query and body parsing
//!   (400/413), protocol validation against the catalog (400/404/422), then the broker.
//! - [`ResponseBody`] is the body of every answer; every answer is `application/json` with a JSON
//!   object (`{}` at least), errors included, except `304` (and the optional `bluemix_v1` `204`).
//! - Authentication runs in a layer in front of the service, so `401` comes before everything.
//!
//! # Mounting
//!
//! - Facing the network: [`serve::Server`] (feature `serve`) closes silent, slow and idle
//!   connections and caps how many are open, which a bare hyper loop or `axum::serve` does not.
//! - hyper 1: wrap the service in `hyper_util::service::TowerToHyperService` (above).
//! - axum: `Router::new().nest_service("/broker", service)` beside the application's routes (axum
//!   strips the prefix; leave [`Builder::path_prefix`] unset), or `route_service`.
//! - Under a prefix without a router: [`Builder::path_prefix`].
//!
//! ```
//! # use std::sync::Arc;
//! # use osb_core::catalog::Catalog;
//! # use osb_core::*;
//! # struct MyBroker;
//! # #[async_trait::async_trait]
//! # impl ServiceBroker for MyBroker {
//! #     async fn catalog(&self, _: &RequestContext) -> Result<Arc<Catalog>, BrokerError> { Ok(Arc::default()) }
//! #     async fn provision(&self, _: &str, _: ProvisionRequest, _: &RequestContext) -> Result<ProvisionResponse, BrokerError> { Err(BrokerError::not_found()) }
//! #     async fn deprovision(&self, _: &str, _: DeprovisionRequest, _: &RequestContext) -> Result<DeprovisionResponse, BrokerError> { Err(BrokerError::gone()) }
//! # }
//! use axum::{Router, routing::get};
//! use osb_tower::OsbService;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let app = Router::new()
//!     .route("/health", get(|| async { "ok" }))
//!     .nest_service("/broker", OsbService::new(MyBroker));
//!
//! let request = http::Request::get("/broker/v2/catalog")
//!     .header("X-Broker-API-Version", "2.17")
//!     .body(axum::body::Body::empty())?;
//! assert_eq!(app.oneshot(request).await?.status(), 200);
//! # Ok(())
//! # }
//! ```
//! - tower-http layers (trace, timeout, compression) wrap it like any service: it is `Clone`,
//!   always ready, and its error type is `Infallible`.
//!
//! # Feature flags
//!
//! - `timeout` (off by default): [`timeout::TimeoutLayer`], a request timeout answering `503`
//!   with the OSB error body (tower-http's answers an empty `408`); needs tokio's timer.
//! - `signal` (off by default): [`shutdown::signal`], a future completing on SIGINT or SIGTERM
//!   for graceful shutdown; needs tokio's signal handling.
//! - `serve` (off by default): [`serve::Server`], an HTTP/1 server for a broker facing the
//!   network: a header-read timeout (default 30 s), an idle keep-alive timeout (default 60 s), a
//!   connection limit (default sized from the open-files limit), accept errors waited out, and
//!   graceful shutdown; needs hyper's server, hyper-util and tokio's sockets.
//!
//! # Spec compliance
//!
//! OSB v2.17 (spec.md), with the deliberate choices written down in osb-core's rules.md (§2.1, §4,
//! §16):
//! `X-Broker-API-Version` 2.12 and later by default (IBM Cloud sends 2.12), absent → 412 (400 as a
//! setting); ids percent-decoded after splitting the path (IBM Cloud's CRN ids); empty strings and
//! empty placeholder objects treated as absent; `organization_guid`/`space_guid` optional when a
//! `context` is sent (strict mode available); `maintenance_info` conflicts → 422
//! `MaintenanceInfoConflict`; fetch endpoints 404 unless the catalog declares them retrievable;
//! `instance_usable` / `update_repeatable` only where spec.md "Service Broker Errors" allows them;
//! `Retry-After` on last_operation; catalog `ETag` / `If-None-Match`;
//! `X-Broker-API-Request-Identity` echoed on every answer. Request bodies are limited in size
//! ([`Builder::max_body_size`], 413) and in JSON nesting ([`MAX_JSON_DEPTH`], 400 naming the
//! field), so whatever reaches the broker can be stored and read back.
//!
//! # Logging
//!
//! Every request runs in a `tracing` span `osb_request` with `method`, `route` (the template,
//! never raw ids), `request_identity`, `status` and `latency_us`. 5xx answers and broker panics
//! are logged at `error` with their internal cause, which never reaches the client. Bodies,
//! parameters, credentials and the `Authorization` header are never logged; JSON errors name the
//! field and never the value.
//!
//! # Stability
//!
//! Pre-1.0: minor releases may change the API. Enums that the spec may grow are
//! `#[non_exhaustive]`.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

pub mod auth;
mod catalog;
mod identity;
mod json;
mod nesting;
mod percent;
mod query;
mod response;
pub mod routing;
#[cfg(feature = "serve")]
#[cfg_attr(docsrs, doc(cfg(feature = "serve")))]
pub mod serve;
mod service;
#[cfg(feature = "signal")]
#[cfg_attr(docsrs, doc(cfg(feature = "signal")))]
pub mod shutdown;
#[cfg(feature = "timeout")]
#[cfg_attr(docsrs, doc(cfg(feature = "timeout")))]
pub mod timeout;
mod validate;
mod version;

pub use nesting::MAX_JSON_DEPTH;
pub use response::ResponseBody;
pub use routing::Endpoint;
pub use service::{Builder, OsbService, ResponseFuture};
pub use version::MissingVersion;
