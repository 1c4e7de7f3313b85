//! The example broker, or any router built with `minimal_broker::app`, served in-process on an
//! ephemeral loopback port.

use std::time::Duration;

use clap::Parser as _;
use minimal_broker::{Config, Error};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::platform::Platform;

/// The settings of an in-process test broker: in-memory state, a one-second `large`
/// provision, port 0, Basic `platform` / `e2e-password`.
pub fn test_config() -> Config {
    let mut config = Config::try_parse_from([
        "minimal-broker",
        "--listen=127.0.0.1:0",
        "--database-url=memory:",
        "--username=platform",
        "--password=e2e-password",
        "--iam-issuer=https://iam.cloud.ibm.com/identity",
    ])
    .expect("valid test settings");
    config.provision_time = Duration::from_secs(1);
    config
}

/// A server running on `127.0.0.1:<ephemeral>` until [`RunningBroker::stop`] (or drop).
pub struct RunningBroker {
    url: String,
    config: Config,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), Error>>,
}

// Not the config: it holds the password.
impl std::fmt::Debug for RunningBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningBroker")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl RunningBroker {
    /// Serves the example broker of `config` (its `listen` address is ignored).
    pub async fn start(config: Config) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        Self::start_on(listener, config).await
    }

    /// Serves the example broker of `config` on `listener` (bound by the caller, e.g. to know
    /// the port for a redirect URL beforehand).
    pub async fn start_on(listener: TcpListener, config: Config) -> Self {
        let url = format!("http://{}", listener.local_addr().expect("a local address"));
        let (stop, stopped) = oneshot::channel::<()>();
        let serve_config = config.clone();
        let task = tokio::spawn(async move {
            minimal_broker::serve(listener, serve_config, async move {
                let _ = stopped.await;
            })
            .await
        });
        Self {
            url,
            config,
            stop: Some(stop),
            task,
        }
    }

    /// Serves `router` (e.g. `minimal_broker::app` over a test logic).
    pub async fn router(router: axum::Router) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("a local address"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .map_err(Error::from)
        });
        Self {
            url,
            config: test_config(),
            stop: Some(stop),
            task,
        }
    }

    /// The base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A platform client with the configured Basic credentials.
    pub fn platform(&self) -> Platform {
        Platform::new(&self.url).basic(&self.config.username, &self.config.password)
    }

    /// Shuts down gracefully and checks the server ended without error.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = tokio::time::timeout(Duration::from_secs(30), &mut self.task)
            .await
            .expect("the broker stops within 30 s")
            .expect("the server task did not panic");
        if let Err(err) = result {
            panic!("the broker failed: {err}");
        }
    }
}

impl Drop for RunningBroker {
    fn drop(&mut self) {
        self.task.abort();
    }
}
