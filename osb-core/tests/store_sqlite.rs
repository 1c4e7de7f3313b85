//! `SqliteStore` beyond the conformance suite: durability across reopening, file permissions,
//! migrations when several stores open one file at once, compare-and-set across two pools on
//! one file, and a locked database failing within the timeout instead of hanging.

#![cfg(feature = "sqlite")]

mod store_support;

use std::sync::Arc;
use std::time::Duration;

use osb_core::ProvisionRequest;
use osb_core::managed::{
    CasError, InstanceRecord, Lease, OperationKind, OperationRecord, SqliteStore, StateStore,
    Timestamp,
};
use sqlx::Connection;
use store_support::{INSTANCE_BEFORE_ENABLED_CHANGED_AT, old_row_loads_and_updates, sqlite_path};

fn record(plan: &str) -> InstanceRecord {
    let now = Timestamp::from_unix_millis(1_000);
    let op = OperationRecord::start(
        OperationKind::Provision,
        true,
        now,
        None,
        Lease::new("replica-a", now),
    );
    InstanceRecord::new(ProvisionRequest::new("svc", plan), op)
}

#[tokio::test]
async fn sqlite_records_survive_reopening_the_file() {
    let path = sqlite_path();
    let store = SqliteStore::open(&path).await.expect("open");
    let saved = record("small");
    let v1 = store
        .save_instance("i-1", None, &saved)
        .await
        .expect("create");
    store.close().await;
    drop(store);

    let reopened = SqliteStore::open(&path).await.expect("reopen");
    let loaded = reopened
        .load_instance("i-1")
        .await
        .expect("load")
        .expect("record kept");
    assert_eq!(loaded.version, v1);
    assert_eq!(loaded.record, saved);
    // The version sequence survives too: a new write never reuses an old version.
    let v2 = reopened
        .save_instance("i-1", Some(v1), &record("large"))
        .await
        .expect("update after reopening");
    assert!(v2 > v1);
}

#[tokio::test]
async fn sqlite_relaxed_durability_still_keeps_records_across_reopening() {
    let path = sqlite_path();
    let store = SqliteStore::builder(&path)
        .relaxed_durability()
        .open()
        .await
        .expect("open");
    let saved = record("small");
    let v1 = store
        .save_instance("i-1", None, &saved)
        .await
        .expect("create");
    store.close().await;
    let reopened = SqliteStore::open(&path).await.expect("reopen");
    let loaded = reopened.load_instance("i-1").await.expect("load");
    assert_eq!(loaded.map(|v| (v.version, v.record)), Some((v1, saved)));
}

#[cfg(unix)]
#[tokio::test]
async fn sqlite_file_is_created_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let path = sqlite_path();
    let store = SqliteStore::open(&path).await.expect("open");
    store
        .save_instance("i-1", None, &record("small"))
        .await
        .expect("create");
    let mode = std::fs::metadata(&path)
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "binding credentials live in this file");
}

#[tokio::test]
async fn sqlite_stores_opening_one_file_at_once_apply_each_migration_once() {
    let path = sqlite_path();
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let path = path.to_path_buf();
        opening.spawn(async move { SqliteStore::open(&path).await });
    }
    while let Some(opened) = opening.join_next().await {
        opened
            .expect("join")
            .expect("every concurrent open succeeds");
    }
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("connect");
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM osb_schema_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .expect("read migrations");
    // Each embedded migration recorded once, in order, with none missing.
    let expected: Vec<i64> = (1..=applied.len() as i64).collect();
    assert_eq!(applied, expected);
    assert!(!applied.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_two_stores_on_one_file_create_an_id_once() {
    // Two pools on one file behave like two processes sharing it.
    let path = sqlite_path();
    let first = Arc::new(SqliteStore::open(&path).await.expect("open"));
    let second = Arc::new(SqliteStore::open(&path).await.expect("open"));
    for round in 0..20 {
        let id = format!("i-{round}");
        let mut tasks = tokio::task::JoinSet::new();
        for task in 0..8 {
            let store = if task % 2 == 0 {
                Arc::clone(&first)
            } else {
                Arc::clone(&second)
            };
            let id = id.clone();
            tasks.spawn(async move { store.save_instance(&id, None, &record("small")).await });
        }
        let mut created = 0;
        while let Some(result) = tasks.join_next().await {
            match result.expect("join") {
                Ok(_) => created += 1,
                Err(CasError::Conflict) => {}
                Err(e) => panic!("create failed: {e}"),
            }
        }
        assert_eq!(
            created, 1,
            "round {round}: exactly one create wins across both stores"
        );
    }
}

#[tokio::test]
async fn sqlite_write_blocked_by_a_held_lock_fails_within_the_timeout_and_reads_go_on() {
    let path = sqlite_path();
    let store = SqliteStore::builder(&path)
        .query_timeout(Duration::from_millis(300))
        .open()
        .await
        .expect("open");
    let v1 = store
        .save_instance("i-1", None, &record("small"))
        .await
        .expect("create");

    // Another process holds the write lock and does not let go.
    let mut holder = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("connect");
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .expect("lock");

    match store.save_instance("i-1", Some(v1), &record("large")).await {
        Err(CasError::Store(e)) => {
            let text = e.to_string();
            assert!(
                text.contains("SQLite"),
                "the error names the database: {text}"
            );
        }
        other => panic!("expected a store error, got {other:?}"),
    }
    // WAL: readers are not blocked by the writer, so polling keeps working.
    let loaded = store.load_instance("i-1").await.expect("read while locked");
    assert_eq!(
        loaded.map(|v| v.version),
        Some(v1),
        "the failed write left nothing behind"
    );

    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("unlock");
    store
        .save_instance("i-1", Some(v1), &record("large"))
        .await
        .expect("writes work again once the lock is released");
}

#[tokio::test]
async fn sqlite_open_of_a_file_that_is_not_a_database_fails() {
    let path = sqlite_path();
    std::fs::write(
        &path,
        b"this is not an SQLite database, just some text in a file....",
    )
    .expect("write");
    let error = SqliteStore::open(&path).await.expect_err("not a database");
    assert!(error.to_string().contains("SQLite"), "{error}");
}

#[tokio::test]
async fn sqlite_row_written_before_enabled_changed_at_existed_loads_and_updates() {
    let path = sqlite_path();
    let store = SqliteStore::open(&path).await.expect("open");
    let version = store
        .save_instance("i-old", None, &record("small"))
        .await
        .expect("create");
    // The row as an older broker left it: same key and version, the record without the field.
    let mut older = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("connect");
    sqlx::query("UPDATE osb_instances SET record = ?1 WHERE instance_id = 'i-old'")
        .bind(INSTANCE_BEFORE_ENABLED_CHANGED_AT)
        .execute(&mut older)
        .await
        .expect("write the old row");
    older.close().await.expect("close");

    old_row_loads_and_updates(&store, version).await;
}
