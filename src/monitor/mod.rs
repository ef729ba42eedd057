//! The database monitoring engine behind the Activity, Locks and Sizes panes and
//! `lockstep inspect`.
//!
//! A [`Monitor`] owns exactly one dedicated connection (`application_name = 'lockstep:monitor'`);
//! every read runs in a transaction of its own with `SET LOCAL lock_timeout = 100ms` and
//! `statement_timeout = 2s` (nothing is left on the session, no statement is prepared: it works
//! through a transaction pooler, see [`crate::pooler`]); every query it sends starts with
//! `/* lockstep */` (but the `COMMIT` that ends each read) and leaves out its own backend
//! (`pid <> pg_backend_pid()`). Its methods take
//! `&mut self`, so two polls can never be in flight on it: a poller that awaits each refresh
//! before starting the next coalesces ticks by construction. Sessions that come from the pooler
//! lockstep goes through are marked [`Session::via_pooler`].
//!
//! A query that hits the lock or statement timeout returns [`MonitorError::Stale`]: keep the last
//! good data, show its age, and retry on the next tick. Monitor errors never touch the apply
//! session.
//!
//! - [`Monitor::sizes`]: per-table sizes, guarded against ACCESS EXCLUSIVE locks ([`sizes`]).
//! - [`Monitor::activity`]: sessions from `pg_stat_activity` ([`activity`]).
//! - [`Monitor::lock_edges`] + [`build_forest`] + [`render_forest`]: who blocks whom.
//! - [`Monitor::session_locks`]: a lock sample of the running migration.
//! - [`Monitor::sessions_blocking_tables`]: what an apply would queue behind.
//! - [`Monitor::migration_lock`]: who holds sqlx's advisory lock.
//! - [`Monitor::cancel`] / [`Monitor::terminate`].
//! - [`Monitor::refresh_all`]: one [`Snapshot`] of everything; [`Poller`] runs it on a cadence.

pub mod activity;
pub mod advisory;
pub mod blockers;
pub mod control;
pub mod edges;
pub mod error;
pub mod forest;
pub mod format;
pub mod poller;
pub mod render;
pub mod session_locks;
pub mod sizes;
mod snapshot;

#[cfg(test)]
mod forest_tests;

use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgArguments, PgConnection, PgRow, Postgres};
use sqlx::query::Query;

pub use activity::Session;
pub use advisory::{MIGRATION_LOCK_LABEL, MigrationLock};
pub use blockers::TableBlocker;
pub use control::Signal;
pub use edges::{LockEdge, WaitedLock};
pub use error::{MonitorError, Refusal};
pub use forest::{LockTreeNode, Placeholder, build_forest, find_in_forest, forest_len};
pub use poller::{PollState, Poller, PollerConfig};
pub use render::render_forest;
pub use session_locks::{HeldLock, LockWait, RelatedSession, SessionLocks};
pub use sizes::{SizeColumn, TableSize, sort_sizes};
pub use snapshot::{RefreshOptions, Snapshot};

use crate::db::Database;
use crate::pooler::{pinned, set_local};
use error::classify;

/// The monitoring connection's `application_name`.
pub const APPLICATION_NAME: &str = "lockstep:monitor";
/// The monitoring connection's `lock_timeout`.
pub const LOCK_TIMEOUT: &str = "100ms";
/// The monitoring connection's `statement_timeout`.
pub const STATEMENT_TIMEOUT: &str = "2s";
/// The default age from which an idle-in-transaction session stands out.
pub const DEFAULT_IDLE_THRESHOLD: Duration = Duration::from_secs(10);

/// The SQL of every query, chosen once per connection by `server_version_num`.
struct Queries {
    activity: String,
    edges: String,
    sizes: String,
    sizes_named: String,
    related: String,
    blockers: String,
    advisory_waiters: String,
}

impl Queries {
    fn for_version(server_version_num: i32, pooler_address: Option<&str>) -> Queries {
        let columns = activity::activity_columns(server_version_num, pooler_address);
        Queries {
            activity: activity::activity_sql(&columns),
            edges: edges::edges_sql(server_version_num),
            sizes: sizes::sizes_sql(false),
            sizes_named: sizes::sizes_sql(true),
            related: session_locks::related_sql(&columns),
            blockers: blockers::blockers_sql(&columns),
            advisory_waiters: advisory::waiters_sql(&columns),
        }
    }
}

