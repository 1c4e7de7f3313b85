//! `PostgresStore`: a [`StateStore`] in PostgreSQL, shared by several broker replicas.
//!
//! [`StateStore`]: super::StateStore

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, Postgres, Transaction};

use super::sql::{self, Dialect, Encoded, Migration, Table, failed, timed};
use super::{CasError, StoreError, Version};

const DB: &str = "PostgreSQL";

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "records",
        sql: include_str!("../../../migrations/postgres/0001_records.sql"),
    },
    Migration {
        version: 2,
        description: "usage outbox",
        sql: include_str!("../../../migrations/postgres/0002_usage_outbox.sql"),
    },
];

// The `UsageOutbox` impl, a child module so it reaches the pool.
#[path = "postgres_outbox.rs"]
mod outbox;

/// A pooled connection idle this long is pinged before use: the server may have restarted.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

/// The advisory lock that serialises migrations across replicas ("osb_core" in ASCII).
const MIGRATION_LOCK: i64 = 0x6f73_625f_636f_7265;

/// The statements; the `StateStore` code itself is shared with the other SQL store.
const SQL: Dialect = Dialect {
    name: DB,
    migrations: MIGRATIONS,
    record_migration: "INSERT INTO osb_schema_migrations (version, description) VALUES ($1, $2)",
    instances: Table {
        load: "SELECT version, record FROM osb_instances WHERE instance_id = $1",
        insert: "INSERT INTO osb_instances (instance_id, version, retain_until, record) \
                 VALUES ($1, nextval('osb_record_versions'), $2, $3) \
                 ON CONFLICT (instance_id) DO NOTHING RETURNING version",
        update: "UPDATE osb_instances \
                 SET version = nextval('osb_record_versions'), retain_until = $2, record = $3 \
                 WHERE instance_id = $1 AND version = $4 RETURNING version",
        delete: "DELETE FROM osb_instances WHERE instance_id = $1 AND version = $2",
        purge: "DELETE FROM osb_instances WHERE retain_until <= $1",
    },
    bindings: Table {
        load: "SELECT version, record FROM osb_bindings WHERE instance_id = $1 AND binding_id = $2",
        insert: "INSERT INTO osb_bindings (instance_id, binding_id, version, retain_until, record) \
                 VALUES ($1, $2, nextval('osb_record_versions'), $3, $4) \
                 ON CONFLICT (instance_id, binding_id) DO NOTHING RETURNING version",
        update: "UPDATE osb_bindings \
                 SET version = nextval('osb_record_versions'), retain_until = $3, record = $4 \
                 WHERE instance_id = $1 AND binding_id = $2 AND version = $5 RETURNING version",
        delete: "DELETE FROM osb_bindings WHERE instance_id = $1 AND binding_id = $2 AND version = $3",
        purge: "DELETE FROM osb_bindings WHERE retain_until <= $1",
    },
    list_instances: "SELECT instance_id, version, record FROM osb_instances \
                     ORDER BY instance_id LIMIT $1",
    list_instances_after: "SELECT instance_id, version, record FROM osb_instances \
                           WHERE instance_id > $1 ORDER BY instance_id LIMIT $2",
    list_bindings: "SELECT binding_id, version, record FROM osb_bindings \
                    WHERE instance_id = $1 ORDER BY binding_id",
};

sql::state_store_impl!(PostgresStore, sqlx::Postgres, SQL);

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
    pool: PgPool,
    query_timeout: Duration,
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
            pool,
            query_timeout: self.query_timeout,
        };
        timed(
            DB,
            store.query_timeout,
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
        self.pool.close().await;
    }

    /// A transaction for the outbox's multi-statement writes.
    async fn write_transaction(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.pool.begin().await.map_err(failed(DB, "begin"))
    }

    async fn migrate(&self, schema: Option<&str>) -> Result<(), StoreError> {
        let step = failed(DB, "migration");
        let mut tx = self.pool.begin().await.map_err(&step)?;
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
        Self::apply_migrations(&mut tx).await?;
        tx.commit().await.map_err(&step)
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
            let mut query = sqlx::query_scalar::<_, i64>(match expected {
                None => table.insert,
                Some(_) => table.update,
            });
            for part in key {
                query = query.bind(*part);
            }
            query = query.bind(record.retain_until).bind(record.json);
            if let Some(expected) = expected {
                query = query.bind(expected);
            }
            match query
                .fetch_optional(&self.pool)
                .await
                .map_err(failed(DB, "write"))?
            {
                Some(version) => Ok(sql::version_from_column(version)?),
                None => Err(CasError::Conflict),
            }
        })
        .await
    }
}
