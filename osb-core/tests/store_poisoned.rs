//! One unreadable row (issue 13) fails only its own id, on SQLite and PostgreSQL: rows written
//! directly with SQL (invalid JSON, and JSON nested deeper than serde_json reads) are listed
//! with their error, the broker starts and recovers past them, maintenance runs, every other
//! instance works, and the poisoned ids answer 500 with the generic OSB body. The stores also
//! refuse to write such a record themselves.
#![cfg(any(feature = "sqlite", feature = "postgres"))]
#![allow(clippy::unwrap_used)]

mod managed_support;
mod store_support;

use std::sync::Arc;
use std::time::Duration;

use managed_support::{
    CountingLogic, ManualClock, SERVICE, SYNC, bind, ctx, eventually, provision,
};
use osb_core::managed::{
    CasError, InstanceRecord, Lease, Managed, OperationKind, OperationRecord, StateStore, Timestamp,
};
use osb_core::{
    BindRequest, DeprovisionRequest, DeprovisionResponse, LastOperationRequest, ServiceBroker,
};
use serde_json::{Map, Value};

/// Which rows to corrupt: a statement setting `record` to `$1` for one instance id `$2`, and
/// one for binding `$3` of instance `$2`.
struct Poison {
    instance: String,
    binding: String,
}

/// Invalid JSON, and a valid record made too deep to parse back (`parameters` nested 200
/// levels), from the text of a good record.
fn poisons(good: &str) -> [String; 2] {
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let too_deep = good.replacen(
        "\"request\":{",
        &format!("\"request\":{{\"parameters\":{{\"p\":{deep}}},"),
        1,
    );
    assert_ne!(too_deep, good, "the record has a request");
    ["{not json".to_owned(), too_deep]
}

/// A record nested deeper than the store can read back, to show the stores refuse it.
fn deep_record() -> InstanceRecord {
    let mut value = Value::from(1);
    for _ in 0..200 {
        value = Value::Array(vec![value]);
    }
    let mut request = provision(SYNC);
    request.parameters = Some(Map::from_iter([("p".to_owned(), value)]));
    let now = Timestamp::from_unix_millis(0);
    let op = OperationRecord::start(
        OperationKind::Provision,
        false,
        now,
        None,
        Lease::new("me", now),
    );
    InstanceRecord::new(request, op)
}