/// The one monitoring connection and the queries it runs. See the [module docs](self).
pub struct Monitor {
    conn: PgConnection,
    backend_pid: i32,
    server_version_num: i32,
    database: String,
    idle_threshold: Duration,
    queries: Queries,
    /// The `SET LOCAL`s every read's transaction starts with.
    settings: String,
    pooler_address: Option<String>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("backend_pid", &self.backend_pid)
            .field("server_version_num", &self.server_version_num)
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

impl Monitor {
    /// Opens the monitoring connection to `db` (checking once per database what pooler, if any,
    /// sits in between, to mark the sessions that come from it).
    pub async fn connect(db: &Database) -> Result<Monitor, MonitorError> {
        let mut conn = db.connect(APPLICATION_NAME).await?;
        let pooler_address = match db.known_pooling() {
            Some(pooling) => pooling.pooler_address.clone(),
            None => db
                .pooling(&mut conn)
                .await
                .ok()
                .and_then(|p| p.pooler_address),
        };
        Monitor::setup(conn, pooler_address).await
    }

    /// Turns an open connection into the monitor's and reads the backend pid, database and
    /// server version once.
    pub async fn with_connection(conn: PgConnection) -> Result<Monitor, MonitorError> {
        Monitor::setup(conn, None).await
    }

    async fn setup(
        mut conn: PgConnection,
        pooler_address: Option<String>,
    ) -> Result<Monitor, MonitorError> {
        let settings = format!(
            "/* lockstep */ {}",
            set_local([
                ("application_name", Some(APPLICATION_NAME.to_string())),
                ("lock_timeout", Some(LOCK_TIMEOUT.to_string())),
                ("statement_timeout", Some(STATEMENT_TIMEOUT.to_string())),
            ])
        );
        let row = sqlx::raw_sql(
            "/* lockstep */ SELECT pg_backend_pid(), current_database()::text, \
             current_setting('server_version_num')::int",
        )
        .fetch_one(&mut conn)
        .await
        .map_err(classify("reading the monitoring session"))?;
        let read = |row: &PgRow| -> Result<(i32, String, i32), sqlx::Error> {
            use sqlx::Row;
            Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
        };
        let (backend_pid, database, server_version_num) =
            read(&row).map_err(classify("reading the monitoring session"))?;
        Ok(Monitor {
            conn,
            backend_pid,
            server_version_num,
            database,
            idle_threshold: DEFAULT_IDLE_THRESHOLD,
            queries: Queries::for_version(server_version_num, pooler_address.as_deref()),
            settings,
            pooler_address,
        })
    }

    /// Runs `query` in a transaction of its own with the monitor's settings.
    async fn rows(
        &mut self,
        what: &'static str,
        query: Query<'_, Postgres, PgArguments>,
    ) -> Result<Vec<PgRow>, MonitorError> {
        let mut tx = pinned(&mut self.conn, &self.settings)
            .await
            .map_err(classify(what))?;
        let rows = query
            .persistent(false)
            .fetch_all(&mut *tx)
            .await
            .map_err(classify(what))?;
        tx.commit().await.map_err(classify(what))?;
        Ok(rows)
    }

    /// The address of the pooler lockstep goes through, as the server sees it, when there is one.
    pub fn pooler_address(&self) -> Option<&str> {
        self.pooler_address.as_deref()
    }

    /// The monitor's own backend pid (never listed by its queries).
    pub fn backend_pid(&self) -> i32 {
        self.backend_pid
    }

    /// `server_version_num`, e.g. `150004`.
    pub fn server_version_num(&self) -> i32 {
        self.server_version_num
    }

    /// The database name.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The idle-in-transaction threshold used by methods other than [`Monitor::activity`].
    pub fn idle_threshold(&self) -> Duration {
        self.idle_threshold
    }

    /// Sets the idle-in-transaction threshold used by methods other than [`Monitor::activity`].
    pub fn set_idle_threshold(&mut self, threshold: Duration) {
        self.idle_threshold = threshold;
    }

    /// Every table's sizes; tables with an ACCESS EXCLUSIVE lock held or queued show catalog
    /// estimates and `exclusively_locked = true` instead of waiting. Ordered by schema, name.
    pub async fn sizes(&mut self) -> Result<Vec<TableSize>, MonitorError> {
        let sql = self.queries.sizes.clone();
        let rows = self
            .rows("reading table sizes", sqlx::query(sqlx::AssertSqlSafe(sql)))
            .await?;
        let version = self.server_version_num;
        rows.iter()
            .map(|row| TableSize::from_row(row, version))
            .collect::<Result<_, _>>()
            .map_err(classify("reading table sizes"))
    }

