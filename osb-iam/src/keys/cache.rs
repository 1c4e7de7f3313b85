use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use tokio::time::Instant;

use super::{
    HttpKeySource, InvalidKeysUrl, KeySet, KeySource, KeySourceError, PublicKey, StaticKeys,
};
use crate::Environment;

/// Default least time between two refreshes caused by unknown `kid`s.
const DEFAULT_MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// IAM's keys in memory: every request is served from here.
///
/// The network is used only
/// - by [`refresh`](Self::refresh) (call it at start-up to fail fast),
/// - by the periodic task of [`spawn_refresh`](Self::spawn_refresh), and
/// - once when a token names a `kid` the cache does not know: a single-flight refresh (concurrent
///   requests wait for the same fetch), at most once per
///   [`min_refresh_interval`](Self::min_refresh_interval), so a flood of forged `kid`s cannot
///   hammer IAM.
///
/// A failed fetch keeps the last good keys and is logged with `tracing` at `warn`.
///
/// Cloning is cheap and clones share the keys.
///
/// # Example
///
/// ```
/// use osb_iam::keys::{HttpKeySource, KeyCache};
/// use std::time::Duration;
///
/// let keys = KeyCache::new(HttpKeySource::new("https://iam.cloud.ibm.com/identity/keys")?)
///     .min_refresh_interval(Duration::from_secs(60));
/// assert!(keys.keys().is_empty()); // nothing fetched yet
/// # Ok::<(), osb_iam::keys::InvalidKeysUrl>(())
/// ```
#[derive(Clone)]
pub struct KeyCache {
    shared: Arc<Shared>,
}

struct Shared {
    source: Box<dyn KeySource>,
    keys: RwLock<Arc<KeySet>>,
    /// Bumped on every successful refresh; lets waiters see that someone else fetched.
    generation: AtomicU64,
    /// Held during a fetch (single flight); remembers the last fetch made for an unknown `kid`.
    refresh: tokio::sync::Mutex<Option<Instant>>,
    min_refresh_interval_ms: AtomicU64,
}

impl KeyCache {
    /// An empty cache filled from `source` (call [`refresh`](Self::refresh) to fill it now).
    pub fn new(source: impl KeySource) -> Self {
        Self::with_parts(
            Box::new(source),
            KeySet::new(),
            DEFAULT_MIN_REFRESH_INTERVAL,
        )
    }

    /// An empty cache over `environment`'s JWK set endpoint. Nothing is fetched yet.
    ///
    /// # Errors
    ///
    /// [`InvalidKeysUrl`] when the keys URL is not `https` (never for the presets), or plain
    /// `http` on a loopback host where that is
    /// [allowed](Environment::insecure_allow_loopback_http).
    ///
    /// # Example
    ///
    /// ```
    /// use osb_iam::Environment;
    /// use osb_iam::keys::KeyCache;
    ///
    /// let base = String::from("https://iam.example.com");
    /// let iam = Environment::custom(
    ///     format!("{base}/identity/keys"),
    ///     format!("{base}/identity"),
    ///     format!("{base}/identity/token"),
    /// );
    /// assert!(KeyCache::for_environment(&iam).is_ok());
    ///
    /// // Plain `http` only on a loopback host, and only when the environment allows it.
    /// let local = |keys: &str| Environment::custom(keys, "http://127.0.0.1:9/identity", "");
    /// assert!(KeyCache::for_environment(&local("http://127.0.0.1:9/keys")).is_err());
    /// assert!(KeyCache::for_environment(&local("http://127.0.0.1:9/keys").insecure_allow_loopback_http()).is_ok());
    /// assert!(KeyCache::for_environment(&local("http://iam.example.com/keys").insecure_allow_loopback_http()).is_err());
    /// ```
    pub fn for_environment(environment: &Environment) -> Result<Self, InvalidKeysUrl> {
        let url = environment.keys_url();
        let source = if environment.allows_loopback_http_keys() {
            HttpKeySource::insecure_allow_http(url)?
        } else {
            HttpKeySource::new(url)?
        };
        Ok(Self::new(source))
    }

    /// A cache holding `keys` that never fetches anything new: for tests and air-gapped use.
    pub fn fixed(keys: KeySet) -> Self {
        let source = StaticKeys::new(KeySet {
            keys: keys.keys.clone(),
        });
        Self::with_parts(Box::new(source), keys, DEFAULT_MIN_REFRESH_INTERVAL)
    }

