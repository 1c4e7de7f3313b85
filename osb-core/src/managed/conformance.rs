//! A conformance suite for [`StateStore`] implementations: the contract of the
//! [store docs](super::StateStore) as executable checks.
//!
//! Run it against your store with [`state_store_conformance!`](crate::state_store_conformance),
//! which writes one `#[test]` per check, each on a fresh store from your factory:
//!
//! ```
//! mod memory_store {
//!     osb_core::state_store_conformance!(async { osb_core::managed::MemoryStore::new() });
//! }
//! # fn main() {}
//! ```
//!
//! For a store that is not always available (a database in CI only), give a factory that yields
//! an `Option` and use the `optional:` form: `None` skips the check with a message.
//!
//! ```
//! mod maybe_store {
//!     osb_core::state_store_conformance!(optional: async {
//!         std::env::var_os("MY_STORE_URL").map(|_| osb_core::managed::MemoryStore::new())
//!     });
//! }
//! # fn main() {}
//! ```
//!
//! Every check is also a public `async fn` taking the store, for test harnesses of your own.
//! Checks use random ids, but [`purge_expired`](StateStore::purge_expired) is store-wide: give
//! each check a store of its own (a fresh file, schema or key prefix).
//!
//! # What is checked
//!
//! - records: absent records, create-if-absent, update and remove at a version, versions
//!   never reused, ids compared byte for byte, bindings scoped to their instance, listing in
//!   byte order with paging (tombstones included until purged), and a full round trip of every lifecycle transition of an
//!   instance and a binding (credentials, context, leases and flags included);
//! - races, with many tasks on a multi-threaded runtime: concurrent creates, concurrent
//!   updates at one version, remove against update, and read-modify-write loops that must lose
//!   no increment;
//! - tombstones: purge removes exactly the expired ones, and keeps a record rewritten since;
//! - leases: the owner renews, another replica takes an expired lease over exactly once, and
//!   the former owner's stale write then fails.
//!
//! # Panics
//!
//! Every check panics, naming the broken rule, when the store does not conform.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::task::JoinSet;

use super::clock::Timestamp;
use super::logic::OperationKind;
use super::record::{
    BindingRecord, InstanceRecord, Lease, OperationRecord, OperationStatus, Outcome, Phase,
};
use super::store::{CasError, Listed, StateStore, Version, Versioned};
use crate::binding::{BindRequest, Binding};
use crate::provision::ProvisionRequest;
use crate::update::UpdateRequest;

/// Concurrent tasks in the race checks.
const TASKS: usize = 16;

/// An arbitrary fixed time the checks start at.
const T0: Timestamp = Timestamp::from_unix_millis(1_750_000_000_000);

/// Runs one check on a store made by `factory`, on a fresh multi-threaded runtime. Used by
/// [`state_store_conformance!`](crate::state_store_conformance).
///
/// # Panics
///
/// When the runtime cannot start, or the check fails.
pub fn run<S, F, C, Fut>(factory: F, check: C)
where
    S: StateStore,
    F: Future<Output = S>,
    C: FnOnce(S) -> Fut,
    Fut: Future<Output = ()>,
{
    run_optional(async { Some(factory.await) }, check);
}

/// As [`run`], for a factory that yields `None` when its store is not available: the check is
/// then skipped with a message on stderr.
///
/// # Panics
///
/// When the runtime cannot start, or the check fails.
pub fn run_optional<S, F, C, Fut>(factory: F, check: C)
where
    S: StateStore,
    F: Future<Output = Option<S>>,
    C: FnOnce(S) -> Fut,
    Fut: Future<Output = ()>,
{
    let runtime = ok(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build(),
        "start a tokio runtime",
    );
    runtime.block_on(async {
        match factory.await {
            Some(store) => check(store).await,
            None => eprintln!("skipped: the store under test is not available"),
        }
    });
}

