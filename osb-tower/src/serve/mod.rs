//! An HTTP/1 server for a broker facing the network: a header-read timeout, an idle keep-alive
//! timeout, a connection limit and graceful shutdown, each limit with a safe default.
//!
//! `axum::serve` and a bare hyper accept loop keep a connection open for as long as the peer
//! likes: sockets that send nothing, or a header one byte at a time, pile up until the process
//! runs out of file descriptors and every `accept` fails with `EMFILE`. [`Server`] closes them
//! and never holds more connections than the process can afford:
//!
//! - **Header-read timeout** ([`Server::header_read_timeout`]): a new connection must send a
//!   complete request head within it, and so must a kept-alive one from the first byte of its
//!   next request; otherwise it is closed.
//! - **Idle timeout** ([`Server::idle_timeout`]): a kept-alive connection that starts no new
//!   request within it after its last response is closed.
//! - **Connection limit** ([`Server::max_connections`]): beyond it the server stops accepting;
//!   new connections wait in the listen backlog (or are refused by the kernel once it is full)
//!   and are accepted as others close. The default is sized from the process's open-files limit,
//!   so the broker's own store and clients still find descriptors.
//! - Accept errors (`EMFILE`, `ENFILE`, `ENOBUFS`, …) never end the server: they are logged, and
//!   accepting resumes a second later.
//! - **Graceful shutdown**: when the shutdown future completes, the server stops accepting,
//!   closes idle connections, lets requests in flight finish, and returns once every connection
//!   has closed.
//!
//! A request's own duration is not limited here: wrap the service in
//! [`timeout::TimeoutLayer`](crate::timeout::TimeoutLayer) (feature `timeout`), and bound its
//! body with [`Builder::max_body_size`](crate::Builder::max_body_size).
//!
//! Why not hyper's `http1::Builder::header_read_timeout`: hyper (1.x) starts that timer when a
//! connection is accepted *and again when a kept-alive connection goes idle*, so the wait for a
//! next request would be cut to the header-read timeout and an idle timeout longer than it would
//! never apply. Here, as in nginx (`keepalive_timeout`, `client_header_timeout`), the idle wait and
//! the header read are timed separately.
//!
//! HTTP/1.1 and 1.0 only: the OSB platforms (Cloud Foundry, Kubernetes, IBM Cloud) call brokers
//! over HTTP/1.1, usually behind a TLS-terminating router. A client speaking HTTP/2 with prior
//! knowledge gets its connection closed. Upgrades (WebSocket) are not served.

mod clock;
mod open_files;

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tower::Service;

use self::clock::{Clock, Timed, Tracked};

/// How long the accept loop waits after an accept error other than a failed handshake (the
/// process may be out of file descriptors; give connections time to close).
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Serves a tower service over HTTP/1 with connection limits; see the [module docs](self).
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use axum::{Router, routing::get};
/// use osb_tower::serve::Server;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let app = Router::new().route("/healthz", get(|| async { "ok" }));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let server = Server::new()
///     .header_read_timeout(Duration::from_secs(10))
///     .idle_timeout(Duration::from_secs(30))
///     .max_connections(1000);
/// // Stops at once here; a broker passes `osb_tower::shutdown::signal()` (feature `signal`).
/// server.serve(listener, app, async {}).await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct Server {
    header_read_timeout: Duration,
    idle_timeout: Duration,
    max_connections: Option<usize>,
}

impl Server {
    /// The default [`header_read_timeout`](Self::header_read_timeout): 30 s.
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

    /// The default [`idle_timeout`](Self::idle_timeout): 60 s.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

    /// A server with the default limits.
    pub const fn new() -> Self {
        Self {
            header_read_timeout: Self::DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            max_connections: None,
        }
    }

    /// Closes a connection that has not sent a complete request head within `timeout`: counted
    /// from its acceptance, and on a kept-alive connection from the first byte of each further
    /// request.
    ///
    /// Longer lets slow clients in and lets a peer hold a connection (and a descriptor) that
    /// long for a few bytes; a platform sends its headers in one go.
    ///
    /// Default: 30 s.
    ///
    /// # Panics
    ///
    /// If `timeout` is zero: no request could ever be read.
    pub const fn header_read_timeout(mut self, timeout: Duration) -> Self {
        assert!(
            !timeout.is_zero(),
            "header_read_timeout must be more than zero"
        );
        self.header_read_timeout = timeout;
        self
    }

    /// Closes a kept-alive connection that starts no new request within `timeout` after its last
    /// response.
    ///
    /// Longer saves platforms a reconnect (and a TLS handshake at their router) but holds a
    /// descriptor per quiet client for that long.
    ///
    /// Default: 60 s.
    ///
    /// # Panics
    ///
    /// If `timeout` is zero: no connection could be kept alive.
    pub const fn idle_timeout(mut self, timeout: Duration) -> Self {
        assert!(!timeout.is_zero(), "idle_timeout must be more than zero");
        self.idle_timeout = timeout;
        self
    }

