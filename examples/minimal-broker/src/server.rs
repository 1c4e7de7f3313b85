//! Wiring: the OSB service mounted beside the application's own routes, auth, a request
//! timeout, the state store, the dashboard sign-in, usage metering, and a server that closes
//! silent and idle connections, caps how many are open and finishes in-flight requests on
//! shutdown.

use std::{sync::Arc, time::Duration};

use axum::{Extension, Router, routing::get};
use osb_core::{ServiceBroker, managed::AnyStore, managed::Managed};
use osb_iam::{DashboardUser, metering::MeterError, metering::MeteredInstance, metering::Window};
use osb_tower::{OsbService, auth::Authenticate, auth::Basic, auth::RequireAuthLayer};
use osb_tower::{serve::Server, timeout::TimeoutLayer};
use tokio::net::TcpListener;
use tower::Layer;

use crate::config::{Config, DEV_PASSWORD};
use crate::logic::{Databases, METERED_PLAN_ID, SERVICE_ID};

/// Any error of start-up or serving.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The broker: the business logic on the library's bookkeeping in the configured store.
pub type Broker = Arc<Managed<Databases, Arc<dyn AnyStore>>>;

/// The routes: `/healthz` for the orchestrator, every other path to the OSB service behind
/// `auth`; a request running past `timeout` is answered 503 with an OSB error body.
pub fn app<B: ServiceBroker>(broker: B, auth: impl Authenticate, timeout: Duration) -> Router {
    let osb = RequireAuthLayer::new(auth).layer(OsbService::new(broker));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .fallback_service(osb)
        .layer(TimeoutLayer::new(timeout))
}

/// The dashboard page of an instance, for a user IAM let in (each view is a metered API call).
async fn dashboard(Extension(broker): Extension<Broker>, user: Extension<DashboardUser>) -> String {
    broker.logic().count_call(&user.instance_id);
    format!("Minimal DB instance {}\nsigned in as {}\n", user.instance_id, user.iam_id)
}

/// Runs the broker of `config` on `listener` until `shutdown` completes, then lets in-flight
/// requests finish and stops background work (a later start resumes it).
///
/// # Errors
///
/// When a setting is unusable (an empty password, or the development one off loopback), or the
/// store cannot be opened.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    if config.username.is_empty() || config.password.is_empty() {
        return Err("BROKER_USERNAME and BROKER_PASSWORD must not be empty".into());
    } else if config.password == DEV_PASSWORD && !listener.local_addr()?.ip().is_loopback() {
        return Err("the development password is for loopback only: set BROKER_PASSWORD".into());
    }
    let mut ibm = config.ibm.start().await?;
    let (logic, lease) = (Databases::new(config.provision_time)?, config.operation_lease);
    let store = config.database_url.open().await?;
    let broker: Broker =
        Arc::new(Managed::builder(logic).store(store).lease(lease, lease / 3).build());
    broker.start(Duration::from_secs(30)).await?;
    let auth = ibm.broker_auth(Basic::new(&config.username, &config.password));
    let mut router = app(broker.clone(), auth, config.request_timeout);
    if let Some(auth) = ibm.dashboard() {
        let page = Router::new().route("/dashboard/{instance}", get(dashboard));
        let page = page.layer(auth.layer()).route_service(auth.callback_path(), auth.callback());
        router = page.layer(Extension(broker.clone())).merge(router);
    }
    // Metering: the logic's usage of each finished hour, queued in the broker's store.
    let counter = broker.clone();
    let meter = move |instance: MeteredInstance, hour: Window| {
        std::future::ready(Ok::<_, MeterError>(counter.logic().usage(&instance, hour)))
    };
    ibm.start_metering(SERVICE_ID, [METERED_PLAN_ID], broker.store().clone(), meter)?;
    let server = Server::new().header_read_timeout(config.header_read_timeout);
    let server = server.idle_timeout(config.idle_timeout).max_connections(config.max_connections);
    server.serve(listener, router, shutdown).await;
    ibm.shutdown().await;
    broker.shutdown().await;
    Ok(())
}
