//! Shared set-up for the store tests: fresh SQLite files and fresh PostgreSQL schemas.

#![allow(dead_code, unreachable_pub)]

use std::ops::Deref;
use std::path::{Path, PathBuf};

/// A fresh SQLite file path in a new temporary directory, removed when the test ends well; a
/// failing (panicking) test leaves its database to inspect and prints where.
pub fn sqlite_path() -> TempSqlite {
    let dir = std::env::temp_dir().join(format!("osb-store-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    TempSqlite {
        path: dir.join("broker.db"),
        keep: false,
    }
}

/// See [`sqlite_path`].
#[derive(Debug)]
pub struct TempSqlite {
    path: PathBuf,
    keep: bool,
}

impl TempSqlite {
    /// The path, the directory kept after the test (for stores whose owner outlives this
    /// guard).
    pub fn keep(mut self) -> PathBuf {
        self.keep = true;
        self.path.clone()
    }
}

impl Deref for TempSqlite {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for TempSqlite {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempSqlite {
    fn drop(&mut self) {
        let Some(dir) = self.path.parent().filter(|_| !self.keep) else {
            return;
        };
        if std::thread::panicking() {
            eprintln!("the test's SQLite database is kept in {}", dir.display());
        } else {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The PostgreSQL test database from `OSB_TEST_POSTGRES_URL`. `None` (the test skips, saying
/// so) when it is unset outside CI; under `CI=true` a missing URL fails the test, so CI never
/// silently skips the PostgreSQL tests.
pub fn postgres_url() -> Option<String> {
    match std::env::var("OSB_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!(
                "CI=true but OSB_TEST_POSTGRES_URL is unset: the PostgreSQL tests must run in CI"
            )
        }
        _ => {
            eprintln!(
                "skipping: set OSB_TEST_POSTGRES_URL=postgres://user@127.0.0.1:5432/db to run the \
                 PostgreSQL store tests (.ci/run starts a throwaway cluster itself)"
            );
            None
        }
    }
}

/// A schema name no other test (or test run) uses.
pub fn fresh_schema() -> String {
    format!("osb_test_{}", uuid::Uuid::new_v4().simple())
}

/// A PostgreSQL store in a fresh schema of the test database, or `None` to skip.
#[cfg(feature = "postgres")]
pub async fn postgres_store() -> Option<osb_core::managed::PostgresStore> {
    let url = postgres_url()?;
    let store = osb_core::managed::PostgresStore::builder(&url)
        .schema(fresh_schema())
        .connect()
        .await
        .expect("connect to OSB_TEST_POSTGRES_URL (is the database up?)");
    Some(store)
}

/// An instance record as a broker wrote it before `InstanceRecord::enabled_changed_at` existed:
/// disabled, with no time of the change. Stored rows like it must still load.
pub const INSTANCE_BEFORE_ENABLED_CHANGED_AT: &str = r#"{"lifecycle":{"phase":"ready","created":true,"operations":[{"token":"op-1","kind":"provision","asynchronous":false,"status":"succeeded","started_at":1000,"finished_at":2000}]},"request":{"service_id":"svc","plan_id":"small"},"plan_id":"small","enabled":false,"state_reason":"IBMCLOUD_ACCT_SUSPEND"}"#;

/// Checks that the row `i-old`, at `version`, holding [`INSTANCE_BEFORE_ENABLED_CHANGED_AT`],
/// loads with no change time and is updated at its version.
pub async fn old_row_loads_and_updates(
    store: &impl osb_core::managed::StateStore,
    version: osb_core::managed::Version,
) {
    let loaded = store
        .load_instance("i-old")
        .await
        .expect("an old row loads")
        .expect("kept");
    assert_eq!(loaded.version, version);
    assert!(!loaded.record.enabled, "the stored flag is kept");
    assert_eq!(
        loaded.record.state_reason.as_deref(),
        Some("IBMCLOUD_ACCT_SUSPEND")
    );
    assert_eq!(
        loaded.record.enabled_changed_at, None,
        "an old row has no change time"
    );
    let mut enabled = loaded.record;
    enabled.enabled = true;
    enabled.enabled_changed_at = Some(osb_core::managed::Timestamp::from_unix_millis(3_000));
    store
        .save_instance("i-old", Some(version), &enabled)
        .await
        .expect("an old row is updated at its version");
    let reloaded = store
        .load_instance("i-old")
        .await
        .expect("load")
        .expect("kept");
    assert_eq!(reloaded.record, enabled);
}
