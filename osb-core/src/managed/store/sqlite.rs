//! `SqliteStore`: a [`StateStore`] in one SQLite file, the durable default for a broker that
//! runs as a single process.
//!
//! [`StateStore`]: super::StateStore

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::sql::{self, Dialect, SqlStore, failed, timed};
use super::{CasError, Listed, StateStore, StoreError, Version, Versioned};
use crate::managed::clock::Timestamp;
use crate::managed::record::{BindingRecord, InstanceRecord};

#[path = "sqlite_dialect.rs"]
mod dialect;
#[path = "sqlite_faults.rs"]
mod faults;
// The `UsageOutbox` impl.
#[path = "sqlite_outbox.rs"]
mod outbox;

use dialect::{DRAW_VERSION, SqliteDialect};
use faults::{cap_size, name_unwritable, out_of_transaction};

const DB: &str = SqliteDialect::NAME;

/// A [`StateStore`] in one SQLite file: durable across restarts, for a broker that runs as a
/// single process (several replicas need [`PostgresStore`](super::PostgresStore)).
///
/// [`StateStore`]: super::StateStore
///
/// # How compare-and-set works here
///
/// Every write is one `BEGIN IMMEDIATE` transaction: it takes SQLite's write lock up front
/// (waiting up to the busy timeout for another writer), draws a fresh version from the
/// one-row table `osb_record_versions`, and writes with a conditional statement:
/// `INSERT … ON CONFLICT DO NOTHING` when the record must be absent, `UPDATE … WHERE version =
/// ?` when it must be at a version, `DELETE … WHERE version = ?` to remove it. One affected row
/// means the compare-and-set won; none means [`CasError::Conflict`] and the transaction is
/// rolled back. SQLite runs one writer at a time, so the check and the write cannot
/// interleave with another writer, in this process or another one opening the same file.
///
/// Reads are single `SELECT`s outside any transaction: in WAL mode they never wait for a writer
/// and never block one, so `last_operation` polling and fetches stay off the write lock.
///
/// # Durability
///
/// The file is opened in WAL mode with `synchronous = FULL`: a write that returned `Ok` (and so
/// an answer the platform already got) survives a process crash *and* a power loss or kernel
/// panic. `NORMAL` ([`relaxed_durability`](SqliteStoreBuilder::relaxed_durability)) is several
/// times faster for writes but may lose the last commits on power loss, and a lost provision
/// record is a second database created on the platform's retry. Versioned schema
/// migrations, embedded in the binary, run at [`open`](SqliteStoreBuilder::open) inside a
/// `BEGIN IMMEDIATE` transaction, so two processes opening the same file at once apply each
/// migration exactly once. On Unix a new file is created readable by its owner only (`0600`):
/// binding records hold credentials.
///
/// # Faults
///
/// Every operation runs under the [query timeout](SqliteStoreBuilder::query_timeout) (the
/// busy timeout is the same): a stuck disk or a lock held too long yields a [`StoreError`],
/// which the adapter answers with a 500. A transaction cut short is rolled back.
///
/// A full disk, or a database at its [size cap](SqliteStoreBuilder::max_size), fails writes
/// with a [`StoreError`] whose cause is SQLite's "database or disk is full"; reads go on.
/// A connection whose transaction did not end cleanly (SQLite rolls a transaction back itself
/// on a full disk or an I/O error; a commit or rollback may fail) is closed when it returns to
/// the pool and replaced, never reused half-way through a transaction. Writes therefore
/// recover on their own: the first write after space returns succeeds, on the same store,
/// with no restart and no waiting period.
///
/// [`open`](SqliteStoreBuilder::open) writes once, so a file SQLite cannot write (a read-only
/// file, directory or file system, a `-wal` file it cannot create) fails there with a
/// [`StoreError`] naming the file, instead of a store that answers every write with a 500.
///
/// # Example
///
/// ```
/// use osb_core::managed::{SqliteStore, StateStore};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let dir = std::env::temp_dir().join(format!("osb-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let store = SqliteStore::open(dir.join("broker.db")).await?;
/// assert!(store.load_instance("unknown").await?.is_none());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStore {
    core: SqlStore<SqliteDialect>,
}

