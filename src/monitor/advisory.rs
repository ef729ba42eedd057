//! sqlx's migration advisory lock as the status bar shows it: "migration lock (sqlx)", its holder
//! and the sessions waiting for it.

use serde::Serialize;

use super::activity::Session;
use crate::runner::LockHolder;

/// What the status bar calls sqlx's migration advisory lock.
pub const MIGRATION_LOCK_LABEL: &str = "migration lock (sqlx)";

/// The state of the migration advisory lock.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MigrationLock {
    /// Always [`MIGRATION_LOCK_LABEL`].
    pub label: &'static str,
    /// The advisory key (`0x3d32ad9e * crc32(current_database())`).
    pub key: i64,
    /// The session holding it, if any.
    pub holder: Option<LockHolder>,
    /// Sessions blocked in `pg_advisory_lock(key)` (their `wait_event` is `advisory`).
    pub waiters: Vec<Session>,
}

impl std::fmt::Display for MigrationLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.holder {
            Some(holder) => write!(f, "{}: held by {holder}", self.label)?,
            None => write!(f, "{}: free", self.label)?,
        }
        if !self.waiters.is_empty() {
            write!(f, "; {} waiting", self.waiters.len())?;
        }
        Ok(())
    }
}

/// Sessions waiting for the advisory key `$1` (high half) / `$2` (low half) in this database.
pub(crate) fn waiters_sql(activity_columns: &str) -> String {
    format!(
        r"/* lockstep */
SELECT a.pid, {activity_columns}
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND NOT l.granted AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid::bigint = $1 AND l.objid::bigint = $2
  AND a.pid <> pg_backend_pid()
ORDER BY a.pid"
    )
}
