//! Server-side lock tracing: run statements on a real PostgreSQL inside a transaction and observe,
//! after each one, which locks the session holds (`pg_locks` for its own backend) and which tables
//! were rewritten (`pg_class.relfilenode` changed). The transaction is rolled back unless asked
//! otherwise. Used by the ground-truth tests and by the rehearsal ([`crate::rehearse`]).
//!
//! Only objects that existed before the transaction are reported as relation locks: objects a
//! migration creates are invisible to production (reference §8). Object locks (an enum's type
//! during `ADD VALUE`) are reported too.

#![warn(missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::analysis::LockMode;

/// How to run a trace.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TraceOptions {
    /// Commit at the end instead of rolling back.
    pub commit: bool,
}

/// One lock the session holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct TracedLock {
    /// `pg_locks.locktype`: `relation` or `object`.
    pub locktype: String,
    /// The relation, schema-qualified unless in `public` (relation locks).
    pub relation: Option<String>,
    /// `pg_class.relkind` (`r` table, `i` index, `p` partitioned table, `m` matview…).
    pub relkind: Option<String>,
    /// `pg_describe_object(…)` for object locks, e.g. `type mood`.
    pub object: Option<String>,
    /// `pg_locks.mode`, e.g. `AccessExclusiveLock`.
    pub mode: String,
    /// The mode as a [`LockMode`], when it is one of the eight table modes.
    pub lock_mode: Option<LockMode>,
    /// Whether the lock is granted.
    pub granted: bool,
}

/// What one statement did.
#[derive(Debug, Clone, Serialize)]
pub struct StatementTrace {
    /// Position in the traced list.
    pub index: usize,
    /// The SQL run.
    pub sql: String,
    /// `current_setting('lock_timeout')` just before it ran.
    pub lock_timeout: String,
    /// Locks held after it that were not held before it ([`trace`]), or locks seen while it ran
    /// ([`trace_autocommit`]).
    pub new_locks: Vec<TracedLock>,
    /// Pre-existing relations whose `relfilenode` changed (rewritten or truncated).
    pub rewritten: Vec<String>,
    /// Wall time of the statement.
    pub duration_ms: f64,
    /// Rows affected, as the server reports them (`None` when it failed).
    pub rows_affected: Option<u64>,
    /// The server's error, if it failed (later statements are then not run).
    pub error: Option<String>,
}

/// The trace of a list of statements.
#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    /// One entry per statement that ran.
    pub statements: Vec<StatementTrace>,
    /// Whether the transaction was committed.
    pub committed: bool,
}

/// Why a trace could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// A catalog query or the transaction control failed.
    #[error("tracing failed: {0}")]
    Database(#[from] sqlx::Error),
}

const RELATIONS_SQL: &str = "SELECT c.oid::int8, n.nspname::text, c.relname::text, c.relkind::text, c.relfilenode::int8 \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'";

/// The session's relation and object locks, then, with a null mode, the storage id of each
/// relation in `$1`.
const OBSERVE_SQL: &str = "SELECT l.locktype::text, l.mode::text, l.granted, l.relation::int8, \
       CASE WHEN l.locktype = 'object' THEN pg_describe_object(l.classid, l.objid, l.objsubid) END, \
       NULL::int8 \
     FROM pg_locks l \
     WHERE l.pid = pg_backend_pid() AND l.locktype IN ('relation', 'object') \
     UNION ALL \
     SELECT 'filenode', NULL, NULL, c.oid::int8, NULL, c.relfilenode::int8 \
     FROM pg_class c WHERE c.oid = ANY($1)";

