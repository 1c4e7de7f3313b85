//! Wiring: the OSB service mounted beside the application's own routes, auth, a request
//! timeout, the state store, the dashboard sign-in, usage metering, and a server that finishes
//! in-flight requests on shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::{Extension, Router};
use osb_core::ServiceBroker;
use osb_core::managed::{AnyStore, Managed};
use osb_iam::apikey::{ApiKey, ApiKeyClient};
use osb_iam::authz::AuthzClient;
use osb_iam::dashboard::SessionKey;
use osb_iam::keys::{KeyCache, RefreshTask};
use osb_iam::metering::{Measure, MeterError, MeteredInstance, MeteringClient, ReporterHandle};
use osb_iam::metering::{UsageReporter, Window};
use osb_iam::{DashboardAuth, DashboardUser, Environment, Policy, Verifier};
use osb_tower::OsbService;
use osb_tower::auth::{Authenticate, AuthenticateExt, Basic, RequireAuthLayer};
use osb_tower::timeout::TimeoutLayer;
use tokio::net::TcpListener;
use tower::Layer;

use crate::config::Config;
use crate::logic::{API_CALLS, Databases, METERED_PLAN_ID, SERVICE_ID};

/// Any error of start-up or serving.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// IAM's signing keys and the task refreshing them.
type Keys = (KeyCache, RefreshTask);

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

/// The configured IAM: production unless `BROKER_IAM_URL` says otherwise (loopback `http` for
/// tests).
pub fn iam(config: &Config) -> Environment {
    let base = config.iam_url.trim_end_matches('/');
    let or = |setting: &Option<String>, default: String| setting.clone().unwrap_or(default);
    let keys = or(&config.iam_jwks_url, format!("{base}/identity/keys"));
    let issuer = or(&config.iam_issuer, format!("{base}/identity"));
    let token = format!("{base}/identity/token");
    Environment::custom(keys, issuer, token).insecure_allow_loopback_http()
}

/// IAM's signing keys, fetched now and every 20 minutes, when IAM tokens are accepted (as
/// bearer tokens or at the dashboard's sign-in).
async fn iam_keys(config: &Config, iam: &Environment) -> Result<Option<Keys>, Error> {
    if config.iam_jwks_url.is_none() && config.dashboard_client_id.is_none() {
        return Ok(None);
    }
    let keys = iam.key_cache()?;
    if let Err(err) = keys.refresh().await {
        tracing::warn!(error = %err, "IAM keys not fetched yet; retrying on the first token");
    }
    let refresh = keys.spawn_refresh(Duration::from_secs(20 * 60));
    Ok(Some((keys, refresh)))
}

/// Basic with the configured pair, or "Basic or IAM bearer" (as IBM Cloud may send either).
fn authenticator(
    config: &Config,
    iam: &Environment,
    keys: Option<&KeyCache>,
) -> Box<dyn Authenticate> {
    let basic = Basic::new(&config.username, &config.password);
    let Some(keys) = keys.filter(|_| config.iam_jwks_url.is_some()) else {
        return Box::new(basic);
    };
    let policy = Policy::iam_ids(config.iam_identities.clone());
    let verifier = Verifier::builder(keys.clone(), policy).issuer(iam.issuer());
    Box::new(basic.or(verifier.build()))
}

