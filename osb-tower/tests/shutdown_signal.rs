//! `osb_tower::shutdown::signal` completes on SIGTERM and SIGINT, and not before (its own test
//! binary: it signals its own process).
#![cfg(all(unix, feature = "signal"))]
#![allow(clippy::expect_used)]

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::process::Command;
use std::task::Poll;
use std::time::Duration;

use osb_tower::shutdown::signal;

/// Sends `name` (`TERM`, `INT`) to this test process with the system's `kill`.
fn send(name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), std::process::id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

/// Whether `future` is still pending after one poll.
async fn is_pending(future: &mut (impl Future<Output = ()> + Unpin)) -> bool {
    poll_fn(|cx| Poll::Ready(std::pin::Pin::new(&mut *future).poll(cx).is_pending())).await
}

// One test: both signals in sequence, as handlers are process-wide.
#[tokio::test]
async fn signal_completes_on_sigterm_and_on_sigint_and_not_before() {
    for name in ["TERM", "INT"] {
        let mut stop = pin!(signal());
        assert!(is_pending(&mut stop).await, "completed before SIG{name}");
        send(name);
        // Only a guard against a hang; the signal is delivered at once.
        tokio::time::timeout(Duration::from_secs(30), stop)
            .await
            .unwrap_or_else(|_| panic!("SIG{name} did not complete the future"));
    }
}