type ObservedRow = (
    String,
    Option<String>,
    Option<bool>,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

const LOCKS_OF_PID_SQL: &str = "SELECT l.locktype::text, l.mode::text, l.granted, l.relation::int8, \
       CASE WHEN l.locktype = 'object' THEN pg_describe_object(l.classid, l.objid, l.objsubid) END \
     FROM pg_locks l \
     WHERE l.pid = $1 AND l.locktype IN ('relation', 'object')";

fn qualified(schema: &str, name: &str) -> String {
    if schema == "public" {
        name.to_string()
    } else {
        format!("{schema}.{name}")
    }
}

struct Relation {
    name: String,
    relkind: String,
}

type LockRow = (String, String, bool, Option<i64>, Option<String>);

/// The relations that exist before the trace, with their storage ids.
struct Baseline {
    relations: BTreeMap<i64, Relation>,
    filenodes: BTreeMap<i64, Option<i64>>,
    oids: Vec<i64>,
}

impl Baseline {
    async fn read(conn: &mut PgConnection) -> Result<Baseline, sqlx::Error> {
        let rows: Vec<(i64, String, String, String, Option<i64>)> =
            sqlx::query_as(RELATIONS_SQL).fetch_all(&mut *conn).await?;
        let mut relations = BTreeMap::new();
        let mut filenodes = BTreeMap::new();
        for (oid, schema, name, relkind, filenode) in rows {
            relations.insert(
                oid,
                Relation {
                    name: qualified(&schema, &name),
                    relkind,
                },
            );
            filenodes.insert(oid, filenode);
        }
        let oids = relations.keys().copied().collect();
        Ok(Baseline {
            relations,
            filenodes,
            oids,
        })
    }

    /// Lock rows as traced locks: relation locks on pre-existing relations, and object locks.
    fn locks(&self, rows: Vec<LockRow>) -> Vec<TracedLock> {
        let mut out = Vec::new();
        for (locktype, mode, granted, relation_oid, object) in rows {
            let lock = if locktype == "relation" {
                let Some(rel) = relation_oid.and_then(|oid| self.relations.get(&oid)) else {
                    continue; // catalogs and objects created during the trace
                };
                TracedLock {
                    locktype,
                    relation: Some(rel.name.clone()),
                    relkind: Some(rel.relkind.clone()),
                    object: None,
                    lock_mode: LockMode::from_pg_name(&mode),
                    mode,
                    granted,
                }
            } else {
                TracedLock {
                    locktype,
                    relation: None,
                    relkind: None,
                    object,
                    lock_mode: LockMode::from_pg_name(&mode),
                    mode,
                    granted,
                }
            };
            out.push(lock);
        }
        out
    }

    /// Pre-existing relations whose storage changed since the last call.
    async fn rewritten(&mut self, conn: &mut PgConnection) -> Result<Vec<String>, sqlx::Error> {
        let now: Vec<(i64, Option<i64>)> =
            sqlx::query_as("SELECT oid::int8, relfilenode::int8 FROM pg_class WHERE oid = ANY($1)")
                .bind(&self.oids)
                .fetch_all(&mut *conn)
                .await?;
        Ok(self.changed(now))
    }

    /// The relations whose storage id differs from the last one seen (which is updated).
    fn changed(&mut self, now: Vec<(i64, Option<i64>)>) -> Vec<String> {
        let mut rewritten = Vec::new();
        for (oid, filenode) in now {
            if let Some(before) = self.filenodes.get_mut(&oid)
                && *before != filenode
            {
                *before = filenode;
                if let Some(rel) = self.relations.get(&oid) {
                    rewritten.push(rel.name.clone());
                }
            }
        }
        rewritten
    }
}

/// Observes a session statement by statement: after each statement, the locks it newly holds on
/// relations that existed when the tracer started (and object locks), and which of those relations
/// got a new `relfilenode`. [`trace`] and [`trace_autocommit`] are built on it; a caller that runs
/// the statements itself (the rehearsal) drives it directly.
pub struct Tracer {
    baseline: Baseline,
    seen: BTreeSet<TracedLock>,
}

impl Tracer {
    /// Reads the relations that exist now: only locks on these are reported, and only these can
    /// be found rewritten.
    pub async fn start(conn: &mut PgConnection) -> Result<Tracer, TraceError> {
        Ok(Tracer {
            baseline: Baseline::read(conn).await?,
            seen: BTreeSet::new(),
        })
    }

    /// Whether `relation` (schema-qualified unless in `public`) existed when the tracer started.
    pub fn existed(&self, relation: &str) -> bool {
        self.baseline.relations.values().any(|r| r.name == relation)
    }

    /// After a statement ran inside a transaction on `conn`: the locks the session holds now that
    /// it did not hold after the earlier statements (locks persist to the end of the transaction),
    /// and the pre-existing relations rewritten since the last call — in one round trip.
    pub async fn observe(
        &mut self,
        conn: &mut PgConnection,
    ) -> Result<(Vec<TracedLock>, Vec<String>), TraceError> {
        let rows: Vec<ObservedRow> = sqlx::query_as(OBSERVE_SQL)
            .bind(&self.baseline.oids)
            .fetch_all(&mut *conn)
            .await?;
        let mut locks = Vec::new();
        let mut filenodes = Vec::new();
        for (locktype, mode, granted, oid, object, filenode) in rows {
            match (mode, granted) {
                (Some(mode), Some(granted)) => locks.push((locktype, mode, granted, oid, object)),
                _ => filenodes.extend(oid.map(|oid| (oid, filenode))),
            }
        }
        let new_locks = self
            .baseline
            .locks(locks)
            .into_iter()
            .filter(|lock| self.seen.insert(lock.clone()))
            .collect();
        Ok((new_locks, self.baseline.changed(filenodes)))
    }

    /// The pre-existing relations rewritten (or truncated) since the last call.
    pub async fn rewritten(&mut self, conn: &mut PgConnection) -> Result<Vec<String>, TraceError> {
        Ok(self.baseline.rewritten(conn).await?)
    }

    /// Runs `statement` (a future running one statement outside a transaction on the session
    /// `pid`) while reading that session's locks from `monitor` every `poll`: locks are released
    /// when an autocommit statement ends, so they can only be seen while it runs. Locks waited for
    /// are reported with `granted: false`; a statement shorter than `poll` may finish unobserved.
    pub async fn watch<T>(
        &self,
        monitor: &mut PgConnection,
        pid: i32,
        poll: Duration,
        statement: impl std::future::Future<Output = T>,
    ) -> (T, Result<Vec<TracedLock>, TraceError>) {
        let done = AtomicBool::new(false);
        let run = async {
            let result = statement.await;
            done.store(true, Ordering::SeqCst);
            result
        };
        let watch = async {
            let mut seen: BTreeSet<TracedLock> = BTreeSet::new();
            let mut order = Vec::new();
            while !done.load(Ordering::SeqCst) {
                let rows: Vec<LockRow> = sqlx::query_as(LOCKS_OF_PID_SQL)
                    .bind(pid)
                    .fetch_all(&mut *monitor)
                    .await?;
                for lock in self.baseline.locks(rows) {
                    if seen.insert(lock.clone()) {
                        order.push(lock);
                    }
                }
                tokio::time::sleep(poll).await;
            }
            Ok::<_, TraceError>(order)
        };
        tokio::join!(run, watch)
    }
}

async fn current_lock_timeout(conn: &mut PgConnection) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT current_setting('lock_timeout')")
        .fetch_one(conn)
        .await
}