    fn with_parts(source: Box<dyn KeySource>, keys: KeySet, interval: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                source,
                keys: RwLock::new(Arc::new(keys)),
                generation: AtomicU64::new(0),
                refresh: tokio::sync::Mutex::new(None),
                min_refresh_interval_ms: AtomicU64::new(
                    u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
                ),
            }),
        }
    }

    /// Least time between two refreshes caused by unknown `kid`s. Within it, a token with an
    /// unknown `kid` is refused at once without a fetch.
    ///
    /// Default: 30 s. Lower lets a newly rotated key be picked up sooner after a failed attempt;
    /// it also lets forged tokens cause more requests to IAM.
    ///
    /// Clones share the setting.
    #[must_use]
    pub fn min_refresh_interval(self, interval: Duration) -> Self {
        let millis = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
        self.shared
            .min_refresh_interval_ms
            .store(millis, Ordering::Relaxed);
        self
    }

    fn min_interval(&self) -> Duration {
        Duration::from_millis(self.shared.min_refresh_interval_ms.load(Ordering::Relaxed))
    }

    /// The keys currently in memory.
    pub fn keys(&self) -> Arc<KeySet> {
        match self.shared.keys.read() {
            Ok(keys) => keys.clone(),
            // A writer never panics while holding the lock (it only swaps an Arc).
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Fetches the keys now and replaces the cached set on success.
    ///
    /// Waits for a fetch already under way instead of starting a second one.
    ///
    /// # Errors
    ///
    /// The source's error; the cached keys are then kept (and the failure is logged).
    pub async fn refresh(&self) -> Result<usize, KeySourceError> {
        let _flight = self.shared.refresh.lock().await;
        self.fetch_and_store().await
    }

    async fn fetch_and_store(&self) -> Result<usize, KeySourceError> {
        match self.shared.source.fetch().await {
            Ok(keys) => {
                let count = keys.len();
                tracing::debug!(count, "IAM keys refreshed");
                *self
                    .shared
                    .keys
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(keys);
                self.shared.generation.fetch_add(1, Ordering::AcqRel);
                Ok(count)
            }
            Err(error) => {
                tracing::warn!(error = %error, "refreshing IAM keys failed; keeping the last good keys");
                Err(error)
            }
        }
    }

    /// The key named `kid`: from memory, or after one rate-limited, single-flight refresh.
    pub(crate) async fn key(&self, kid: &str) -> Option<Arc<PublicKey>> {
        let seen = self.shared.generation.load(Ordering::Acquire);
        if let Some(key) = self.keys().get(kid) {
            return Some(key.clone());
        }
        let mut last_on_demand = self.shared.refresh.lock().await;
        if self.shared.generation.load(Ordering::Acquire) != seen {
            // Someone refreshed while this request waited: use their result, do not fetch again.
            return self.keys().get(kid).cloned();
        }
        let now = Instant::now();
        if last_on_demand.is_some_and(|last| now.duration_since(last) < self.min_interval()) {
            tracing::debug!("unknown IAM key id; refresh rate-limited");
            return None;
        }
        *last_on_demand = Some(now);
        tracing::info!("unknown IAM key id; refreshing IAM keys");
        let _ = self.fetch_and_store().await;
        self.keys().get(kid).cloned()
    }

    /// Starts refreshing the keys every `every` on the current tokio runtime.
    ///
    /// The task lives as long as the returned [`RefreshTask`]: keep it, and drop it (or call
    /// [`RefreshTask::shutdown`]) to stop. IBM's reference broker refetches every 20 minutes.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    ///
    /// # Example
    ///
    /// ```
    /// use osb_iam::keys::{KeyCache, KeySet};
    /// use std::time::Duration;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
    /// let keys = KeyCache::fixed(KeySet::new());
    /// let task = keys.spawn_refresh(Duration::from_secs(20 * 60));
    /// task.shutdown().await;
    /// # });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[must_use = "the refresh stops when the RefreshTask is dropped"]
    pub fn spawn_refresh(&self, every: Duration) -> RefreshTask {
        let weak = Arc::downgrade(&self.shared);
        let handle = tokio::spawn(refresh_loop(weak, every));
        RefreshTask { handle }
    }
}

async fn refresh_loop(shared: Weak<Shared>, every: Duration) {
    let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        // Ends on its own once every KeyCache clone is gone.
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let _ = KeyCache { shared }.refresh().await;
    }
}

impl fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.keys();
        f.debug_struct("KeyCache")
            .field("kids", &keys.kids().collect::<Vec<_>>())
            .field("min_refresh_interval", &self.min_interval())
            .finish_non_exhaustive()
    }
}

/// The periodic key refresh started by [`KeyCache::spawn_refresh`]; dropping it stops the task.
#[derive(Debug)]
pub struct RefreshTask {
    handle: tokio::task::JoinHandle<()>,
}

impl RefreshTask {
    /// Stops the task and waits until it has stopped.
    pub async fn shutdown(mut self) {
        self.handle.abort();
        let _ = (&mut self.handle).await;
    }
}

impl Drop for RefreshTask {
    fn drop(&mut self) {
        self.handle.abort();
    }
}
