//! Applying and reverting migrations, statement by statement, with sqlx's bookkeeping.
//!
//! A run takes sqlx's advisory lock on its own dedicated connection (polled, never blocking),
//! reads the history *under the lock*, plans, and runs each migration's statements one at a time
//! inside one transaction (unless `-- no-transaction`), so every statement gets its own timing and
//! a failure names its statement and line. The history rows are written exactly as sqlx writes
//! them. Progress is streamed as [`RunEvent`]s.

mod dry_run;
mod events;
mod execute;
mod lock;
mod plan;
mod resolve;
mod script;

use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::Connection;
use sqlx::postgres::PgConnection;

pub use dry_run::render_dry_run;
pub use events::{EventSink, Failure, LockHolder, RunEvent};
pub use lock::{LockError, advisory_key, holder as lock_holder};
pub use plan::{Direction, Operation, Plan, PlanError, Step, plan};
pub use resolve::{Resolution, Resolved};

use crate::config::{Config, pg_duration};
use crate::db::{Database, DbError};
use crate::history::{self, HistoryError, HistoryTable};
use crate::source::MigrationSet;
use crate::status::Status;

/// How runs behave.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The history table.
    pub table: HistoryTable,
    /// Schemas to create before the history table.
    pub create_schemas: Vec<String>,
    /// `lock_timeout` for the migration session.
    pub lock_timeout: Option<Duration>,
    /// `statement_timeout` for the migration session.
    pub statement_timeout: Option<Duration>,
    /// How long to poll for the advisory lock.
    pub lock_wait: Duration,
    /// Apply even though applied migrations' files are missing.
    pub ignore_missing: bool,
}

impl RunOptions {
    /// Options from the project configuration.
    pub fn from_config(config: &Config) -> RunOptions {
        RunOptions {
            table: HistoryTable::new(config.table_name.clone()),
            create_schemas: config.create_schemas.clone(),
            lock_timeout: config.lock_timeout,
            statement_timeout: config.statement_timeout,
            lock_wait: config.lock_wait,
            ignore_missing: false,
        }
    }
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No connection.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The advisory lock was not free.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The operation cannot be planned.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The history table could not be read or created.
    #[error(transparent)]
    History(#[from] HistoryError),
    /// A migration failed.
    #[error(
        "migration {version} ({description}) failed to {verb} at {failure}\n{}",
        failure_outcome(*version, *direction, failure),
        verb = direction.verb()
    )]
    Migration {
        /// The version.
        version: i64,
        /// Its description.
        description: String,
        /// Apply or revert.
        direction: Direction,
        /// What failed.
        failure: Failure,
    },
    /// A session setting or other query failed.
    #[error("{context}: {source}")]
    Query {
        /// What was being done.
        context: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
}

/// What a failed migration left behind, for [`RunError::Migration`]'s message.
fn failure_outcome(version: i64, direction: Direction, failure: &Failure) -> String {
    let stayed = match failure.completed.as_slice() {
        [] => "no statement of it stayed applied".to_string(),
        [one] => format!("statement {} stayed applied", one + 1),
        [first, .., last] => format!("statements {}–{} stayed applied", first + 1, last + 1),
    };
    if failure.in_transaction {
        "the transaction was rolled back: nothing of it remains".to_string()
    } else if failure.partial {
        let (verb, state) = match direction {
            Direction::Apply => ("applied", "partially applied"),
            Direction::Revert => ("reverted", "partially reverted"),
        };
        format!(
            "it runs outside a transaction (-- no-transaction): {stayed}, and its history row \
             records it as {state} (success = false), so no run goes past it. `lockstep status` \
             shows what is known; finish or undo the rest by hand, then run `lockstep resolve \
             {version} --applied` or `lockstep resolve {version} --rolled-back` (whether the \
             migration is now {verb} in full or not at all)"
        )
    } else {
        format!(
            "it runs outside a transaction (-- no-transaction), but it failed in its first \
             segment: {stayed} and its history row is unchanged; fix it and run again"
        )
    }
}

/// What a completed run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// The steps run, in order, with how long each took.
    pub completed: Vec<(Direction, i64, Duration)>,
    /// The whole run's wall time, lock wait included.
    pub elapsed: Duration,
}

/// A dedicated, pinned migration connection with its session settings applied.
pub struct Runner {
    conn: PgConnection,
    options: RunOptions,
    events: EventSink,
    key: i64,
    backend_pid: i32,
}

