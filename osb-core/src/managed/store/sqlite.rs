//! `SqliteStore`: a [`StateStore`] in one SQLite file, the durable default for a broker that
//! runs as a single process.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use super::sql::{self, Encoded, Migration, failed, timed};
use super::{CasError, StateStore, StoreError, Version, Versioned};
use crate::managed::clock::Timestamp;
use crate::managed::record::{BindingRecord, InstanceRecord};

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

/// The statements for one record table; the key columns are the first parameters.
struct Table {
    load: &'static str,
    insert: &'static str,
    update: &'static str,
    delete: &'static str,
    purge: &'static str,
}

const INSTANCES: Table = Table {
    load: "SELECT version, record FROM osb_instances WHERE instance_id = ?1",
    insert: "INSERT INTO osb_instances (instance_id, version, retain_until, record) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
    update: "UPDATE osb_instances SET version = ?2, retain_until = ?3, record = ?4 \
             WHERE instance_id = ?1 AND version = ?5",
    delete: "DELETE FROM osb_instances WHERE instance_id = ?1 AND version = ?2",
    purge: "DELETE FROM osb_instances WHERE retain_until <= ?1",
};

const BINDINGS: Table = Table {
    load: "SELECT version, record FROM osb_bindings WHERE instance_id = ?1 AND binding_id = ?2",
    insert: "INSERT INTO osb_bindings (instance_id, binding_id, version, retain_until, record) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
    update: "UPDATE osb_bindings SET version = ?3, retain_until = ?4, record = ?5 \
             WHERE instance_id = ?1 AND binding_id = ?2 AND version = ?6",
    delete: "DELETE FROM osb_bindings WHERE instance_id = ?1 AND binding_id = ?2 AND version = ?3",
    purge: "DELETE FROM osb_bindings WHERE retain_until <= ?1",
};

/// A [`StateStore`] in one SQLite file: durable across restarts, for a broker that runs as a
/// single process (several replicas need [`PostgresStore`](super::PostgresStore)).
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

    /// Opens (creating if needed) the file and applies pending migrations.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the file cannot be created or opened, is not an SQLite database, or
    /// a migration fails.
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
        let pool = SqlitePoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.query_timeout)
            // A file does not go away between queries; a broken connection errors on use.
            .test_before_acquire(false)
            .connect_lazy_with(options);
        let store = SqliteStore {
            pool,
            query_timeout: self.query_timeout,
        };
        timed(DB, store.query_timeout, store.migrate()).await?;
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
        Err(e) => Err(StoreError::new("cannot create the SQLite file").with_source(e)),
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
        }
    }

    /// Closes every connection; operations afterwards fail with a [`StoreError`].
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.write_transaction().await?;
        let step = failed(DB, "migration");
        sqlx::query(sql::MIGRATIONS_TABLE)
            .execute(&mut *tx)
            .await
            .map_err(&step)?;
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM osb_schema_migrations")
            .fetch_all(&mut *tx)
            .await
            .map_err(&step)?;
        for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
            sqlx::raw_sql(migration.sql)
                .execute(&mut *tx)
                .await
                .map_err(&step)?;
            sqlx::query("INSERT INTO osb_schema_migrations (version, description) VALUES (?1, ?2)")
                .bind(migration.version)
                .bind(migration.description)
                .execute(&mut *tx)
                .await
                .map_err(&step)?;
            tracing::info!(
                version = migration.version,
                "applied SQLite schema migration"
            );
        }
        sql::warn_if_newer(DB, &applied, MIGRATIONS);
        tx.commit().await.map_err(&step)
    }

    /// `BEGIN IMMEDIATE`: the write lock up front, so the busy timeout applies instead of a
    /// deadlock error when two writers would upgrade read locks at once.
    async fn write_transaction(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(failed(DB, "begin"))
    }

    async fn load<T: serde::de::DeserializeOwned>(
        &self,
        table: &Table,
        key: &[&str],
    ) -> Result<Option<Versioned<T>>, StoreError> {
        timed(DB, self.query_timeout, async {
            let mut query = sqlx::query_as::<_, (i64, String)>(table.load);
            for part in key {
                query = query.bind(*part);
            }
            let row = query
                .fetch_optional(&self.pool)
                .await
                .map_err(failed(DB, "read"))?;
            row.map(|(version, json)| sql::decode(version, &json))
                .transpose()
        })
        .await
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
            let next: i64 = sqlx::query_scalar(
                "UPDATE osb_record_versions SET value = value + 1 WHERE id = 1 RETURNING value",
            )
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

    async fn remove(&self, table: &Table, key: &[&str], expected: Version) -> Result<(), CasError> {
        let Some(expected) = sql::expected_column(expected) else {
            return Err(CasError::Conflict);
        };
        timed(DB, self.query_timeout, async {
            let mut query = sqlx::query(table.delete);
            for part in key {
                query = query.bind(*part);
            }
            // One autocommit statement: SQLite takes the write lock for it (honouring the busy
            // timeout) and the condition is checked under that lock.
            let removed = query
                .bind(expected)
                .execute(&self.pool)
                .await
                .map_err(failed(DB, "delete"))?
                .rows_affected();
            if removed == 1 {
                Ok(())
            } else {
                Err(CasError::Conflict)
            }
        })
        .await
    }
}

