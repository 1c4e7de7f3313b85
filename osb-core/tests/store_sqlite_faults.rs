//! `SqliteStore` under file faults: a full database (a full disk as SQLite reports it) fails
//! writes and the same store writes again once space returns, no restart needed; a file that
//! cannot be written is refused at open with a message naming it, instead of a store that
//! answers every write with an error.
//!
//! The faults are real ones, made in ways that also work when the tests run as root (where
//! permission bits stop nothing): the size cap (`max_page_count`) fills the database, SQLite's
//! file-format write version makes a file SQLite may read but not write, a directory in the
//! place of the `-wal` file makes the write-ahead log impossible to create.

#![cfg(feature = "sqlite")]

mod store_support;

use std::time::{Duration, Instant};

use osb_core::ProvisionRequest;
use osb_core::managed::{
    CasError, InstanceRecord, Lease, OperationKind, OperationRecord, OutboxEntry, SqliteStore,
    StateStore, StoreError, StoreUrl, Timestamp, UsageOutbox, Version,
};
use store_support::sqlite_path;

/// An instance record of about `bytes` bytes (the plan id carries the bulk).
fn record_of(bytes: usize) -> InstanceRecord {
    let now = Timestamp::from_unix_millis(1_000);
    let op = OperationRecord::start(
        OperationKind::Provision,
        true,
        now,
        None,
        Lease::new("replica-a", now),
    );
    InstanceRecord::new(ProvisionRequest::new("svc", "p".repeat(bytes)), op)
}