/// The whole rule on `store`, with `corrupt` writing the poisons with SQL.
async fn one_row_fails_only_itself<S, F, Fut>(store: Arc<S>, corrupt: F)
where
    S: StateStore,
    F: Fn(Poison, String, String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    // The store refuses to write what it could not read back.
    match store.save_instance("refused", None, &deep_record()).await {
        Err(CasError::Store(_)) => {}
        other => panic!("a record too deep to read back must be refused, got {other:?}"),
    }
    assert!(store.load_instance("refused").await.unwrap().is_none());

    let clock = ManualClock::new();
    let build = || {
        Managed::builder(CountingLogic::new())
            .store(store.clone())
            .clock(clock.clone())
            .build()
    };
    let broker = build();
    for id in ["a-good", "b-bad-json", "c-bad-depth", "d-good"] {
        broker
            .provision(id, provision(SYNC), &ctx(false))
            .await
            .unwrap();
        broker
            .bind(id, "b-1", bind(SYNC), &ctx(false))
            .await
            .unwrap();
    }
    broker.shutdown().await;
    let good = serde_json::to_string(&store.load_instance("a-good").await.unwrap().unwrap().record)
        .unwrap();
    let [bad_json, too_deep] = poisons(&good);
    for (id, text) in [("b-bad-json", bad_json.clone()), ("c-bad-depth", too_deep)] {
        let poison = Poison {
            instance: id.to_owned(),
            binding: "b-1".to_owned(),
        };
        corrupt(poison, text, bad_json.clone()).await;
    }

    // The listing reports the poisoned rows in place and the others whole.
    let page = store.list_instances(None, 100).await.unwrap();
    let readable: Vec<(&str, bool)> = page.iter().map(|(i, r)| (i.as_str(), r.is_ok())).collect();
    assert_eq!(
        readable,
        [
            ("a-good", true),
            ("b-bad-json", false),
            ("c-bad-depth", false),
            ("d-good", true)
        ]
    );
    let bindings = store.list_bindings("b-bad-json").await.unwrap();
    assert!(bindings.len() == 1 && bindings[0].1.is_err());

    // A restart: recovery and the maintenance carry on past them.
    let broker = build();
    broker.start(Duration::from_millis(1)).await.unwrap();
    assert!(
        broker.unreadable_records() >= 4,
        "two instances and two bindings"
    );
    let after_start = broker.unreadable_records();
    eventually(|| broker.unreadable_records() > after_start).await;

    // Every other instance works.
    for id in ["a-good", "d-good"] {
        broker
            .last_operation(id, LastOperationRequest::default(), &ctx(false))
            .await
            .unwrap();
        broker
            .bind(id, "b-2", bind(SYNC), &ctx(false))
            .await
            .unwrap();
    }
    broker
        .provision("e-new", provision(SYNC), &ctx(false))
        .await
        .unwrap();
    let deleted = broker
        .deprovision(
            "d-good",
            DeprovisionRequest::new(SERVICE, SYNC),
            &ctx(false),
        )
        .await
        .unwrap();
    assert!(matches!(deleted, DeprovisionResponse::Deleted));

    // The poisoned ids answer 500, saying nothing about why.
    for id in ["b-bad-json", "c-bad-depth"] {
        let err = broker
            .last_operation(id, LastOperationRequest::default(), &ctx(false))
            .await
            .unwrap_err();
        assert_eq!(err.status().as_u16(), 500, "{id}");
        let body = serde_json::to_string(&err.to_body()).unwrap();
        assert!(
            !body.contains("parse") && !body.contains("recursion"),
            "{body}"
        );
        let err = broker
            .bind(id, "b-3", BindRequest::new(SERVICE, SYNC), &ctx(false))
            .await
            .unwrap_err();
        assert_eq!(err.status().as_u16(), 500, "{id}");
    }
    broker.shutdown().await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_unreadable_row_fails_only_its_own_id() {
    let path = store_support::sqlite_path();
    let store = Arc::new(osb_core::managed::SqliteStore::open(&*path).await.unwrap());
    let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    one_row_fails_only_itself(store, |poison, instance, binding| {
        let pool = pool.clone();
        async move {
            sqlx::query("UPDATE osb_instances SET record = ?1 WHERE instance_id = ?2")
                .bind(instance)
                .bind(&poison.instance)
                .execute(&pool)
                .await
                .unwrap();
            sqlx::query(
                "UPDATE osb_bindings SET record = ?1 WHERE instance_id = ?2 AND binding_id = ?3",
            )
            .bind(binding)
            .bind(&poison.instance)
            .bind(&poison.binding)
            .execute(&pool)
            .await
            .unwrap();
        }
    })
    .await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unreadable_row_fails_only_its_own_id() {
    let Some(url) = store_support::postgres_url() else {
        return;
    };
    let schema = store_support::fresh_schema();
    let store = osb_core::managed::PostgresStore::builder(&url)
        .schema(schema.clone())
        .connect()
        .await
        .unwrap();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    one_row_fails_only_itself(Arc::new(store), |poison, instance, binding| {
        let (pool, schema) = (pool.clone(), schema.clone());
        async move {
            let update = format!("UPDATE {schema}.osb_instances SET record = $1 WHERE instance_id = $2");
            sqlx::query(sqlx::AssertSqlSafe(update))
                .bind(instance)
                .bind(&poison.instance)
                .execute(&pool)
                .await
                .unwrap();
            let update = format!(
                "UPDATE {schema}.osb_bindings SET record = $1 WHERE instance_id = $2 AND binding_id = $3"
            );
            sqlx::query(sqlx::AssertSqlSafe(update))
                .bind(binding)
                .bind(&poison.instance)
                .bind(&poison.binding)
                .execute(&pool)
                .await
                .unwrap();
        }
    })
    .await;
}