#[async_trait]
impl StateStore for SqliteStore {
    async fn load_instance(
        &self,
        instance_id: &str,
    ) -> Result<Option<Versioned<InstanceRecord>>, StoreError> {
        self.load(&INSTANCES, &[instance_id]).await
    }

    async fn save_instance(
        &self,
        instance_id: &str,
        expected: Option<Version>,
        record: &InstanceRecord,
    ) -> Result<Version, CasError> {
        let encoded = sql::encode(record, &record.lifecycle)?;
        self.save(&INSTANCES, &[instance_id], expected, encoded)
            .await
    }

    async fn remove_instance(&self, instance_id: &str, expected: Version) -> Result<(), CasError> {
        self.remove(&INSTANCES, &[instance_id], expected).await
    }

    async fn list_instances(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Versioned<InstanceRecord>)>, StoreError> {
        timed(DB, self.query_timeout, async {
            let query = match after {
                Some(after) => sqlx::query_as::<_, (String, i64, String)>(
                    "SELECT instance_id, version, record FROM osb_instances \
                     WHERE instance_id > ?1 ORDER BY instance_id LIMIT ?2",
                )
                .bind(after),
                None => sqlx::query_as::<_, (String, i64, String)>(
                    "SELECT instance_id, version, record FROM osb_instances \
                     ORDER BY instance_id LIMIT ?1",
                ),
            };
            let rows = query
                .bind(sql::limit_column(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(failed(DB, "list"))?;
            rows.into_iter()
                .map(|(id, version, json)| Ok((id, sql::decode(version, &json)?)))
                .collect()
        })
        .await
    }

    async fn load_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
    ) -> Result<Option<Versioned<BindingRecord>>, StoreError> {
        self.load(&BINDINGS, &[instance_id, binding_id]).await
    }

    async fn save_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        expected: Option<Version>,
        record: &BindingRecord,
    ) -> Result<Version, CasError> {
        let encoded = sql::encode(record, &record.lifecycle)?;
        self.save(&BINDINGS, &[instance_id, binding_id], expected, encoded)
            .await
    }

    async fn remove_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        expected: Version,
    ) -> Result<(), CasError> {
        self.remove(&BINDINGS, &[instance_id, binding_id], expected)
            .await
    }

    async fn list_bindings(
        &self,
        instance_id: &str,
    ) -> Result<Vec<(String, Versioned<BindingRecord>)>, StoreError> {
        timed(DB, self.query_timeout, async {
            let rows = sqlx::query_as::<_, (String, i64, String)>(
                "SELECT binding_id, version, record FROM osb_bindings \
                 WHERE instance_id = ?1 ORDER BY binding_id",
            )
            .bind(instance_id)
            .fetch_all(&self.pool)
            .await
            .map_err(failed(DB, "list"))?;
            rows.into_iter()
                .map(|(id, version, json)| Ok((id, sql::decode(version, &json)?)))
                .collect()
        })
        .await
    }

    async fn purge_expired(&self, now: Timestamp) -> Result<usize, StoreError> {
        timed(DB, self.query_timeout, async {
            let mut removed = 0;
            // Each DELETE checks `retain_until` under the write lock, so a record rewritten
            // (and so no longer expired) after we were called is kept.
            for table in [&INSTANCES, &BINDINGS] {
                removed += sqlx::query(table.purge)
                    .bind(now.as_unix_millis())
                    .execute(&self.pool)
                    .await
                    .map_err(failed(DB, "purge"))?
                    .rows_affected();
            }
            Ok(usize::try_from(removed).unwrap_or(usize::MAX))
        })
        .await
    }
}
