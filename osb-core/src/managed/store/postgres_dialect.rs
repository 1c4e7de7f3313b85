//! [`PostgresDialect`]: what PostgreSQL does its own way, for the store code shared with
//! SQLite ([`SqlStore`](super::sql::SqlStore)).
//!
//! Several replicas share these tables. A record write is one conditional statement drawing
//! its version from a sequence. Outbox inserts are `ON CONFLICT DO NOTHING` (the first payload
//! of an identity wins); a sender leases due rows with `FOR UPDATE SKIP LOCKED`, so two senders
//! get disjoint batches; a claim is an upsert whose `WHERE` only lets an unfinished claim with an
//! ended lease (or the same owner's) be taken over.

use sqlx::postgres::PgQueryResult;
use sqlx::{Pool, Postgres, Transaction};

use super::sql::{self, Dialect, Encoded, Migration, OutboxSql, Statements, Table, failed};
use crate::managed::clock::Timestamp;
use crate::managed::outbox::{ClaimOutcome, OutboxEntry};
use crate::managed::record::Lease;
use crate::managed::store::{CasError, StoreError, Version};

/// PostgreSQL, for [`SqlStore`](super::sql::SqlStore).
#[derive(Debug, Clone, Copy)]
pub(super) struct PostgresDialect;

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

/// The record statements.
const SQL: Statements = Statements {
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

const OUTBOX: OutboxSql = OutboxSql {
    lease_due: "UPDATE osb_usage_outbox SET not_before = $2 WHERE record_key IN ( \
                    SELECT record_key FROM osb_usage_outbox \
                    WHERE rejected_at IS NULL AND not_before <= $1 \
                    ORDER BY enqueued_at, record_key LIMIT $3 FOR UPDATE SKIP LOCKED) \
                RETURNING record_key, payload, enqueued_at, attempts::BIGINT",
    delivered: "DELETE FROM osb_usage_outbox WHERE record_key = $1 AND rejected_at IS NULL",
    rejected: "UPDATE osb_usage_outbox SET rejected_at = $2, reason = $3 \
               WHERE record_key = $1 AND rejected_at IS NULL",
    retry: "UPDATE osb_usage_outbox SET attempts = attempts + 1, not_before = $2 \
            WHERE record_key = $1 AND rejected_at IS NULL",
    list_rejected: "SELECT record_key, payload, enqueued_at, rejected_at, COALESCE(reason, '') \
                    FROM osb_usage_outbox WHERE rejected_at IS NOT NULL AND record_key > $1 \
                    ORDER BY record_key LIMIT $2",
    remove_rejected: "DELETE FROM osb_usage_outbox \
                      WHERE record_key = $1 AND rejected_at IS NOT NULL",
    stats: "SELECT \
              COUNT(*) FILTER (WHERE rejected_at IS NULL), \
              MIN(enqueued_at) FILTER (WHERE rejected_at IS NULL), \
              COUNT(*) FILTER (WHERE rejected_at IS NOT NULL) \
            FROM osb_usage_outbox",
    purge_collections: "DELETE FROM osb_usage_collections WHERE retain_until <= $1",
    load_cursor: "SELECT value FROM osb_usage_cursors WHERE name = $1",
    advance_cursor: "INSERT INTO osb_usage_cursors AS c (name, value) VALUES ($1, $2) \
                     ON CONFLICT (name) DO UPDATE SET value = GREATEST(c.value, EXCLUDED.value) \
                     RETURNING value",
};

impl Dialect for PostgresDialect {
    type Db = Postgres;

    const NAME: &'static str = DB;
    const SQL: &'static Statements = &SQL;
    const OUTBOX: &'static OutboxSql = &OUTBOX;

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }

    /// A plain transaction: each statement's own row locks and conditions do the rest.
    async fn begin_write(
        pool: &Pool<Postgres>,
    ) -> Result<Transaction<'static, Postgres>, StoreError> {
        pool.begin().await.map_err(failed(DB, "begin"))
    }

    /// One conditional statement in its own (autocommit) transaction; the version comes from
    /// the sequence `osb_record_versions` inside it.
    async fn save(
        pool: &Pool<Postgres>,
        table: &'static Table,
        key: &[&str],
        expected: Option<i64>,
        record: Encoded,
    ) -> Result<Version, CasError> {
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
            .fetch_optional(pool)
            .await
            .map_err(failed(DB, "write"))?
        {
            Some(version) => Ok(sql::version_from_column(version)?),
            None => Err(CasError::Conflict),
        }
    }

    /// One `INSERT … SELECT … FROM UNNEST(…)` for the whole batch.
    async fn insert_entries(
        tx: &mut Transaction<'static, Postgres>,
        entries: &[OutboxEntry],
    ) -> Result<usize, StoreError> {
        if entries.is_empty() {
            return Ok(0);
        }
        let keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
        let payloads: Vec<&str> = entries.iter().map(|e| e.payload.as_str()).collect();
        let times: Vec<i64> = entries
            .iter()
            .map(|e| e.enqueued_at.as_unix_millis())
            .collect();
        let added = sqlx::query(
            "INSERT INTO osb_usage_outbox (record_key, payload, enqueued_at, not_before) \
             SELECT k, p, t, t FROM UNNEST($1::text[], $2::text[], $3::bigint[]) AS e(k, p, t) \
             ON CONFLICT (record_key) DO NOTHING",
        )
        .bind(keys)
        .bind(payloads)
        .bind(times)
        .execute(&mut **tx)
        .await
        .map_err(failed(DB, "outbox insert"))?
        .rows_affected();
        Ok(usize::try_from(added).unwrap_or(usize::MAX))
    }

    async fn claim(
        tx: &mut Transaction<'static, Postgres>,
        key: &str,
        lease: &Lease,
        now: Timestamp,
        retain_until: Timestamp,
    ) -> Result<ClaimOutcome, sqlx::Error> {
        // Insert, or take over a claim that is ours or whose lease ended unfinished; a concurrent
        // claimant waits for this row's lock and then sees our claim.
        let won = sqlx::query_scalar::<_, bool>(
            "INSERT INTO osb_usage_collections AS c \
                 (collection_key, owner, lease_until, done, retain_until) \
             VALUES ($1, $2, $3, FALSE, $5) \
             ON CONFLICT (collection_key) DO UPDATE \
               SET owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until \
               WHERE NOT c.done AND (c.owner = EXCLUDED.owner OR c.lease_until <= $4) \
             RETURNING TRUE",
        )
        .bind(key)
        .bind(&lease.owner)
        .bind(lease.expires_at.as_unix_millis())
        .bind(now.as_unix_millis())
        .bind(retain_until.as_unix_millis())
        .fetch_optional(&mut **tx)
        .await?
        .is_some();
        if won {
            return Ok(ClaimOutcome::Claimed);
        }
        let done: bool =
            sqlx::query_scalar("SELECT done FROM osb_usage_collections WHERE collection_key = $1")
                .bind(key)
                .fetch_one(&mut **tx)
                .await?;
        Ok(if done {
            ClaimOutcome::Done
        } else {
            ClaimOutcome::Held
        })
    }

    async fn mark_done(
        tx: &mut Transaction<'static, Postgres>,
        keys: &[String],
        owner: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE osb_usage_collections SET done = TRUE \
             WHERE collection_key = ANY($1) AND owner = $2",
        )
        .bind(keys)
        .bind(owner)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}
