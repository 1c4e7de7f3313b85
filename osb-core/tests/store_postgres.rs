//! `PostgresStore` beyond the conformance suite: migrations when replicas start at once,
//! compare-and-set across two pools, a database that is down or silent failing within the
//! timeout, recovery without a restart once it returns, a failed transaction leaving its
//! connection clean, and no password in errors or `Debug`.
//!
//! Tests that need a real database use `OSB_TEST_POSTGRES_URL` (skipped, saying so, when unset
//! outside CI); the fault tests need none and always run.

#![cfg(feature = "postgres")]

mod store_support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use osb_core::ProvisionRequest;
use osb_core::managed::{
    CasError, ClaimOutcome, InstanceRecord, Lease, OperationKind, OperationRecord, OutboxEntry,
    PostgresStore, StateStore, StoreError, Timestamp, UsageOutbox,
};
use store_support::{
    INSTANCE_BEFORE_ENABLED_CHANGED_AT, fresh_schema, old_row_loads_and_updates, postgres_url,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinSet};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_replicas_starting_at_once_apply_each_migration_once() {
    let Some(url) = postgres_url() else { return };
    let schema = fresh_schema();
    let mut starting = JoinSet::new();
    for _ in 0..8 {
        let (url, schema) = (url.clone(), schema.clone());
        starting.spawn(async move { PostgresStore::builder(&url).schema(schema).connect().await });
    }
    let mut stores = Vec::new();
    while let Some(started) = starting.join_next().await {
        stores.push(started.expect("join").expect("every replica starts"));
    }
    let v1 = stores[0]
        .save_instance("i-1", None, &record("small"))
        .await
        .expect("create");
    for store in &stores {
        let loaded = store.load_instance("i-1").await.expect("load");
        assert_eq!(
            loaded.map(|v| v.version),
            Some(v1),
            "all replicas share one schema"
        );
    }

    let pool = sqlx::PgPool::connect(&url).await.expect("connect");
    let applied: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT version FROM {schema}.osb_schema_migrations ORDER BY version"
    )))
    .fetch_all(&pool)
    .await
    .expect("read migrations");
    // Each embedded migration recorded once, in order, with none missing.
    let expected: Vec<i64> = (1..=applied.len() as i64).collect();
    assert_eq!(applied, expected);
    assert!(!applied.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_replicas_create_an_id_once() {
    let Some(url) = postgres_url() else { return };
    let schema = fresh_schema();
    let connect = || {
        PostgresStore::builder(&url)
            .schema(schema.clone())
            .connect()
    };
    let first = Arc::new(connect().await.expect("connect"));
    let second = Arc::new(connect().await.expect("connect"));
    for round in 0..20 {
        let id = format!("i-{round}");
        let mut tasks = JoinSet::new();
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
            "round {round}: exactly one create wins across replicas"
        );
    }
}

#[tokio::test]
async fn postgres_unreachable_database_fails_within_the_timeout() {
    // A port nobody listens on: the connection is refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let result = PostgresStore::builder(&format!("postgres://osb@127.0.0.1:{port}/osb"))
        .query_timeout(Duration::from_millis(500))
        .connect()
        .await;
    let error = result.expect_err("nothing listens there");
    assert!(error.to_string().contains("PostgreSQL"), "{error}");
}

#[tokio::test]
async fn postgres_silent_database_fails_within_the_timeout_instead_of_hanging() {
    // A server that accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let result = PostgresStore::builder(&format!("postgres://osb@{addr}/osb"))
        .query_timeout(Duration::from_millis(300))
        .connect()
        .await;
    let error = result.expect_err("the server never answers");
    let text = error_chain(&error);
    assert!(
        text.contains("timed out") || text.contains("did not answer"),
        "{text}"
    );
    silent.abort();
}

