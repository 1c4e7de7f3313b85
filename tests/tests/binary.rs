//! The compiled `minimal-broker` binary as a child process: start-up banner, a short lifecycle,
//! SIGTERM → exit 0, and a SIGKILL in the middle of an asynchronous provision on SQLite.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use minimal_broker::logic::{LARGE_PLAN_ID, SERVICE_ID, SMALL_PLAN_ID};
use osb_e2e_tests::Platform;
use osb_e2e_tests::platform::{bind_body, provision_body};
use osb_e2e_tests::process::BrokerProcess;

/// A fresh working directory for one test, removed when dropped.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("osb-e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn platform_of(broker: &BrokerProcess) -> Platform {
    Platform::new(broker.url()).basic("broker", minimal_broker::config::DEV_PASSWORD)
}

#[tokio::test]
async fn binary_prints_its_settings_serves_a_lifecycle_and_exits_0_on_sigterm() {
    let dir = WorkDir::new("sigterm");
    let broker = BrokerProcess::start(&[], &dir.0).await;
    let banner = broker.output().join("\n");
    assert!(
        banner.contains(broker.url()),
        "the URL is printed: {banner}"
    );
    assert!(
        banner.contains("DEVELOPMENT DEFAULT"),
        "dev credentials are labelled: {banner}"
    );
    assert!(
        banner.contains("SQLite file minimal-broker.db"),
        "the database is printed: {banner}"
    );
    assert!(
        banner.contains("curl -u"),
        "a curl line is printed: {banner}"
    );
    assert!(
        dir.0.join("minimal-broker.db").exists(),
        "the default SQLite file is in the working directory"
    );

    let platform = platform_of(&broker);
    platform.catalog().await.expect(200);
    platform
        .provision("bin-1", &provision_body(SMALL_PLAN_ID), false)
        .await
        .expect(201);
    platform
        .bind("bin-1", "b", &bind_body(SMALL_PLAN_ID, None))
        .await
        .expect(201);
    platform.fetch_binding("bin-1", "b").await.expect(200);
    platform
        .unbind("bin-1", "b", SERVICE_ID, SMALL_PLAN_ID)
        .await
        .expect(200);
    // An asynchronous operation still running at shutdown does not hold the exit up.
    platform
        .provision("bin-2", &provision_body(LARGE_PLAN_ID), true)
        .await
        .expect(202);
    platform
        .deprovision("bin-1", SERVICE_ID, SMALL_PLAN_ID)
        .await
        .expect(200);

    broker.signal("TERM");
    let status = broker.wait().await;
    assert_eq!(status.code(), Some(0), "SIGTERM is a clean exit: {status}");
}

#[tokio::test]
async fn binary_killed_during_an_async_provision_resumes_it_after_restart_on_sqlite() {
    let dir = WorkDir::new("sigkill");
    // A short lease, so the restarted broker takes the dead run's operation over quickly.
    let env = [("BROKER_OPERATION_LEASE", "2")];
    let broker = BrokerProcess::start(&env, &dir.0).await;
    let platform = platform_of(&broker);
    let body = provision_body(LARGE_PLAN_ID);
    let accepted = platform.provision("crash-1", &body, true).await.expect(202);
    let operation = accepted.str("operation").to_owned();
    let polled = platform
        .last_operation("crash-1", Some(&operation))
        .await
        .expect(200);
    assert_eq!(polled.str("state"), "in progress");
    broker.signal("KILL");
    let status = broker.wait().await;
    assert_ne!(status.code(), Some(0), "killed: {status}");

    let broker = BrokerProcess::start(&env, &dir.0).await;
    let platform = platform_of(&broker);
    // The provision is idempotent in the example, so the new run resumes it (ServiceLogic::is_idempotent).
    let done = platform.poll("crash-1", Some(&operation)).await.expect(200);
    assert_eq!(done.str("state"), "succeeded", "{done:?}");
    // The platform's retry finds the instance: 200, nothing is created twice.
    platform.provision("crash-1", &body, true).await.expect(200);
    platform.fetch_instance("crash-1").await.expect(200);
    platform
        .deprovision("crash-1", SERVICE_ID, LARGE_PLAN_ID)
        .await
        .expect(200);
    platform.fetch_instance("crash-1").await.expect(404);
    broker.signal("TERM");
    assert_eq!(broker.wait().await.code(), Some(0));
}
