//! A lock sample for one session (the running migration): the locks it holds or requests, whom it
//! waits on, and who waits on it. Two cheap queries, meant to run several times a second while a
//! statement runs.

use serde::Serialize;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::activity::Session;

/// One row of `pg_locks` for a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldLock {
    /// `locktype`: `relation`, `tuple`, `transactionid`, `virtualxid`, `advisory`, `object`, ...
    pub locktype: String,
    /// The mode, e.g. `AccessExclusiveLock`.
    pub mode: String,
    /// Whether it is held (`false`: requested and waited for).
    pub granted: bool,
    /// The relation (`relation::regclass`) for relation, page and tuple locks in this database.
    pub relation: Option<String>,
    /// For advisory locks with a bigint key: the key (`classid << 32 | objid`).
    pub advisory_key: Option<i64>,
    /// For transactionid locks: the transaction id.
    pub transaction_id: Option<String>,
}

impl HeldLock {
    fn from_row(row: &PgRow) -> Result<HeldLock, sqlx::Error> {
        Ok(HeldLock {
            locktype: row.try_get("locktype")?,
            mode: row.try_get("mode")?,
            granted: row.try_get("granted")?,
            relation: row.try_get("relation")?,
            advisory_key: row.try_get("advisory_key")?,
            transaction_id: row.try_get("transaction_id")?,
        })
    }
}

/// A session related to the sampled one; `session` is `None` for pid 0 (a prepared transaction)
/// or a session that ended meanwhile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RelatedSession {
    /// Its pid.
    pub pid: i32,
    /// Its activity row (query, state, transaction age, ...).
    pub session: Option<Session>,
}

/// One lock sample of a session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionLocks {
    /// The sampled pid.
    pub pid: i32,
    /// Its activity row; `None` when it has ended.
    pub session: Option<Session>,
    /// Locks it holds and requests (`granted = false`), relation locks first.
    pub locks: Vec<HeldLock>,
    /// Sessions it waits on (`pg_blocking_pids`), with their query, state and transaction age.
    pub waits_on: Vec<RelatedSession>,
    /// Sessions waiting on it: queued behind it.
    pub waited_on_by: Vec<RelatedSession>,
}

impl SessionLocks {
    /// How many sessions are queued behind it.
    pub fn queued_behind(&self) -> usize {
        self.waited_on_by.len()
    }

    /// The locks it requests and has not been granted.
    pub fn waiting_for(&self) -> impl Iterator<Item = &HeldLock> {
        self.locks.iter().filter(|l| !l.granted)
    }
}

/// The locks of `$1`.
pub(crate) const LOCKS_SQL: &str = r"/* lockstep */
SELECT l.locktype, l.mode, l.granted,
       CASE WHEN l.relation IS NOT NULL
             AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            THEN l.relation::regclass::text END AS relation,
       CASE WHEN l.locktype = 'advisory' AND l.objsubid = 1
            THEN (l.classid::bigint << 32) | l.objid::bigint END AS advisory_key,
       l.transactionid::text AS transaction_id
FROM pg_locks l
WHERE l.pid = $1
ORDER BY (l.locktype <> 'relation'), l.granted, l.locktype, l.mode";

/// The sampled session, the sessions it waits on and the sessions waiting on it. `pg_blocking_pids`
/// runs for `$1` only when it waits on a Lock, and for other Lock waiters only.
pub(crate) fn related_sql(activity_columns: &str) -> String {
    format!(
        r"/* lockstep */
WITH me AS MATERIALIZED (
    SELECT CASE WHEN a.wait_event_type = 'Lock' THEN pg_blocking_pids(a.pid) END AS blocked_by
    FROM pg_stat_activity a WHERE a.pid = $1
), waiters AS MATERIALIZED (
    SELECT a.pid, pg_blocking_pids(a.pid) AS blocked_by
    FROM pg_stat_activity a
    WHERE a.wait_event_type = 'Lock' AND a.pid <> $1 AND a.pid <> pg_backend_pid()
      AND a.datname = current_database()
), related AS (
    SELECT 'self' AS relation, $1::int AS pid
    UNION ALL
    SELECT DISTINCT 'waits_on', b.pid FROM me, unnest(me.blocked_by) AS b(pid)
    UNION ALL
    SELECT 'waited_on_by', w.pid FROM waiters w WHERE $1 = ANY(w.blocked_by)
)
SELECT r.relation, r.pid, (a.pid IS NOT NULL) AS present, {activity_columns}
FROM related r
LEFT JOIN pg_stat_activity a ON a.pid = r.pid AND r.pid <> 0
ORDER BY r.relation, r.pid"
    )
}

/// Which list a row of [`related_sql`] belongs to, and the related session.
pub(crate) fn related_from_row(
    row: &PgRow,
    threshold: std::time::Duration,
) -> Result<(String, RelatedSession), sqlx::Error> {
    let relation: String = row.try_get("relation")?;
    let pid: i32 = row.try_get("pid")?;
    let present: bool = row.try_get("present")?;
    let session = if present {
        Some(Session::from_row(row, threshold)?)
    } else {
        None
    };
    Ok((relation, RelatedSession { pid, session }))
}

pub(crate) fn locks_from_rows(rows: &[PgRow]) -> Result<Vec<HeldLock>, sqlx::Error> {
    rows.iter().map(HeldLock::from_row).collect()
}

/// What a waiting session waits for and on whom: the part of a [`SessionLocks`] sample that
/// explains a stall. Reported by a run while one of its statements waits, and named in a
/// lock-timeout failure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LockWait {
    /// The locks requested and not granted.
    pub waiting_for: Vec<HeldLock>,
    /// The sessions it waits on, with their query, state and transaction age.
    pub blockers: Vec<RelatedSession>,
    /// How many sessions are queued behind it.
    pub queued_behind: usize,
}

impl SessionLocks {
    /// What the session waits for, when it waits on a lock.
    pub fn wait(&self) -> Option<LockWait> {
        let waiting_for: Vec<HeldLock> = self.waiting_for().cloned().collect();
        if waiting_for.is_empty() && self.waits_on.is_empty() {
            return None;
        }
        Some(LockWait {
            waiting_for,
            blockers: self.waits_on.clone(),
            queued_behind: self.queued_behind(),
        })
    }
}