/// Writes one `#[test]` per conformance check of [`managed::conformance`](crate::managed::conformance),
/// each on a fresh store from the factory expression (re-evaluated per test).
///
/// `state_store_conformance!(async { store })` for a store that is always available;
/// `state_store_conformance!(optional: async { Some(store) })` to skip when the factory yields
/// `None`. See the [module docs](crate::managed::conformance) for examples.
#[macro_export]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
macro_rules! state_store_conformance {
    (optional: $factory:expr) => {
        $crate::__state_store_conformance!(run_optional, $factory;
            absent_records_read_as_none,
            create_if_absent_succeeds_once,
            update_requires_the_current_version,
            remove_requires_the_current_version,
            versions_are_never_reused,
            ids_are_compared_byte_for_byte,
            bindings_belong_to_their_instance,
            instances_list_in_byte_order_with_paging,
            tombstones_are_listed_until_purged,
            every_instance_transition_round_trips,
            every_binding_transition_round_trips,
            concurrent_creates_have_one_winner,
            concurrent_updates_at_one_version_have_one_winner,
            concurrent_remove_and_update_have_one_winner,
            read_modify_write_loops_lose_no_update,
            purge_removes_only_expired_tombstones,
            purge_keeps_a_record_rewritten_since,
            lease_owner_renews,
            expired_lease_is_taken_over_once,
        );
    };
    ($factory:expr) => {
        $crate::state_store_conformance!(optional: async { Some($factory.await) });
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __state_store_conformance {
    ($runner:ident, $factory:expr; $($check:ident,)*) => {$(
        #[test]
        fn $check() {
            $crate::managed::conformance::$runner(
                async { $factory.await },
                $crate::managed::conformance::$check,
            );
        }
    )*};
}

fn ok<T, E: Display>(result: Result<T, E>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{what}: {e}"),
    }
}

fn conflict<T: std::fmt::Debug>(result: Result<T, CasError>, rule: &str) {
    match result {
        Err(CasError::Conflict) => {}
        other => panic!("{rule}: expected CasError::Conflict, got {other:?}"),
    }
}

fn id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

fn at(millis: i64) -> Timestamp {
    T0.saturating_add(Duration::from_millis(u64::try_from(millis).unwrap_or(0)))
}

fn operation(kind: OperationKind, owner: &str, now: Timestamp) -> OperationRecord {
    OperationRecord::start(
        kind,
        true,
        now,
        Some(now.saturating_add(Duration::from_secs(3600))),
        Lease::new(owner, now.saturating_add(Duration::from_secs(30))),
    )
}

fn provision_request() -> ProvisionRequest {
    let request = json!({
        "service_id": "svc-1",
        "plan_id": "plan-small",
        "organization_guid": "org-1",
        "space_guid": "space-1",
        "parameters": {"size": 3, "tags": ["a", "é"], "nested": {"ratio": 0.25}},
        "context": {
            "platform": "cloudfoundry",
            "organization_guid": "org-1",
            "space_guid": "space-1",
            "instance_name": "my-db"
        },
        "maintenance_info": {"version": "1.2.3"}
    });
    ok(serde_json::from_value(request), "build a provision request")
}

fn bind_request() -> BindRequest {
    let request = json!({
        "service_id": "svc-1",
        "plan_id": "plan-small",
        "bind_resource": {"app_guid": "app-1"},
        "parameters": {"role": "reader"},
        "context": {"platform": "cloudfoundry", "organization_guid": "org-1", "space_guid": "space-1"}
    });
    ok(serde_json::from_value(request), "build a bind request")
}

/// A new instance record whose async provision `owner` runs.
fn new_instance(owner: &str, now: Timestamp) -> InstanceRecord {
    InstanceRecord::new(
        provision_request(),
        operation(OperationKind::Provision, owner, now),
    )
}

/// A new binding record whose async bind `owner` runs.
fn new_binding(owner: &str, now: Timestamp) -> BindingRecord {
    BindingRecord::new(bind_request(), operation(OperationKind::Bind, owner, now))
}

/// A deleted instance: a tombstone kept until `retain_until`.
fn tombstone(retain_until: Timestamp) -> InstanceRecord {
    let mut record = new_instance("a", T0);
    let create = record.lifecycle.operations[0].token.clone();
    record
        .lifecycle
        .complete(&create, Outcome::succeeded(), at(1), Duration::ZERO);
    let delete = operation(OperationKind::Deprovision, "a", at(2));
    let token = delete.token.clone();
    record.lifecycle.begin(delete, at(2), "halted");
    record
        .lifecycle
        .complete(&token, Outcome::succeeded(), at(3), Duration::ZERO);
    record.lifecycle.retain_until = Some(retain_until);
    record
}

async fn save_and_check<S: StateStore>(
    store: &S,
    instance_id: &str,
    expected: Version,
    record: &InstanceRecord,
) -> Version {
    let version = ok(
        store
            .save_instance(instance_id, Some(expected), record)
            .await,
        "a save at the current version succeeds",
    );
    assert_ne!(version, expected, "a successful save returns a new version");
    let loaded = ok(store.load_instance(instance_id).await, "load");
    assert_eq!(
        loaded,
        Some(Versioned::new(version, record.clone())),
        "a load returns the record and version just saved"
    );
    version
}

async fn save_binding_and_check<S: StateStore>(
    store: &S,
    (instance_id, binding_id): (&str, &str),
    expected: Version,
    record: &BindingRecord,
) -> Version {
    let version = ok(
        store
            .save_binding(instance_id, binding_id, Some(expected), record)
            .await,
        "a binding save at the current version succeeds",
    );
    assert_ne!(version, expected, "a successful save returns a new version");
    let loaded = ok(store.load_binding(instance_id, binding_id).await, "load");
    assert_eq!(
        loaded,
        Some(Versioned::new(version, record.clone())),
        "a load returns the binding record and version just saved"
    );
    version
}

/// Unknown instances and bindings load as `None`, list as empty, and cannot be removed.
pub async fn absent_records_read_as_none<S: StateStore>(store: S) {
    let instance_id = id("absent");
    assert!(ok(store.load_instance(&instance_id).await, "load").is_none());
    assert!(ok(store.load_binding(&instance_id, "b").await, "load").is_none());
    assert!(ok(store.list_bindings(&instance_id).await, "list").is_empty());
    conflict(
        store.remove_instance(&instance_id, Version::new(1)).await,
        "removing an absent instance",
    );
    conflict(
        store
            .remove_binding(&instance_id, "b", Version::new(1))
            .await,
        "removing an absent binding",
    );
    conflict(
        store
            .save_instance(&instance_id, Some(Version::new(1)), &new_instance("a", T0))
            .await,
        "updating an absent instance",
    );
}

/// A create (`expected = None`) succeeds once; a second create of the same id conflicts and
/// leaves the first record.
pub async fn create_if_absent_succeeds_once<S: StateStore>(store: S) {
    let instance_id = id("create");
    let first = new_instance("a", T0);
    let v1 = ok(
        store.save_instance(&instance_id, None, &first).await,
        "the first create succeeds",
    );
    let mut second = new_instance("b", T0);
    second.plan_id = "plan-large".to_owned();
    conflict(
        store.save_instance(&instance_id, None, &second).await,
        "a second create of one id",
    );
    assert_eq!(
        ok(store.load_instance(&instance_id).await, "load"),
        Some(Versioned::new(v1, first)),
        "the first create's record stays"
    );

    let binding = new_binding("a", T0);
    let b1 = ok(
        store
            .save_binding(&instance_id, "b-1", None, &binding)
            .await,
        "the first bind record succeeds",
    );
    conflict(
        store
            .save_binding(&instance_id, "b-1", None, &binding)
            .await,
        "a second create of one binding",
    );
    assert_eq!(
        ok(store.load_binding(&instance_id, "b-1").await, "load"),
        Some(Versioned::new(b1, binding))
    );
}

/// A save with `expected = Some(v)` succeeds only at version `v`, and each success returns a
/// new version.
pub async fn update_requires_the_current_version<S: StateStore>(store: S) {
    let instance_id = id("update");
    let mut record = new_instance("a", T0);
    let v1 = ok(
        store.save_instance(&instance_id, None, &record).await,
        "create",
    );
    record.enabled = false;
    let v2 = save_and_check(&store, &instance_id, v1, &record).await;
    record.enabled = true;
    conflict(
        store.save_instance(&instance_id, Some(v1), &record).await,
        "a save at a stale version",
    );
    conflict(
        store
            .save_instance(
                &instance_id,
                Some(Version::new(v2.get().wrapping_add(1_000_000))),
                &record,
            )
            .await,
        "a save at a version never issued",
    );
    conflict(
        store
            .save_instance(&instance_id, Some(Version::new(u64::MAX)), &record)
            .await,
        "a save at version u64::MAX",
    );
    assert!(
        !ok(store.load_instance(&instance_id).await, "load")
            .map(|v| v.record.enabled)
            .unwrap_or(true),
        "failed saves change nothing"
    );

    let binding_id = id("b");
    let mut binding = new_binding("a", T0);
    let b1 = ok(
        store
            .save_binding(&instance_id, &binding_id, None, &binding)
            .await,
        "create",
    );
    binding.binding = Some(Binding::default());
    save_binding_and_check(&store, (&instance_id, &binding_id), b1, &binding).await;
    conflict(
        store
            .save_binding(&instance_id, &binding_id, Some(b1), &binding)
            .await,
        "a binding save at a stale version",
    );
}

/// A remove succeeds only at the current version, once.
pub async fn remove_requires_the_current_version<S: StateStore>(store: S) {
    let instance_id = id("remove");
    let record = new_instance("a", T0);
    let v1 = ok(
        store.save_instance(&instance_id, None, &record).await,
        "create",
    );
    let v2 = ok(
        store.save_instance(&instance_id, Some(v1), &record).await,
        "update",
    );
    conflict(
        store.remove_instance(&instance_id, v1).await,
        "a remove at a stale version",
    );
    ok(
        store.remove_instance(&instance_id, v2).await,
        "a remove at the current version succeeds",
    );
    assert!(ok(store.load_instance(&instance_id).await, "load").is_none());
    conflict(
        store.remove_instance(&instance_id, v2).await,
        "a second remove",
    );

    let binding = new_binding("a", T0);
    let b1 = ok(
        store.save_binding(&instance_id, "b", None, &binding).await,
        "create",
    );
    conflict(
        store
            .remove_binding(&instance_id, "b", Version::new(b1.get().wrapping_add(1)))
            .await,
        "a binding remove at another version",
    );
    ok(
        store.remove_binding(&instance_id, "b", b1).await,
        "a binding remove at the current version succeeds",
    );
    assert!(ok(store.load_binding(&instance_id, "b").await, "load").is_none());
}

/// A record removed and created again gets a version never seen before, so a writer holding
/// the old version cannot succeed.
pub async fn versions_are_never_reused<S: StateStore>(store: S) {
    let instance_id = id("reuse");
    let record = new_instance("a", T0);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let v1 = ok(
            store.save_instance(&instance_id, None, &record).await,
            "create",
        );
        let v2 = ok(
            store.save_instance(&instance_id, Some(v1), &record).await,
            "update",
        );
        for v in [v1, v2] {
            assert!(!seen.contains(&v), "version {v:?} was issued twice");
            seen.push(v);
        }
        ok(store.remove_instance(&instance_id, v2).await, "remove");
    }
    let current = ok(
        store.save_instance(&instance_id, None, &record).await,
        "create",
    );
    for stale in &seen {
        conflict(
            store
                .save_instance(&instance_id, Some(*stale), &record)
                .await,
            "a save at a version from an earlier life of the record",
        );
    }
    assert_eq!(
        ok(store.load_instance(&instance_id).await, "load").map(|v| v.version),
        Some(current)
    );
}

