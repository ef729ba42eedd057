//! sqlx's migration advisory lock, taken with `pg_try_advisory_lock` and polled, never blocking;
//! under `--pooled`, the transaction-level `pg_try_advisory_xact_lock` on the same key, taken
//! inside each migration's transaction (it conflicts with sqlx's session-level lock all the same).

use std::time::{Duration, Instant};

use sqlx::postgres::PgConnection;
use tokio_util::sync::CancellationToken;

use super::events::{EventSink, LockHolder, RunEvent};

/// sqlx's salt: `0x3d32ad9e`.
const SQLX_SALT: i64 = 0x3d32ad9e;

/// The advisory-lock key sqlx's `Migrator` takes for a database: `0x3d32ad9e * crc32(name)`.
pub fn advisory_key(database: &str) -> i64 {
    SQLX_SALT * i64::from(crc32fast::hash(database.as_bytes()))
}

/// The lock was not free within the wait.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Someone held it the whole time.
    #[error(
        "the migration lock (advisory lock {key}) is held by {} and was not released within {waited:?}; \
         another migration is running. Wait for it, or raise --lock-wait",
        holder.as_ref().map(ToString::to_string).unwrap_or_else(|| "another session".into())
    )]
    Busy {
        /// The key.
        key: i64,
        /// Who held it when lockstep gave up.
        holder: Option<LockHolder>,
        /// How long lockstep waited.
        waited: Duration,
    },
    /// The run was interrupted while waiting.
    #[error("interrupted while waiting for the migration lock")]
    Interrupted,
    /// A query failed.
    #[error("taking the migration lock: {}", crate::db::describe(.0))]
    Query(sqlx::Error),
}

impl From<sqlx::Error> for LockError {
    fn from(error: sqlx::Error) -> LockError {
        LockError::Query(error)
    }
}

/// How long the lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Until released (`pg_try_advisory_lock`): the whole run, on a connection that keeps its
    /// server session.
    Session,
    /// Until the transaction ends (`pg_try_advisory_xact_lock`): one migration, under `--pooled`.
    Transaction,
}

impl Scope {
    fn try_sql(self) -> &'static str {
        match self {
            Scope::Session => "SELECT pg_try_advisory_lock($1), pg_backend_pid()",
            Scope::Transaction => "SELECT pg_try_advisory_xact_lock($1), pg_backend_pid()",
        }
    }
}

/// Polls for the lock every 200 ms until it is ours, `wait` passes or `cancel` fires, reporting
/// who holds it while waiting (sessions from `pooler_address` marked as pooler connections).
/// Returns the backend pid that holds it now.
pub async fn acquire(
    conn: &mut PgConnection,
    scope: Scope,
    key: i64,
    wait: Duration,
    events: &EventSink,
    cancel: &CancellationToken,
    pooler_address: Option<&str>,
) -> Result<i32, LockError> {
    let started = Instant::now();
    loop {
        if cancel.is_cancelled() {
            return Err(LockError::Interrupted);
        }
        let (got, backend_pid): (bool, i32) = sqlx::query_as(scope.try_sql())
            .bind(key)
            .persistent(false)
            .fetch_one(&mut *conn)
            .await?;
        if got {
            let _ = events.send(RunEvent::LockAcquired {
                waited: started.elapsed(),
                backend_pid,
            });
            return Ok(backend_pid);
        }
        let holder = holder(conn, key, pooler_address).await?;
        let waited = started.elapsed();
        if waited >= wait {
            return Err(LockError::Busy {
                key,
                holder,
                waited,
            });
        }
        let _ = events.send(RunEvent::LockWaiting {
            holder,
            waited,
            limit: wait,
        });
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200).min(wait - waited)) => {}
            _ = cancel.cancelled() => return Err(LockError::Interrupted),
        }
    }
}

/// pid, application_name, user, client address, state, query, session age in seconds.
type HolderRow = (
    i32,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<f64>,
);

/// Releases the lock taken by [`acquire`].
pub async fn release(conn: &mut PgConnection, key: i64) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(key)
        .persistent(false)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The session holding the advisory lock `key` in this database, if any; when it comes from
/// `pooler_address` (the pooler lockstep goes through) it is marked as a pooler connection. A
/// bigint key shows in `pg_locks` as its high half in `classid`, its low half in `objid`, with
/// `objsubid = 1`.
pub async fn holder(
    conn: &mut PgConnection,
    key: i64,
    pooler_address: Option<&str>,
) -> Result<Option<LockHolder>, sqlx::Error> {
    let row: Option<HolderRow> = sqlx::query_as(
        "/* lockstep */ SELECT l.pid, a.application_name, a.usename::text, \
                    host(a.client_addr), a.state, \
                    left(regexp_replace(a.query, '\\s+', ' ', 'g'), 200), \
                    extract(epoch FROM clock_timestamp() - a.backend_start)::float8 \
             FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
               AND l.classid::bigint = $1 AND l.objid::bigint = $2 \
             LIMIT 1",
    )
    .bind(key >> 32)
    .bind(key & 0xffff_ffff)
    .persistent(false)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(
        |(pid, application_name, user, client, state, query, session_age_secs)| LockHolder {
            pid,
            application_name,
            user,
            via_pooler: client.is_some() && client.as_deref() == pooler_address,
            client,
            state,
            query,
            session_age_secs,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_sqlx_key_for_postgres() {
        // The reference's test vector: database `postgres` → crc32 359303029.
        assert_eq!(crc32fast::hash(b"postgres"), 359303029);
        assert_eq!(advisory_key("postgres"), 368907709894077238);
        assert_eq!(advisory_key("postgres") >> 32, 85893019);
        assert_eq!(advisory_key("postgres") & 0xffff_ffff, 2334370614);
    }
}
