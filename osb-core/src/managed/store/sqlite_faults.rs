//! How [`SqliteStore`](super::SqliteStore) meets faults: a busy file, a connection left inside
//! a transaction SQLite already rolled back (a full disk, an I/O error), a file it cannot
//! write, and its own size cap.

use std::path::Path;

use sqlx::sqlite::SqliteConnection;
use sqlx::{AssertSqlSafe, Connection};

use super::StoreError;

/// Whether a connection coming back to the pool may be reused: not when it is still inside a
/// transaction. That happens when SQLite rolled a transaction back on its own (it does on
/// `SQLITE_FULL` and I/O errors): sqlx still counts the transaction as open and lowers its
/// count only when a `ROLLBACK` succeeds, the rollback on drop fails ("no transaction is
/// active"), and every later `BEGIN IMMEDIATE` on the connection would fail ("attempted to
/// call begin_with at non-zero transaction depth"). The pool closes such a connection and
/// opens a fresh one instead.
pub(super) async fn out_of_transaction(conn: &mut SqliteConnection) -> Result<bool, sqlx::Error> {
    // Waits for the rollback a dropped transaction queued on the connection's worker.
    conn.ping().await?;
    let clean = !conn.is_in_transaction();
    if !clean {
        tracing::warn!("closing an SQLite connection whose transaction did not end cleanly");
    }
    Ok(clean)
}

/// Sets `max_page_count` from a size in bytes and the file's page size.
pub(super) async fn cap_size(conn: &mut SqliteConnection, bytes: u64) -> Result<(), sqlx::Error> {
    let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(&mut *conn)
        .await?;
    let pages = bytes / u64::try_from(page_size).unwrap_or(1).max(1);
    // OK to format: a number.
    sqlx::query(AssertSqlSafe(format!(
        "PRAGMA max_page_count = {}",
        pages.max(1)
    )))
    .execute(conn)
    .await?;
    Ok(())
}

/// SQLite's primary result code of a database error (extended codes keep it in the low byte).
fn result_code(err: &sqlx::Error) -> Option<i32> {
    let sqlx::Error::Database(db) = err else {
        return None;
    };
    let code = db.code()?.parse::<i32>().ok()?;
    Some(code & 0xff)
}

/// `SQLITE_BUSY` (5) or `SQLITE_LOCKED` (6), extended codes included.
pub(super) fn is_busy(err: &sqlx::Error) -> bool {
    matches!(result_code(err), Some(5 | 6))
}

/// An open that failed because SQLite cannot write the file (or its write-ahead log) gets a
/// message naming the file; other failures pass unchanged.
pub(super) fn name_unwritable(path: &Path, err: StoreError) -> StoreError {
    let code = std::error::Error::source(&err)
        .and_then(|cause| cause.downcast_ref::<sqlx::Error>())
        .and_then(result_code);
    let path = path.display();
    let message = match code {
        // SQLITE_PERM, SQLITE_READONLY, SQLITE_CANTOPEN
        Some(3 | 8 | 14) => format!(
            "the SQLite file {path} cannot be written \
             (is the file, its directory or the file system read-only?)"
        ),
        // SQLITE_FULL
        Some(13) => {
            format!("the SQLite file {path} cannot be written: the disk or the size cap is full")
        }
        _ => return err,
    };
    StoreError::new(message).with_source(err)
}