/// Ids are arbitrary strings compared byte for byte: case, spaces, CRNs with `:` and `/`, and
/// non-ASCII text make distinct keys.
pub async fn ids_are_compared_byte_for_byte<S: StateStore>(store: S) {
    let base = id("Id");
    let ids = [
        base.clone(),
        base.to_lowercase(),
        format!("{base} "),
        format!("crn:v1:bluemix:public:svc:us-south:a/{base}::"),
        format!("{base}/é/ß"),
    ];
    let mut versions = Vec::new();
    for instance_id in &ids {
        let mut record = new_instance("a", T0);
        record.plan_id = instance_id.clone();
        versions.push(ok(
            store.save_instance(instance_id, None, &record).await,
            "each distinct id is a distinct record",
        ));
    }
    for (instance_id, version) in ids.iter().zip(versions) {
        let loaded = ok(store.load_instance(instance_id).await, "load");
        let loaded = loaded.unwrap_or_else(|| panic!("record {instance_id:?} is missing"));
        assert_eq!(loaded.version, version);
        assert_eq!(
            &loaded.record.plan_id, instance_id,
            "ids must not be folded"
        );
    }
}

/// A binding is keyed by `(instance_id, binding_id)`: the same binding id under two instances
/// is two records, and `list_bindings` returns one instance's bindings in binding-id order.
pub async fn bindings_belong_to_their_instance<S: StateStore>(store: S) {
    let first = id("inst-a");
    let second = id("inst-b");
    let record = new_binding("a", T0);
    for binding_id in ["b-2", "b-1", "B-3"] {
        ok(
            store.save_binding(&first, binding_id, None, &record).await,
            "create",
        );
    }
    ok(
        store.save_binding(&second, "b-1", None, &record).await,
        "the same binding id under another instance is another record",
    );
    let listed: Vec<String> = ok(store.list_bindings(&first).await, "list")
        .into_iter()
        .map(|(binding_id, _)| binding_id)
        .collect();
    assert_eq!(listed, ["B-3", "b-1", "b-2"], "bindings list in byte order");
    assert_eq!(ok(store.list_bindings(&second).await, "list").len(), 1);
    let prefix = &first[..first.len() - 1];
    assert!(
        ok(store.list_bindings(prefix).await, "list").is_empty(),
        "an instance id prefix matches no binding"
    );
}

