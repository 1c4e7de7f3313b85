//! `PostgresStore`: a [`StateStore`] in PostgreSQL, shared by several broker replicas.
//!
//! The operations are [`SqlStore`]'s, shared with SQLite; what PostgreSQL does its own way is
//! in `postgres_dialect.rs`.
//!
//! [`StateStore`]: super::StateStore

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::sql::{self, Dialect, SqlStore, failed, timed};
use super::{CasError, Listed, StateStore, StoreError, Version, Versioned};
use crate::managed::clock::Timestamp;
use crate::managed::record::{BindingRecord, InstanceRecord};

#[path = "postgres_dialect.rs"]
mod dialect;
// The `UsageOutbox` impl.
#[path = "postgres_outbox.rs"]
mod outbox;

use dialect::PostgresDialect;

const DB: &str = PostgresDialect::NAME;

/// A pooled connection idle this long is pinged before use: the server may have restarted.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

/// The advisory lock that serialises migrations across replicas ("osb_core" in ASCII).
const MIGRATION_LOCK: i64 = 0x6f73_625f_636f_7265;

/// A [`StateStore`] in PostgreSQL: durable, and shared by several broker replicas behind a load
/// balancer.
///
/// [`StateStore`]: super::StateStore
///
/// # How compare-and-set works here
///
/// Every write is a single conditional statement in its own (autocommit) transaction at
/// PostgreSQL's default `READ COMMITTED` isolation:
///
/// - create: `INSERT … ON CONFLICT DO NOTHING RETURNING version`. Of two replicas inserting the
///   same id at once, the second waits for the first's commit and then inserts nothing: exactly
///   one `Ok`, the other [`CasError::Conflict`].
/// - update: `UPDATE … SET version = nextval(…) … WHERE key = $1 AND version = $2`. A second
///   writer blocks on the row lock; when the first commits, PostgreSQL re-checks the `WHERE`
///   against the new row, sees the new version and updates nothing.
/// - remove: `DELETE … WHERE key = $1 AND version = $2`, the same way.
///
/// Versions come from the sequence `osb_record_versions`, so a version is never reused, even
/// when a record is removed and created again. No statement touches more than one record, so
/// no stronger isolation level (and no retry on serialisation failures) is needed.
///
/// Reads are single `SELECT`s that take no lock: `last_operation` polling and fetches never
/// wait for writers.
///
/// # Start-up, migrations and isolation
///
/// [`connect`](PostgresStoreBuilder::connect) applies the embedded, versioned migrations in one
/// transaction holding `pg_advisory_xact_lock`, so replicas starting at once apply each
/// migration exactly once (PostgreSQL's DDL is transactional: a failed migration leaves
/// nothing behind). The tables live in the connection's `search_path`, or in the
/// [schema](PostgresStoreBuilder::schema) you name, which is created if missing: several
/// brokers (or test runs) can share one database in separate schemas.
///
/// # Faults
///
/// Every operation runs under the [query timeout](PostgresStoreBuilder::query_timeout), and
/// the server enforces the same `statement_timeout`, so a slow or unreachable database yields
/// a [`StoreError`] (a 500 for the platform) instead of a hang. Connections are checked when
/// they return to the pool and, after a second of idleness, again before use; broken ones are
/// replaced: once the database is back the store works again, no restart needed (a connection
/// broken less than a second before its next use fails that one request). A transaction that
/// fails, at its commit included, is rolled back before its connection serves anything else.
///
/// The table holds binding credentials: restrict access to the database accordingly. TLS is
/// available with the `postgres-tls` feature (`sslmode=verify-full&sslrootcert=…` in the URL).
///
/// # Example
///
/// ```no_run
/// use osb_core::managed::{PostgresStore, StateStore};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = PostgresStore::connect("postgres://broker@db.internal/broker").await?;
/// assert!(store.load_instance("unknown").await?.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
#[doc = include_str!("../../../docs/replicas.md")]
#[derive(Debug, Clone)]
pub struct PostgresStore {
    core: SqlStore<PostgresDialect>,
}

/// Settings for a [`PostgresStore`], from [`PostgresStore::builder`].
///
/// # Example
///
/// ```no_run
/// use std::time::Duration;
/// use osb_core::managed::PostgresStore;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = PostgresStore::builder("postgres://broker@db.internal/shared")
///     .schema("broker_a")
///     .query_timeout(Duration::from_secs(2))
///     .max_connections(20)
///     .connect()
///     .await?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
#[must_use]
pub struct PostgresStoreBuilder {
    url: Result<PgConnectOptions, InvalidUrl>,
    schema: Option<String>,
    query_timeout: Duration,
    max_connections: u32,
}

