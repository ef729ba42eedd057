//! The history table (`_sqlx_migrations`), read and written exactly as sqlx does.
//!
//! Reading never creates the table: [`read`] checks for it first and reports `None` when it is
//! absent. Queries prepare no named statement; behind a transaction pooler run them inside a
//! transaction ([`crate::pooler::pinned`]). Writing ([`ensure`], [`HistoryTable::insert_row_sql`], ...) writes the rows sqlx writes, so lockstep
//! and sqlx's `Migrator` can take turns on the same database.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Row};

mod progress;

pub use progress::Progress;

/// One row of the history table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedRow {
    /// The migration version.
    pub version: i64,
    /// The description recorded when it was applied.
    pub description: String,
    /// When it was applied.
    pub installed_on: DateTime<Utc>,
    /// `false` marks a failed (dirty) migration.
    pub success: bool,
    /// The checksum recorded when it was applied (SHA-384 of the UP file).
    #[serde(serialize_with = "crate::serde_hex")]
    pub checksum: Vec<u8>,
    /// Nanoseconds the migration took; `-1` when unknown (the process died before recording it).
    pub execution_time: i64,
}

/// The history table's name, as written in `sqlx.toml` (it may be schema-qualified and quoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryTable {
    name: String,
}

impl HistoryTable {
    /// A table name as sqlx takes it: used verbatim in SQL.
    pub fn new(name: impl Into<String>) -> HistoryTable {
        HistoryTable { name: name.into() }
    }

    /// The name as written.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `CREATE TABLE IF NOT EXISTS` sqlx runs before applying.
    pub fn create_sql(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {} (\n    version BIGINT PRIMARY KEY,\n    description TEXT NOT NULL,\n    installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),\n    success BOOLEAN NOT NULL,\n    checksum BYTEA NOT NULL,\n    execution_time BIGINT NOT NULL\n)",
            self.name
        )
    }

    /// The row a migration leaves, as sqlx writes it (`success`, and `execution_time` in
    /// nanoseconds or a [`Progress`] mark), with its values written in as literals: a
    /// self-contained statement that goes in the same simple-protocol message as the `COMMIT`
    /// after it, and prepares nothing (safe behind any pooler).
    pub fn insert_row_sql(
        &self,
        version: i64,
        description: &str,
        checksum: &[u8],
        success: bool,
        execution_time: &str,
    ) -> String {
        format!(
            "INSERT INTO {} ( version, description, success, checksum, execution_time ) VALUES ( {version}, {}, {}, decode('{}', 'hex'), {execution_time} )",
            self.name,
            escape_literal(description),
            if success { "TRUE" } else { "FALSE" },
            hex::encode(checksum)
        )
    }

    /// Sets a row's `success` and `execution_time`, values written in as in
    /// [`HistoryTable::insert_row_sql`].
    pub fn mark_row_sql(&self, version: i64, success: bool, execution_time: &str) -> String {
        format!(
            "UPDATE {} SET success = {}, execution_time = {execution_time} WHERE version = {version}",
            self.name,
            if success { "TRUE" } else { "FALSE" }
        )
    }

    /// Sets a row's `success` and `execution_time` (`$1` success, `$2` execution time or
    /// [`Progress`] mark, `$3` version).
    pub fn mark_sql(&self) -> String {
        format!(
            "UPDATE {} SET success = $1, execution_time = $2 WHERE version = $3",
            self.name
        )
    }

    /// The delete of a reverted migration's row, value written in.
    pub fn delete_row_sql(&self, version: i64) -> String {
        format!("DELETE FROM {} WHERE version = {version}", self.name)
    }

    /// The delete sqlx runs inside a revert's transaction (`$1` version).
    pub fn delete_sql(&self) -> String {
        format!("DELETE FROM {} WHERE version = $1", self.name)
    }
}

/// A history-table query failed.
#[derive(Debug, thiserror::Error)]
#[error("{context} (history table {table}): {}", crate::db::describe(error))]
pub struct HistoryError {
    context: &'static str,
    table: String,
    error: sqlx::Error,
}

impl HistoryError {
    fn new(
        table: &HistoryTable,
        context: &'static str,
    ) -> impl FnOnce(sqlx::Error) -> HistoryError {
        let table = table.name.clone();
        move |error| HistoryError {
            context,
            table,
            error,
        }
    }
}

/// Whether the history table exists (read-only: `to_regclass`).
pub async fn exists(conn: &mut PgConnection, table: &HistoryTable) -> Result<bool, HistoryError> {
    let found: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(&table.name)
        .persistent(false)
        .fetch_one(&mut *conn)
        .await
        .map_err(HistoryError::new(table, "looking for the history table"))?;
    Ok(found.is_some())
}

/// Reads every row, ordered by version; `None` when the table does not exist. Never writes.
pub async fn read(
    conn: &mut PgConnection,
    table: &HistoryTable,
) -> Result<Option<Vec<AppliedRow>>, HistoryError> {
    if !exists(conn, table).await? {
        return Ok(None);
    }
    let sql = format!(
        "SELECT version, description, installed_on, success, checksum, execution_time FROM {} ORDER BY version",
        table.name
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .persistent(false)
        .fetch_all(&mut *conn)
        .await
        .map_err(HistoryError::new(table, "reading the history table"))?;
    let rows = rows
        .into_iter()
        .map(|row| {
            Ok(AppliedRow {
                version: row.try_get(0)?,
                description: row.try_get(1)?,
                installed_on: row.try_get(2)?,
                success: row.try_get(3)?,
                checksum: row.try_get(4)?,
                execution_time: row.try_get(5)?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(HistoryError::new(table, "decoding the history table"))?;
    Ok(Some(rows))
}

/// A digest of every row (version, success, execution time, checksum), computed on the server:
/// when it is unchanged, [`read`] would return the same rows. `None` when the table does not
/// exist. Never writes.
pub async fn fingerprint(
    conn: &mut PgConnection,
    table: &HistoryTable,
) -> Result<Option<String>, HistoryError> {
    if !exists(conn, table).await? {
        return Ok(None);
    }
    let sql = format!(
        "SELECT count(*)::text || ':' || coalesce(md5(string_agg(version::text || ':' || \
         success::text || ':' || execution_time::text || ':' || encode(checksum, 'hex'), ',' \
         ORDER BY version)), '') FROM {}",
        table.name
    );
    let digest: String = sqlx::query_scalar(AssertSqlSafe(sql))
        .persistent(false)
        .fetch_one(&mut *conn)
        .await
        .map_err(HistoryError::new(
            table,
            "reading the history table's digest",
        ))?;
    Ok(Some(digest))
}

/// Creates the configured schemas and the table if missing, as sqlx does before applying.
pub async fn ensure(
    conn: &mut PgConnection,
    table: &HistoryTable,
    create_schemas: &[String],
) -> Result<(), HistoryError> {
    for schema in create_schemas {
        sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}"
        )))
        .execute(&mut *conn)
        .await
        .map_err(HistoryError::new(
            table,
            "creating a schema for the history table",
        ))?;
    }
    sqlx::raw_sql(AssertSqlSafe(table.create_sql()))
        .execute(&mut *conn)
        .await
        .map_err(HistoryError::new(table, "creating the history table"))?;
    Ok(())
}

/// `text` as an escape-string literal (`E'…'`): the same value whatever
/// `standard_conforming_strings` says.
fn escape_literal(text: &str) -> String {
    format!("E'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}