/// `list_instances` pages through ids in byte order.
pub async fn instances_list_in_byte_order_with_paging<S: StateStore>(store: S) {
    let base = id("list");
    let mut ids: Vec<String> = ["Z", "a", "a:b", "a/b", "b", "é", "~"]
        .iter()
        .map(|suffix| format!("{base}-{suffix}"))
        .collect();
    for instance_id in &ids {
        ok(
            store
                .save_instance(instance_id, None, &new_instance("a", T0))
                .await,
            "create",
        );
    }
    ids.sort();
    let mut listed = Vec::new();
    let mut after = Some(format!("{base}-"));
    while let Some(cursor) = after.take() {
        let page = ok(store.list_instances(Some(&cursor), 3).await, "list");
        assert!(page.len() <= 3, "a page holds at most `limit` records");
        for (instance_id, _) in &page {
            if instance_id.starts_with(&base) {
                listed.push(instance_id.clone());
            }
        }
        if page.len() == 3 && page.iter().all(|(i, _)| i.starts_with(&base)) {
            after = page.last().map(|(i, _)| i.clone());
        }
    }
    assert_eq!(listed, ids, "instances list in byte order, each once");
    let all = ok(store.list_instances(None, usize::MAX).await, "list");
    assert!(
        all.windows(2).all(|w| w[0].0 < w[1].0),
        "a full list is strictly ordered"
    );
}

