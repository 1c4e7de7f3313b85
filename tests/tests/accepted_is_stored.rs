//! The invariant behind issue 13, as a property: whatever the broker accepts over HTTP it can
//! store and read back, on every store. Generated provision, update and bind bodies, with
//! `parameters` and `context` of any shape and nested up to and past
//! `osb_tower::MAX_JSON_DEPTH`, go through the real HTTP service (`OsbService` on loopback) to
//! the managed adapter over the memory, SQLite and PostgreSQL stores. An accepted request's
//! record loads back equal to what was sent; a refused one (400 naming the field) stored
//! nothing; and afterwards every store lists whole and recovers with no unreadable record.
//!
//! `PROPTEST_CASES` sets the number of generated cases (default 24: seconds in CI); e.g.
//! `PROPTEST_CASES=2000 cargo test -p osb-e2e-tests --test accepted_is_stored` for a longer run.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;

use async_trait::async_trait;
use osb_core::catalog::{Catalog, Plan, Service};
use osb_core::managed::{
    DeprovisionError, InstanceRecord, LogicError, Managed, MemoryStore, PostgresStore,
    ServiceLogic, SqliteStore, StateStore, UpdateError,
};
use osb_core::{
    BindRequest, Binding, ProvisionRequest, ProvisionedInstance, UpdateRequest, UpdatedInstance,
};
use osb_e2e_tests::{Platform, RunningBroker};
use osb_tower::{MAX_JSON_DEPTH, OsbService};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};

const SERVICE: &str = "svc";
const PLAN: &str = "plan";

/// Accepts everything; a binding's credentials echo its parameters, so what the logic returns
/// is stored too.
#[derive(Debug)]
struct Echo(Arc<Catalog>);

#[async_trait]
impl ServiceLogic for Echo {
    fn catalog(&self) -> Arc<Catalog> {
        self.0.clone()
    }
    async fn create_instance(
        &self,
        _: &str,
        _: &ProvisionRequest,
    ) -> Result<ProvisionedInstance, LogicError> {
        Ok(ProvisionedInstance::default())
    }
    async fn update_instance(
        &self,
        _: &str,
        _: &UpdateRequest,
        _: &InstanceRecord,
    ) -> Result<UpdatedInstance, UpdateError> {
        Ok(UpdatedInstance::default())
    }
    async fn delete_instance(&self, _: &str, _: &InstanceRecord) -> Result<(), DeprovisionError> {
        Ok(())
    }
    async fn create_binding(
        &self,
        _: &str,
        _: &str,
        request: &BindRequest,
    ) -> Result<Binding, LogicError> {
        Ok(Binding::with_credentials(
            request.parameters.clone().unwrap_or_default(),
        ))
    }
}

fn catalog() -> Arc<Catalog> {
    let mut plan = Plan::new(PLAN, "plan", "A plan");
    plan.plan_updateable = Some(true);
    let mut service = Service::new(SERVICE, "svc", "A service", true).with_plan(plan);
    service.allow_context_updates = Some(true);
    Arc::new(Catalog::new(vec![service]))
}

/// One store under test, served over loopback.
struct Target {
    name: &'static str,
    broker: Arc<Managed<Echo, Arc<dyn StateStore>>>,
    platform: Platform,
    _server: RunningBroker,
}

async fn target(name: &'static str, store: Arc<dyn StateStore>) -> Target {
    let broker = Arc::new(Managed::builder(Echo(catalog())).store(store).build());
    let service = OsbService::new(broker.clone());
    let server = RunningBroker::router(axum::Router::new().fallback_service(service)).await;
    Target {
        name,
        broker,
        platform: Platform::new(server.url()),
        _server: server,
    }
}