    /// The sizes of a few named tables (`table` or `schema.table`; missing ones are left out),
    /// e.g. for "blocks writes on conversations (1.2 GB, 8.1M rows)". Same lock guard as
    /// [`Monitor::sizes`].
    pub async fn sizes_for(&mut self, tables: &[String]) -> Result<Vec<TableSize>, MonitorError> {
        let sql = self.queries.sizes_named.clone();
        let rows = self
            .rows(
                "reading table sizes",
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tables),
            )
            .await?;
        let version = self.server_version_num;
        rows.iter()
            .map(|row| TableSize::from_row(row, version))
            .collect::<Result<_, _>>()
            .map_err(classify("reading table sizes"))
    }

    /// Every session of this database, and the background processes (no database), but the
    /// monitor's own (idle ones included; filter with [`Session::is_idle`]), oldest transaction
    /// first. Sessions idle in a transaction for at least
    /// `min_idle_in_tx_age` are flagged `idle_in_transaction_too_long`.
    pub async fn activity(
        &mut self,
        min_idle_in_tx_age: Duration,
    ) -> Result<Vec<Session>, MonitorError> {
        let sql = self.queries.activity.clone();
        let rows = self
            .rows("reading activity", sqlx::query(sqlx::AssertSqlSafe(sql)))
            .await?;
        rows.iter()
            .map(|row| Session::from_row(row, min_idle_in_tx_age))
            .collect::<Result<_, _>>()
            .map_err(classify("reading activity"))
    }

    /// One edge per session of this database waiting on a lock: whom it waits on, since when,
    /// and for what. Build the tree with [`build_forest`].
    pub async fn lock_edges(&mut self) -> Result<Vec<LockEdge>, MonitorError> {
        let sql = self.queries.edges.clone();
        let rows = self
            .rows("reading lock waits", sqlx::query(sqlx::AssertSqlSafe(sql)))
            .await?;
        rows.iter()
            .map(LockEdge::from_row)
            .collect::<Result<_, _>>()
            .map_err(classify("reading lock waits"))
    }

    /// A lock sample of `pid` (the running migration's backend): the locks it holds and
    /// requests, whom it waits on (with their query, state and transaction age) and who is
    /// queued behind it. Two queries.
    pub async fn session_locks(&mut self, pid: i32) -> Result<SessionLocks, MonitorError> {
        let lock_rows = self
            .rows(
                "reading the session's locks",
                sqlx::query(session_locks::LOCKS_SQL).bind(pid),
            )
            .await?;
        let locks = session_locks::locks_from_rows(&lock_rows)
            .map_err(classify("reading the session's locks"))?;
        let sql = self.queries.related.clone();
        let related_rows = self
            .rows(
                "reading the session's waits",
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(pid),
            )
            .await?;
        let mut sample = SessionLocks {
            pid,
            session: None,
            locks,
            waits_on: Vec::new(),
            waited_on_by: Vec::new(),
        };
        for row in &related_rows {
            let (relation, related) = session_locks::related_from_row(row, self.idle_threshold)
                .map_err(classify("reading the session's waits"))?;
            match relation.as_str() {
                "self" => sample.session = related.session,
                "waits_on" => sample.waits_on.push(related),
                _ => sample.waited_on_by.push(related),
            }
        }
        Ok(sample)
    }

    /// Long-running (transaction older than `min_age`) and idle-in-transaction sessions that
    /// hold or wait for a lock on one of `tables` (or their indexes or TOAST tables): what a
    /// migration touching them would queue behind. Tables that do not exist are skipped.
    pub async fn sessions_blocking_tables(
        &mut self,
        tables: &[String],
        min_age: Duration,
    ) -> Result<Vec<TableBlocker>, MonitorError> {
        let sql = self.queries.blockers.clone();
        let rows = self
            .rows(
                "reading sessions holding locks on the tables",
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(tables)
                    .bind(min_age.as_secs_f64()),
            )
            .await?;
        let threshold = self.idle_threshold;
        rows.iter()
            .map(|row| TableBlocker::from_row(row, threshold))
            .collect::<Result<_, _>>()
            .map_err(classify("reading sessions holding locks on the tables"))
    }