/// `list_instances` lists tombstones too, whole, until they are purged: collectors (usage
/// metering) find instances deleted since their last run through them.
pub async fn tombstones_are_listed_until_purged<S: StateStore>(store: S) {
    let base = id("listed");
    let (live, dead) = (format!("{base}-live"), format!("{base}-tombstone"));
    let record = tombstone(at(500));
    ok(
        store
            .save_instance(&live, None, &new_instance("a", T0))
            .await,
        "create",
    );
    let version = ok(store.save_instance(&dead, None, &record).await, "create");
    let listed = |all: Vec<Listed<InstanceRecord>>| -> Vec<_> {
        all.into_iter()
            .filter(|(i, _)| i.starts_with(&base))
            .map(|(i, record)| (i, ok(record, "a listed record reads back")))
            .collect()
    };
    let all = listed(ok(store.list_instances(None, usize::MAX).await, "list"));
    assert_eq!(
        all.iter().map(|(i, _)| i.as_str()).collect::<Vec<_>>(),
        [live.as_str(), dead.as_str()],
        "a tombstone is listed beside live records"
    );
    assert_eq!(
        all[1].1,
        Versioned::new(version, record),
        "a listed tombstone keeps its phase, operations and retention"
    );
    let page = ok(store.list_instances(Some(&live), 1).await, "list");
    assert_eq!(
        page.first().map(|(i, _)| i),
        Some(&dead),
        "paging reaches tombstones"
    );
    ok(store.purge_expired(at(500)).await, "purge");
    let all = listed(ok(store.list_instances(None, usize::MAX).await, "list"));
    assert_eq!(
        all.iter().map(|(i, _)| i.as_str()).collect::<Vec<_>>(),
        [live.as_str()],
        "a purged tombstone is no longer listed"
    );
}

/// An instance goes through every phase (async create, update failed with flags, disable with
/// its time, delete halting nothing, tombstone) and each saved state loads back unchanged.
pub async fn every_instance_transition_round_trips<S: StateStore>(store: S) {
    let instance_id = id("life");
    let mut record = new_instance("replica-a", T0);
    let mut version = ok(
        store.save_instance(&instance_id, None, &record).await,
        "create",
    );
    assert_eq!(record.lifecycle.phase, Phase::Creating);

    // Lease renewal while the provision runs.
    let create = record.lifecycle.operations[0].token.clone();
    assert!(record.lifecycle.renew(&create, "replica-a", at(60_000)));
    version = save_and_check(&store, &instance_id, version, &record).await;

    // A bind claims the instance, then releases it.
    record
        .binding_operations
        .insert("b-1".to_owned(), at(90_000));
    version = save_and_check(&store, &instance_id, version, &record).await;
    record.binding_operations.clear();

    record
        .lifecycle
        .complete(&create, Outcome::succeeded(), at(1_000), Duration::ZERO);
    record.dashboard_url = Some("https://dashboard.example.com/i/1".to_owned());
    assert_eq!(record.lifecycle.phase, Phase::Ready);
    version = save_and_check(&store, &instance_id, version, &record).await;

    // An update fails with both flags.
    let update = operation(OperationKind::Update, "replica-b", at(2_000));
    let token = update.token.clone();
    let mut pending: UpdateRequest = ok(
        serde_json::from_value(json!({"service_id": "svc-1", "plan_id": "plan-large",
            "parameters": {"size": 5}})),
        "build an update request",
    );
    record.lifecycle.begin(update, at(2_000), "halted");
    record.pending_update = Some(pending.clone());
    version = save_and_check(&store, &instance_id, version, &record).await;
    let failure = Outcome {
        failure: Some("quota exceeded".to_owned()),
        instance_usable: Some(true),
        update_repeatable: Some(false),
    };
    record
        .lifecycle
        .complete(&token, failure, at(3_000), Duration::ZERO);
    record.pending_update = None;
    version = save_and_check(&store, &instance_id, version, &record).await;
    let failed = record.lifecycle.latest().cloned();
    assert_eq!(
        failed
            .as_ref()
            .map(|op| (op.status, op.instance_usable, op.update_repeatable)),
        Some((OperationStatus::Failed, Some(true), Some(false)))
    );

    // A successful update, then IBM Cloud disables the instance.
    let update = operation(OperationKind::Update, "replica-a", at(4_000));
    let token = update.token.clone();
    record.lifecycle.begin(update, at(4_000), "halted");
    pending.parameters = Some(serde_json::Map::from_iter([("size".to_owned(), json!(6))]));
    record.pending_update = Some(pending);
    version = save_and_check(&store, &instance_id, version, &record).await;
    record
        .lifecycle
        .complete(&token, Outcome::succeeded(), at(5_000), Duration::ZERO);
    record.plan_id = "plan-large".to_owned();
    record.pending_update = None;
    record.enabled = false;
    record.state_reason = Some("billing".to_owned());
    record.enabled_changed_at = Some(at(5_500));
    version = save_and_check(&store, &instance_id, version, &record).await;

    // The deprovision leaves a tombstone with a retention time.
    let delete = operation(OperationKind::Deprovision, "replica-b", at(6_000));
    let token = delete.token.clone();
    record.lifecycle.begin(delete, at(6_000), "halted");
    assert_eq!(record.lifecycle.phase, Phase::Deleting);
    version = save_and_check(&store, &instance_id, version, &record).await;
    record.lifecycle.complete(
        &token,
        Outcome::succeeded(),
        at(7_000),
        Duration::from_secs(3600),
    );
    assert_eq!(record.lifecycle.phase, Phase::Deleted);
    assert!(record.lifecycle.retain_until.is_some());
    let version = save_and_check(&store, &instance_id, version, &record).await;
    ok(store.remove_instance(&instance_id, version).await, "remove");
}