async fn targets() -> Vec<Target> {
    let dir = std::env::temp_dir().join(format!("osb-accepted-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = SqliteStore::builder(dir.join("broker.db"))
        .relaxed_durability()
        .open()
        .await
        .unwrap();
    let mut targets = vec![
        target("memory", Arc::new(MemoryStore::new())).await,
        target("sqlite", Arc::new(sqlite)).await,
    ];
    match std::env::var("OSB_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => {
            let schema = format!("osb_test_{}", uuid::Uuid::new_v4().simple());
            let store = PostgresStore::builder(&url)
                .schema(schema)
                .connect()
                .await
                .unwrap();
            targets.push(target("postgres", Arc::new(store)).await);
        }
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("CI=true but OSB_TEST_POSTGRES_URL is not set")
        }
        _ => eprintln!("PostgreSQL skipped: set OSB_TEST_POSTGRES_URL to include it"),
    }
    targets
}

/// How deeply `value` nests (a scalar: 0).
fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ]
}

/// JSON of any shape: a small random tree at the bottom of a spine of arrays and objects whose
/// length is mostly near the limit, sometimes short, sometimes well past it.
fn json_value() -> impl Strategy<Value = Value> {
    let tree = scalar().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    let around_limit = (MAX_JSON_DEPTH - 8)..(MAX_JSON_DEPTH + 8);
    let spine_length = prop_oneof![0_usize..6, around_limit, 0_usize..140];
    let spine =
        spine_length.prop_flat_map(|n| prop::collection::vec((any::<bool>(), "[a-z]{0,3}"), n));
    (tree, spine).prop_map(|(mut value, spine)| {
        for (array, key) in spine {
            value = if array {
                Value::Array(vec![value])
            } else {
                Value::Object(Map::from_iter([(key, value)]))
            };
        }
        value
    })
}

fn parameters() -> impl Strategy<Value = Option<Value>> {
    prop::option::of(
        prop::collection::btree_map("[a-z]{1,4}", json_value(), 0..3)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
    )
}

/// A context of one of the profiles (or none), typed fields of any JSON type, and extra
/// fields of any shape.
fn context() -> impl Strategy<Value = Option<Value>> {
    let platform = prop::option::of(prop::sample::select(vec![
        "cloudfoundry",
        "kubernetes",
        "ibmcloud",
        "acme",
    ]));
    let typed_name = prop::sample::select(vec![
        "organization_guid",
        "space_guid",
        "namespace",
        "clusterid",
        "account_id",
        "crn",
        "name",
        "instance_name",
    ]);
    let typed = prop::collection::btree_map(typed_name, scalar(), 0..3);
    let extra = prop::collection::btree_map("[a-z_]{1,8}", json_value(), 0..3);
    prop::option::of(
        (platform, typed, extra).prop_map(|(platform, typed, extra)| {
            let mut map: Map<String, Value> = extra.into_iter().collect();
            map.extend(typed.into_iter().map(|(k, v)| (k.to_owned(), v)));
            if let Some(platform) = platform {
                map.insert("platform".to_owned(), Value::from(platform));
            }
            Value::Object(map)
        }),
    )
}

#[derive(Debug, Clone)]
struct Case {
    provision: (Option<Value>, Option<Value>),
    update: (Option<Value>, Option<Value>),
    bind: (Option<Value>, Option<Value>),
}

fn case() -> impl Strategy<Value = Case> {
    let pair = || (parameters(), context());
    (pair(), pair(), pair()).prop_map(|(provision, update, bind)| Case {
        provision,
        update,
        bind,
    })
}

/// A body with `fields`, plus `parameters` and `context` where given.
fn body(mut fields: Value, (parameters, context): &(Option<Value>, Option<Value>)) -> Value {
    if let Some(parameters) = parameters {
        fields["parameters"] = parameters.clone();
    }
    if let Some(context) = context {
        fields["context"] = context.clone();
    }
    fields
}

