//! [`SqlStore`]: the [`StateStore`](crate::managed::StateStore) operations on records, once for
//! every [`Dialect`].
//!
//! Every removal and purge is one conditional statement, and the condition is checked when the
//! row is written (under SQLite's write lock; PostgreSQL's `READ COMMITTED` re-checks it on a
//! row another writer just changed): a record rewritten after we were called is kept.

use std::fmt;
use std::time::Duration;

use serde::de::DeserializeOwned;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, Pool, Transaction, Type};

use super::{Dialect, Table, failed, timed};
use crate::managed::clock::Timestamp;
use crate::managed::record::{BindingRecord, InstanceRecord};
use crate::managed::store::{CasError, Listed, StoreError, Version, Versioned};

/// A store in an SQL database: its pool and time limit, and every store operation written once
/// over the [`Dialect`] `D`. `SqliteStore` and `PostgresStore` each wrap one.
///
/// The operations need of the driver only what the `where` clauses of the `impl` blocks name:
/// a pool and a transaction run statements, and text and 64-bit integers go in and out.
pub(crate) struct SqlStore<D: Dialect> {
    pub(crate) pool: Pool<D::Db>,
    pub(crate) query_timeout: Duration,
}

// By hand: a derive would ask `D: Debug`/`D: Clone` of the marker.
impl<D: Dialect> fmt::Debug for SqlStore<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("database", &D::NAME)
            .field("pool", &self.pool)
            .field("query_timeout", &self.query_timeout)
            .finish()
    }
}

impl<D: Dialect> Clone for SqlStore<D> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            query_timeout: self.query_timeout,
        }
    }
}

