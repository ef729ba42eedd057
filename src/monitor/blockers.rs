//! Before applying: the long-running and idle-in-transaction sessions holding (or waiting for)
//! locks on the tables a migration touches, because the migration will queue behind them.

use serde::Serialize;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::activity::Session;

/// A session with a lock on one of the named tables.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableBlocker {
    /// The table as it was named.
    pub table: String,
    /// The lock mode, e.g. `AccessShareLock`.
    pub mode: String,
    /// Whether the lock is held (`false`: it is queued for it, which blocks as well).
    pub granted: bool,
    /// The session.
    pub session: Session,
}

impl TableBlocker {
    pub(crate) fn from_row(
        row: &PgRow,
        threshold: std::time::Duration,
    ) -> Result<TableBlocker, sqlx::Error> {
        Ok(TableBlocker {
            table: row.try_get("table_name")?,
            mode: row.try_get("mode")?,
            granted: row.try_get("granted")?,
            session: Session::from_row(row, threshold)?,
        })
    }
}

/// `$1` = table names (`text[]`, resolved with `to_regclass`, lock-free; missing tables are
/// skipped), `$2` = minimum transaction age in seconds for sessions that are not idle in a
/// transaction. Locks on a table's indexes and TOAST table count as locks on the table.
pub(crate) fn blockers_sql(activity_columns: &str) -> String {
    format!(
        r"/* lockstep */
WITH named AS (
    SELECT t.name, to_regclass(t.name)::oid AS relid
    FROM unnest($1::text[]) AS t(name)
), parts AS (
    SELECT n.name, n.relid FROM named n WHERE n.relid IS NOT NULL
    UNION
    SELECT n.name, i.indexrelid FROM named n JOIN pg_index i ON i.indrelid = n.relid
    UNION
    SELECT n.name, c.reltoastrelid FROM named n JOIN pg_class c ON c.oid = n.relid
    WHERE c.reltoastrelid <> 0
), held AS (
    SELECT DISTINCT ON (p.name, l.pid) p.name, l.pid, l.mode, l.granted
    FROM parts p
    JOIN pg_locks l ON l.locktype = 'relation' AND l.relation = p.relid
     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    WHERE l.pid <> pg_backend_pid()
    ORDER BY p.name, l.pid, l.granted DESC, l.mode
)
SELECT h.name AS table_name, h.mode, h.granted, a.pid, {activity_columns}
FROM held h
JOIN pg_stat_activity a ON a.pid = h.pid
WHERE a.state LIKE 'idle in transaction%'
   OR extract(epoch FROM clock_timestamp() - coalesce(a.xact_start, a.query_start)) >= $2
ORDER BY a.xact_start NULLS LAST, h.name, a.pid"
    )
}
