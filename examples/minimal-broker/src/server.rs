//! Wiring: the OSB service mounted beside the application's own routes, auth, a request
//! timeout, the state store, and a server that finishes in-flight requests on shutdown.

use std::future::Future;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use osb_core::ServiceBroker;
use osb_core::managed::{Managed, MemoryStore, PostgresStore, SqliteStore, StateStore};
use osb_iam::keys::{HttpKeySource, KeyCache, RefreshTask};
use osb_iam::{Policy, Verifier};
use osb_tower::OsbService;
use osb_tower::auth::{Authenticate, AuthenticateExt, Basic, RequireAuthLayer};
use tokio::net::TcpListener;
use tower::{BoxError, Layer, ServiceBuilder};

use crate::config::{Config, Database};
use crate::logic::Databases;

/// Any error of start-up or serving.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The routes: `/healthz` for the orchestrator, every other path to the OSB service behind
/// `auth`; a request running past `request_timeout` is answered 503.
pub fn app<B: ServiceBroker>(
    broker: B,
    auth: impl Authenticate,
    request_timeout: Duration,
) -> Router {
    let osb = RequireAuthLayer::new(auth).layer(OsbService::new(broker));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .fallback_service(osb)
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(timed_out))
                .timeout(request_timeout),
        )
}

// The OSB error body, so platforms show the reason.
async fn timed_out(_: BoxError) -> Response {
    let body = r#"{"description":"The broker did not answer in time; try again."}"#;
    let json = [(header::CONTENT_TYPE, "application/json")];
    (StatusCode::SERVICE_UNAVAILABLE, json, body).into_response()
}

/// Opens the store `database` names (creating the SQLite file and the schema as needed).
///
/// # Errors
///
/// When the database cannot be opened or migrated.
pub async fn open_store(database: &Database) -> Result<Box<dyn StateStore>, Error> {
    Ok(match database {
        Database::Sqlite(path) => Box::new(SqliteStore::open(path).await?),
        Database::Postgres(url) => Box::new(PostgresStore::connect(url).await?),
        Database::Memory => Box::new(MemoryStore::new()),
    })
}

/// Basic with the configured pair, or "Basic or IAM bearer" (as IBM Cloud may send either)
/// with the task refreshing IAM's keys every 20 minutes.
async fn authenticator(
    config: &Config,
) -> Result<(Box<dyn Authenticate>, Option<RefreshTask>), Error> {
    let basic = Basic::new(&config.username, &config.password);
    let Some(jwks_url) = &config.iam_jwks_url else {
        return Ok((Box::new(basic), None));
    };
    let source = match jwks_url
        .strip_prefix("http://")
        .and_then(|rest| rest.split([':', '/']).next())
    {
        // Plain HTTP only where nobody can tamper with it: a JWK set served on this machine.
        Some(host)
            if host == "localhost" || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback()) =>
        {
            HttpKeySource::insecure_allow_http(jwks_url)?
        }
        _ => HttpKeySource::new(jwks_url)?,
    };
    let keys = KeyCache::new(source);
    if let Err(err) = keys.refresh().await {
        tracing::warn!(error = %err, "IAM keys not fetched yet; retrying on the first token");
    }
    let refresh = keys.spawn_refresh(Duration::from_secs(20 * 60));
    let verifier = Verifier::builder(keys, Policy::iam_ids(config.iam_identities.clone()))
        .issuer(config.iam_issuer.clone())
        .build();
    Ok((Box::new(basic.or(verifier)), Some(refresh)))
}

/// Runs the broker of `config` on `listener` until `shutdown` completes, then lets in-flight
/// requests finish and stops background operations (a later start resumes them).
///
/// # Errors
///
/// When the store cannot be opened or the server fails.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let lease = config.operation_lease;
    let broker = Arc::new(
        Managed::builder(Databases::new(config.provision_time)?)
            .store(open_store(&config.database_url).await?)
            .lease(lease, lease / 3)
            .build(),
    );
    let settled = broker.recover().await?;
    if settled > 0 {
        tracing::info!(settled, "settled operations of an earlier run");
    }
    broker.spawn_maintenance(Duration::from_secs(30));
    let (auth, key_refresh) = authenticator(&config).await?;
    let router = app(broker.clone(), auth, config.request_timeout);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await?;
    drop(key_refresh);
    broker.shutdown().await;
    Ok(())
}