/// A row of a listing: key, version, record.
type Row = (String, i64, String);

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Decode<'q, D::Db> + Type<D::Db>,
    usize: ColumnIndex<<D::Db as Database>::Row>,
{
    /// A store over `pool`; every operation runs under `query_timeout`.
    pub(crate) fn new(pool: Pool<D::Db>, query_timeout: Duration) -> Self {
        Self {
            pool,
            query_timeout,
        }
    }

    /// Runs the migrations `tx` has not seen yet (the caller commits).
    pub(crate) async fn apply_migrations(
        tx: &mut Transaction<'static, D::Db>,
    ) -> Result<(), StoreError> {
        let step = failed(D::NAME, "migration");
        sqlx::query(super::MIGRATIONS_TABLE)
            .execute(&mut **tx)
            .await
            .map_err(&step)?;
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM osb_schema_migrations")
            .fetch_all(&mut **tx)
            .await
            .map_err(&step)?;
        let pending = D::SQL.migrations.iter();
        for migration in pending.filter(|m| !applied.contains(&m.version)) {
            sqlx::raw_sql(migration.sql)
                .execute(&mut **tx)
                .await
                .map_err(&step)?;
            sqlx::query(D::SQL.record_migration)
                .bind(migration.version)
                .bind(migration.description)
                .execute(&mut **tx)
                .await
                .map_err(&step)?;
            tracing::info!(
                version = migration.version,
                "applied {} schema migration",
                D::NAME
            );
        }
        super::warn_if_newer(D::NAME, &applied, D::SQL.migrations);
        Ok(())
    }

    async fn load<T: DeserializeOwned>(
        &self,
        table: &Table,
        key: &[&str],
    ) -> Result<Option<Versioned<T>>, StoreError> {
        timed(D::NAME, self.query_timeout, async {
            let mut query = sqlx::query_as::<_, (i64, String)>(table.load);
            for part in key {
                query = query.bind(*part);
            }
            let row = query
                .fetch_optional(&self.pool)
                .await
                .map_err(failed(D::NAME, "read"))?;
            row.map(|(version, json)| super::decode(version, &json))
                .transpose()
        })
        .await
    }

    async fn save(
        &self,
        table: &'static Table,
        key: &[&str],
        expected: Option<Version>,
        record: super::Encoded,
    ) -> Result<Version, CasError> {
        let expected = match expected {
            Some(v) => match super::expected_column(v) {
                Some(v) => Some(v),
                None => return Err(CasError::Conflict),
            },
            None => None,
        };
        let write = D::save(&self.pool, table, key, expected, record);
        timed(D::NAME, self.query_timeout, write).await
    }

    async fn remove(&self, table: &Table, key: &[&str], expected: Version) -> Result<(), CasError> {
        let Some(expected) = super::expected_column(expected) else {
            return Err(CasError::Conflict);
        };
        timed(D::NAME, self.query_timeout, async {
            let mut query = sqlx::query(table.delete);
            for part in key {
                query = query.bind(*part);
            }
            let result = query
                .bind(expected)
                .execute(&self.pool)
                .await
                .map_err(failed(D::NAME, "delete"))?;
            if D::rows_affected(&result) == 1 {
                Ok(())
            } else {
                Err(CasError::Conflict)
            }
        })
        .await
    }

    /// See [`StateStore::load_instance`](crate::managed::StateStore::load_instance).
    pub(crate) async fn load_instance(
        &self,
        instance_id: &str,
    ) -> Result<Option<Versioned<InstanceRecord>>, StoreError> {
        self.load(&D::SQL.instances, &[instance_id]).await
    }

    /// See [`StateStore::save_instance`](crate::managed::StateStore::save_instance).
    pub(crate) async fn save_instance(
        &self,
        instance_id: &str,
        expected: Option<Version>,
        record: &InstanceRecord,
    ) -> Result<Version, CasError> {
        let encoded = super::encode(record, &record.lifecycle)?;
        self.save(&D::SQL.instances, &[instance_id], expected, encoded)
            .await
    }

    /// See [`StateStore::remove_instance`](crate::managed::StateStore::remove_instance).
    pub(crate) async fn remove_instance(
        &self,
        instance_id: &str,
        expected: Version,
    ) -> Result<(), CasError> {
        self.remove(&D::SQL.instances, &[instance_id], expected)
            .await
    }

    /// See [`StateStore::list_instances`](crate::managed::StateStore::list_instances).
    pub(crate) async fn list_instances(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Listed<InstanceRecord>>, StoreError> {
        timed(D::NAME, self.query_timeout, async {
            let query = match after {
                Some(after) => sqlx::query_as::<_, Row>(D::SQL.list_instances_after).bind(after),
                None => sqlx::query_as::<_, Row>(D::SQL.list_instances),
            };
            let rows = query
                .bind(super::limit_column(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(failed(D::NAME, "list"))?;
            Ok(super::decode_rows(rows))
        })
        .await
    }

    /// See [`StateStore::load_binding`](crate::managed::StateStore::load_binding).
    pub(crate) async fn load_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
    ) -> Result<Option<Versioned<BindingRecord>>, StoreError> {
        self.load(&D::SQL.bindings, &[instance_id, binding_id])
            .await
    }

    /// See [`StateStore::save_binding`](crate::managed::StateStore::save_binding).
    pub(crate) async fn save_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        expected: Option<Version>,
        record: &BindingRecord,
    ) -> Result<Version, CasError> {
        let encoded = super::encode(record, &record.lifecycle)?;
        let key = [instance_id, binding_id];
        self.save(&D::SQL.bindings, &key, expected, encoded).await
    }

    /// See [`StateStore::remove_binding`](crate::managed::StateStore::remove_binding).
    pub(crate) async fn remove_binding(
        &self,
        instance_id: &str,
        binding_id: &str,
        expected: Version,
    ) -> Result<(), CasError> {
        self.remove(&D::SQL.bindings, &[instance_id, binding_id], expected)
            .await
    }

    /// See [`StateStore::list_bindings`](crate::managed::StateStore::list_bindings).
    pub(crate) async fn list_bindings(
        &self,
        instance_id: &str,
    ) -> Result<Vec<Listed<BindingRecord>>, StoreError> {
        timed(D::NAME, self.query_timeout, async {
            let rows = sqlx::query_as::<_, Row>(D::SQL.list_bindings)
                .bind(instance_id)
                .fetch_all(&self.pool)
                .await
                .map_err(failed(D::NAME, "list"))?;
            Ok(super::decode_rows(rows))
        })
        .await
    }

    /// See [`StateStore::purge_expired`](crate::managed::StateStore::purge_expired).
    pub(crate) async fn purge_expired(&self, now: Timestamp) -> Result<usize, StoreError> {
        timed(D::NAME, self.query_timeout, async {
            let mut removed = 0;
            for table in [&D::SQL.instances, &D::SQL.bindings] {
                let result = sqlx::query(table.purge)
                    .bind(now.as_unix_millis())
                    .execute(&self.pool)
                    .await
                    .map_err(failed(D::NAME, "purge"))?;
                removed += D::rows_affected(&result);
            }
            Ok(usize::try_from(removed).unwrap_or(usize::MAX))
        })
        .await
    }
}