/// Settings for a [`SqliteStore`], from [`SqliteStore::builder`].
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use osb_core::managed::SqliteStore;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let dir = std::env::temp_dir().join(format!("osb-doc-b-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let store = SqliteStore::builder(dir.join("broker.db"))
///     .query_timeout(Duration::from_secs(2))
///     .max_connections(2)
///     .max_size(64 * 1024 * 1024)
///     .open()
///     .await?;
/// # drop(store);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct SqliteStoreBuilder {
    path: PathBuf,
    query_timeout: Duration,
    max_connections: u32,
    relaxed_durability: bool,
    max_size: Option<u64>,
}

impl SqliteStoreBuilder {
    /// The time limit of each store operation, waiting for a connection and for the write
    /// lock included. Past it the operation fails with a [`StoreError`] (a 500 for the
    /// platform) and any transaction is rolled back.
    ///
    /// Default: 5 seconds.
    pub fn query_timeout(mut self, limit: Duration) -> Self {
        self.query_timeout = limit;
        self
    }

    /// The most connections the pool opens. Readers run in parallel (WAL mode); writers take
    /// turns whatever the number.
    ///
    /// Default: 4.
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// Trades durability on power loss for write speed: `synchronous = NORMAL` instead of
    /// `FULL`, so a commit no longer waits for the disk. Writes still survive a crash or
    /// `SIGKILL` of the broker, and the file is never corrupted, but a power loss or kernel
    /// panic may undo the last commits, answers the platform already received included: it
    /// may then create a second instance on a retry, or leave one it no longer knows about.
    /// Only for disks you can lose, or hosts that cannot lose power unannounced.
    ///
    /// Default: off (`FULL`, every commit on disk before it returns).
    pub fn relaxed_durability(mut self) -> Self {
        self.relaxed_durability = true;
        self
    }

    /// Caps the database at about `bytes` (SQLite's `max_page_count`, in whole pages), so the
    /// broker cannot fill a disk it shares with others. A full database behaves like a full
    /// disk (see [Faults](SqliteStore#faults)): writes fail with a [`StoreError`] while reads
    /// go on, and writes work again once records are removed or purged, or the cap is raised
    /// at the next start. The write-ahead log (the `-wal` file) comes on top of the cap until
    /// it is checkpointed; a cap below the file's current size holds it at that size.
    ///
    /// Default: none (the disk's free space is the limit).
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.max_size = Some(bytes);
        self
    }

    /// Opens (creating if needed) the file and applies pending migrations.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the file cannot be created, opened or written (the message names
    /// it), is not an SQLite database, or a migration fails.
    pub async fn open(self) -> Result<SqliteStore, StoreError> {
        create_private_file(&self.path)?;
        let options = SqliteConnectOptions::new()
            .filename(&self.path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if self.relaxed_durability {
                SqliteSynchronous::Normal
            } else {
                SqliteSynchronous::Full
            })
            .busy_timeout(self.query_timeout);
        let mut pool = SqlitePoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.query_timeout)
            // A file does not go away between queries; a broken connection errors on use.
            .test_before_acquire(false)
            .after_release(|conn, _| Box::pin(out_of_transaction(conn)));
        if let Some(bytes) = self.max_size {
            // A per-connection setting: every connection the pool opens gets it.
            pool = pool.after_connect(move |conn, _| Box::pin(cap_size(conn, bytes)));
        }
        let pool = pool.connect_lazy_with(options);
        let store = SqliteStore {
            core: SqlStore::new(pool, self.query_timeout),
        };
        timed(DB, self.query_timeout, store.migrate())
            .await
            .map_err(|err| name_unwritable(&self.path, err))?;
        Ok(store)
    }
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(
            StoreError::new(format!("cannot create the SQLite file {}", path.display()))
                .with_source(e),
        ),
    }
}

#[cfg(not(unix))]
fn create_private_file(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the SQLite file at `path` with default settings and applies
    /// pending migrations.
    ///
    /// # Errors
    ///
    /// As [`SqliteStoreBuilder::open`].
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::builder(path).open().await
    }

    /// Settings for a store in the file at `path`.
    pub fn builder(path: impl AsRef<Path>) -> SqliteStoreBuilder {
        SqliteStoreBuilder {
            path: path.as_ref().to_owned(),
            query_timeout: sql::DEFAULT_QUERY_TIMEOUT,
            max_connections: 4,
            relaxed_durability: false,
            max_size: None,
        }
    }

    /// Closes every connection; operations afterwards fail with a [`StoreError`].
    pub async fn close(&self) {
        self.core.pool.close().await;
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = SqliteDialect::begin_write(&self.core.pool).await?;
        let step = failed(DB, "migration");
        SqlStore::<SqliteDialect>::apply_migrations(&mut tx).await?;
        // With the schema current nothing above writes, and SQLite opens a file it may not
        // write read-only without a word: one real write finds that out now instead of on
        // the first request. It burns one version number, which is harmless.
        sqlx::query(DRAW_VERSION)
            .execute(&mut *tx)
            .await
            .map_err(failed(DB, "write probe"))?;
        tx.commit().await.map_err(&step)
    }
}

#[async_trait]
impl StateStore for SqliteStore {
    async fn load_instance(
        &self,
        instance_id: &str,
    ) -> Result<Option<Versioned<InstanceRecord>>, StoreError> {
        self.core.load_instance(instance_id).await
    }

    async fn save_instance(
        &self,
        instance_id: &str,
        expected: Option<Version>,
        record: &InstanceRecord,
    ) -> Result<Version, CasError> {
        self.core.save_instance(instance_id, expected, record).await
    }

    async fn remove_instance(&self, instance_id: &str, expected: Version) -> Result<(), CasError> {
        self.core.remove_instance(instance_id, expected).await
    }

    async fn list_instances(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Listed<InstanceRecord>>, StoreError> {
        self.core.list_instances(after, limit).await
    }

    async fn load_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
    ) -> Result<Option<Versioned<BindingRecord>>, StoreError> {
        self.core.load_binding(instance_id, binding_id).await
    }

    async fn save_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        expected: Option<Version>,
        record: &BindingRecord,
    ) -> Result<Version, CasError> {
        let core = &self.core;
        core.save_binding(instance_id, binding_id, expected, record)
            .await
    }

    async fn remove_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        expected: Version,
    ) -> Result<(), CasError> {
        let core = &self.core;
        core.remove_binding(instance_id, binding_id, expected).await
    }

    async fn list_bindings(
        &self,
        instance_id: &str,
    ) -> Result<Vec<Listed<BindingRecord>>, StoreError> {
        self.core.list_bindings(instance_id).await
    }

    async fn purge_expired(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.core.purge_expired(now).await
    }
}