#[tokio::test]
async fn postgres_password_never_reaches_errors_or_debug() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let url = format!("postgres://osb:hunter2-secret@127.0.0.1:{port}/osb");
    let builder = PostgresStore::builder(&url).query_timeout(Duration::from_millis(300));
    assert!(!format!("{builder:?}").contains("hunter2"), "{builder:?}");
    let error = builder.connect().await.expect_err("nothing listens there");
    let text = format!("{} {error:?}", error_chain(&error));
    assert!(!text.contains("hunter2"), "{text}");

    let invalid = PostgresStore::connect("postgres://osb:hunter2-secret@[::1/osb")
        .await
        .expect_err("invalid URL");
    let text = format!("{} {invalid:?}", error_chain(&invalid));
    assert!(text.contains("invalid PostgreSQL URL"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test]
async fn postgres_schema_names_that_are_not_plain_identifiers_are_rejected() {
    for schema in ["", "1abc", "a-b", "a\"; DROP TABLE x; --", &"x".repeat(64)] {
        let error = PostgresStore::builder("postgres://osb@127.0.0.1:1/osb")
            .schema(schema)
            .connect()
            .await
            .expect_err("invalid schema name");
        assert!(
            error.to_string().contains("schema name"),
            "{schema:?}: {error}"
        );
    }
}

/// A loopback TCP proxy in front of the test database that can cut every connection and
/// refuse new ones, as a database outage would.
struct Outage {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Outage {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let up = Arc::new(AtomicBool::new(true));
        let connections = Arc::new(Mutex::new(Vec::<AbortHandle>::new()));
        let accept = tokio::spawn({
            let (up, connections) = (Arc::clone(&up), Arc::clone(&connections));
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        continue; // dropped: the connection is closed at once
                    }
                    let relay = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    connections.lock().expect("lock").push(relay.abort_handle());
                }
            }
        });
        Self {
            addr,
            up,
            connections,
            accept,
        }
    }

    fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for relay in self.connections.lock().expect("lock").drain(..) {
            relay.abort();
        }
    }

    fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        self.down();
        self.accept.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_fails_during_an_outage_and_works_again_without_restart() {
    let Some(url) = postgres_url() else { return };
    let options: sqlx::postgres::PgConnectOptions = url.parse().expect("parse the test URL");
    let upstream = tokio::net::lookup_host((options.get_host(), options.get_port()))
        .await
        .expect("resolve")
        .next()
        .expect("an address");
    let outage = Outage::start(upstream).await;
    let through_proxy = {
        let mut parsed = url.clone();
        let authority = format!("{}:{}", options.get_host(), options.get_port());
        assert!(
            parsed.contains(&authority),
            "the test URL names host and port: {url}"
        );
        parsed = parsed.replacen(&authority, &outage.addr.to_string(), 1);
        parsed
    };
    let store = PostgresStore::builder(&through_proxy)
        .schema(fresh_schema())
        .query_timeout(Duration::from_secs(1))
        // One connection: the failed read during the outage is what discards it, so the test
        // does not depend on how long other pooled connections sat idle.
        .max_connections(1)
        .connect()
        .await
        .expect("connect through the proxy");
    let v1 = store
        .save_instance("i-1", None, &record("small"))
        .await
        .expect("create");

    outage.down();
    match store.load_instance("i-1").await {
        Err(e) => assert!(error_chain(&e).contains("PostgreSQL"), "{e}"),
        Ok(found) => panic!("a read during the outage must fail, got {found:?}"),
    }
    match store.save_instance("i-1", Some(v1), &record("large")).await {
        Err(CasError::Store(_)) => {}
        other => panic!("a write during the outage must fail, got {other:?}"),
    }

    outage.up();
    let loaded = store.load_instance("i-1").await.expect("reads work again");
    assert_eq!(
        loaded.map(|v| v.version),
        Some(v1),
        "the failed write left nothing behind"
    );
    store
        .save_instance("i-1", Some(v1), &record("large"))
        .await
        .expect("writes work again");
}

#[tokio::test]
async fn postgres_failed_transaction_leaves_its_connection_clean_for_the_next_write() {
    let Some(url) = postgres_url() else { return };
    // One connection: the write after the failed transaction runs on the connection it used.
    let store = PostgresStore::builder(&url)
        .schema(fresh_schema())
        .max_connections(1)
        .connect()
        .await
        .expect("connect");
    let lease = Lease::new("replica-a", Timestamp::from_unix_millis(10_000));
    let (now, keep) = (
        Timestamp::from_unix_millis(1),
        Timestamp::from_unix_millis(99_000),
    );
    let keys = ["c-1".to_owned()];
    let claimed = store.claim_collections(&keys, &lease, now, keep).await;
    assert_eq!(claimed.expect("claim"), [ClaimOutcome::Claimed]);

    // The server refuses a NUL byte in text: the transaction fails after its first statement.
    let refused = OutboxEntry::new("k-1", "{\"n\":\"\u{0}\"}", now);
    let error = store
        .finish_collections(&keys, "replica-a", &[refused])
        .await
        .expect_err("the server refuses the entry");
    let text = error_chain(&error);
    assert!(text.contains("0x00"), "the server refused it: {text}");

    // The claim is not done (the transaction was rolled back) and writes go on.
    let claimed = store.claim_collections(&keys, &lease, now, keep).await;
    assert_eq!(claimed.expect("claim again"), [ClaimOutcome::Claimed]);
    let fine = OutboxEntry::new("k-1", "{}", now);
    let added = store.finish_collections(&keys, "replica-a", &[fine]).await;
    assert_eq!(added.expect("the next transaction commits"), 1);
    store
        .save_instance("i-1", None, &record("small"))
        .await
        .expect("a write after the failed transaction");
}

#[tokio::test]
async fn postgres_row_written_before_enabled_changed_at_existed_loads_and_updates() {
    let Some(url) = postgres_url() else { return };
    let schema = fresh_schema();
    let store = PostgresStore::builder(&url)
        .schema(schema.clone())
        .connect()
        .await
        .expect("connect");
    let version = store
        .save_instance("i-old", None, &record("small"))
        .await
        .expect("create");
    // The row as an older broker left it: same key and version, the record without the field.
    let pool = sqlx::PgPool::connect(&url).await.expect("connect");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {schema}.osb_instances SET record = $1 WHERE instance_id = 'i-old'"
    )))
    .bind(INSTANCE_BEFORE_ENABLED_CHANGED_AT)
    .execute(&pool)
    .await
    .expect("write the old row");
    pool.close().await;

    old_row_loads_and_updates(&store, version).await;
    store.close().await;
}