fn error_chain(error: &StoreError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(" / ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

const RECORD_BYTES: usize = 6_000;

/// Fills a store capped at 256 KiB until a write fails, then fails more writes at once so that
/// every pooled connection has seen the fault; frees space by removing records and checks that
/// every following write succeeds, on the same store object.
async fn writes_recover_after_the_database_was_full(connections: u32) {
    let path = sqlite_path();
    let store = SqliteStore::builder(&path)
        .max_connections(connections)
        .max_size(256 * 1024)
        .open()
        .await
        .expect("open");

    let mut written: Vec<(String, Version)> = Vec::new();
    let full = loop {
        assert!(written.len() < 1_000, "the size cap never filled the file");
        let id = format!("i-{}", written.len());
        match store
            .save_instance(&id, None, &record_of(RECORD_BYTES))
            .await
        {
            Ok(version) => written.push((id, version)),
            Err(CasError::Store(e)) => break e,
            Err(other) => panic!("a new id failed otherwise: {other:?}"),
        }
    };
    let text = error_chain(&full);
    assert!(
        text.contains("full"),
        "the error says the database is full: {text}"
    );
    assert!(written.len() > 4, "only {} records fit", written.len());

    // More writes at once than there are connections: each connection meets the full file.
    let mut failing = tokio::task::JoinSet::new();
    for n in 0..2 * connections {
        let store = store.clone();
        failing.spawn(async move {
            store
                .save_instance(&format!("full-{n}"), None, &record_of(RECORD_BYTES))
                .await
        });
    }
    while let Some(result) = failing.join_next().await {
        assert!(
            matches!(result.expect("join"), Err(CasError::Store(_))),
            "a write into a full database fails"
        );
    }
    let loaded = store.load_instance("i-0").await.expect("reads go on");
    assert!(loaded.is_some());

    // Space returns: removing records frees their pages inside the file.
    for (id, version) in written.drain(..6) {
        store.remove_instance(&id, version).await.expect("remove");
    }
    let space_back = Instant::now();
    let mut first_write = None;
    for n in 0..2 * connections + 2 {
        let id = format!("after-{n}");
        match store.save_instance(&id, None, &record_of(100)).await {
            Ok(_) => {
                first_write.get_or_insert_with(|| space_back.elapsed());
            }
            Err(e) => panic!("write {n} after space returned failed: {e:?}"),
        }
    }
    store
        .enqueue(&[OutboxEntry::new("k1", "{}", Timestamp::from_unix_millis(1))])
        .await
        .expect("outbox writes work again too");
    eprintln!(
        "{connections} connection(s): {} records filled the cap; the first write after space \
         returned succeeded after {:?}",
        written.len() + 6,
        first_write.unwrap_or(Duration::ZERO)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_writes_recover_after_the_database_was_full() {
    writes_recover_after_the_database_was_full(4).await;
}

#[tokio::test]
async fn sqlite_writes_recover_after_the_database_was_full_with_one_connection() {
    writes_recover_after_the_database_was_full(1).await;
}

/// A store at `path` with one record, closed (the write-ahead log checkpointed and removed).
async fn closed_store_with_a_record(path: &std::path::Path) {
    let store = SqliteStore::open(path).await.expect("open");
    store
        .save_instance("i-1", None, &record_of(10))
        .await
        .expect("create");
    store.close().await;
    let wal = path.with_extension("db-wal");
    assert!(!wal.exists(), "closing the store removed {}", wal.display());
}

/// Marks the file as written by a newer SQLite file format (header byte 18, the "write
/// version", above 2): SQLite then opens it read-only and refuses every write with
/// `SQLITE_READONLY`, as it does for a read-only file, a file owned by someone else with mode
/// 0444 or an immutable file (`chattr +i`), but also when the test runs as root.
fn make_unwritable_for_sqlite(path: &std::path::Path) {
    use std::io::{Seek, SeekFrom, Write};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open the file");
    file.seek(SeekFrom::Start(18)).expect("seek");
    file.write_all(&[3]).expect("write the header byte");
}

fn assert_names_the_unwritable_file(error: &StoreError, path: &std::path::Path) {
    let text = error.to_string();
    assert!(text.contains("cannot be written"), "{text}");
    assert!(
        text.contains(&path.display().to_string()),
        "the message names the file: {text}"
    );
}

#[tokio::test]
async fn sqlite_open_of_a_file_that_cannot_be_written_fails_naming_it() {
    let path = sqlite_path();
    closed_store_with_a_record(&path).await;
    make_unwritable_for_sqlite(&path);

    let error = SqliteStore::open(&path)
        .await
        .expect_err("a file SQLite may only read is refused at open");
    assert_names_the_unwritable_file(&error, &path);

    // The store URL the example reads from its settings takes the same path.
    let url: StoreUrl = format!("sqlite:{}", path.display()).parse().expect("url");
    match url.open().await {
        Err(error) => assert_names_the_unwritable_file(&error, &path),
        Ok(_) => panic!("a file SQLite may only read is refused through the URL too"),
    }
}

#[tokio::test]
async fn sqlite_open_where_the_write_ahead_log_cannot_be_created_fails_naming_the_file() {
    let path = sqlite_path();
    closed_store_with_a_record(&path).await;
    // Something that is not a file stands where SQLite creates the log: the same
    // `SQLITE_CANTOPEN` as a read-only directory, or a `-wal` file owned by someone else.
    std::fs::create_dir(path.with_extension("db-wal")).expect("block the -wal path");

    let error = SqliteStore::open(&path)
        .await
        .expect_err("a database whose log cannot be written is refused at open");
    assert_names_the_unwritable_file(&error, &path);
}

#[cfg(unix)]
#[tokio::test]
async fn sqlite_open_of_a_read_only_file_fails_naming_it_unless_root() {
    use std::os::unix::fs::PermissionsExt;
    let path = sqlite_path();
    closed_store_with_a_record(&path).await;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    if std::fs::OpenOptions::new().write(true).open(&path).is_ok() {
        // Root (or a capability) writes through mode 0444; the test above covers this case.
        eprintln!("skipping: this process may write a file with mode 0444");
        return;
    }
    let error = SqliteStore::open(&path)
        .await
        .expect_err("a read-only file is refused at open");
    assert_names_the_unwritable_file(&error, &path);
}
