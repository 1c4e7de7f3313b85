//! Shared set-up for the store tests: fresh SQLite files and fresh PostgreSQL schemas.

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

/// A fresh SQLite file path in a new temporary directory (left for the OS to clean up, so a
/// failing test leaves its database to inspect).
pub fn sqlite_path() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("osb-store-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    dir.join("broker.db")
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