/// Whether the HTTP layer accepts `body`'s nesting; when it does not, the 400 must name a field
/// that nests too deeply.
fn accepted(body: &Value, answer: &osb_e2e_tests::Answer, what: &str) -> bool {
    let too_deep = depth(body) > MAX_JSON_DEPTH;
    if too_deep {
        assert_eq!(answer.status.as_u16(), 400, "{what}: {:?}", answer.body);
        let description = answer.body["description"].as_str().unwrap_or_default();
        let named = ["`parameters`", "`context`"]
            .iter()
            .any(|field| description.contains(field));
        assert!(named, "{what}: {description}");
    }
    !too_deep
}

/// `body` as the broker parsed it: from its text, as sent.
fn parsed<T: serde::de::DeserializeOwned>(body: &Value) -> T {
    serde_json::from_str(&body.to_string()).unwrap()
}

/// One generated case on one store.
async fn check(target: &Target, case: &Case) {
    let (platform, store, name) = (&target.platform, target.broker.store(), target.name);
    let id = uuid::Uuid::new_v4().to_string();

    let sent = body(
        json!({"service_id": SERVICE, "plan_id": PLAN, "organization_guid": "o", "space_guid": "s"}),
        &case.provision,
    );
    let answer = platform.provision(&id, &sent, false).await;
    if !accepted(&sent, &answer, name) {
        assert!(store.load_instance(&id).await.unwrap().is_none(), "{name}");
        return;
    }
    assert_eq!(answer.status.as_u16(), 201, "{name}: {:?}", answer.body);
    let stored = store.load_instance(&id).await.unwrap().unwrap().record;
    let request: ProvisionRequest = parsed(&sent);
    assert_eq!(stored.request, request, "{name}: the provision reads back");

    let sent = body(json!({"service_id": SERVICE}), &case.update);
    let answer = platform.update(&id, &sent, false).await;
    if accepted(&sent, &answer, name) {
        assert_eq!(answer.status.as_u16(), 200, "{name}: {:?}", answer.body);
        let update: UpdateRequest = parsed(&sent);
        let stored = store.load_instance(&id).await.unwrap().unwrap().record;
        for (key, value) in update.parameters.iter().flatten() {
            assert_eq!(stored.parameters.as_ref().unwrap()[key], *value, "{name}");
        }
        if update.context.is_some() {
            assert_eq!(
                stored.context, update.context,
                "{name}: the context reads back"
            );
        }
    }

    let sent = body(json!({"service_id": SERVICE, "plan_id": PLAN}), &case.bind);
    let answer = platform.bind(&id, "b", &sent).await;
    if !accepted(&sent, &answer, name) {
        assert!(
            store.load_binding(&id, "b").await.unwrap().is_none(),
            "{name}"
        );
        return;
    }
    assert_eq!(answer.status.as_u16(), 201, "{name}: {:?}", answer.body);
    let stored = store.load_binding(&id, "b").await.unwrap().unwrap().record;
    let request: BindRequest = parsed(&sent);
    assert_eq!(stored.request, request, "{name}: the bind reads back");
    let credentials = stored.binding.and_then(|b| b.credentials);
    assert_eq!(credentials, Some(request.parameters.unwrap_or_default()));
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(24)
}

#[test]
fn what_the_broker_accepts_is_stored_and_read_back_on_every_store() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let targets = runtime.block_on(targets());
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&case(), |case| {
        runtime.block_on(async {
            for target in &targets {
                check(target, &case).await;
            }
        });
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    // Nothing unreadable was written: every store lists whole and recovers.
    runtime.block_on(async {
        for target in &targets {
            let store = target.broker.store();
            let listed = store.list_instances(None, usize::MAX).await.unwrap();
            for (id, record) in listed {
                assert!(record.is_ok(), "{}: {id} cannot be read", target.name);
                for (binding, record) in store.list_bindings(&id).await.unwrap() {
                    assert!(record.is_ok(), "{}: {id}/{binding}", target.name);
                }
            }
            target.broker.recover().await.unwrap();
            assert_eq!(target.broker.unreadable_records(), 0, "{}", target.name);
        }
    });
}
