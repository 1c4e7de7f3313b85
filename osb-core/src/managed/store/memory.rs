//! `MemoryStore`: the in-memory [`StateStore`], for tests and single-process brokers that may
//! forget everything on restart.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};

use async_trait::async_trait;

use super::{CasError, Listed, StateStore, StoreError, Version, Versioned};
use crate::managed::clock::Timestamp;
use crate::managed::record::{BindingRecord, InstanceRecord};

// The `UsageOutbox` impl, a child module so it reaches the store's fields.
#[path = "memory_outbox.rs"]
mod outbox;

type BindingKey = (String, String);

/// An in-memory [`StateStore`]: two ordered maps behind a read-write lock.
///
/// Reads take only the read lock; each compare-and-set holds the write lock for one map
/// operation, which makes it linearisable. Versions come from one counter, so they are never
/// reused. Everything is lost when the process ends: use a durable store in production.
///
/// # Example
///
/// ```
/// use osb_core::managed::{MemoryStore, StateStore};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// assert!(store.load_instance("unknown").await?.is_none());
/// # Ok::<(), osb_core::managed::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    instances: RwLock<BTreeMap<String, Versioned<InstanceRecord>>>,
    bindings: RwLock<BTreeMap<BindingKey, Versioned<BindingRecord>>>,
    next_version: AtomicU64,
    outbox: std::sync::Mutex<outbox::OutboxState>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn fresh_version(&self) -> Version {
        Version::new(self.next_version.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

// A poisoned lock only means another thread panicked between two statements that each leave the
// map consistent (every write is a single insert or remove), so the data is still valid.
fn cas<K: Ord, T: Clone>(
    map: &mut BTreeMap<K, Versioned<T>>,
    key: K,
    expected: Option<Version>,
    record: &T,
    version: Version,
) -> Result<Version, CasError> {
    let current = map.get(&key).map(|v| v.version);
    if current != expected {
        return Err(CasError::Conflict);
    }
    map.insert(key, Versioned::new(version, record.clone()));
    Ok(version)
}

fn remove<K: Ord, T>(
    map: &mut BTreeMap<K, Versioned<T>>,
    key: &K,
    expected: Version,
) -> Result<(), CasError> {
    match map.get(key) {
        Some(current) if current.version == expected => {
            map.remove(key);
            Ok(())
        }
        _ => Err(CasError::Conflict),
    }
}

/// How many entries one step of [`purge_map`] looks at under a lock.
const PURGE_CHUNK: usize = 1024;

/// Removes the entries of `map` whose retention ended by `now`, a chunk at a time: each chunk is
/// scanned under the read lock and its expired keys removed under the write lock, and the task
/// yields between chunks, so neither a reader nor a writer ever waits on a scan of the whole map.
async fn purge_map<K: Ord + Clone, T>(
    map: &RwLock<BTreeMap<K, Versioned<T>>>,
    now: Timestamp,
    retain_until: impl Fn(&T) -> Option<Timestamp>,
) -> usize {
    let expired = |v: &Versioned<T>| retain_until(&v.record).is_some_and(|until| until <= now);
    let mut removed = 0;
    let mut after: Option<K> = None;
    loop {
        let (keys, last) = {
            let map = map.read().unwrap_or_else(PoisonError::into_inner);
            let start = after.take().map_or(Bound::Unbounded, Bound::Excluded);
            let chunk: Vec<_> = map
                .range((start, Bound::Unbounded))
                .take(PURGE_CHUNK)
                .collect();
            let last = chunk.last().map(|(k, _)| (*k).clone());
            let keys: Vec<K> = chunk
                .into_iter()
                .filter(|(_, v)| expired(v))
                .map(|(k, _)| k.clone())
                .collect();
            (keys, last)
        };
        if !keys.is_empty() {
            let mut map = map.write().unwrap_or_else(PoisonError::into_inner);
            for key in keys {
                // Still expired: a record saved since the scan may have a new retention.
                if map.get(&key).is_some_and(&expired) {
                    map.remove(&key);
                    removed += 1;
                }
            }
        }
        let Some(last) = last else {
            return removed;
        };
        after = Some(last);
        yield_now().await;
    }
}

/// Gives the executor a turn once: returns `Pending` after waking itself. The memory store
/// answers without ever suspending, so a long scan must yield by hand; this works on any
/// executor (the store does not need tokio).
fn yield_now() -> impl std::future::Future<Output = ()> {
    let mut yielded = false;
    std::future::poll_fn(move |cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
}

#[async_trait]
impl StateStore for MemoryStore {
    async fn load_instance(
        &self,
        instance_id: &str,
    ) -> Result<Option<Versioned<InstanceRecord>>, StoreError> {
        let map = self
            .instances
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        Ok(map.get(instance_id).cloned())
    }

    async fn save_instance(
        &self,
        instance_id: &str,
        expected: Option<Version>,
        record: &InstanceRecord,
    ) -> Result<Version, CasError> {
        let version = self.fresh_version();
        let mut map = self
            .instances
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        cas(&mut map, instance_id.to_owned(), expected, record, version)
    }

    async fn remove_instance(&self, instance_id: &str, expected: Version) -> Result<(), CasError> {
        let mut map = self
            .instances
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        remove(&mut map, &instance_id.to_owned(), expected)
    }

    async fn list_instances(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Listed<InstanceRecord>>, StoreError> {
        let map = self
            .instances
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let start = match after {
            Some(after) => Bound::Excluded(after.to_owned()),
            None => Bound::Unbounded,
        };
        Ok(map
            .range((start, Bound::Unbounded))
            .take(limit)
            .map(|(k, v)| (k.clone(), Ok(v.clone())))
            .collect())
    }

    async fn load_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
    ) -> Result<Option<Versioned<BindingRecord>>, StoreError> {
        let map = self.bindings.read().unwrap_or_else(PoisonError::into_inner);
        Ok(map
            .get(&(instance_id.to_owned(), binding_id.to_owned()))
            .cloned())
    }

    async fn save_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        expected: Option<Version>,
        record: &BindingRecord,
    ) -> Result<Version, CasError> {
        let version = self.fresh_version();
        let mut map = self
            .bindings
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let key = (instance_id.to_owned(), binding_id.to_owned());
        cas(&mut map, key, expected, record, version)
    }

    async fn remove_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        expected: Version,
    ) -> Result<(), CasError> {
        let mut map = self
            .bindings
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        remove(
            &mut map,
            &(instance_id.to_owned(), binding_id.to_owned()),
            expected,
        )
    }

    async fn list_bindings(
        &self,
        instance_id: &str,
    ) -> Result<Vec<Listed<BindingRecord>>, StoreError> {
        let map = self.bindings.read().unwrap_or_else(PoisonError::into_inner);
        let start = (instance_id.to_owned(), String::new());
        Ok(map
            .range(start..)
            .take_while(|((iid, _), _)| iid == instance_id)
            .map(|((_, bid), v)| (bid.clone(), Ok(v.clone())))
            .collect())
    }

    async fn purge_expired(&self, now: Timestamp) -> Result<usize, StoreError> {
        let instances = purge_map(&self.instances, now, |v| v.lifecycle.retain_until).await;
        let bindings = purge_map(&self.bindings, now, |v| v.lifecycle.retain_until).await;
        Ok(instances + bindings)
    }
}