/// Runs `statements` in one transaction on `conn`, observing locks and rewrites after each, then
/// rolls back (or commits with [`TraceOptions::commit`]). Statements that fail stop the trace; the
/// error is recorded on that statement.
pub async fn trace(
    conn: &mut PgConnection,
    statements: &[String],
    options: &TraceOptions,
) -> Result<Trace, TraceError> {
    let mut tracer = Tracer::start(conn).await?;
    let mut tx = conn.begin().await?;
    let mut out = Vec::with_capacity(statements.len());
    for (index, sql) in statements.iter().enumerate() {
        let lock_timeout = current_lock_timeout(&mut tx).await?;
        let started = Instant::now();
        let result = sqlx::raw_sql(AssertSqlSafe(sql.clone()))
            .execute(&mut *tx)
            .await;
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        let traced = StatementTrace::new(index, sql, lock_timeout, duration_ms);
        let done = match result {
            Ok(done) => done,
            Err(error) => {
                out.push(traced.failed(Vec::new(), &error));
                break;
            }
        };
        let (new_locks, rewritten) = tracer.observe(&mut tx).await?;
        out.push(traced.done(new_locks, rewritten, done.rows_affected()));
    }
    let failed = out.last().is_some_and(|s| s.error.is_some());
    let committed = options.commit && !failed;
    if committed {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(Trace {
        statements: out,
        committed,
    })
}

/// Runs `statements` one by one outside any transaction on `conn`, as sqlx runs a
/// `-- no-transaction` migration (this is how CONCURRENTLY statements are traced), watching the
/// session's locks from `monitor` every `poll` while each statement runs ([`Tracer::watch`]).
/// The work is committed (there is no transaction to roll back).
pub async fn trace_autocommit(
    conn: &mut PgConnection,
    monitor: &mut PgConnection,
    statements: &[String],
    poll: Duration,
) -> Result<Trace, TraceError> {
    let mut tracer = Tracer::start(conn).await?;
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *conn)
        .await?;
    let mut out = Vec::with_capacity(statements.len());
    for (index, sql) in statements.iter().enumerate() {
        let lock_timeout = current_lock_timeout(conn).await?;
        let started = Instant::now();
        let run = sqlx::raw_sql(AssertSqlSafe(sql.clone())).execute(&mut *conn);
        let (result, watched) = tracer.watch(monitor, pid, poll, run).await;
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        let new_locks = watched?;
        let traced = StatementTrace::new(index, sql, lock_timeout, duration_ms);
        let done = match result {
            Ok(done) => done,
            Err(error) => {
                out.push(traced.failed(new_locks, &error));
                break;
            }
        };
        let rewritten = tracer.rewritten(conn).await?;
        out.push(traced.done(new_locks, rewritten, done.rows_affected()));
    }
    // Every statement that ran was committed on its own: there is nothing to roll back.
    Ok(Trace {
        statements: out,
        committed: true,
    })
}