/// A binding goes through an async bind (with a delete halting a first one), credentials, an
/// unbind and a tombstone; each saved state loads back unchanged.
pub async fn every_binding_transition_round_trips<S: StateStore>(store: S) {
    let instance_id = id("life");
    let key = (instance_id.as_str(), "binding-1");
    let mut record = new_binding("replica-a", T0);
    let mut version = ok(
        store.save_binding(key.0, key.1, None, &record).await,
        "create",
    );
    let bind = record.lifecycle.operations[0].token.clone();
    assert!(record.lifecycle.renew(&bind, "replica-a", at(45_000)));
    version = save_binding_and_check(&store, key, version, &record).await;

    record.lifecycle.complete(
        &bind,
        Outcome::failed("backend unavailable"),
        at(1_000),
        Duration::ZERO,
    );
    assert_eq!(record.lifecycle.phase, Phase::CreateFailed);
    version = save_binding_and_check(&store, key, version, &record).await;

    // Orphan mitigation removes it; a new bind with credentials replaces it.
    ok(store.remove_binding(key.0, key.1, version).await, "remove");
    let mut record = new_binding("replica-b", at(2_000));
    let mut version = ok(
        store.save_binding(key.0, key.1, None, &record).await,
        "create again",
    );
    let bind = record.lifecycle.operations[0].token.clone();
    record
        .lifecycle
        .complete(&bind, Outcome::succeeded(), at(3_000), Duration::ZERO);
    let credentials = json!({"uri": "postgres://u:p@db/x", "password": "s3cr3t", "port": 5432});
    record.binding = Some(Binding::with_credentials(ok(
        serde_json::from_value(credentials),
        "credentials",
    )));
    version = save_binding_and_check(&store, key, version, &record).await;

    let unbind = operation(OperationKind::Unbind, "replica-a", at(4_000));
    let token = unbind.token.clone();
    record.lifecycle.begin(unbind, at(4_000), "halted");
    version = save_binding_and_check(&store, key, version, &record).await;
    record.lifecycle.complete(
        &token,
        Outcome::succeeded(),
        at(5_000),
        Duration::from_secs(60),
    );
    assert_eq!(record.lifecycle.phase, Phase::Deleted);
    save_binding_and_check(&store, key, version, &record).await;
}

