//! Who waits on whom: one row per session of this database waiting for a heavyweight lock, with
//! the pids blocking it (`pg_blocking_pids`, called for waiters only, because it takes the lock
//! manager's shared state exclusively for a moment), when the wait started and what lock it waits
//! for.

use serde::Serialize;
use sqlx::Row;
use sqlx::postgres::PgRow;

/// One waiting session and the sessions blocking it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LockEdge {
    /// The waiting session.
    pub pid: i32,
    /// The sessions it waits for: holders of a conflicting lock, and sessions ahead of it in the
    /// queue. Parallel workers show as their leader (so duplicates occur); a prepared transaction
    /// shows as pid `0`.
    pub blocked_by: Vec<i32>,
    /// Seconds it has waited (`pg_locks.waitstart` on 14+, else since its query started).
    pub wait_age_secs: Option<f64>,
    /// The lock it waits for.
    pub waiting_for: Option<WaitedLock>,
}

/// A lock requested and not granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaitedLock {
    /// `locktype`: `relation`, `tuple`, `transactionid`, `virtualxid`, `advisory`, `object`, ...
    pub locktype: Option<String>,
    /// The mode, e.g. `AccessExclusiveLock`.
    pub mode: Option<String>,
    /// The relation (`relation::regclass`), when the lock is on a relation of this database.
    pub relation: Option<String>,
}

impl LockEdge {
    pub(crate) fn from_row(row: &PgRow) -> Result<LockEdge, sqlx::Error> {
        let locktype: Option<String> = row.try_get("locktype")?;
        let mode: Option<String> = row.try_get("mode")?;
        let relation: Option<String> = row.try_get("relation")?;
        let waiting_for = (locktype.is_some() || mode.is_some()).then_some(WaitedLock {
            locktype,
            mode,
            relation,
        });
        Ok(LockEdge {
            pid: row.try_get("pid")?,
            blocked_by: row
                .try_get::<Option<Vec<i32>>, _>("blocked_by")?
                .unwrap_or_default(),
            wait_age_secs: row.try_get("wait_age_secs")?,
            waiting_for,
        })
    }
}

/// The edges query. The waiters are read in a MATERIALIZED CTE so `pg_blocking_pids` runs once
/// per waiter and never for sessions that are not waiting on a Lock.
pub(crate) fn edges_sql(server_version_num: i32) -> String {
    let waitstart = if server_version_num >= 140000 {
        "l.waitstart"
    } else {
        "NULL::timestamptz"
    };
    format!(
        r"/* lockstep */
WITH waiters AS MATERIALIZED (
    SELECT a.pid, a.query_start,
           CASE WHEN coalesce(a.wait_event_type, '') = 'Lock' THEN pg_blocking_pids(a.pid) END
               AS blocked_by
    FROM pg_stat_activity a
    WHERE a.wait_event_type = 'Lock' AND a.pid <> pg_backend_pid()
      AND a.datname = current_database()
), requested AS MATERIALIZED (
    SELECT DISTINCT ON (l.pid) l.pid, l.locktype, l.mode,
           CASE WHEN l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                THEN l.relation::regclass::text END AS relation,
           {waitstart} AS waitstart
    FROM pg_locks l
    WHERE NOT l.granted AND l.pid IS NOT NULL
    ORDER BY l.pid, {waitstart} NULLS LAST
)
SELECT w.pid, w.blocked_by, r.locktype, r.mode, r.relation,
       extract(epoch FROM clock_timestamp() - coalesce(r.waitstart, w.query_start))::float8
           AS wait_age_secs
FROM waiters w
LEFT JOIN requested r ON r.pid = w.pid
WHERE cardinality(w.blocked_by) > 0
ORDER BY w.pid"
    )
}