    /// sqlx's migration advisory lock for this database ([`crate::runner::advisory_key`]): its
    /// holder and waiters, labelled "migration lock (sqlx)".
    pub async fn migration_lock(&mut self) -> Result<MigrationLock, MonitorError> {
        let key = crate::runner::advisory_key(&self.database);
        self.advisory_lock(key).await
    }

    /// Any bigint advisory lock `key`: its holder (via [`crate::runner::lock_holder`]) and
    /// waiters.
    pub async fn advisory_lock(&mut self, key: i64) -> Result<MigrationLock, MonitorError> {
        let what = "reading the migration lock";
        let mut tx = pinned(&mut self.conn, &self.settings)
            .await
            .map_err(classify(what))?;
        let holder = crate::runner::lock_holder(&mut tx, key, self.pooler_address.as_deref())
            .await
            .map_err(classify(what))?
            .filter(|h| h.pid != self.backend_pid);
        tx.commit().await.map_err(classify(what))?;
        let sql = self.queries.advisory_waiters.clone();
        let rows = self
            .rows(
                what,
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(key >> 32)
                    .bind(key & 0xffff_ffff),
            )
            .await?;
        let threshold = self.idle_threshold;
        let waiters = rows
            .iter()
            .map(|row| Session::from_row(row, threshold))
            .collect::<Result<_, _>>()
            .map_err(classify("reading the migration lock"))?;
        Ok(MigrationLock {
            label: MIGRATION_LOCK_LABEL,
            key,
            holder,
            waiters,
        })
    }

    /// Cancels `pid`'s running query (`pg_cancel_backend`). Refuses the monitor's own session,
    /// background processes and idle sessions.
    pub async fn cancel(&mut self, pid: i32) -> Result<(), MonitorError> {
        self.signal(Signal::Cancel, pid).await
    }

    /// Cancels `pid`'s running query only while its session carries `application_name`:
    /// behind a transaction pooler a backend serves another client once the transaction that
    /// was looked at ends. Whether a cancel was sent.
    pub async fn cancel_owned(
        &mut self,
        pid: i32,
        application_name: &str,
    ) -> Result<bool, MonitorError> {
        let rows = self
            .rows(
                "cancelling the session",
                sqlx::query(control::CANCEL_OWNED_SQL)
                    .bind(pid)
                    .bind(application_name),
            )
            .await?;
        Ok(rows
            .first()
            .and_then(|row| sqlx::Row::try_get::<bool, _>(row, 0).ok())
            .unwrap_or(false))
    }

    /// Ends `pid`'s session (`pg_terminate_backend`). Refuses the monitor's own session and
    /// background processes. Ask for a second confirmation before calling this.
    pub async fn terminate(&mut self, pid: i32) -> Result<(), MonitorError> {
        self.signal(Signal::Terminate, pid).await
    }

    /// Sends `signal` to `pid` after the guards (behind a transaction pooler, "the monitor's own
    /// session" is the backend its transaction runs on now).
    pub async fn signal(&mut self, signal: Signal, pid: i32) -> Result<(), MonitorError> {
        let mut tx = pinned(&mut self.conn, &self.settings)
            .await
            .map_err(classify("looking up the session"))?;
        let own_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .persistent(false)
            .fetch_one(&mut *tx)
            .await
            .map_err(classify("looking up the session"))?;
        let target: Option<(Option<String>, Option<String>)> = sqlx::query_as(control::TARGET_SQL)
            .bind(pid)
            .persistent(false)
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify("looking up the session"))?;
        control::check(signal, pid, own_pid, target)?;
        let signalled: bool = sqlx::query_scalar(signal.sql())
            .bind(pid)
            .persistent(false)
            .fetch_one(&mut *tx)
            .await
            .map_err(classify("signalling the session"))?;
        tx.commit()
            .await
            .map_err(classify("signalling the session"))?;
        if signalled {
            Ok(())
        } else {
            Err(MonitorError::NotSignalled(pid))
        }
    }

    /// One refresh: activity, lock edges and forest, and sizes when asked. The reads run one
    /// after the other on the one connection.
    pub async fn refresh_all(
        &mut self,
        options: &RefreshOptions,
    ) -> Result<Snapshot, MonitorError> {
        snapshot::refresh(self, options).await
    }

    /// Closes the connection cleanly.
    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}