#[derive(Debug, Clone, Copy)]
struct InvalidUrl;

// By hand: the connection options' own `Debug` shows the password.
impl fmt::Debug for PostgresStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = self.url.as_ref().map(|o| {
            format!(
                "{}:{}/{}",
                o.get_host(),
                o.get_port(),
                o.get_database().unwrap_or("")
            )
        });
        f.debug_struct("PostgresStoreBuilder")
            .field("target", &target)
            .field("schema", &self.schema)
            .field("query_timeout", &self.query_timeout)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl PostgresStoreBuilder {
    /// The schema that holds the tables; created if missing. Letters, digits and `_`, not
    /// starting with a digit, at most 63 bytes.
    ///
    /// Default: none, the tables go to the first schema of the connection's `search_path`
    /// (normally `public`).
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// The time limit of each store operation, waiting for a pooled connection included; the
    /// server's `statement_timeout` is set to the same value. Past it the operation fails with
    /// a [`StoreError`] (a 500 for the platform).
    ///
    /// Default: 5 seconds.
    pub fn query_timeout(mut self, limit: Duration) -> Self {
        self.query_timeout = limit;
        self
    }

    /// The most connections the pool opens.
    ///
    /// Default: 10.
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// Connects and applies pending migrations.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the URL or schema name is invalid, the database is unreachable
    /// (within the query timeout), or a migration fails.
    pub async fn connect(self) -> Result<PostgresStore, StoreError> {
        let options = self.url.map_err(|InvalidUrl| {
            StoreError::new("invalid PostgreSQL URL (expected postgres://user@host:port/database)")
        })?;
        if let Some(schema) = &self.schema {
            validate_schema(schema)?;
        }
        let millis = self.query_timeout.as_millis().to_string();
        let mut settings = vec![
            ("statement_timeout", millis.clone()),
            // A transaction whose client vanished mid-way releases its locks.
            ("idle_in_transaction_session_timeout", millis),
        ];
        if let Some(schema) = &self.schema {
            settings.push(("search_path", schema.clone()));
        }
        let options = options.application_name("osb-core").options(settings);
        let pool = PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.query_timeout)
            .idle_timeout(Duration::from_secs(600))
            .max_lifetime(Duration::from_secs(1800))
            // sqlx tests every connection when it goes back to the pool (off the request
            // path); test again before use only one that sat idle long enough for the server
            // to have gone away meanwhile, so a busy pool pays no extra round trip per query.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= IDLE_BEFORE_PING {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_lazy_with(options);
        let store = PostgresStore {
            core: SqlStore::new(pool, self.query_timeout),
        };
        timed(
            DB,
            self.query_timeout,
            store.migrate(self.schema.as_deref()),
        )
        .await?;
        Ok(store)
    }
}

fn validate_schema(schema: &str) -> Result<(), StoreError> {
    let valid = !schema.is_empty()
        && schema.len() <= 63
        && !schema.starts_with(|c: char| c.is_ascii_digit())
        && schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(StoreError::new(format!(
            "invalid PostgreSQL schema name {schema:?}: use letters, digits and `_`"
        )))
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`, with
    /// libpq's query parameters) with default settings and applies pending migrations.
    ///
    /// # Errors
    ///
    /// As [`PostgresStoreBuilder::connect`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::builder(url).connect().await
    }

    /// Settings for a store in the database at `url`. An invalid URL is reported by
    /// [`connect`](PostgresStoreBuilder::connect); the URL itself never reaches an error
    /// message or a log, since it may hold a password.
    pub fn builder(url: &str) -> PostgresStoreBuilder {
        PostgresStoreBuilder {
            url: PgConnectOptions::from_str(url).map_err(|_| InvalidUrl),
            schema: None,
            query_timeout: sql::DEFAULT_QUERY_TIMEOUT,
            max_connections: 10,
        }
    }

    /// Closes every connection; operations afterwards fail with a [`StoreError`].
    pub async fn close(&self) {
        self.core.pool.close().await;
    }

    async fn migrate(&self, schema: Option<&str>) -> Result<(), StoreError> {
        let step = failed(DB, "migration");
        let mut tx = self.core.pool.begin().await.map_err(&step)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(&step)?;
        if let Some(schema) = schema {
            // OK to format: `validate_schema` allowed only letters, digits and `_`.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
            )))
            .execute(&mut *tx)
            .await
            .map_err(&step)?;
        }
        SqlStore::<PostgresDialect>::apply_migrations(&mut tx).await?;
        tx.commit().await.map_err(&step)
    }
}

#[async_trait]
impl StateStore for PostgresStore {
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
