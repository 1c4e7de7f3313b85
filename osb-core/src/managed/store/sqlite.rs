//! `SqliteStore`: a [`StateStore`] in one SQLite file, the durable default for a broker that
//! runs as a single process.
//!
//! [`StateStore`]: super::StateStore

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use super::sql::{self, Dialect, Encoded, Migration, Table, failed, timed};
use super::{CasError, StoreError, Version};

const DB: &str = "SQLite";

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "records",
        sql: include_str!("../../../migrations/sqlite/0001_records.sql"),
    },
    Migration {
        version: 2,
        description: "usage outbox",
        sql: include_str!("../../../migrations/sqlite/0002_usage_outbox.sql"),
    },
];

// The `UsageOutbox` impl, a child module so it reaches the pool.
#[path = "sqlite_outbox.rs"]
mod outbox;

#[path = "sqlite_faults.rs"]
mod faults;
use faults::{cap_size, is_busy, name_unwritable, out_of_transaction};

/// Draws a fresh version for a write (one row, one writer at a time).
const DRAW_VERSION: &str =
    "UPDATE osb_record_versions SET value = value + 1 WHERE id = 1 RETURNING value";

/// The statements; the `StateStore` code itself is shared with the other SQL store.
const SQL: Dialect = Dialect {
    name: DB,
    migrations: MIGRATIONS,
    record_migration: "INSERT INTO osb_schema_migrations (version, description) VALUES (?1, ?2)",
    instances: Table {
        load: "SELECT version, record FROM osb_instances WHERE instance_id = ?1",
        insert: "INSERT INTO osb_instances (instance_id, version, retain_until, record) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        update: "UPDATE osb_instances SET version = ?2, retain_until = ?3, record = ?4 \
                 WHERE instance_id = ?1 AND version = ?5",
        delete: "DELETE FROM osb_instances WHERE instance_id = ?1 AND version = ?2",
        purge: "DELETE FROM osb_instances WHERE retain_until <= ?1",
    },
    bindings: Table {
        load: "SELECT version, record FROM osb_bindings WHERE instance_id = ?1 AND binding_id = ?2",
        insert: "INSERT INTO osb_bindings (instance_id, binding_id, version, retain_until, record) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        update: "UPDATE osb_bindings SET version = ?3, retain_until = ?4, record = ?5 \
                 WHERE instance_id = ?1 AND binding_id = ?2 AND version = ?6",
        delete: "DELETE FROM osb_bindings WHERE instance_id = ?1 AND binding_id = ?2 AND version = ?3",
        purge: "DELETE FROM osb_bindings WHERE retain_until <= ?1",
    },
    list_instances: "SELECT instance_id, version, record FROM osb_instances \
                     ORDER BY instance_id LIMIT ?1",
    list_instances_after: "SELECT instance_id, version, record FROM osb_instances \
                           WHERE instance_id > ?1 ORDER BY instance_id LIMIT ?2",
    list_bindings: "SELECT binding_id, version, record FROM osb_bindings \
                    WHERE instance_id = ?1 ORDER BY binding_id",
};

sql::state_store_impl!(SqliteStore, sqlx::Sqlite, SQL);

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
    pool: SqlitePool,
    query_timeout: Duration,
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
            pool,
            query_timeout: self.query_timeout,
        };
        timed(DB, store.query_timeout, store.migrate())
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
        self.pool.close().await;
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.write_transaction().await?;
        let step = failed(DB, "migration");
        Self::apply_migrations(&mut tx).await?;
        // With the schema current nothing above writes, and SQLite opens a file it may not
        // write read-only without a word: one real write finds that out now instead of on
        // the first request. It burns one version number, which is harmless.
        sqlx::query(DRAW_VERSION)
            .execute(&mut *tx)
            .await
            .map_err(failed(DB, "write probe"))?;
        tx.commit().await.map_err(&step)
    }

    /// `BEGIN IMMEDIATE`: the write lock up front, so the busy timeout applies instead of a
    /// deadlock error when two writers would upgrade read locks at once.
    ///
    /// SQLite answers `SQLITE_BUSY` at once, without its busy handler, while another connection
    /// switches a new file to WAL mode (several replicas opening one file together): that
    /// answer is retried with a short backoff. The caller's query timeout bounds the retries.
    async fn write_transaction(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        let mut backoff = Duration::from_millis(5);
        loop {
            match self.pool.begin_with("BEGIN IMMEDIATE").await {
                Ok(tx) => return Ok(tx),
                Err(err) if is_busy(&err) => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(200));
                }
                Err(err) => return Err(failed(DB, "begin")(err)),
            }
        }
    }

    async fn save(
        &self,
        table: &Table,
        key: &[&str],
        expected: Option<Version>,
        record: Encoded,
    ) -> Result<Version, CasError> {
        let expected = match expected {
            Some(v) => match sql::expected_column(v) {
                Some(v) => Some(v),
                None => return Err(CasError::Conflict),
            },
            None => None,
        };
        timed(DB, self.query_timeout, async {
            let step = failed(DB, "write");
            let mut tx = self.write_transaction().await?;
            let next: i64 = sqlx::query_scalar(DRAW_VERSION)
                .fetch_one(&mut *tx)
                .await
                .map_err(&step)?;
            let mut query = sqlx::query(match expected {
                None => table.insert,
                Some(_) => table.update,
            });
            for part in key {
                query = query.bind(*part);
            }
            query = query.bind(next).bind(record.retain_until).bind(record.json);
            if let Some(expected) = expected {
                query = query.bind(expected);
            }
            let written = query
                .execute(&mut *tx)
                .await
                .map_err(&step)?
                .rows_affected();
            if written == 1 {
                tx.commit().await.map_err(&step)?;
                Ok(sql::version_from_column(next)?)
            } else {
                tx.rollback().await.map_err(&step)?;
                Err(CasError::Conflict)
            }
        })
        .await
    }
}
