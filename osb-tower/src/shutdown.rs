//! Graceful shutdown: a future that completes when the process is asked to stop.
//!
//! Orchestrators stop a broker with SIGTERM (Kubernetes, Cloud Foundry, systemd); a developer
//! with Ctrl-C (SIGINT). Hand [`signal`] to the server's graceful shutdown (axum's
//! `with_graceful_shutdown`, hyper-util's `GracefulShutdown`) so that requests in flight finish
//! before the process exits, instead of being cut off mid-provision.

use std::future::Future;

/// Completes on the first SIGINT (Ctrl-C) or SIGTERM the process receives.
///
/// The signal handlers are installed when this is called, not when the future is first
/// polled, so a signal that arrives in between is not lost. SIGTERM is waited for on Unix
/// only. A handler that cannot be installed is not waited for; if none can, the future never
/// completes and the server runs until it is killed, rather than stopping at once.
///
/// Must be called inside a tokio runtime.
///
/// # Example
///
/// ```no_run
/// # async fn serve() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// let app = axum::Router::new();
/// axum::serve(listener, app)
///     .with_graceful_shutdown(osb_tower::shutdown::signal())
///     .await
/// # }
/// ```
pub fn signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use std::task::Poll;
        use tokio::signal::unix::{SignalKind, signal};
        let mut handlers = [
            (signal(SignalKind::interrupt()).ok(), "SIGINT"),
            (signal(SignalKind::terminate()).ok(), "SIGTERM"),
        ];
        std::future::poll_fn(move |cx| {
            for (handler, name) in &mut handlers {
                let Some(stream) = handler else { continue };
                match stream.poll_recv(cx) {
                    Poll::Ready(Some(())) => {
                        tracing::info!(signal = *name, "shutting down");
                        return Poll::Ready(());
                    }
                    // The runtime is gone: no more signals from this handler.
                    Poll::Ready(None) => *handler = None,
                    Poll::Pending => {}
                }
            }
            Poll::Pending
        })
    }
    #[cfg(not(unix))]
    async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => tracing::info!(signal = "Ctrl-C", "shutting down"),
            Err(_) => std::future::pending().await,
        }
    }
}