impl StatementTrace {
    fn new(index: usize, sql: &str, lock_timeout: String, duration_ms: f64) -> StatementTrace {
        StatementTrace {
            index,
            sql: sql.to_string(),
            lock_timeout,
            new_locks: Vec::new(),
            rewritten: Vec::new(),
            duration_ms,
            rows_affected: None,
            error: None,
        }
    }

    fn failed(self, new_locks: Vec<TracedLock>, error: &sqlx::Error) -> StatementTrace {
        StatementTrace {
            new_locks,
            error: Some(error.to_string()),
            ..self
        }
    }

    fn done(
        self,
        new_locks: Vec<TracedLock>,
        rewritten: Vec<String>,
        rows_affected: u64,
    ) -> StatementTrace {
        StatementTrace {
            new_locks,
            rewritten,
            rows_affected: Some(rows_affected),
            ..self
        }
    }

    /// The strongest new table-level lock mode on each relation of a kind in `relkinds`
    /// (e.g. `["r", "p", "m"]` for tables and materialized views).
    pub fn strongest_by_relation(&self, relkinds: &[&str]) -> BTreeMap<String, LockMode> {
        let mut out: BTreeMap<String, LockMode> = BTreeMap::new();
        for lock in &self.new_locks {
            let (Some(rel), Some(kind), Some(mode)) =
                (&lock.relation, &lock.relkind, lock.lock_mode)
            else {
                continue;
            };
            if !relkinds.contains(&kind.as_str()) {
                continue;
            }
            let entry = out.entry(rel.clone()).or_insert(mode);
            if mode > *entry {
                *entry = mode;
            }
        }
        out
    }
}