impl Runner {
    /// Opens the migration connection (`application_name = lockstep:apply`), applies the session
    /// timeouts and reports [`RunEvent::Connected`].
    pub async fn connect(
        db: &Database,
        options: RunOptions,
        events: EventSink,
    ) -> Result<Runner, RunError> {
        let mut conn = db.connect("lockstep:apply").await?;
        let query_err = |context: &str| {
            let context = context.to_string();
            move |source| RunError::Query { context, source }
        };
        for (name, value) in [
            ("lock_timeout", options.lock_timeout),
            ("statement_timeout", options.statement_timeout),
        ] {
            if let Some(value) = value {
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "SET {name} = '{}'",
                    pg_duration(value)
                )))
                .execute(&mut conn)
                .await
                .map_err(query_err(&format!("setting {name}")))?;
            }
        }
        let (backend_pid, database, server_version): (i32, String, String) = sqlx::query_as(
            "SELECT pg_backend_pid(), current_database()::text, current_setting('server_version')",
        )
        .fetch_one(&mut conn)
        .await
        .map_err(query_err("reading the session"))?;
        let _ = events.send(RunEvent::Connected {
            backend_pid,
            server_version,
        });
        Ok(Runner {
            conn,
            key: lock::advisory_key(&database),
            options,
            events,
            backend_pid,
        })
    }

    /// The migration session's backend pid (to monitor or cancel it from another connection).
    pub fn backend_pid(&self) -> i32 {
        self.backend_pid
    }

    /// Takes the migration lock, reads the history under it, plans `operation` and runs it. The
    /// lock is released at the end, also on failure.
    pub async fn run(
        &mut self,
        operation: Operation,
        set: &MigrationSet,
    ) -> Result<RunSummary, RunError> {
        self.run_checked(operation, set, None).await
    }

    /// Like [`Runner::run`], but refuses to start if the plan made under the lock differs from
    /// `expected` (what a confirmation dialog showed).
    pub async fn run_checked(
        &mut self,
        operation: Operation,
        set: &MigrationSet,
        expected: Option<&[(Direction, i64)]>,
    ) -> Result<RunSummary, RunError> {
        let started = Instant::now();
        self.under_lock(async |runner: &mut Runner| {
            runner.run_locked(operation, set, expected, started).await
        })
        .await
    }

    /// Takes the migration lock, does `work`, and releases the lock, also when `work` fails.
    async fn under_lock<T>(
        &mut self,
        work: impl AsyncFnOnce(&mut Runner) -> Result<T, RunError>,
    ) -> Result<T, RunError> {
        lock::acquire(
            &mut self.conn,
            self.key,
            self.options.lock_wait,
            &self.events,
        )
        .await?;
        let result = work(self).await;
        let released = lock::release(&mut self.conn, self.key).await;
        let value = result?;
        released.map_err(|source| RunError::Query {
            context: "releasing the migration lock".into(),
            source,
        })?;
        Ok(value)
    }

    async fn run_locked(
        &mut self,
        operation: Operation,
        set: &MigrationSet,
        expected: Option<&[(Direction, i64)]>,
        started: Instant,
    ) -> Result<RunSummary, RunError> {
        let table = self.options.table.clone();
        let rows = history::read(&mut self.conn, &table).await?;
        let status = Status::build(set, rows.as_deref());
        let plan = plan(operation, set, &status, self.options.ignore_missing)?;
        if let Some(expected) = expected
            && plan.signature() != expected
        {
            return Err(RunError::Plan(PlanError::BadFiles(vec![
                "the database changed since the plan was confirmed; review it again".into(),
            ])));
        }
        if plan.steps.iter().any(|s| s.direction == Direction::Apply) && rows.is_none() {
            history::ensure(&mut self.conn, &table, &self.options.create_schemas).await?;
        }
        let mut completed = Vec::new();
        for step in &plan.steps {
            let elapsed = execute::run_step(&mut self.conn, &table, step, &self.events).await?;
            completed.push((step.direction, step.version, elapsed));
        }
        Ok(RunSummary {
            completed,
            elapsed: started.elapsed(),
        })
    }

    /// Closes the connection cleanly.
    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}

/// Reads the status of `set` on `db` without writing anything (the history table is not created).
pub async fn read_status(
    db: &Database,
    set: &MigrationSet,
    table: &HistoryTable,
) -> Result<Status, RunError> {
    let mut conn = db.connect("lockstep:status").await?;
    let rows = history::read(&mut conn, table).await?;
    let mut status = Status::build(set, rows.as_deref());
    crate::unfinished::read_server_facts(&mut conn, &mut status)
        .await
        .map_err(|source| RunError::Query {
            context: "reading the indexes an unfinished migration left".into(),
            source,
        })?;
    let _ = conn.close().await;
    Ok(status)
}
