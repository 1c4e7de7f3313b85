//! Running the reporter in the background: two tasks owned by a handle.

use std::time::Duration;

use osb_core::managed::Timestamp;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Metrics, ReporterError, UsageReporter};
use crate::metering::window::Window;

/// How soon an hour that could not be finished is tried again.
const RETRY_INCOMPLETE: Duration = Duration::from_secs(60);

/// The running reporter: owns its collector and sender tasks.
///
/// [`shutdown`](Self::shutdown) stops both after the step they are in (a batch in flight is
/// finished and settled); dropping the handle aborts them at once (records in flight are sent
/// again after the send lease, and answered 409).
#[derive(Debug)]
pub struct ReporterHandle {
    reporter: UsageReporter,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl UsageReporter {
    /// Starts the hourly collector and the sender on the current Tokio runtime.
    ///
    /// # Panics
    ///
    /// When called outside a Tokio runtime.
    pub fn start(&self) -> ReporterHandle {
        let (stop, stopped) = watch::channel(false);
        let collector = tokio::spawn(collect_loop(self.clone(), stopped.clone()));
        let sender = tokio::spawn(send_loop(self.clone(), stopped));
        ReporterHandle {
            reporter: self.clone(),
            stop,
            tasks: vec![collector, sender],
        }
    }
}

impl ReporterHandle {
    /// The reporter the tasks run.
    pub fn reporter(&self) -> &UsageReporter {
        &self.reporter
    }

    /// A snapshot of the counters; see [`UsageReporter::metrics`].
    ///
    /// # Errors
    ///
    /// [`ReporterError::Store`] when the store cannot be read.
    pub async fn metrics(&self) -> Result<Metrics, ReporterError> {
        self.reporter.metrics().await
    }

    /// Stops both tasks after their current step and waits for them.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in self.tasks.drain(..) {
            if let Err(error) = task.await
                && error.is_panic()
            {
                tracing::error!("a usage reporter task panicked");
            }
        }
    }
}

impl Drop for ReporterHandle {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    // A dropped sender means the handle is gone: stop as well.
    let _ = stop.wait_for(|stop| *stop).await;
}

async fn collect_loop(reporter: UsageReporter, mut stop: watch::Receiver<bool>) {
    loop {
        let wait = match reporter.collect_due().await {
            Ok(report) if report.complete => until_next_collection(&reporter),
            Ok(_) => RETRY_INCOMPLETE,
            Err(error) => {
                tracing::warn!(error = %error, "usage collection failed; retrying");
                RETRY_INCOMPLETE
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stopped(&mut stop) => return,
        }
    }
}

/// The time until the next hour can be collected: its end plus the collect delay.
fn until_next_collection(reporter: &UsageReporter) -> Duration {
    let inner = &*reporter.inner;
    let now = inner.clock.now();
    let delay_ms = i64::try_from(inner.collect_delay.as_millis()).unwrap_or(i64::MAX);
    let ready = Timestamp::from_unix_millis(now.as_unix_millis().saturating_sub(delay_ms));
    let next = Window::hour_containing(ready)
        .end()
        .saturating_add(inner.collect_delay);
    next.duration_since(now).max(Duration::from_secs(1))
}

async fn send_loop(reporter: UsageReporter, mut stop: watch::Receiver<bool>) {
    loop {
        if let Err(error) = reporter.deliver().await {
            tracing::warn!(error = %error, "usage delivery failed; retrying");
        }
        tokio::select! {
            () = tokio::time::sleep(reporter.inner.send_interval) => {}
            () = reporter.inner.wake.notified() => {}
            () = stopped(&mut stop) => return,
        }
    }
}