/// `/dashboard/{instance}` behind IAM sign-in and the `<service>.dashboard.view` check, and
/// the callback route; `None` unless a dashboard client id is configured.
pub fn dashboard(
    config: &Config,
    iam: &Environment,
    (keys, tokens): (Option<&KeyCache>, Option<&ApiKeyClient>),
    broker: Broker,
) -> Result<Option<Router>, Error> {
    let (Some(id), Some(secret), Some(redirect), Some(keys), Some(tokens)) = (
        &config.dashboard_client_id,
        &config.dashboard_client_secret,
        &config.dashboard_redirect_url,
        keys,
        tokens,
    ) else {
        return Ok(None);
    };
    let mut authz = AuthzClient::builder(tokens.clone()).environment(iam);
    // Any IBM Cloud user may sign in; the access check decides who sees which instance.
    let verifier = Verifier::builder(keys.clone(), Policy::insecure_any_identity())
        .issuer(iam.issuer())
        .build();
    let mut auth =
        DashboardAuth::builder(id, secret, redirect, verifier).discovery(iam.discovery()?);
    if iam.is_loopback_http() {
        (authz, auth) = (authz.insecure_allow_http(), auth.insecure_allow_http());
    }
    // Per process: sessions end on restart; replicas would share one key from a secret store.
    let session_key = SessionKey::generate().ok_or("no operating-system randomness")?;
    let auth = auth
        .access_check(authz.build()?, &config.service_name)
        .session_key(session_key)
        .build()?;
    let page = move |Extension(user): Extension<DashboardUser>| {
        broker.logic().count_call(&user.instance_id);
        let (instance, iam_id) = (user.instance_id, user.iam_id);
        async move { format!("Minimal DB instance {instance}\nsigned in as {iam_id}\n") }
    };
    let page = Router::new().route("/dashboard/{instance}", get(page));
    let (path, callback) = (auth.callback_path(), auth.callback());
    Ok(Some(page.layer(auth.layer()).route_service(path, callback)))
}

/// Reports the metered plan's API calls hourly to IBM's metering API through an outbox in the
/// broker's store; `None` unless a metering URL is configured.
pub fn metering(
    config: &Config,
    tokens: Option<&ApiKeyClient>,
    broker: Broker,
) -> Result<Option<ReporterHandle>, Error> {
    let (Some(url), Some(tokens)) = (&config.metering_url, tokens) else {
        return Ok(None);
    };
    let client = MeteringClient::builder(SERVICE_ID, tokens.clone())
        .base_url(url)
        .build()?;
    let store = Arc::new(broker.store().clone());
    // The measuring code: the calls the logic counted in the window's hour.
    let meter = move |instance: MeteredInstance, window: Window| {
        let calls = broker.logic().calls(&instance.instance_id, window);
        async move { Ok::<_, MeterError>(vec![Measure::new(API_CALLS, calls)]) }
    };
    let reporter = UsageReporter::builder(client, store, meter).metered_plan(METERED_PLAN_ID);
    Ok(Some(reporter.build()?.start()))
}

/// Runs the broker of `config` on `listener` until `shutdown` completes, then lets in-flight
/// requests finish and stops background work (a later start resumes it).
///
/// # Errors
///
/// When the store cannot be opened, a setting is unusable, or the server fails.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let lease = config.operation_lease;
    let broker: Broker = Arc::new(
        Managed::builder(Databases::new(config.provision_time)?)
            .store(config.database_url.open().await?)
            .lease(lease, lease / 3)
            .build(),
    );
    let settled = broker.recover().await?;
    if settled > 0 {
        tracing::info!(settled, "settled operations of an earlier run");
    }
    broker.spawn_maintenance(Duration::from_secs(30));
    let iam = iam(&config);
    let keys = iam_keys(&config, &iam).await?;
    let keys_ref = keys.as_ref().map(|(keys, _)| keys);
    // The provider's service ID: one token cache for the access check and metering.
    let api_key = config.iam_api_key.clone().map(ApiKey::new);
    let tokens = api_key.map(|key| ApiKeyClient::builder(key).environment(&iam).build());
    let auth = authenticator(&config, &iam, keys_ref);
    let mut router = app(broker.clone(), auth, config.request_timeout);
    let iam_clients = (keys_ref, tokens.as_ref());
    if let Some(dashboard) = dashboard(&config, &iam, iam_clients, broker.clone())? {
        router = dashboard.merge(router);
    }
    let reporter = metering(&config, tokens.as_ref(), broker.clone())?;
    let server = axum::serve(listener, router);
    server.with_graceful_shutdown(shutdown).await?;
    if let Some(reporter) = reporter {
        reporter.shutdown().await;
    }
    drop(keys);
    broker.shutdown().await;
    Ok(())
}
