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
mod hook;
mod lock;
mod plan;
mod pooled;
mod resolve;
mod script;
mod tally;
pub mod text;
mod watch;

use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tokio_util::sync::CancellationToken;

pub use dry_run::{render_dry_run, render_step};
pub use events::{EventSink, Failure, KeptTable, LOCK_NOT_AVAILABLE, LockHolder, RunEvent};
pub(crate) use execute::describe as describe_failure;
pub use hook::{BeforeStatement, HookError, HookFuture};
pub use lock::{LockError, advisory_key, holder as lock_holder};
pub use plan::{
    Direction, Operation, Plan, PlanError, Prepared, Step, cut, in_one_transaction, plan,
    plan_prepared,
};
pub use resolve::{Resolution, Resolved};
pub use tally::{RunTally, Stopped};
pub use watch::WAIT_GRACE;

use crate::config::{Config, pg_duration};
use crate::db::{Database, DbError};
use crate::history::{self, HistoryError, HistoryTable};
use crate::pooler::{Pooling, pinned};
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
    /// How often a migration that gave up on a lock (`lock_timeout`) runs again from its start.
    pub retries: u32,
    /// Apply even though applied migrations' files are missing.
    pub ignore_missing: bool,
    /// Run safely behind a transaction pooler (`--pooled`): the migration lock is taken with
    /// `pg_try_advisory_xact_lock` inside each migration's transaction, which reads the history
    /// again under it and skips a migration another run has done meanwhile; the timeouts and
    /// `application_name` are `SET LOCAL`; `-- no-transaction` migrations are refused.
    pub pooled: bool,
}

/// How long lockstep waits before the `attempt`-th retry (1-based): 0.5 s, 1 s, 2 s, … up to 10 s.
pub fn retry_delay(attempt: u32) -> Duration {
    let doubled = Duration::from_millis(500).saturating_mul(1 << attempt.saturating_sub(1).min(5));
    doubled.min(Duration::from_secs(10))
}

impl RunOptions {
    /// The `SET LOCAL`s a `--pooled` migration's transaction starts with.
    pub fn transaction_settings(&self, application_name: &str) -> String {
        crate::pooler::set_local(
            self.timeouts()
                .map(|(name, value)| (name, value.map(pg_duration)))
                .into_iter()
                .chain([("application_name", Some(application_name.to_string()))]),
        )
    }

    /// The `SET`s a (not `--pooled`) run's session starts with: its timeouts, one per line.
    pub fn session_settings(&self) -> String {
        self.timeouts()
            .into_iter()
            .filter_map(|(name, value)| Some(format!("SET {name} = '{}';\n", pg_duration(value?))))
            .collect()
    }