    /// Serves at most `max` connections at once; further ones wait in the listen backlog until
    /// one closes (the kernel refuses them once the backlog is full).
    ///
    /// Higher than the process's open-files limit allows brings back `EMFILE`: accepting stalls,
    /// and the store and outgoing clients fail to open sockets or files.
    ///
    /// Default: [`default_max_connections`](Self::default_max_connections), from the process's
    /// open-files limit when serving starts. Above 2^61 − 1 (tokio's semaphore) as unlimited.
    ///
    /// # Panics
    ///
    /// If `max` is zero: no connection could be served.
    pub const fn max_connections(mut self, max: usize) -> Self {
        assert!(max > 0, "max_connections must be more than zero");
        self.max_connections = Some(max);
        self
    }

    /// The default connection limit: the process's open-files soft limit (`RLIMIT_NOFILE`,
    /// `ulimit -n`) less what the rest of the broker may need, `soft − max(soft / 4, 64)`, and at
    /// least 1.
    ///
    /// A quarter of the descriptors (64 at the least) stays free for the listener, the state
    /// store's files and pooled connections, outgoing HTTP clients (IAM, metering) and the
    /// runtime. Where the limit cannot be read (not Unix) or is unlimited, 1024 is assumed: 768
    /// connections. Read on every call.
    ///
    /// # Example
    ///
    /// ```
    /// let max = osb_tower::serve::Server::default_max_connections();
    /// assert!(max >= 1);
    /// ```
    #[must_use]
    pub fn default_max_connections() -> usize {
        open_files::connections_within(open_files::soft_limit())
    }

    /// Accepts connections on `listener` and serves `service` on each until `shutdown`
    /// completes; then stops accepting, lets requests in flight finish and returns once every
    /// connection has closed.
    ///
    /// `service` is cloned per request, like hyper-util's `TowerToHyperService` does: an axum
    /// `Router`, an [`OsbService`](crate::OsbService) (behind its auth layer), any `Clone`
    /// [`tower::Service`] taking `http::Request<hyper::body::Incoming>`.
    ///
    /// Nothing here fails: accept errors are logged at `error` and waited out, a connection's
    /// errors (a timeout, a reset, a malformed request) end that connection only and are logged at
    /// `trace`.
    pub async fn serve<S, B>(
        self,
        listener: TcpListener,
        service: S,
        shutdown: impl Future<Output = ()> + Send,
    ) where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<Box<dyn StdError + Send + Sync>>,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let max = self
            .max_connections
            .unwrap_or_else(Self::default_max_connections);
        // tokio's semaphore holds at most `MAX_PERMITS` (2^61 − 1): as good as unlimited.
        let slots = Arc::new(Semaphore::new(max.min(Semaphore::MAX_PERMITS)));
        let graceful = GracefulShutdown::new();
        // Owns every connection task: dropping `serve` ends them, none outlives the server.
        let mut connections = JoinSet::new();
        let mut shutdown = pin!(shutdown);
        loop {
            let (stream, slot) = tokio::select! {
                () = &mut shutdown => break,
                accepted = accept(&listener, &slots) => accepted,
            };
            while connections.try_join_next().is_some() {}
            let connection = graceful.watch(self.connection(stream, service.clone()));
            connections.spawn(async move {
                if let Err(err) = connection.await {
                    // trace, as axum does: a flood of bad connections must not flood the logs.
                    tracing::trace!(error = %err, "connection closed");
                }
                drop(slot);
            });
        }
        drop(listener);
        tracing::debug!(
            connections = graceful.count(),
            "stopped accepting; draining"
        );
        graceful.shutdown().await;
        while connections.join_next().await.is_some() {}
    }

    /// hyper's HTTP/1 connection for `stream`, timed by this server's [`Clock`].
    fn connection<S, B>(
        &self,
        stream: TcpStream,
        service: S,
    ) -> hyper::server::conn::http1::Connection<
        TokioIo<Timed<TcpStream>>,
        TowerToHyperService<Tracked<S>>,
    >
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone,
        S::Error: Into<Box<dyn StdError + Send + Sync>>,
        B: http_body::Body + 'static,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let clock = Clock::new(self.header_read_timeout, self.idle_timeout);
        let io = TokioIo::new(Timed::new(stream, clock.clone()));
        hyper::server::conn::http1::Builder::new()
            // The clock times the head; hyper's timer would also cut the idle wait (module docs).
            .header_read_timeout(None)
            .serve_connection(io, TowerToHyperService::new(Tracked::new(service, clock)))
    }
}

impl Default for Server {
    fn default() -> Self {
        Self::new()
    }
}

/// Waits for a free connection slot, then for a connection. Accept errors are waited out, never
/// returned: the server must outlive a moment without file descriptors.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> (TcpStream, OwnedSemaphorePermit) {
    // OK because `serve` owns the semaphore and never closes it.
    let slot = slots
        .clone()
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    loop {
        match listener.accept().await {
            Ok((stream, _)) => return (stream, slot),
            // The peer gave up during the handshake: nothing to wait for.
            Err(err) if is_connection_error(&err) => {}
            Err(err) => {
                tracing::error!(error = %err, "accept error; retrying in 1 s");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