/// Many tasks create the same instance (and binding) at once: exactly one succeeds, the
/// others conflict, and the stored record is the winner's.
pub async fn concurrent_creates_have_one_winner<S: StateStore>(store: S) {
    let store = Arc::new(store);
    let instance_id = id("race-create");
    let mut tasks = JoinSet::new();
    for task in 0..TASKS {
        let (store, instance_id) = (Arc::clone(&store), instance_id.clone());
        tasks.spawn(async move {
            let mut record = new_instance(&format!("replica-{task}"), T0);
            record.plan_id = format!("plan-{task}");
            let result = store.save_instance(&instance_id, None, &record).await;
            let binding = store
                .save_binding(
                    &instance_id,
                    "b",
                    None,
                    &new_binding(&format!("replica-{task}"), T0),
                )
                .await;
            (task, result, binding)
        });
    }
    let mut winners = Vec::new();
    let mut binding_winners = 0;
    while let Some(joined) = tasks.join_next().await {
        let (task, result, binding) = ok(joined, "a racing task panicked");
        match result {
            Ok(version) => winners.push((task, version)),
            Err(CasError::Conflict) => {}
            Err(e) => panic!("a racing create failed: {e}"),
        }
        match binding {
            Ok(_) => binding_winners += 1,
            Err(CasError::Conflict) => {}
            Err(e) => panic!("a racing bind record failed: {e}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one concurrent create wins: {winners:?}"
    );
    assert_eq!(
        binding_winners, 1,
        "exactly one concurrent binding create wins"
    );
    let (task, version) = winners[0];
    let stored = ok(store.load_instance(&instance_id).await, "load");
    assert_eq!(
        stored.map(|v| (v.version, v.record.plan_id)),
        Some((version, format!("plan-{task}"))),
        "the stored record is the winner's"
    );
}

/// Many tasks update the same instance from the same version at once: exactly one succeeds.
pub async fn concurrent_updates_at_one_version_have_one_winner<S: StateStore>(store: S) {
    let store = Arc::new(store);
    let instance_id = id("race-update");
    let v1 = ok(
        store
            .save_instance(&instance_id, None, &new_instance("a", T0))
            .await,
        "create",
    );
    let mut tasks = JoinSet::new();
    for task in 0..TASKS {
        let (store, instance_id) = (Arc::clone(&store), instance_id.clone());
        tasks.spawn(async move {
            let mut record = new_instance("a", T0);
            record.plan_id = format!("plan-{task}");
            (
                task,
                store.save_instance(&instance_id, Some(v1), &record).await,
            )
        });
    }
    let mut winners = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match ok(joined, "a racing task panicked") {
            (task, Ok(version)) => winners.push((task, version)),
            (_, Err(CasError::Conflict)) => {}
            (_, Err(e)) => panic!("a racing update failed: {e}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one update at one version wins: {winners:?}"
    );
    let (task, version) = winners[0];
    let stored = ok(store.load_instance(&instance_id).await, "load");
    assert_eq!(
        stored.map(|v| (v.version, v.record.plan_id)),
        Some((version, format!("plan-{task}")))
    );
}

/// A remove and updates racing from the same version: exactly one of them wins.
pub async fn concurrent_remove_and_update_have_one_winner<S: StateStore>(store: S) {
    let store = Arc::new(store);
    for round in 0..8 {
        let instance_id = id(&format!("race-remove-{round}"));
        let v1 = ok(
            store
                .save_instance(&instance_id, None, &new_instance("a", T0))
                .await,
            "create",
        );
        let mut tasks = JoinSet::new();
        for task in 0..4 {
            let (store, instance_id) = (Arc::clone(&store), instance_id.clone());
            tasks.spawn(async move {
                if task == 0 {
                    store.remove_instance(&instance_id, v1).await.map(|()| None)
                } else {
                    store
                        .save_instance(&instance_id, Some(v1), &new_instance("b", T0))
                        .await
                        .map(Some)
                }
            });
        }
        let mut outcomes = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match ok(joined, "a racing task panicked") {
                Ok(outcome) => outcomes.push(outcome),
                Err(CasError::Conflict) => {}
                Err(e) => panic!("a racing write failed: {e}"),
            }
        }
        assert_eq!(outcomes.len(), 1, "exactly one write at one version wins");
        let stored = ok(store.load_instance(&instance_id).await, "load").map(|v| v.version);
        assert_eq!(stored, outcomes[0], "the store holds the winner's outcome");
    }
}

/// Tasks increment a counter in one record with load / modify / compare-and-set loops: the
/// final count is exact, so no write was lost and no stale write succeeded.
pub async fn read_modify_write_loops_lose_no_update<S: StateStore>(store: S) {
    const INCREMENTS: u64 = 10;
    let store = Arc::new(store);
    let instance_id = id("counter");
    ok(
        store
            .save_instance(&instance_id, None, &new_instance("a", T0))
            .await,
        "create",
    );
    let mut tasks = JoinSet::new();
    for _ in 0..TASKS {
        let (store, instance_id) = (Arc::clone(&store), instance_id.clone());
        tasks.spawn(async move {
            let mut done = 0;
            while done < INCREMENTS {
                let current = ok(store.load_instance(&instance_id).await, "load");
                let Some(Versioned {
                    version,
                    mut record,
                    ..
                }) = current
                else {
                    panic!("the counter record vanished");
                };
                let count = record.state_reason.as_deref().unwrap_or("0");
                let count: u64 = ok(count.parse(), "parse the counter");
                record.state_reason = Some((count + 1).to_string());
                match store
                    .save_instance(&instance_id, Some(version), &record)
                    .await
                {
                    Ok(_) => done += 1,
                    Err(CasError::Conflict) => tokio::task::yield_now().await,
                    Err(e) => panic!("an increment failed: {e}"),
                }
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        ok(joined, "an incrementing task panicked");
    }
    let stored = ok(store.load_instance(&instance_id).await, "load");
    let expected = (TASKS as u64 * INCREMENTS).to_string();
    assert_eq!(
        stored.and_then(|v| v.record.state_reason),
        Some(expected),
        "every increment is counted exactly once"
    );
}

/// `purge_expired(now)` removes the instance and binding records whose `retain_until` is at or
/// before `now`, and nothing else.
pub async fn purge_removes_only_expired_tombstones<S: StateStore>(store: S) {
    let now = at(100_000);
    let expired = id("expired");
    let due_now = id("due-now");
    let kept = id("kept");
    let live = id("live");
    for (instance_id, record) in [
        (&expired, tombstone(at(50_000))),
        (&due_now, tombstone(now)),
        (&kept, tombstone(at(100_001))),
        (&live, new_instance("a", T0)),
    ] {
        ok(
            store.save_instance(instance_id, None, &record).await,
            "create",
        );
    }
    let mut old_binding = new_binding("a", T0);
    old_binding.lifecycle.retain_until = Some(at(1));
    ok(
        store.save_binding(&live, "old", None, &old_binding).await,
        "create",
    );
    ok(
        store
            .save_binding(&live, "current", None, &new_binding("a", T0))
            .await,
        "create",
    );

    let removed = ok(store.purge_expired(now).await, "purge");
    assert_eq!(
        removed, 3,
        "two instance tombstones and one binding tombstone expire"
    );
    for gone in [&expired, &due_now] {
        assert!(
            ok(store.load_instance(gone).await, "load").is_none(),
            "expired tombstones go"
        );
    }
    for stays in [&kept, &live] {
        assert!(
            ok(store.load_instance(stays).await, "load").is_some(),
            "others stay"
        );
    }
    assert!(ok(store.load_binding(&live, "old").await, "load").is_none());
    assert!(ok(store.load_binding(&live, "current").await, "load").is_some());
    assert_eq!(
        ok(store.purge_expired(now).await, "purge"),
        0,
        "purge is idempotent"
    );
}

/// A tombstone rewritten into a live record (a new provision of the id after its retention)
/// is not purged, even though an older version of it had expired.
pub async fn purge_keeps_a_record_rewritten_since<S: StateStore>(store: S) {
    let instance_id = id("reborn");
    let v1 = ok(
        store
            .save_instance(&instance_id, None, &tombstone(at(10)))
            .await,
        "create",
    );
    let reborn = new_instance("b", at(20));
    ok(
        store.save_instance(&instance_id, Some(v1), &reborn).await,
        "rewrite",
    );
    assert_eq!(ok(store.purge_expired(at(1_000)).await, "purge"), 0);
    assert_eq!(
        ok(store.load_instance(&instance_id).await, "load").map(|v| v.record),
        Some(reborn),
        "the rewritten record stays"
    );
}

/// The lease owner renews its lease with compare-and-set writes; each renewal is a new
/// version, and a renewal from a stale read fails.
pub async fn lease_owner_renews<S: StateStore>(store: S) {
    let instance_id = id("lease");
    let mut record = new_instance("replica-a", T0);
    let token = record.lifecycle.operations[0].token.clone();
    let mut version = ok(
        store.save_instance(&instance_id, None, &record).await,
        "create",
    );
    let first = version;
    for step in 1..=3 {
        assert!(record.lifecycle.owns(&token, "replica-a"));
        assert!(
            record
                .lifecycle
                .renew(&token, "replica-a", at(step * 30_000))
        );
        version = save_and_check(&store, &instance_id, version, &record).await;
    }
    conflict(
        store
            .save_instance(&instance_id, Some(first), &record)
            .await,
        "a renewal based on a stale read",
    );
    let stored = ok(store.load_instance(&instance_id).await, "load");
    let lease = stored
        .as_ref()
        .and_then(|v| v.record.lifecycle.running())
        .and_then(|op| op.lease.clone());
    assert_eq!(lease, Some(Lease::new("replica-a", at(90_000))));
}

/// After the lease expires, many replicas try to take the operation over at once: exactly one
/// becomes the owner, and the former owner's next renewal (from its old version) fails.
pub async fn expired_lease_is_taken_over_once<S: StateStore>(store: S) {
    let store = Arc::new(store);
    let instance_id = id("takeover");
    let record = new_instance("replica-dead", T0);
    let token = record.lifecycle.operations[0].token.clone();
    let dead_version = ok(
        store.save_instance(&instance_id, None, &record).await,
        "create",
    );
    let now = at(31_000);
    let lease = record.lifecycle.running().and_then(|op| op.lease.clone());
    assert!(
        lease.is_some_and(|lease| lease.is_expired(now)),
        "the lease has expired"
    );

    let mut tasks = JoinSet::new();
    for task in 0..TASKS {
        let (store, instance_id, token) = (Arc::clone(&store), instance_id.clone(), token.clone());
        tasks.spawn(async move {
            let owner = format!("replica-{task}");
            let current = ok(store.load_instance(&instance_id).await, "load");
            let Some(Versioned {
                version,
                mut record,
                ..
            }) = current
            else {
                panic!("the record vanished");
            };
            let expired = record
                .lifecycle
                .running()
                .and_then(|op| op.lease.as_ref())
                .is_some_and(|lease| lease.is_expired(now));
            if !expired {
                return None; // another replica took it over first
            }
            if let Some(op) = record.lifecycle.operations.last_mut() {
                op.lease = Some(Lease::new(
                    &owner,
                    now.saturating_add(Duration::from_secs(30)),
                ));
            }
            assert!(record.lifecycle.owns(&token, &owner));
            match store
                .save_instance(&instance_id, Some(version), &record)
                .await
            {
                Ok(_) => Some(owner),
                Err(CasError::Conflict) => None,
                Err(e) => panic!("a takeover failed: {e}"),
            }
        });
    }
    let mut owners = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        owners.extend(ok(joined, "a takeover task panicked"));
    }
    assert_eq!(
        owners.len(),
        1,
        "exactly one replica takes the lease over: {owners:?}"
    );
    let stored = ok(store.load_instance(&instance_id).await, "load");
    assert!(
        stored
            .as_ref()
            .is_some_and(|v| v.record.lifecycle.owns(&token, &owners[0])),
        "the store names the new owner"
    );

    let mut stale = record;
    assert!(stale.lifecycle.renew(&token, "replica-dead", at(60_000)));
    conflict(
        store
            .save_instance(&instance_id, Some(dead_version), &stale)
            .await,
        "the former owner's renewal after a takeover",
    );
}