    /// The session's timeouts, by setting name.
    fn timeouts(&self) -> [(&'static str, Option<Duration>); 2] {
        [
            ("lock_timeout", self.lock_timeout),
            ("statement_timeout", self.statement_timeout),
        ]
    }

    /// Options from the project configuration.
    pub fn from_config(config: &Config) -> RunOptions {
        RunOptions {
            table: HistoryTable::new(config.table_name.clone()),
            create_schemas: config.create_schemas.clone(),
            lock_timeout: config.lock_timeout,
            statement_timeout: config.statement_timeout,
            lock_wait: config.lock_wait,
            retries: config.retries,
            ignore_missing: false,
            pooled: false,
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
    /// The run was interrupted (Ctrl-C, SIGTERM, the dashboard's cancel): nothing new started
    /// after that.
    #[error("{}", interrupted_text(*during, completed))]
    Interrupted {
        /// The migration that was running, if one was, and whether it ran in a transaction.
        during: Option<(Direction, i64, bool)>,
        /// Its statements that completed (outside a transaction they stay applied).
        completed: Vec<usize>,
    },
    /// Behind a pooler, the run cannot go on (see [`Pooling::refusal`]).
    #[error("{0}")]
    Pooling(String),
    /// The run's [`Gate`] stayed closed: nothing was written.
    #[error("the run did not start: {0}")]
    NotStarted(String),
    /// A session setting or other query failed.
    #[error("{context}: {}", crate::db::describe(source))]
    Query {
        /// What was being done.
        context: String,
        /// The driver's error.
        source: sqlx::Error,
    },
}

/// The interruption in words, from the same description as the run's summary.
fn interrupted_text(during: Option<(Direction, i64, bool)>, completed: &[usize]) -> String {
    match during {
        None => "interrupted before any migration started".to_string(),
        Some((direction, version, rolled_back)) => {
            let stopped = Stopped {
                version,
                direction,
                rolled_back,
                completed_statements: completed.to_vec(),
            };
            format!("interrupted: {}", stopped.describe())
        }
    }
}

impl RunError {
    /// Whether the run stopped because it was interrupted.
    pub fn is_interrupted(&self) -> bool {
        matches!(
            self,
            RunError::Interrupted { .. } | RunError::Lock(LockError::Interrupted)
        )
    }
}

/// What a failed migration left behind, for [`RunError::Migration`]'s message.
fn failure_outcome(version: i64, direction: Direction, failure: &Failure) -> String {
    let stayed = match failure.completed.as_slice() {
        [] => "no statement of it stayed applied".to_string(),
        [one] => format!("statement {} stayed applied", one + 1),
        [first, .., last] => format!("statements {}–{} stayed applied", first + 1, last + 1),
    };
    let how = if failure.own_transactions {
        "as written, in the transactions it opens and ends itself (BEGIN/COMMIT)"
    } else {
        "outside a transaction (-- no-transaction)"
    };
    if failure.in_transaction {
        "the transaction was rolled back: nothing of it remains".to_string()
    } else if failure.partial {
        let (verb, state) = match direction {
            Direction::Apply => ("applied", "partially applied"),
            Direction::Revert => ("reverted", "partially reverted"),
        };
        format!(
            "it runs {how}: {stayed}, and its history row records it as {state} (success = \
             false), so no run goes past it. `lockstep status` shows what is known; finish or \
             undo the rest by hand, then run `lockstep resolve {version} --applied` or \
             `lockstep resolve {version} --rolled-back` (whether the migration is now {verb} in \
             full or not at all)"
        )
    } else {
        format!(
            "it runs {how}, but it failed before anything of it committed: {stayed} and its \
             history row is unchanged; fix it and run again"
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
    cancel: CancellationToken,
    watch: watch::Watch,
    pooling: Pooling,
    hook: Option<Box<dyn BeforeStatement>>,
    gate: Option<Gate>,
}

/// Holds a run back from its first write until something outside the runner is ready (the
/// audit's row for the run): meanwhile the runner reads the history, plans, splits the files and
/// takes the migration lock. Opened with `Ok(())`; an `Err` (or a dropped sender) stops the run
/// before it writes anything, with that reason.
pub type Gate = tokio::sync::oneshot::Receiver<Result<(), String>>;

impl Runner {
    /// Opens the migration connection (`application_name = lockstep:apply`), checks what sits
    /// between lockstep and the server ([`Database::pooling`]) and refuses a transaction pooler
    /// unless [`RunOptions::pooled`], applies the session timeouts (under `pooled` each
    /// migration's transaction sets them) and reports [`RunEvent::Connected`].
    pub async fn connect(
        db: &Database,
        options: RunOptions,
        events: EventSink,
    ) -> Result<Runner, RunError> {
        let mut conn = db.connect("lockstep:apply").await?;
        let pooling = db.pooling(&mut conn).await?;
        let refusal = if options.pooled {
            pooling.pooled_refusal()
        } else {
            pooling.refusal()
        };
        if let Some(refusal) = refusal {
            let _ = conn.close().await;
            return Err(RunError::Pooling(refusal));
        }
        let query_err = |context: &str| {
            let context = context.to_string();
            move |source| RunError::Query { context, source }
        };
        // The session's timeouts and the read of the session, in one round trip.
        let mut sql = if options.pooled {
            String::new()
        } else {
            options.session_settings()
        };
        sql.push_str(
            "SELECT pg_backend_pid(), current_database()::text, current_setting('server_version')",
        );
        let row = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut conn)
            .await
            .map_err(query_err(
                "setting the session's timeouts and reading the session",
            ))?;
        let read = |row: &sqlx::postgres::PgRow| -> Result<(i32, String, String), sqlx::Error> {
            use sqlx::Row;
            Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
        };
        let (backend_pid, database, server_version) =
            read(&row).map_err(query_err("reading the session"))?;
        let _ = events.send(RunEvent::Connected {
            backend_pid,
            server_version,
            pooling: pooling.clone(),
        });
        let watch = watch::Watch::new(db.detached(), backend_pid, options.lock_timeout);
        Ok(Runner {
            conn,
            key: lock::advisory_key(&database),
            options,
            events,
            backend_pid,
            cancel: CancellationToken::new(),
            watch,
            pooling,
            hook: None,
            gate: None,
        })
    }

    /// Calls `hook` right before every statement this runner runs (see [`BeforeStatement`]).
    pub fn with_hook(mut self, hook: Box<dyn BeforeStatement>) -> Runner {
        self.hook = Some(hook);
        self
    }

    /// Writes nothing (not even the history table) until `gate` opens (see [`Gate`]).
    pub fn gated(mut self, gate: Gate) -> Runner {
        self.gate = Some(gate);
        self
    }

    /// Waits for the gate, if there is one, before the run's first write. A cancel meanwhile
    /// interrupts the run before any migration started.
    pub(crate) async fn pass_gate(&mut self) -> Result<(), RunError> {
        let Some(gate) = self.gate.take() else {
            return Ok(());
        };
        tokio::select! {
            opened = gate => match opened {
                Ok(Ok(())) => Ok(()),
                Ok(Err(reason)) => Err(RunError::NotStarted(reason)),
                Err(_) => Err(RunError::NotStarted("the run's audit did not begin".into())),
            },
            _ = self.cancel.cancelled() => Err(RunError::Interrupted {
                during: None,
                completed: Vec::new(),
            }),
        }
    }

    /// Uses `cancel` as this runner's cancel token (see [`Runner::cancel_token`]).
    pub fn cancelled_by(mut self, cancel: CancellationToken) -> Runner {
        self.cancel = cancel;
        self
    }

    /// The token that interrupts this runner's runs: once cancelled, the statement in flight is
    /// cancelled on the server, a transactional migration rolls back, no new statement or
    /// migration starts, and a wait for the migration lock ends.
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
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
        if self.options.pooled {
            return self.run_pooled(operation, set, expected, started).await;
        }
        // Parse and split outside the lock: a large file must not keep other runs waiting.
        let mut prepared = self.prepare(operation, set).await;
        self.under_lock(async |runner: &mut Runner| {
            runner
                .run_locked(operation, set, expected, started, &mut prepared)
                .await
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
            lock::Scope::Session,
            self.key,
            self.options.lock_wait,
            &self.events,
            &self.cancel,
            self.pooling.pooler_address.as_deref(),
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

    /// Plans without the lock (the history may still change) to split the files that will
    /// probably run; planning under the lock takes their statements from here.
    async fn prepare(&mut self, operation: Operation, set: &MigrationSet) -> Prepared {
        let mut prepared = Prepared::default();
        if let Ok(rows) = read_history(&mut self.conn, &self.options.table).await {
            let status = Status::build(set, rows.as_deref());
            if let Ok(plan) = plan(operation, set, &status, self.options.ignore_missing) {
                prepared.keep(plan);
            }
        }
        prepared
    }

    async fn run_locked(
        &mut self,
        operation: Operation,
        set: &MigrationSet,
        expected: Option<&[(Direction, i64)]>,
        started: Instant,
        prepared: &mut Prepared,
    ) -> Result<RunSummary, RunError> {
        let table = self.options.table.clone();
        let rows = history::read(&mut self.conn, &table).await?;
        let status = Status::build(set, rows.as_deref());
        let plan = plan_prepared(
            operation,
            set,
            &status,
            self.options.ignore_missing,
            prepared,
        )?;
        check_expected(&plan, expected)?;
        if !plan.steps.is_empty() {
            self.pass_gate().await?;
        }
        if plan.steps.iter().any(|s| s.direction == Direction::Apply) && rows.is_none() {
            history::ensure(&mut self.conn, &table, &self.options.create_schemas).await?;
        }
        self.run_steps(&plan, &table, started).await
    }

    /// Runs the steps of `plan` in order, stopping at the first failure or interrupt.
    async fn run_steps(
        &mut self,
        plan: &Plan,
        table: &HistoryTable,
        started: Instant,
    ) -> Result<RunSummary, RunError> {
        let mut completed = Vec::new();
        for step in &plan.steps {
            if self.cancel.is_cancelled() {
                return Err(RunError::Interrupted {
                    during: None,
                    completed: Vec::new(),
                });
            }
            if let Some(elapsed) = self.run_one(step, table).await? {
                completed.push((step.direction, step.version, elapsed));
            }
        }
        Ok(RunSummary {
            completed,
            elapsed: started.elapsed(),
        })
    }

    /// Runs one step and reports how it stopped when it did not complete. A transaction that
    /// gave up on a lock runs again, up to `retries` times: inside the step, or, under
    /// `--pooled`, from the pooled BEGIN that takes the transaction-level lock again. `None`
    /// when, under `--pooled`, another run had done it.
    async fn run_one(
        &mut self,
        step: &Step,
        table: &HistoryTable,
    ) -> Result<Option<Duration>, RunError> {
        let pooled = self.options.pooled;
        let retries = self.options.retries;
        let mut attempt = 0;
        loop {
            if pooled && !self.begin_pooled_step(step, table).await? {
                return Ok(None);
            }
            let mut exec = execute::Exec {
                conn: &mut self.conn,
                table,
                events: &self.events,
                cancel: &self.cancel,
                watch: &mut self.watch,
                retries: if pooled { 0 } else { retries },
                begun: pooled,
                hook: self.hook.as_deref_mut(),
            };
            let failure = match execute::run_step(&mut exec, step).await {
                Ok(elapsed) => return Ok(Some(elapsed)),
                Err(execute::StepError::Setup(error)) => return Err(error),
                Err(execute::StepError::Interrupted(completed)) => {
                    let _ = self.events.send(RunEvent::MigrationInterrupted {
                        version: step.version,
                        direction: step.direction,
                        in_transaction: step.in_transaction,
                        completed: completed.clone(),
                    });
                    return Err(RunError::Interrupted {
                        during: Some((step.direction, step.version, step.in_transaction)),
                        completed,
                    });
                }
                Err(execute::StepError::Failed(failure)) => failure,
            };
            if pooled && failure.is_lock_timeout() && attempt < retries {
                attempt += 1;
                let delay = retry_delay(attempt);
                let _ = self.events.send(RunEvent::Retrying {
                    version: step.version,
                    direction: step.direction,
                    attempt,
                    retries,
                    delay,
                    failure,
                });
                tokio::select! {
                    _ = tokio::time::sleep(delay) => continue,
                    _ = self.cancel.cancelled() => {
                        return Err(RunError::Interrupted {
                            during: Some((step.direction, step.version, true)),
                            completed: Vec::new(),
                        });
                    }
                }
            }
            let _ = self.events.send(RunEvent::MigrationFailed {
                version: step.version,
                direction: step.direction,
                failure: failure.clone(),
            });
            return Err(RunError::Migration {
                version: step.version,
                description: step.description.clone(),
                direction: step.direction,
                failure,
            });
        }
    }

    /// Closes the connections cleanly.
    pub async fn close(self) {
        self.watch.close().await;
        let _ = self.conn.close().await;
    }
}

/// Refuses a plan that differs from what a confirmation showed (`expected`).
fn check_expected(plan: &Plan, expected: Option<&[(Direction, i64)]>) -> Result<(), PlanError> {
    match expected {
        Some(expected) if plan.signature() != expected => Err(PlanError::BadFiles(vec![
            "the database changed since the plan was confirmed; review it again".into(),
        ])),
        _ => Ok(()),
    }
}

/// Reads the status of `set` on `db` without writing anything (the history table is not created).
pub async fn read_status(
    db: &Database,
    set: &MigrationSet,
    table: &HistoryTable,
) -> Result<Status, RunError> {
    let mut conn = db.connect("lockstep:status").await?;
    let status = crate::status::watch::read_status_on(&mut conn, set, table).await;
    let _ = conn.close().await;
    status.map_err(|e| match e {
        crate::status::watch::ReadError::History(e) => RunError::History(e),
        crate::status::watch::ReadError::Query(source) => RunError::Query {
            context: "reading the history table".into(),
            source,
        },
        crate::status::watch::ReadError::Server(source) => RunError::Query {
            context: "reading the indexes an unfinished migration left".into(),
            source,
        },
    })
}

/// Reads the history in a read-only transaction of its own: one consistent read, on one server
/// backend even behind a transaction pooler.
pub async fn read_history(
    conn: &mut PgConnection,
    table: &HistoryTable,
) -> Result<Option<Vec<history::AppliedRow>>, RunError> {
    let query_err = |source| RunError::Query {
        context: "reading the history table".into(),
        source,
    };
    let mut tx = pinned(conn, "SET TRANSACTION READ ONLY;")
        .await
        .map_err(query_err)?;
    let rows = history::read(&mut tx, table).await?;
    tx.commit().await.map_err(query_err)?;
    Ok(rows)
}
